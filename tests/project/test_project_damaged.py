"""Project files damaged by other tools open into one clear line per problem, never a
KeyError or ValueError traceback, and keep what can still be saved."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from matlab_gui.cli import main
from matlab_gui.errors import ProjectError
from matlab_gui.project import Project


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    path = tmp_path_factory.mktemp("damaged") / "base.mgp"
    project = Project.create(path)
    image_id = project.add_image("a.png", data=np.zeros((20, 20), np.uint8))
    project.set_mask(image_id, np.ones((20, 20), np.uint8))
    project.set_prediction(image_id, np.zeros((20, 20), np.uint8))
    project.save()
    project.close()
    return path, image_id


def _damaged(base, tmp_path, edit):
    path, image_id = base
    copy = tmp_path / "p.mgp"
    shutil.copyfile(path, copy)
    with h5py.File(copy, "r+") as f:
        edit(f, image_id)
    return copy, image_id


def _set(f, key, value):
    f.attrs[key] = value


def _replace_mask(f, image_id, data):
    del f["masks"][image_id]
    f["masks"].create_dataset(image_id, data=data)


@pytest.mark.parametrize("edit, problem", [
    (lambda f, i: _set(f, "schema_version", float("nan")), "schema version 'nan' is not a number"),
    (lambda f, i: _set(f, "schema_version", "one"), "schema version 'one' is not a number"),
])
def test_an_unreadable_schema_version_is_one_line(base, tmp_path, capsys, edit, problem):
    path, _ = _damaged(base, tmp_path, edit)
    with pytest.raises(ProjectError, match=problem):
        Project.open(path)
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and problem in err[0]


@pytest.mark.parametrize("edit, problem", [
    (lambda f, i: f["masks"].__delitem__(i), "masks/.* is missing"),
    (lambda f, i: f.__delitem__("masks"), "masks/.* is missing"),
    (lambda f, i: f["images"].__delitem__(i), "images/.* is missing"),
    (lambda f, i: _replace_mask(f, i, np.full((20, 20), np.nan)), "mask of 'a.png' is damaged"),
    (lambda f, i: _replace_mask(f, i, np.full((20, 20), 2**40, np.int64)), "damaged \\(int64"),
])
def test_a_missing_or_damaged_dataset_is_named_when_read(base, tmp_path, edit, problem):
    path, image_id = _damaged(base, tmp_path, edit)
    with Project.open(path) as project:
        reader = project.read_image if "images" in problem else project.get_mask
        with pytest.raises(ProjectError, match=problem):
            reader(image_id)


def test_a_lost_history_and_masks_group_are_started_again_at_the_next_save(base, tmp_path):
    def edit(f, image_id):
        del f["history"]
        del f["masks"]

    path, image_id = _damaged(base, tmp_path, edit)
    with Project.open(path) as project:
        assert project.history == []
        project.set_mask(image_id, np.full((20, 20), 2, np.uint8))
        project.log("edit")
        project.save()
    with Project.open(path) as project:
        assert project.get_mask(image_id)[0, 0] == 2
        assert [h["action"] for h in project.history] == ["edit", "save"]
