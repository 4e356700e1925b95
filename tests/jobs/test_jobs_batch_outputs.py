"""Batch runs over several folders: one output per image, CSVs that keep other runs' rows."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from matlab_gui.errors import UserError
from matlab_gui.imaging import read_mask, write_image
from matlab_gui.jobs.classify import ClassifyRequest, run_classify
from matlab_gui.jobs.segment import SegmentRequest, run_segment
from matlab_gui.progress import Cancelled, CancelToken

CLASSES = ("matrix", "pore")
SHAPES = {"a/x.png": (20, 30), "a/x.tif": (24, 36), "b/x.png": (28, 22)}  # told apart by size


def _model(folder, task):
    """A random-init 32-pixel model folder: a small U-Net or a tiny classifier."""
    import torch

    from matlab_gui.ml.card import ClassInfo
    from matlab_gui.ml.model_folder import save_model
    from matlab_gui.ml.zoo import build_model, default_card

    torch.manual_seed(0)
    classes = [ClassInfo(name=n, color=c) for n, c in zip(CLASSES, ("#000000", "#00ff00"),
                                                           strict=True)]
    arch, encoder = ("fnn", None) if task == "classification" else ("unet", "tu-resnet10t")
    card = default_card(task, arch, classes, encoder=encoder, in_channels=1, input_size=32)
    save_model(folder, build_model(card, pretrained=False), card)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {t: _model(root / t, t) for t in ("classification", "segmentation")}


def _write(root, shapes):
    rng = np.random.default_rng(0)
    for rel, shape in shapes.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_image(root / rel, rng.integers(0, 255, shape, dtype=np.uint8))
    return root


@pytest.fixture
def tree(tmp_path):
    """root/a/x.png, root/a/x.tif, root/b/x.png: three images, one stem."""
    return _write(tmp_path / "root", SHAPES)


def _rows(path):
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _segment(models, inputs, out, **kw):
    return run_segment(SegmentRequest(models["segmentation"], inputs, out, device="cpu", **kw))


def _classify(models, folder, out, **kw):
    return run_classify(ClassifyRequest(models["classification"], folder, out=out, workers=0,
                                        device="cpu", **kw))


# -- segment: output names ------------------------------------------------------------------


def test_recursive_segment_writes_one_output_per_image(models, tree, tmp_path):
    out = tmp_path / "out"
    result = _segment(models, [tree], out, recursive=True, overlay=True, maps=True)
    assert result.segmented == 3
    masks = {"a/x.png": out / "a" / "x.png_mask.png", "a/x.tif": out / "a" / "x.tif_mask.png",
             "b/x.png": out / "b" / "x_mask.png"}
    for rel, mask in masks.items():
        assert read_mask(mask).shape == SHAPES[rel]
    assert (out / "a" / "x.tif_overlay.png").is_file()
    assert (out / "a" / "x.png_uncertainty.tif").is_file()
    files = [f for o in result.images for f in o.files]
    assert len(files) == len(set(files)) == 12 and all(f.is_file() for f in files)
    assert not (out / "x_mask.png").exists()


def test_images_given_one_by_one_keep_their_folders(models, tree, tmp_path):
    out = tmp_path / "out"
    a, b = tree / "a" / "x.png", tree / "b" / "x.png"
    result = _segment(models, [a, b, tree / "b"], out)  # b/x.png given twice
    assert [o.path for o in result.images] == [a, b]
    assert read_mask(out / "a" / "x_mask.png").shape == SHAPES["a/x.png"]
    assert read_mask(out / "b" / "x_mask.png").shape == SHAPES["b/x.png"]
    assert len(_rows(out / "phase_fractions.csv")) == 2


def test_stems_differing_in_case_do_not_share_a_mask(models, tmp_path):
    """Windows and macOS disks would take X_mask.png and x_mask.png for one file."""
    folder = _write(tmp_path / "c", {"X.png": (20, 30), "x.tif": (24, 36)})
    _segment(models, [folder], tmp_path / "out")
    assert read_mask(tmp_path / "out" / "X.png_mask.png").shape == (20, 30)
    assert read_mask(tmp_path / "out" / "x.tif_mask.png").shape == (24, 36)


# -- segment: phase_fractions.csv -----------------------------------------------------------


def test_segment_csv_keeps_rows_of_other_folders(models, tree, tmp_path):
    out = tmp_path / "out"
    for folder in ("a", "b", "a"):
        _segment(models, [tree / folder], out)
    rows = _rows(out / "phase_fractions.csv")
    assert sorted(r["path"] for r in rows) == sorted(str(tree / rel) for rel in SHAPES)
    assert all(r["error"] == "" and r["pore"] for r in rows)


def test_segment_refuses_a_foreign_fractions_csv(models, tree, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "phase_fractions.csv").write_text("path,ferrite,error\nsome.png,1.0,\n")
    with pytest.raises(UserError, match="phase_fractions.csv: .*choose another --out"):
        _segment(models, [tree / "a"], out)
    assert (out / "phase_fractions.csv").read_text() == "path,ferrite,error\nsome.png,1.0,\n"


# -- classify: the CSV of several folders ---------------------------------------------------


@pytest.fixture
def two_folders(tmp_path):
    """A/ with three images and B/ with two, the same file names in both."""
    shapes = {f"A/img{i}.png": (20 + i, 30) for i in range(3)}
    shapes.update({f"B/img{i}.png": (40, 20 + i) for i in range(2)})
    return _write(tmp_path / "data", shapes)


def test_classify_second_folder_keeps_first_folders_rows(models, two_folders, tmp_path):
    out = tmp_path / "r.csv"
    _classify(models, two_folders / "A", out)
    second = _classify(models, two_folders / "B", out)
    assert (second.classified, second.skipped) == (2, 0)
    again = _classify(models, two_folders / "A", out)
    assert (again.classified, again.skipped) == (0, 3)
    paths = [r["path"] for r in _rows(out)]
    assert sorted(paths) == sorted(str(p) for p in two_folders.rglob("*.png"))


def test_classify_resume_does_not_depend_on_the_working_folder(models, two_folders, tmp_path,
                                                               monkeypatch):
    out = tmp_path / "r.csv"
    monkeypatch.chdir(two_folders)
    _classify(models, Path("A"), out)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    again = _classify(models, two_folders / "A", out)
    assert (again.classified, again.skipped) == (0, 3)
    assert sorted(r["path"] for r in _rows(out)) == sorted(
        str(p) for p in (two_folders / "A").glob("*.png"))


def test_interrupted_classify_resumes_without_losing_other_rows(models, two_folders, tmp_path):
    out = tmp_path / "r.csv"
    _classify(models, two_folders / "A", out)
    token = CancelToken()

    def stop_after_first_batch(event):
        if event.done:
            token.cancel()

    with pytest.raises(Cancelled):
        run_classify(ClassifyRequest(models["classification"], two_folders / "B", out=out,
                                     batch=1, workers=0, device="cpu"),
                     progress=stop_after_first_batch, cancel=token)
    assert len(_rows(out)) == 4
    resumed = _classify(models, two_folders / "B", out)
    assert (resumed.classified, resumed.skipped) == (1, 1)
    paths = [r["path"] for r in _rows(out)]
    assert sorted(paths) == sorted(str(p) for p in two_folders.rglob("*.png"))
