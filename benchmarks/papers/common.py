"""What every paper-reproduction script shares: data location, the app's train/evaluate jobs,
hardware description and JSON/figure output, so each script holds only its experiment.

Every number comes from `matlab_gui.jobs.train.run_training` and
`matlab_gui.jobs.evaluate.run_evaluation`, the code behind `matlab-gui train` / `evaluate`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT_ROOT = REPO / "benchmarks" / "papers" / "out"
SPLITS = REPO / "models" / "splits"


def shared_data() -> Path:
    """`../shared/data` (or $MATLAB_GUI_SHARED_DATA); exits with a clear message without it."""
    root = Path(os.environ.get("MATLAB_GUI_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not root.is_dir():
        sys.exit(f"no data folder at {root}: set MATLAB_GUI_SHARED_DATA to the shared data sets")
    return root


def parser(description: str) -> argparse.ArgumentParser:
    """The flags every script takes: --full (the paper's protocol, for a GPU), --smoke, --out."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--full", action="store_true", help="the paper's protocol (a GPU is advised)")
    ap.add_argument("--smoke", action="store_true", help="a minute-long run to check the script")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, help="output folder (default benchmarks/papers/out/<paper>)")
    ap.add_argument("--summary-only", action="store_true",
                    help="rewrite summary.md from the folder's results.json without training")
    return ap


def out_dir(args: argparse.Namespace, paper: str) -> Path:
    folder = args.out or OUT_ROOT / paper
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def hardware(device: str = "auto") -> dict:
    import torch

    from matlab_gui.ml.device import describe_device, pick_device

    return {"device": describe_device(pick_device(device)), "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version()}


def train(**request) -> tuple[object, float]:
    """Run the app's training job; returns (TrainResult, wall seconds). `out` defaults to a
    temporary folder that lives as long as the process."""
    from matlab_gui.jobs.train import TrainRequest, run_training

    request.setdefault("out", Path(tempfile.mkdtemp(prefix="paper-")) / "model")
    # the papers' recipes: uniform crops and the loss they name, not the app's rare-class defaults
    request.setdefault("class_centred", 0.0)
    request.setdefault("class_weights", "none")
    t0 = time.perf_counter()
    result = run_training(TrainRequest(**request))
    return result, time.perf_counter() - t0


def evaluate(model: Path, data: Path, splits=None, split: str = "test", device: str = "auto",
             curves: bool = False) -> dict:
    """Test-split metrics of a model folder, exactly as `matlab-gui evaluate` computes them."""
    from matlab_gui.jobs.evaluate import EvaluateRequest, run_evaluation

    request = EvaluateRequest(model=Path(model), data=data, splits=splits, split=split,
                              device=device, curves=curves)
    return run_evaluation(request).metrics


def _plain(value):
    import numpy as np

    if is_dataclass(value):
        return asdict(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_json(folder: Path, name: str, payload: dict) -> Path:
    path = folder / name
    path.write_text(json.dumps(payload, indent=2, default=_plain))
    print(f"wrote {path}")
    return path


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no window, no Qt)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


SEED_NOISE = 0.03  # one-seed differences of mean IoU / accuracy this small are noise here


def verdict(a: str, a_value: float, b: str, b_value: float, metric: str, seeds: int = 1,
            noise: float = SEED_NOISE) -> str:
    """One sentence comparing two measured values, worded by what the numbers support: a
    difference within `noise` of one seed is a tie, not a win."""
    if b_value > a_value:
        a, a_value, b, b_value = b, b_value, a, a_value
    figures = f"{a_value:.3f} vs {b_value:.3f} {metric}"
    runs = f"{seeds} seed{'s' if seeds != 1 else ''}"
    if a_value - b_value <= noise:
        return f"{a} and {b} are level ({figures}; within the {noise:.2f} spread of {runs})"
    return f"{a} beats {b} ({figures}, {runs})"


def headline(metrics: dict, keys) -> dict:
    """The scalar metrics named in `keys`, rounded for tables."""
    return {k: round(float(metrics[k]), 4) for k in keys if metrics.get(k) is not None}
