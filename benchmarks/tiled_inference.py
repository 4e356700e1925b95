"""Segmentation speed as users get it: the `segment` job against the bare forward pass.

Three measurements of one synthetic 16-bit montage with the shipped `nasa-super` model (a
`tu-tf_efficientnet_lite0` U-Net), each in its own child process so none inherits another's
memory, alternating in order over `--rounds` (default 5):
  * job: `run_segment` as `matlab-gui segment IMG --model nasa-super --out DIR` runs it: read
    the TIFF, the card's normalisation, tiles, blending, softmax, write the mask and the phase
    fractions (`--outputs`: also the overlay and the float maps, as --overlay --maps);
  * engine: the tiled engine alone on the image in memory (`TiledSegmenter.run`);
  * raw: the model's forward pass over the same tiles, pre-cut and normalised in memory.
Speed is pixels per second; the ratios job/raw and engine/raw are taken per round and reported
as median, min and max (goal: job/raw at least 0.9; "not resolved" when the spread crosses it).
Peak resident memory of the job process is reported too (goal below 3 GB at 8192 x 8192).

    python benchmarks/tiled_inference.py               # 2048 x 2048
    python benchmarks/tiled_inference.py --size 8192   # the large case (~10+ min per run on 2 CPU cores)

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
from spread import spread, verdict, write_merged

from matlab_gui.ml.tiling import TiledSegmenter

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


MODEL = Path(__file__).resolve().parents[1] / "models" / "nasa-super"


def child(args: argparse.Namespace) -> dict:
    import tempfile

    import tifffile

    from matlab_gui.jobs.segment import SegmentRequest, run_segment
    from matlab_gui.ml.inference import normaliser, tile_options
    from matlab_gui.ml.model_folder import load_model

    torch.set_num_threads(args.threads)
    image = synthetic_image(args.size)
    loaded = load_model(MODEL, torch.device("cpu"))
    model, card = loaded.module.eval(), loaded.card
    options = tile_options(card, tile=args.tile, overlap=args.overlap, batch=args.batch)
    segmenter = TiledSegmenter(model, torch.device("cpu"), options)
    with torch.inference_mode():  # first-call kernel setup, paid once per process by all
        model(torch.zeros(1, card.in_channels, segmenter.tile, segmenter.tile))
    with tempfile.TemporaryDirectory() as tmp:
        if args.child == "raw":
            normalise = normaliser(image, card)
            ys, xs = segmenter.grid(*image.shape)
            tiles = torch.from_numpy(np.stack([segmenter.cut_tile(image, normalise, y, x)
                                               for y in ys for x in xs]))
            start = time.perf_counter()
            with torch.inference_mode():
                for i in range(0, len(tiles), args.batch):
                    model(tiles[i:i + args.batch])
            seconds = time.perf_counter() - start
        elif args.child == "engine":
            start = time.perf_counter()
            segmenter.run(image, normaliser(image, card))
            seconds = time.perf_counter() - start
        else:
            path = Path(tmp) / "montage.tif"
            tifffile.imwrite(path, image)
            request = SegmentRequest(MODEL, [path], Path(tmp) / "out", overlay=args.outputs,
                                     maps=args.outputs, device="cpu", tile=args.tile,
                                     overlap=args.overlap, batch=args.batch)
            start = time.perf_counter()
            result = run_segment(request)
            seconds = time.perf_counter() - start
            assert not result.images[0].error and result.images[0].files
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"seconds": seconds, "peak_rss_mb": peak_kib / 1024}


def run_child(mode: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", mode, "--size", str(args.size), "--tile",
           str(args.tile), "--overlap", str(args.overlap), "--batch", str(args.batch),
           "--threads", str(args.threads), *(["--outputs"] if args.outputs else [])]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


MODES = ("job", "engine", "raw")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--outputs", action="store_true",
                        help="the job also writes the overlay and the float maps (--overlay --maps)")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    runs: dict[str, list[dict]] = {m: [] for m in MODES}
    for r in range(args.rounds):
        for mode in MODES[r % 3:] + MODES[:r % 3]:  # each mode first, second, third in turn
            runs[mode].append(run_child(mode, args))
            print(mode, runs[mode][-1], flush=True)
    pixels = args.size * args.size
    seconds = {m: [x["seconds"] for x in v] for m, v in runs.items()}
    job_ratio = [raw / job for job, raw in zip(seconds["job"], seconds["raw"], strict=True)]
    engine_ratio = [raw / eng for eng, raw in zip(seconds["engine"], seconds["raw"], strict=True)]
    record = {
        "image": f"{args.size}x{args.size} uint16", "model": "shipped nasa-super (smp U-Net "
        f"{ENCODER})", "job_writes": "mask, fractions" + (", overlay, maps" if args.outputs else ""), "tile": args.tile, "overlap": args.overlap, "batch": args.batch,
        "threads": args.threads, "device": "cpu",
        "pixels_per_s": {m: round(pixels / statistics.median(v)) for m, v in seconds.items()},
        "job_over_raw": spread(job_ratio), "engine_over_raw": spread(engine_ratio),
        "ratio_goal": 0.9, "job_goal": verdict(job_ratio, 0.9),
        "job_peak_rss_mb": round(max(x["peak_rss_mb"] for x in runs["job"])),
        "peak_rss_goal_mb": 3072, "rounds": args.rounds,
        "seconds": {m: [round(x, 2) for x in v] for m, v in seconds.items()},
        "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    write_merged(RESULTS, str(args.size), record)


if __name__ == "__main__":
    main()
