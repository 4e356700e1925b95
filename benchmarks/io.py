"""Micrograph and project I/O speed, each against a baseline measured in the same run.

1. Opening an 8192 x 8192 uint16 TIFF through `matlab_gui.imaging.read_image` vs
   `tifffile.imread` on the same file (goal: ratio at most 1.1).
2. Saving one changed 4096 x 4096 mask into a 100-image project, next to a 10-image project
   (goal: under 0.3 s, independent of project size) — `project_save.bench_project_save`.

Writes `benchmarks/results/io.json`. Run: `.venv/bin/python benchmarks/io.py [--quick]`
(`--quick` uses 20- and 5-image projects).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from project_save import bench_project_save  # noqa: E402

from matlab_gui.imaging import read_image  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "io.json"
SIDE = 8192
ROUNDS = 7


def bench_open_tiff(folder: Path) -> dict:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 4096, (SIDE, SIDE), dtype=np.uint16)  # 12-bit detector in 16 bits
    path = folder / "big.tif"
    tifffile.imwrite(path, data)
    ours, theirs = [], []
    for i in range(ROUNDS):  # alternate the order so caches and turbo favour neither side
        for name in (("ours", "theirs") if i % 2 == 0 else ("theirs", "ours")):
            start = time.perf_counter()
            out = read_image(path).data if name == "ours" else tifffile.imread(path)
            (ours if name == "ours" else theirs).append(time.perf_counter() - start)
            assert out.shape == (SIDE, SIDE) and out.dtype == np.uint16
            del out
    ratio = statistics.median(ours) / statistics.median(theirs)
    return {
        "what": "open 8192x8192 uint16 TIFF (128 MiB, uncompressed)",
        "read_image_s_median": round(statistics.median(ours), 4),
        "tifffile_imread_s_median": round(statistics.median(theirs), 4),
        "ratio": round(ratio, 3),
        "goal_ratio_max": 1.1,
        "passed": ratio <= 1.1,
    }


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller projects (20 and 5 images)")
    args = parser.parse_args()
    sizes = (5, 20) if args.quick else (10, 100)
    with tempfile.TemporaryDirectory(prefix="mg_io_bench_") as tmp:
        tiff = bench_open_tiff(Path(tmp))
        saves = [bench_project_save(n, Path(tmp)) for n in sizes]
    result = {
        "open_tiff": tiff,
        "project_save": {
            "what": "save() after changing one 4096x4096 mask; images embedded 4096x4096 uint8",
            "goal_s_max": 0.3,
            "passed": all(r["save_one_mask_s_median"] < 0.3 for r in saves),
            "large_over_small_save_time": round(
                saves[1]["save_one_mask_s_median"] / saves[0]["save_one_mask_s_median"], 2
            ),
            "runs": saves,
        },
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
