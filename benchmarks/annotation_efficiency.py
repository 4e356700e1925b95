"""Labelling effort: how good live mode's prediction is after N strokes, against ilastik's way.

A simulated user paints each test image of a data set stroke by stroke (strokes drawn inside
the ground-truth classes, round robin over the classes, each stroke one unit of effort). After
5, 10, 20 and 40 strokes the image is predicted by
  * live mode as the window runs it (`ml.live.predict_live` on the image's cached features from
    the ImageNet EfficientNet-Lite0 encoder: the case of a user with no model yet), with its
    logistic regression and with its random forest, and
  * the ilastik-style baseline: a random forest (100 trees, ilastik's default) on scikit-image
    `multiscale_basic_features` (intensity, edges, texture at sigma 0.5-16), per pixel, fitted
    on the same painted pixels,
and scored against the truth (mean IoU over the classes, confusion summed over the test
images), for several stroke seeds. The update latency (fit + predict of one update) is timed
on a 1024 x 1024 view with 20 strokes, alternating the methods, repeated.

    python benchmarks/annotation_efficiency.py               # nasa_super + uhcs, 3 seeds
    python benchmarks/annotation_efficiency.py --smoke       # one image, one seed

Writes benchmarks/results/annotation_efficiency.json and .png. Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fewshot import DATA, RESULTS, splits_of  # noqa: E402
from spread import spread, verdict  # noqa: E402

from matlab_gui.imaging import read_image, read_mask  # noqa: E402
from matlab_gui.imaging.pixel_scores import confusion_matrix, segmentation_scores  # noqa: E402
from matlab_gui.ml import live  # noqa: E402

STROKES = (5, 10, 20, 40)
LIVE_METHODS = {"live mode (logistic)": "logistic", "live mode (random forest)": "forest"}
BASELINE = "ilastik-style random forest"


def stroke_sequence(truth: np.ndarray, n_classes: int, count: int,
                    rng: np.random.Generator) -> list[tuple[np.ndarray, int]]:
    """`count` brush strokes (pixel mask, 0-based class), classes in turn, each a line about a
    fifth of the image long and 1/80 of it wide, kept inside its class (as a careful user)."""
    h, w = truth.shape
    length, width = max(8, min(h, w) // 5), max(3, min(h, w) // 80)
    insides = [cv2.erode((truth == k).astype(np.uint8), np.ones((3, 3), np.uint8))
               for k in range(n_classes)]
    present = [k for k in range(n_classes) if insides[k].any()]
    out = []
    for i in range(count):
        k = present[i % len(present)]
        ys, xs = np.nonzero(insides[k])
        j = rng.integers(len(ys))
        angle = rng.uniform(0, np.pi)
        dy, dx = np.sin(angle) * length / 2, np.cos(angle) * length / 2
        canvas = np.zeros((h, w), np.uint8)
        cv2.line(canvas, (int(xs[j] - dx), int(ys[j] - dy)), (int(xs[j] + dx), int(ys[j] + dy)),
                 1, width)
        out.append(((canvas > 0) & (insides[k] > 0), k))
    return out


def painted(strokes: list[tuple[np.ndarray, int]], h: int, w: int) -> np.ndarray:
    """The mask after these strokes, in project values (class k -> k + 1, later over earlier)."""
    mask = np.zeros((h, w), np.uint8)
    for pixels, k in strokes:
        mask[pixels] = k + 1
    return mask


def ilastik_features(image: np.ndarray) -> np.ndarray:
    from skimage.feature import multiscale_basic_features

    grey = image.astype(np.float32)
    if grey.ndim == 3:
        grey = grey.mean(2)
    return multiscale_basic_features(grey, intensity=True, edges=True, texture=True,
                                     sigma_min=0.5, sigma_max=16).astype(np.float32)


def ilastik_predict(features: np.ndarray, mask: np.ndarray, values: list[int]) -> np.ndarray:
    """Random forest on the painted pixels' features, every pixel predicted: project values."""
    from sklearn.ensemble import RandomForestClassifier

    where = mask > 0
    forest = RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=0)
    forest.fit(features[where], mask[where])
    h, w = mask.shape
    return forest.predict(features.reshape(h * w, -1)).reshape(h, w).astype(np.uint8)


