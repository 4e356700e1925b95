"""Few-shot learning loop as a user runs it: paint N images sparsely, press Fine-tune, score.

For each data set and N, a project is built from N training images (seeded), each painted
with scribbles simulated from its ground-truth mask (a few brush strokes per class, at most
10 % of the pixels). Then exactly the window's Fine-tune function (`run_fine_tune`, what the
button calls, headless) trains for a fixed wall-clock budget, starting where the window would:
from the model the window starts with (or the closest shipped one), except that a shipped
model trained on this very data set is never used, as it has seen every test-set neighbour
fully labelled. Methods alternate per N. The trained model segments the test split through
the `segment` job (tiled, as typed on the command line) and is scored against the truth.

    python benchmarks/fewshot.py                        # nasa_super + uhcs, N = 1 3 5 10, 600 s
    python benchmarks/fewshot.py --smoke                # one tiny run, to check it works
    python benchmarks/fewshot.py --datasets nasa_super --n 5 --budget-s 300

Writes benchmarks/results/fewshot.json. Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from matlab_gui.gui.model_features import FineTuneJob, run_fine_tune
from matlab_gui.gui.train_dialog import TrainSettings
from matlab_gui.imaging import read_mask
from matlab_gui.imaging.pixel_scores import segmentation_scores
from matlab_gui.jobs.segment import SegmentRequest, model_labels, run_segment
from matlab_gui.ml.device import describe_device, pick_device
from matlab_gui.ml.starting_model import starting_model
from matlab_gui.progress import Progress
from matlab_gui.project import ClassDef, Project
from matlab_gui.resources import DEFAULT_MODEL, models_dir

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results"
# name -> (settings, start): "window" starts where the window does, "imagenet" builds afresh
METHODS = {
    "new default": (TrainSettings(), "window"),
    "class-centred, no class weights": (TrainSettings(class_weights="none"), "imagenet"),
    "uniform crops, no class weights": (
        TrainSettings(class_centred=0.0, class_weights="none"), "imagenet"),
    "previous default (lr 2e-4, no weight average)": (
        TrainSettings(lr=2e-4, weight_average=None), "window"),
    "lr 5e-4 + weight average 0.99": (TrainSettings(lr=5e-4, weight_average=0.99), "window"),
    "old default (random Micro-KTNet)": (
        TrainSettings(seg_arch="micro-ktnet", class_centred=0.0, class_weights="none"), "imagenet"),
}
DEFAULT_METHODS = ["new default", "old default (random Micro-KTNet)"]
COLOURS = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180)]


def splits_of(dataset: Path) -> tuple[list[dict], list[dict], list[str]]:
    """(train rows, test rows, class names) from the data set's files.csv: a `split` column,
    else cross-validation fold 0 is the test set."""
    with (dataset / "files.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    names = [k[len("frac_"):] for k in rows[0] if k.startswith("frac_")]
    if "split" in rows[0]:
        return ([r for r in rows if r["split"] == "train"], [r for r in rows if r["split"] == "test"],
                names)
    return [r for r in rows if r["cv_fold"] != "0"], [r for r in rows if r["cv_fold"] == "0"], names


def scribbles(mask: np.ndarray, n_classes: int, rng: np.random.Generator,
              strokes: int = 5, max_fraction: float = 0.10) -> np.ndarray:
    """Brush strokes inside each class of a ground-truth mask (0-based values), as a user
    paints with a brush about 1/80 of the image wide: painted labels 1..n, 0 elsewhere, at
    most `max_fraction` of the pixels (typically 2-5 %)."""
    h, w = mask.shape
    out = np.zeros((h, w), np.uint8)
    budget = int(max_fraction * h * w)
    length, width = max(8, min(h, w) // 5), max(3, min(h, w) // 80)
    for value in range(n_classes):
        inside = cv2.erode((mask == value).astype(np.uint8), np.ones((3, 3), np.uint8))
        ys, xs = np.nonzero(inside)
        if len(ys) == 0:
            continue
        for _ in range(strokes):
            k = rng.integers(len(ys))
            angle = rng.uniform(0, np.pi)
            dy, dx = np.sin(angle) * length / 2, np.cos(angle) * length / 2
            canvas = np.zeros_like(out)
            p0 = (int(xs[k] - dx), int(ys[k] - dy))
            p1 = (int(xs[k] + dx), int(ys[k] + dy))
            cv2.line(canvas, p0, p1, 1, width)
            stroke = (canvas > 0) & (inside > 0) & (out == 0)
            if (out > 0).sum() + stroke.sum() > budget:
                return out
            out[stroke] = value + 1
    return out


def build_project(path: Path, dataset: Path, rows: list[dict], names: list[str], seed: int) -> float:
    """A project of these images with simulated scribbles; returns the painted fraction."""
    rng = np.random.default_rng(seed)
    classes = [ClassDef(k + 1, n, COLOURS[k % len(COLOURS)]) for k, n in enumerate(names)]
    painted = total = 0
    with Project.create(path, classes, overwrite=True) as project:
        for row in rows:
            image_id = project.add_image(dataset / row["image"])
            scribble = scribbles(read_mask(dataset / row["mask"]), len(names), rng)
            project.set_mask(image_id, scribble)
            painted, total = painted + int((scribble > 0).sum()), total + scribble.size
        project.save()
    return painted / total


def score(model: Path, dataset: Path, rows: list[dict], names: list[str], work: Path) -> dict:
    """Mean IoU of the model on these images through the segment job, as `segment` runs it."""
    out = work / "segment"
    run_segment(SegmentRequest(model=model, inputs=[dataset / r["image"] for r in rows], out=out))
    n = len(names)
    matrix = np.zeros((n, n), np.int64)
    for r in rows:
        truth = read_mask(dataset / r["mask"]).astype(np.int64)
        predicted = model_labels(read_mask(out / f"{Path(r['image']).stem}_mask.png"))
        predicted = predicted.astype(np.int64)
        valid = (truth >= 0) & (truth < n) & (predicted >= 0)
        matrix += np.bincount(n * truth[valid] + predicted[valid], minlength=n * n).reshape(n, n)
    scores = segmentation_scores(matrix, names)
    return {"mean_iou": scores["mean_iou"], "per_class_iou": dict(zip(names, scores["per_class_iou"], strict=True))}


def start_for(start: str, dataset: Path, names: list[str]) -> Path | None:
    """The model the window would fine-tune, never the one shipped for this data set."""
    if start == "imagenet":
        return None
    own = dataset.name.replace("_", "-")
    current = None if own == DEFAULT_MODEL else models_dir() / DEFAULT_MODEL
    return starting_model("segmentation", names, current, exclude=[own])


def run_one(dataset: Path, n: int, method: str, budget_s: float, seed: int) -> dict:
    settings, start = METHODS[method]
    train_rows, test_rows, names = splits_of(dataset)
    order = np.random.default_rng(seed).permutation(len(train_rows))[:n]
    chosen = [train_rows[i] for i in order]
    with tempfile.TemporaryDirectory(prefix="fewshot-") as tmp:
        work = Path(tmp)
        project_path = work / "p.mgp"
        painted = build_project(project_path, dataset, chosen, names, seed)
        settings = TrainSettings(**{**settings.__dict__, "epochs": 10_000, "time_budget_s": budget_s})
        starts = []

        def progress(event: Progress) -> None:
            if event.stage == "start":
                starts.append(event.message)

        with Project.open(project_path) as project:
            job = FineTuneJob("segmentation", project, work / "model",
                              start_for(start, dataset, names), settings)
            t0 = time.perf_counter()
            result = run_fine_tune(job, progress=progress)
            train_s = time.perf_counter() - t0
        scores = score(result.model_dir, dataset, test_rows, names, work)
    return {"dataset": dataset.name, "n_images": n, "method": method,
            "arch": result.card.arch, "started_from": starts[0] if starts else "",
            "painted_fraction": round(painted, 4), "train_s": round(train_s, 1),
            "epochs_run": result.epochs_run, "budget_s": budget_s, "seed": seed,
            "test_images": len(test_rows), **scores}


def summarise(runs: list[dict]) -> list[dict]:
    """Mean IoU per data set, N and method over the seeds run: median, min, max."""
    groups: dict[tuple, list[float]] = {}
    for r in runs:
        groups.setdefault((r["dataset"], r["n_images"], r["method"]), []).append(r["mean_iou"])
    return [{"dataset": d, "n_images": n, "method": m, "seeds": len(v),
             "median_iou": float(np.median(v)), "min_iou": min(v), "max_iou": max(v)}
            for (d, n, m), v in groups.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["nasa_super", "uhcs"])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 3, 5, 10])
    parser.add_argument("--budget-s", type=float, default=600.0)
    parser.add_argument("--seed", type=int, nargs="+", default=[0],
                        help="images and scribbles drawn per seed; several = repeats")
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=list(METHODS))
    parser.add_argument("--smoke", action="store_true", help="one tiny run (N=1, 20 s)")
    parser.add_argument("--out", type=Path, default=RESULTS / "fewshot.json")
    args = parser.parse_args()
    if args.smoke:
        args.datasets, args.n, args.budget_s = args.datasets[:1], [1], 20.0
        args.out = args.out.with_name("fewshot_smoke.json")
    if not (DATA / "MANIFEST.md").is_file():
        raise SystemExit("needs ../shared/data")
    runs = []
    for name in args.datasets:
        for n in args.n:
            for seed, method in itertools.product(args.seed, args.methods):  # alternating
                run = run_one(DATA / name, n, method, args.budget_s, seed)
                print(json.dumps(run), flush=True)
                runs.append(run)
                args.out.parent.mkdir(parents=True, exist_ok=True)
                args.out.write_text(json.dumps({
                    "budget_s": args.budget_s, "seeds": args.seed, "summary": summarise(runs),
                    "device": describe_device(pick_device("auto")), "runs": runs,
                }, indent=1))


if __name__ == "__main__":
    main()
