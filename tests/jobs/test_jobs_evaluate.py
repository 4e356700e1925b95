"""The evaluate job scores segmentation through the tiled path `segment` runs, so the number on
a card is what a user gets from `segment` and Predict."""

from __future__ import annotations

import json

import numpy as np
import pytest

from matlab_gui.imaging import read_mask, write_image, write_mask
from matlab_gui.imaging.pixel_scores import segmentation_scores
from matlab_gui.jobs.evaluate import EvaluateRequest, run_evaluation
from matlab_gui.jobs.segment import SegmentRequest, model_labels, run_segment
from tests.jobs.test_jobs_segment import CLASSES, save_tiny_model


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """Two grey images larger than the model's 64 px tiles, with masks of 3 classes."""
    root = tmp_path_factory.mktemp("labelled")
    (root / "images").mkdir()
    (root / "masks").mkdir()
    rng = np.random.default_rng(4)
    for stem, shape in (("a", (150, 170)), ("b", (97, 211))):
        image = rng.integers(0, 65535, shape, dtype=np.uint16)
        write_image(root / "images" / f"{stem}.tif", image)
        write_mask(root / "masks" / f"{stem}.png", (image // 21846).astype(np.uint8))
    return root


def _scores_of_segment_masks(model, labelled, out) -> dict:
    run_segment(SegmentRequest(model=model, inputs=[labelled / "images"], out=out, device="cpu"))
    n = len(CLASSES)
    matrix = np.zeros((n, n), np.int64)
    for stem in ("a", "b"):
        truth = read_mask(labelled / "masks" / f"{stem}.png").astype(np.int64)
        predicted = model_labels(read_mask(out / f"{stem}_mask.png")).astype(np.int64)
        matrix += np.bincount(n * truth.ravel() + predicted.ravel(), minlength=n * n).reshape(n, n)
    return segmentation_scores(matrix, list(CLASSES))


def test_evaluate_scores_exactly_the_masks_segment_writes(tmp_path, labelled, monkeypatch):
    from matlab_gui.ml import tiling

    model = save_tiny_model(tmp_path / "seg")
    expected = _scores_of_segment_masks(model, labelled, tmp_path / "out")
    entropies = []
    entropy = tiling.normalised_entropy
    monkeypatch.setattr(tiling, "normalised_entropy", lambda p: entropies.append(1) or entropy(p))
    tiled = run_evaluation(EvaluateRequest(model=model, data=labelled, split=None, device="cpu"))
    assert not entropies  # scores need the classes alone: no per-pixel maps are made
    assert tiled.metrics["confusion_matrix"] == expected["confusion_matrix"]
    assert tiled.metrics["mean_iou"] == expected["mean_iou"]
    assert tiled.inference == "tiled (tile 64, overlap 16), OpenVINO (float32)"
    whole = run_evaluation(EvaluateRequest(model=model, data=labelled, split=None, device="cpu",
                                           whole_image=True))
    assert whole.inference == "whole image, OpenVINO (float32)"
    # the images are wider than a tile: one pass over the whole image predicts other pixels
    assert whole.metrics["confusion_matrix"] != expected["confusion_matrix"]


def test_the_cli_reports_how_it_predicted(tmp_path, labelled, capsys):
    from matlab_gui.cli import main

    model = save_tiny_model(tmp_path / "seg")
    assert main(["evaluate", "--model", str(model), "--data", str(labelled), "--split", "all",
                 "--device", "cpu", "--tile", "96", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["inference"] == "tiled (tile 96, overlap 16), OpenVINO (float32)"
