"""`segment` end to end, this checkout against an older one, on one large real-data montage.

Both run `python -m matlab_gui segment MONTAGE --model MODEL --out DIR --quiet` as a user types
it, each in its own process (the older checkout first on PYTHONPATH), alternating which goes
first over `--rounds` rounds. The whole process is timed: start-up, reading, the card's
normalisation, tiles, the network (this checkout's default engine), blending and writing. The
speed-up is taken per round and reported as median, min and max with a verdict that says "not
resolved" when the rounds disagree about the goal. The two masks are compared pixel by pixel.

The montage is a grid of the data set's real micrographs (greyscale, uint16, each tile flipped or
rotated at random), so the network sees micrographs, not noise.

    git worktree add /tmp/before c8f65c3^     # the version to compare with
    python benchmarks/segment_speedup.py --baseline /tmp/before --size 8192

Writes benchmarks/results/segment_speedup.json (merged by size). Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import tifffile
from spread import spread, verdict, write_merged

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results" / "segment_speedup.json"
GOAL = 2.5


def montage(dataset: Path, size: int, seed: int = 0) -> np.ndarray:
    """A size x size uint16 grid of the data set's images, each turned and flipped at random."""
    rng = np.random.default_rng(seed)
    tiles = []
    for path in sorted((dataset / "images").iterdir()):
        image = tifffile.imread(path) if path.suffix.lower() in {".tif", ".tiff"} else \
            cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        grey = image.mean(axis=2) if image.ndim == 3 else image.astype(np.float64)
        scale = 257.0 if image.dtype == np.uint8 else 1.0
        tiles.append(np.clip(grey * scale, 0, 65535).astype(np.uint16))
    side = min(t.shape[0] for t in tiles)
    out = np.zeros((size, size), np.uint16)
    for y in range(0, size, side):
        for x in range(0, size, side):
            tile = np.rot90(tiles[rng.integers(len(tiles))][:side, :side], rng.integers(4))
            tile = tile[:, ::-1] if rng.integers(2) else tile
            h, w = min(side, size - y), min(side, size - x)
            out[y:y + h, x:x + w] = tile[:h, :w]
    return out


def run_segment(checkout: Path, image: Path, model: str, out: Path) -> float:
    """Wall seconds of one whole `segment` process run from `checkout`."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "matlab_gui", "segment", str(image), "--model", model,
                    "--out", str(out), "--quiet"], check=True, env=env, cwd=checkout)
    return time.perf_counter() - t0


def mask_of(folder: Path) -> np.ndarray:
    return cv2.imread(str(next(folder.glob("*_mask.png"))), cv2.IMREAD_UNCHANGED)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the older checkout")
    parser.add_argument("--size", type=int, default=8192)
    parser.add_argument("--model", default="nasa-super")
    parser.add_argument("--dataset", default="nasa_super")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if not (DATA / "MANIFEST.md").is_file():
        raise SystemExit("needs ../shared/data")
    checkouts = {"before": args.baseline.resolve(), "now": REPO}
    with tempfile.TemporaryDirectory(prefix="speedup-") as tmp:
        work = Path(tmp)
        image = work / "montage.tif"
        tifffile.imwrite(image, montage(DATA / args.dataset, args.size))
        small = work / "small.tif"  # converts the model for this checkout's engine, untimed
        tifffile.imwrite(small, tifffile.imread(image)[:512, :512])
        run_segment(REPO, small, args.model, work / "warm")
        seconds: dict[str, list[float]] = {"before": [], "now": []}
        for r in range(args.rounds):
            for name in (("before", "now") if r % 2 == 0 else ("now", "before")):
                seconds[name].append(run_segment(checkouts[name], image, args.model,
                                                 work / f"{name}{r}"))
                print(name, round(seconds[name][-1], 1), flush=True)
            same = float((mask_of(work / "before0") == mask_of(work / "now0")).mean())
            write(args, seconds, same)  # after every round: a stopped run keeps its rounds


def write(args: argparse.Namespace, seconds: dict[str, list[float]], same: float) -> None:
    speedup = [b / n for b, n in zip(seconds["before"], seconds["now"], strict=True)]
    record = {
        "image": f"{args.size}x{args.size} uint16 montage of {args.dataset}",
        "model": args.model, "baseline": subprocess.run(
            ["git", "-C", str(args.baseline), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True).stdout.strip() or str(args.baseline),
        "seconds": {k: [round(v, 1) for v in vs] for k, vs in seconds.items()},
        "speedup": spread(speedup), "goal": GOAL, "verdict": verdict(speedup, GOAL),
        "mask_pixels_equal": round(same, 6), "rounds": len(speedup),
        "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
        "load_at_end": os.getloadavg()[0], "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    write_merged(RESULTS, str(args.size), record)


if __name__ == "__main__":
    main()
