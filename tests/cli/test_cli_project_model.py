"""`--model PROJECT.mgp:NAME`: segment, classify and evaluate run a model stored in a project."""

from __future__ import annotations

import csv
import json
import shutil
import tempfile

import numpy as np
import pytest

from matlab_gui.cli import main
from matlab_gui.imaging import read_mask, write_image
from matlab_gui.project import ClassDef, Project
from matlab_gui.resources import models_dir

SEG, CLS = "nasa-super", "neu-det-cls"  # shipped models: stored in the project as "seg", "cls"


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(2):
        write_image(folder / f"sem_{i}.png", rng.integers(0, 255, (64, 72), dtype=np.uint8))
    return folder


@pytest.fixture(scope="module")
def project(tmp_path_factory, images):
    """A saved project holding both shipped models and one labelled image (classes of SEG)."""
    path = tmp_path_factory.mktemp("project") / "steel.mgp"
    card = json.loads((models_dir() / SEG / "card.json").read_text())
    classes = [ClassDef(i, c["name"], (10 * i, 0, 0)) for i, c in enumerate(card["classes"], 1)]
    with Project.create(path, classes) as p:
        image_id = p.add_image(images / "sem_0.png")
        mask = np.ones((64, 72), np.uint8)
        mask[20:40, 20:50] = 2
        p.set_mask(image_id, mask)
        p.store_model("seg", models_dir() / SEG)
        p.store_model("cls", models_dir() / CLS)
        p.save()
    return path


def test_segment_with_a_project_model_matches_the_folder(project, images, tmp_path, capsys,
                                                         monkeypatch):
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    args = [str(images / "sem_0.png"), "--quiet"]
    assert main(["segment", "--model", f"{project}:seg", *args, "--out", str(tmp_path / "p")]) == 0
    assert not list(temp.glob(".matlab_gui-model-*"))  # the exported copy went with the command
    assert main(["segment", "--model", SEG, *args, "--out", str(tmp_path / "f")]) == 0
    ours, shipped = (read_mask(tmp_path / d / "sem_0_mask.png") for d in ("p", "f"))
    assert ours.shape == (64, 72) and np.array_equal(ours, shipped)
    assert "segmented 1 of 1" in capsys.readouterr().out


def test_classify_with_a_project_model_matches_the_folder(project, images, tmp_path):
    rows = {}
    for tag, model in (("p", f"{project}:cls"), ("f", CLS)):
        out = tmp_path / f"{tag}.csv"
        assert main(["classify", "--model", model, str(images), "--out", str(out),
                     "--workers", "0", "--quiet"]) == 0
        with out.open() as fh:
            rows[tag] = [(r["path"], r["predicted"]) for r in csv.DictReader(fh)]
    assert len(rows["p"]) == 2 and rows["p"] == rows["f"]


def test_evaluate_a_project_model_on_its_own_project(project, capsys):
    assert main(["evaluate", "--model", f"{project}:seg", "--data", str(project),
                 "--split", "all", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["task"] == "segmentation" and len(out["images"]) == 1
    assert out["model"] == f"{project}:seg"  # not the temporary copy, gone by now
    assert 0.0 <= out["pixel_accuracy"] <= 1.0


def test_unknown_name_lists_the_projects_models(project, images, tmp_path, capsys):
    assert main(["segment", "--model", f"{project}:nope", str(images), "--out",
                 str(tmp_path / "s"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'nope'" in err and "cls, seg" in err
    assert not (tmp_path / "s").exists()


def test_only_an_existing_mgp_file_before_the_last_colon_splits(project, images, tmp_path,
                                                                capsys):
    folder = tmp_path / "run:2" / "seg"  # a model folder whose path holds a colon
    shutil.copytree(models_dir() / SEG, folder)
    assert main(["segment", "--model", str(folder), str(images / "sem_1.png"), "--out",
                 str(tmp_path / "s"), "--quiet"]) == 0
    assert main(["segment", "--model", f"{tmp_path / 'missing.mgp'}:seg", str(images),
                 "--out", str(tmp_path / "s2"), "--quiet"]) == 2
    assert "no model folder or shipped model" in capsys.readouterr().err
    from matlab_gui.ml.model_lookup import split_project_model

    assert split_project_model("C:\\models\\seg") is None  # a Windows drive letter
    assert split_project_model(f"{project}:seg") == (project, "seg")
