"""Benchmark wording follows the numbers: paper conclusions and timing verdicts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
PAPERS = BENCHMARKS / "papers"


def _module(name: str):
    folder = BENCHMARKS if name == "spread" else PAPERS
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(folder))


def test_a_win_needs_more_than_seed_noise():
    verdict = _module("common").verdict
    assert verdict("HPTL", 0.80, "FCN-8s", 0.70, "mIoU").startswith("HPTL beats FCN-8s (0.800 vs 0.700")
    assert verdict("HPTL", 0.70, "FCN-8s", 0.80, "mIoU").startswith("FCN-8s beats HPTL (0.800 vs 0.700")
    assert "are level" in verdict("HPTL", 0.71, "FCN-8s", 0.70, "mIoU")


def test_hptl_summary_follows_the_table():
    conclusions = _module("p003_hptl").conclusions
    row = {"otsu": {"pixel_accuracy": 0.5, "mean_iou": 0.3}}
    hptl_wins = {"d": {**row, "hptl": {"pixel_accuracy": 0.95, "mean_iou": 0.7},
                       "fcn8s_direct": {"pixel_accuracy": 0.85, "mean_iou": 0.5},
                       "random_forest": {"pixel_accuracy": 0.80, "mean_iou": 0.6}}}
    lines = conclusions(hptl_wins)
    assert "d, pixel acc: HPTL beats FCN-8s direct (0.950 vs 0.850 pixel acc, 1 seed)" in lines
    assert "d, mIoU: HPTL beats the pixel forest (0.700 vs 0.600 mIoU, 1 seed)" in lines
    fcn_wins = {"d": {**hptl_wins["d"], "hptl": {"pixel_accuracy": 0.75, "mean_iou": 0.4}}}
    assert "d, pixel acc: FCN-8s direct beats HPTL (0.850 vs 0.750 pixel acc, 1 seed)" in conclusions(fcn_wins)


def test_a_timing_goal_is_met_only_when_every_round_meets_it():
    verdict = _module("spread").verdict
    assert verdict([0.95, 0.92, 1.01], 0.9) == "met"
    assert verdict([0.80, 0.85], 0.9) == "not met"
    assert verdict([0.72, 0.95, 0.82], 0.9).startswith("not resolved")
    assert verdict([0.2, 0.25], 0.3, at_least=False) == "met"