def confusion(truth: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """truth 0-based, labels project values (k + 1; 0 = none, left out)."""
    return confusion_matrix(truth, labels.astype(np.int64) - 1, n)


def run_dataset(name: str, seeds: list[int], limit: int | None) -> dict:
    dataset = DATA / name
    _, test, names = splits_of(dataset)
    test = test[:limit] if limit else test
    n, values = len(names), list(range(1, len(names) + 1))
    methods = [*LIVE_METHODS, BASELINE]
    matrices = {m: {s: np.zeros((n, n), np.int64) for s in STROKES} for m in methods}
    per_seed = {m: {s: [] for s in STROKES} for m in methods}
    feature_s = {"live": [], BASELINE: []}
    seed_matrices = {seed: {m: {s: np.zeros((n, n), np.int64) for s in STROKES} for m in methods}
                     for seed in seeds}
    for row in test:  # features once per image, as live mode caches them
        image = read_image(dataset / row["image"]).data
        truth = read_mask(dataset / row["mask"]).astype(np.int64)
        t = time.perf_counter()
        feats = live.image_features(image)
        feature_s["live"].append(time.perf_counter() - t)
        t = time.perf_counter()
        pixel_feats = ilastik_features(image)
        feature_s[BASELINE].append(time.perf_counter() - t)
        for seed in seeds:
            rng = np.random.default_rng([seed, len(row["image"])])
            strokes = stroke_sequence(truth, n, max(STROKES), rng)
            for count in STROKES:
                mask = painted(strokes[:count], *truth.shape)
                if len(live.painted_values(mask, values)) < 2:
                    continue
                outputs = {m: live.predict_live(feats, mask, values, method).labels
                           for m, method in LIVE_METHODS.items()}
                outputs[BASELINE] = ilastik_predict(pixel_feats, mask, values)
                for m, labels in outputs.items():
                    c = confusion(truth, labels, n)
                    matrices[m][count] += c
                    seed_matrices[seed][m][count] += c
            print(f"  {name} seed {seed} {row['image']}", flush=True)
    for seed in seeds:
        for m in methods:
            for count in STROKES:
                per_seed[m][count].append(
                    segmentation_scores(seed_matrices[seed][m][count], names)["mean_iou"])
    out = {"images": [r["image"] for r in test], "classes": names, "seeds": seeds,
           "feature_seconds": {k: spread(v) for k, v in feature_s.items()}, "methods": {}}
    for m in methods:
        rows = {}
        for count in STROKES:
            scores = segmentation_scores(matrices[m][count], names)
            rows[str(count)] = {"mean_iou": round(scores["mean_iou"], 4),
                                "per_class_iou": {k: None if v is None else round(v, 4) for k, v
                                                  in zip(names, scores["per_class_iou"], strict=True)},
                                "mean_iou_per_seed": spread(per_seed[m][count])}
        out["methods"][m] = rows
    return out


def latency(rounds: int) -> dict:
    """Seconds per update on a 1024 x 1024 view with 20 strokes, methods alternating."""
    dataset = DATA / "nasa_super"
    _, test, names = splits_of(dataset)
    image = cv2.resize(read_image(dataset / test[0]["image"]).data, (1024, 1024))
    truth = cv2.resize(read_mask(dataset / test[0]["mask"]), (1024, 1024),
                       interpolation=cv2.INTER_NEAREST).astype(np.int64)
    values = list(range(1, len(names) + 1))
    mask = painted(stroke_sequence(truth, len(names), 20, np.random.default_rng(0)), 1024, 1024)
    t = time.perf_counter()
    feats = live.image_features(image)
    live_features = time.perf_counter() - t
    t = time.perf_counter()
    pixel_feats = ilastik_features(image)
    pixel_features = time.perf_counter() - t
    times: dict[str, list[float]] = {m: [] for m in [*LIVE_METHODS, BASELINE]}
    for _ in range(rounds):
        for m, method in LIVE_METHODS.items():
            t = time.perf_counter()
            live.predict_live(feats, mask, values, method)
            times[m].append(time.perf_counter() - t)
        t = time.perf_counter()
        ilastik_predict(pixel_feats, mask, values)
        times[BASELINE].append(time.perf_counter() - t)
    return {"view": "1024 x 1024", "strokes": 20, "rounds": rounds,
            "features_once_s": {"live": round(live_features, 3), BASELINE: round(pixel_features, 3)},
            "update_s": {m: {**spread(v), "p95": round(float(np.percentile(v, 95)), 3)}
                         for m, v in times.items()}}


def goals(results: dict) -> dict:
    """Live mode (its default classifier) against the baseline at every stroke count, and its
    update latency."""
    default = next(m for m, k in LIVE_METHODS.items() if k == live.DEFAULT_METHOD)
    out = {}
    for name, r in results["datasets"].items():
        beats = []
        for count in map(str, STROKES):
            ours = r["methods"][default][count]["mean_iou_per_seed"]
            theirs = r["methods"][BASELINE][count]["mean_iou_per_seed"]
            beats.append(ours["min"] > theirs["max"] if ours["rounds"] > 1 else
                         ours["median"] > theirs["median"])
        out[f"{name}: live mode beats the baseline at every stroke count"] = (
            "met" if all(beats) else "not met" if not any(beats) else
            f"met at {sum(beats)} of {len(beats)} stroke counts")
    upd = results["latency"]["update_s"][default]
    out["live update under 1 s (median, 1024 x 1024)"] = verdict([upd["median"]], 1.0, at_least=False)
    return out


def plot(results: dict, path: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(results["datasets"])
    fig, axes = plt.subplots(1, len(sets), figsize=(5 * len(sets), 3.6), squeeze=False)
    for ax, name in zip(axes[0], sets, strict=True):
        for m, rows in results["datasets"][name]["methods"].items():
            ax.plot(STROKES, [rows[str(s)]["mean_iou"] for s in STROKES], marker="o", label=m)
        ax.set(title=name, xlabel="strokes per image", ylabel="mean IoU (test split)",
               xscale="log", xticks=STROKES, xticklabels=[str(s) for s in STROKES])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["nasa_super", "uhcs"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=7, help="latency rounds")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if not (DATA / "MANIFEST.md").is_file():
        raise SystemExit(f"needs the data sets in {DATA}")
    limit, seeds = (1, [0]) if args.smoke else (None, list(range(args.seeds)))
    start = time.time()
    results = {"command": " ".join(sys.argv), "datasets": {}}
    for name in args.datasets:
        results["datasets"][name] = run_dataset(name, seeds, limit)
    results["latency"] = latency(2 if args.smoke else args.rounds)
    results["goals"] = goals(results)
    results["wall_s"] = round(time.time() - start, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "annotation_efficiency_smoke" if args.smoke else "annotation_efficiency"
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, RESULTS / f"{stem}.png")
    print(json.dumps({"goals": results["goals"], "latency": results["latency"]["update_s"]}, indent=2))
    print(f"wrote {RESULTS / (stem + '.json')}")


if __name__ == "__main__":
    main()
