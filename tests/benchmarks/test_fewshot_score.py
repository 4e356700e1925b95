"""The few-shot benchmark scores a model as `evaluate` does on the same images (it reads the
masks `segment` writes, whose values are the model's classes + 1)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))


def test_the_fewshot_score_is_evaluates_mean_iou(tmp_path, tiny_segmenter):
    fewshot = pytest.importorskip("fewshot")
    from matlab_gui.imaging import write_image, write_mask
    from matlab_gui.jobs.evaluate import EvaluateRequest, run_evaluation

    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "masks").mkdir()
    rows = []
    for k in range(2):
        image = (rng.random((80, 90)) * 255).astype(np.uint8)
        mask = (image > 120).astype(np.uint8)  # 0-based truth, as the data sets store it
        write_image(data / "images" / f"m{k}.png", image)
        write_mask(data / "masks" / f"m{k}.png", mask)
        rows.append({"image": f"images/m{k}.png", "mask": f"masks/m{k}.png"})
    names = ["matrix", "precipitate"]
    scored = fewshot.score(tiny_segmenter, data, rows, names, tmp_path / "work")
    evaluated = run_evaluation(EvaluateRequest(model=tiny_segmenter, data=data, split=None))
    assert scored["mean_iou"] == pytest.approx(evaluated.metrics["mean_iou"], abs=1e-9)
    assert 0.0 < scored["mean_iou"] < 1.0
