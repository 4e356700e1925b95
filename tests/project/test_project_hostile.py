"""A project file is data: names read from it never reach outside their folder or group.

The files here are built as an attacker would, by editing a real project's attributes with
h5py, so a model's files or an image's pixels would land wherever a name points.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from matlab_gui.errors import ProjectError
from matlab_gui.project import ClassDef, Project
from matlab_gui.project.names import check_name, inside, unique_output_stems

REPO = Path(__file__).resolve().parents[2]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _project_with_model(path: Path, model_dir: Path) -> str:
    with Project.create(path, classes=[ClassDef(1, "a", (1, 2, 3))]) as project:
        image_id = project.add_image("a.png", data=np.zeros((8, 8), np.uint8))
        project.store_model("m", model_dir)
        project.current_model = "m"
        project.save()
    return image_id


def _model_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "card.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights")
    return folder


def _escape_target(tmp_path: Path) -> Path:
    return tmp_path / "outside" / "sitecustomize.pth"


def _hostile_names(tmp_path: Path) -> list[str]:
    target = _escape_target(tmp_path)
    return [str(target), "../../outside/x.pth", "a/b", "..", "x\x00y", "c:evil", "a\\b"]


@pytest.mark.parametrize("where", ["model file", "model name"])
@pytest.mark.parametrize("k", range(7))
def test_hostile_model_names_are_refused_and_write_nothing(tmp_path, where, k):
    path = tmp_path / "hostile.mgp"
    _project_with_model(path, _model_dir(tmp_path))
    bad = _hostile_names(tmp_path)[k]
    with h5py.File(path, "r+") as f:
        if where == "model file":
            f.attrs["models"] = json.dumps({"m": ["card.json", bad]})
        else:
            f.attrs["models"] = json.dumps({bad: ["card.json"]})
            f.attrs["current_model"] = ""
    (tmp_path / "outside").mkdir()
    before = _tree(tmp_path)
    with pytest.raises(ProjectError, match="unsafe model"):
        Project.open(path)
    assert _tree(tmp_path) == before
    assert not _escape_target(tmp_path).exists()


def test_absolute_dataset_path_as_image_id_is_refused(tmp_path):
    """h5py resolves "/models/m/card.json" from the file root: an image id must not reach it."""
    path = tmp_path / "hostile.mgp"
    _project_with_model(path, _model_dir(tmp_path))
    with h5py.File(path, "r+") as f:
        records = json.loads(f.attrs["images"])
        records[0]["id"] = "/models/m/card.json"
        f.attrs["images"] = json.dumps(records)
    with pytest.raises(ProjectError, match="unsafe image id"):
        Project.open(path)


def test_export_writes_only_inside_the_destination(tmp_path):
    """A planted link at a file's name, or a name that slipped past the checks, cannot escape."""
    project_path = tmp_path / "p.mgp"
    _project_with_model(project_path, _model_dir(tmp_path))
    dest = tmp_path / "export"
    dest.mkdir()
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside" / "card.json", dest / "card.json")
    with Project.open(project_path) as project, pytest.raises(ValueError, match="outside"):
        project.export_model("m", dest)
    assert not (tmp_path / "outside" / "card.json").exists()
    with Project.open(project_path) as project:
        project._meta.models["m"] = ["card.json", "../escaped"]  # as if read unchecked
        with pytest.raises(ValueError, match="unsafe model file name"):
            project.export_model("m", tmp_path / "export2")
    assert not (tmp_path / "escaped").exists()


def test_store_model_refuses_names_that_are_paths(tmp_path):
    with Project.create(tmp_path / "p.mgp") as project:
        for bad in ("../m", "/abs", "a/b", "..", ""):
            with pytest.raises(ValueError, match="unsafe model name"):
                project.store_model(bad, _model_dir(tmp_path) if not (tmp_path / "model").exists()
                                    else tmp_path / "model")


def test_name_checks():
    for good in ("card.json", "segmentation-20261201-093000", "uhcs0006.tif", "a b"):
        assert check_name(good, "x") == good
    for bad in ("", ".", "..", "a/b", "/abs", "a\\b", "c:x", "x\x00", " pad", "a" * 300, 3, None):
        with pytest.raises(ValueError):
            check_name(bad, "x")
    stems = unique_output_stems({"i1": "x.tif", "i2": "x.png", "i3": "y.tif", "i4": "../../z.tif"})
    assert {k: stems[k] for k in ("i1", "i2", "i3")} == {"i1": "x_i1", "i2": "x_i2", "i3": "y"}
    assert check_name(stems["i4"], "stem") and "z" in stems["i4"]


def test_inside_refuses_a_link_out(tmp_path):
    (tmp_path / "d").mkdir()
    os.symlink("/etc", tmp_path / "d" / "etc")
    with pytest.raises(ValueError, match="outside"):
        inside(tmp_path / "d", "etc", "name")
    assert inside(tmp_path / "d", "ok", "name") == (tmp_path / "d" / "ok").resolve()


def test_screenshot_of_a_hostile_project_writes_nothing_outside(tmp_path):
    """The window exports the current model as soon as it shows a project: with a model file
    named by an absolute path, that once planted a .pth file in site-packages."""
    path = tmp_path / "hostile.mgp"
    _project_with_model(path, _model_dir(tmp_path))
    target = _escape_target(tmp_path)
    (tmp_path / "outside").mkdir()
    with h5py.File(path, "r+") as f:
        f.create_dataset(str(target), data=np.frombuffer(b"import os", np.uint8))  # from root
        f.attrs["models"] = json.dumps({"m": ["card.json", str(target)]})
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen",
           "TMPDIR": str(tmp_path), "HOME": str(tmp_path)}
    before = _tree(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "matlab_gui", "--screenshot", str(tmp_path / "shot.png"), str(path)],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )
    assert not target.exists()
    new = _tree(tmp_path) - before
    assert all(n == "shot.png" or n.startswith(("matlab_gui-", ".cache", ".config")) for n in new), new
    assert "unsafe model file name" in run.stdout + run.stderr
    assert "Traceback" not in run.stderr
