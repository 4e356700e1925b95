"""Tiled segmentation speed and memory on a synthetic 16-bit montage.

Pixels per second of the tiled engine (cutting, normalising, batching, softmax, blending and
writing float16 probabilities) vs the model's raw forward pass over the same tiles pre-cut and
normalised in memory (goal: ratio at least 0.9), and the peak resident memory of a process that
runs only the tiled job (goal: below 3 GB for 8192 x 8192 with a `tu-tf_efficientnet_lite0`
U-Net, float16 output). Each measurement runs in its own child process, so neither inherits the
other's memory; the two alternate over `--rounds` and the medians are compared.

    python benchmarks/tiled_inference.py               # 2048 x 2048, about a minute on 2 cores
    python benchmarks/tiled_inference.py --size 8192   # the issue's size (~10+ min on 2 CPU cores)

Writes benchmarks/results/tiled_inference.json (merged by size).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from matlab_gui.ml.tiling import TiledSegmenter, TileOptions

RESULTS = Path(__file__).resolve().parent / "results" / "tiled_inference.json"
ENCODER = "tu-tf_efficientnet_lite0"


def synthetic_image(size: int) -> np.ndarray:
    """A uint16 montage with grains and noise, made in bands to keep memory low."""
    rng = np.random.default_rng(0)
    yy = np.arange(size, dtype=np.float32)[:, None]
    xx = np.arange(size, dtype=np.float32)[None, :]
    image = np.empty((size, size), np.uint16)
    for y in range(0, size, 1024):
        band = 20000 + 15000 * np.sin(yy[y:y + 1024] / 37.0) * np.cos(xx / 53.0)
        band += rng.normal(0, 3000, band.shape)
        image[y:y + 1024] = np.clip(band, 0, 65535).astype(np.uint16)
    return image


def build_model(classes: int) -> torch.nn.Module:
    import segmentation_models_pytorch as smp

    torch.manual_seed(0)
    return smp.Unet(ENCODER, encoder_weights=None, in_channels=1, classes=classes).eval()


def whole_image_normaliser(image: np.ndarray):
    """Standardise with the whole image's mean and std, as the card's rule does per image."""
    mean, std = float(image.mean(dtype=np.float64)), float(image.std(dtype=np.float64)) or 1.0
    return lambda pixels: ((pixels.astype(np.float32) - mean) / std)[None]


def child(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    image = synthetic_image(args.size)
    model = build_model(args.classes)
    options = TileOptions(tile=args.tile, overlap=args.overlap, batch=args.batch,
                          output="probabilities")
    segmenter = TiledSegmenter(model, torch.device("cpu"), options)
    normalise = whole_image_normaliser(image)
    with torch.inference_mode():  # first-call kernel setup, paid once per process by both
        model(torch.zeros(1, 1, segmenter.tile, segmenter.tile))
    if args.child == "raw":
        pad, ys, xs = segmenter.grid(*image.shape)
        tiles = torch.from_numpy(np.stack([segmenter.cut_tile(image, normalise, pad, y, x)
                                           for y in ys for x in xs]))
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(tiles), args.batch):
                model(tiles[i:i + args.batch])
        seconds = time.perf_counter() - start
        n_tiles = len(tiles)
    else:
        start = time.perf_counter()
        result = segmenter.run(image, normalise)
        seconds = time.perf_counter() - start
        n_tiles = result.tiles
        assert result.probabilities is not None and result.probabilities.dtype == np.float16
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "tiles": n_tiles, "peak_rss_mb": peak_kib / 1024}


def run_child(mode: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--size", str(args.size), "--tile",
           str(args.tile), "--overlap", str(args.overlap), "--batch", str(args.batch),
           "--classes", str(args.classes), "--threads", str(args.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", choices=("raw", "tiled"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    runs: dict[str, list[dict]] = {"tiled": [], "raw": []}
    for r in range(args.rounds):
        for mode in (("tiled", "raw") if r % 2 == 0 else ("raw", "tiled")):
            runs[mode].append(run_child(mode, args))
            print(mode, runs[mode][-1], flush=True)
    pixels = args.size * args.size
    speed = {m: pixels / statistics.median(x["seconds"] for x in v) for m, v in runs.items()}
    record = {
        "image": f"{args.size}x{args.size} uint16", "model": f"smp U-Net {ENCODER}, random init",
        "classes": args.classes, "tile": args.tile, "overlap": args.overlap,
        "batch": args.batch, "tiles": runs["tiled"][0]["tiles"], "threads": args.threads,
        "device": "cpu", "output": "float16 probabilities",
        "tiled_pixels_per_s": round(speed["tiled"]), "raw_forward_pixels_per_s": round(speed["raw"]),
        "ratio": round(speed["tiled"] / speed["raw"], 3), "ratio_goal": 0.9,
        "tiled_peak_rss_mb": round(max(x["peak_rss_mb"] for x in runs["tiled"])),
        "peak_rss_goal_mb": 3072, "rounds": args.rounds,
        "seconds": {m: [round(x["seconds"], 2) for x in v] for m, v in runs.items()},
        "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    merged = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    merged[str(args.size)] = record
    RESULTS.write_text(json.dumps(merged, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
