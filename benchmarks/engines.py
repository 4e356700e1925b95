"""Inference engines on the path users run: speed and agreement with torch, per shipped model.

For each shipped model, one real micrograph (its bundled sample, tiled up to `--size` by
mirroring) goes through `segment_image` (segmentation: the card's tiles, the app's normalisation,
blending, probabilities) or `classify_batch` (the classifier, `--batch` crops) with each engine
in turn: torch eager, ONNX Runtime and OpenVINO (both float32). Rounds alternate the engines
(`--rounds`, default 5); speed ratios against torch are taken per round and reported as median,
min and max. Agreement is measured once per engine: the largest probability difference to torch
and the share of pixels (images) with the same class. Conversion time (the first use of a model;
cached afterwards) is reported apart.

    python benchmarks/engines.py                 # every shipped model, 1024 x 1024
    python benchmarks/engines.py --models nasa-super --size 2048

Writes benchmarks/results/engines.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from spread import spread, verdict

from matlab_gui.imaging import read_image
from matlab_gui.ml import engines
from matlab_gui.ml.device import describe_device
from matlab_gui.ml.engine_choice import CPU_ENGINES, LOSSY, available
from matlab_gui.ml.inference import (
    classification_input,
    classify_batch,
    make_segmenter,
    segment_image,
)
from matlab_gui.ml.model_folder import load_model
from matlab_gui.resources import models_dir

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "engines.json"
SAMPLES = REPO / "resources" / "samples"
SAMPLE_OF = {"nasa-super": "superalloy_spot2_0d_0.tif", "uhcs": "uhcs0006.tif"}
CPU = torch.device("cpu")


def micrograph(name: str, size: int) -> np.ndarray:
    """The model's sample micrograph (else the first bundled one), mirrored up to size x size."""
    image = read_image(SAMPLES / SAMPLE_OF.get(name, "uhcs0006.tif")).data
    reps = (-(-size // image.shape[0]), -(-size // image.shape[1])) + (1,) * (image.ndim - 2)
    return np.tile(image, reps)[:size, :size]


def runner(loaded, engine: str, image: np.ndarray, batch: int):
    """`run() -> (probabilities, labels)` of the engine on the image, as the app predicts."""
    module = engines.choose_engine(loaded, CPU, engine)
    if module.note:
        print(f"{loaded.card.name}: {module.note}", flush=True)
    if module.name != engine:
        raise SystemExit(f"{engine} did not run {loaded.card.name}: {module.note}")
    card = loaded.card
    if card.task == "segmentation":
        segmenter = make_segmenter(module.module, card, CPU, output="probabilities")

        def run():
            p = segment_image(segmenter, card, image)
            return p.probabilities.astype(np.float32), p.labels
        return run
    step = max(1, (image.shape[0] - 256) // batch)
    crops = [image[i * step:i * step + 256, i * step:i * step + 256] for i in range(batch)]
    x = torch.from_numpy(np.stack([classification_input(c, card) for c in crops]))

    def run():
        p = classify_batch(module.module, x, CPU)
        return p, p.argmax(1)
    return run


def measure(name: str, size: int, rounds: int, batch: int, names: list[str]) -> dict:
    loaded = load_model(models_dir() / name, CPU)
    image = micrograph(name, size)
    conversion = {}
    runs = {}
    for engine in names:
        t0 = time.perf_counter()
        runs[engine] = runner(loaded, engine, image, batch)
        conversion[engine] = round(time.perf_counter() - t0, 2)
    reference = runs["torch"]()
    agreement = {}
    for engine in names[1:]:
        probs, labels = runs[engine]()
        agreement[engine] = {"max_abs_prob_diff": float(np.abs(probs - reference[0]).max()),
                             "argmax_agreement": float((labels == reference[1]).mean())}
    times = {e: [] for e in names}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]  # alternating, so drift hits all alike
        for engine in order:
            t0 = time.perf_counter()
            runs[engine]()
            times[engine].append(time.perf_counter() - t0)
    speedups = {e: [t / s for t, s in zip(times["torch"], times[e], strict=True)]
                for e in names[1:]}
    return {
        "model": name, "task": loaded.card.task,
        "input": f"{size} x {size} image" if loaded.card.task == "segmentation"
        else f"{batch} crops of 256 x 256",
        "seconds": {e: spread(v) for e, v in times.items()},
        "speedup_vs_torch": {e: spread(v) for e, v in speedups.items()},
        "goal_2x": {e: verdict(v, 2.0) for e, v in speedups.items()},
        "agreement_vs_torch": agreement, "conversion_s": conversion,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+",
                        default=["nasa-super", "uhcs", "nasa-ebc", "nasa-meltpool", "neu-det-cls"])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16, help="classifier crops per batch")
    parser.add_argument("--lossy", action="store_true",
                        help="also the lossy engines (bfloat16), with their agreement on a real image")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    names = ["torch"] + [e for e in CPU_ENGINES + (LOSSY if args.lossy else ()) if available(e)]
    with tempfile.TemporaryDirectory() as cache:  # conversions timed from nothing
        engines.cache_dir = lambda: Path(cache)
        results = []
        for name in args.models:
            results.append(measure(name, args.size, args.rounds, args.batch, names))
            print(json.dumps(results[-1]), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": __doc__.splitlines()[0], "device": describe_device(CPU),
        "torch": torch.__version__, "engines": names, "size": args.size,
        "rounds": args.rounds, "models": results}, indent=1))


if __name__ == "__main__":
    main()
