"""Scale-out throughput: classify and segment on a Dask LocalCluster of 1 vs 2 worker processes.

Each worker has one thread (and one torch thread); both clusters start once and are warmed up
(model loaded in every worker) before the clock runs, so rounds measure steady throughput.
Rounds alternate which cluster goes first; images per second are summarised by median and
range, and the speed-up of 2 workers over 1 per round.

    python benchmarks/scale_out.py            # ~3 min on 2 shared cores

Writes benchmarks/results/scale_out.json (the "dask" part).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from spread import spread

from matlab_gui.imaging import write_image

RESULTS = Path(__file__).resolve().parent / "results" / "scale_out.json"
CLASSES = ("a", "b", "c")


def write_images(folder: Path, n: int, size: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        write_image(folder / f"{i:04d}.png", rng.integers(0, 255, (size, size), dtype=np.uint8))
    return folder


def save_model(folder: Path, task: str, input_size: int) -> Path:
    import torch

    from matlab_gui.ml.card import ClassInfo
    from matlab_gui.ml.model_folder import save_model as save
    from matlab_gui.ml.zoo import build_model, default_card

    torch.manual_seed(0)
    classes = [ClassInfo(name=n, color=(80 * i, 200, 0)) for i, n in enumerate(CLASSES)]
    if task == "classification":
        card = default_card(task, "resnet18", classes, in_channels=1, input_size=input_size)
    else:
        card = default_card(task, "unet", classes, encoder="tu-resnet10t", in_channels=1,
                            input_size=input_size, tile_overlap=input_size // 8)
    save(folder, build_model(card, pretrained=False), card)
    return folder


def classify_seconds(model: Path, images: Path, out: Path, address: str) -> float:
    from matlab_gui.jobs.classify import ClassifyRequest, run_classify

    out.unlink(missing_ok=True)
    start = time.perf_counter()
    result = run_classify(ClassifyRequest(model, images, out=out, device="cpu", engine="torch",
                                          dask=address))
    assert result.failed == 0 and not result.skipped
    return time.perf_counter() - start


def segment_seconds(model: Path, images: Path, out: Path, address: str) -> float:
    from matlab_gui.jobs.segment import SegmentRequest, run_segment

    start = time.perf_counter()
    result = run_segment(SegmentRequest(model, [images], out, device="cpu", engine="torch",
                                        dask=address))
    assert result.segmented == len(result.images)
    return time.perf_counter() - start


def dask_part(args, tmp: Path) -> dict:
    from distributed import LocalCluster

    cls_images = write_images(tmp / "cls", args.classify_images, args.image_size)
    seg_images = write_images(tmp / "seg", args.segment_images, args.image_size)
    cls_model = save_model(tmp / "cls_model", "classification", 64)
    seg_model = save_model(tmp / "seg_model", "segmentation", 128)
    jobs = {
        "classify": (lambda a: classify_seconds(cls_model, cls_images, tmp / "r.csv", a),
                     args.classify_images),
        "segment": (lambda a: segment_seconds(seg_model, seg_images, tmp / "seg_out", a),
                    args.segment_images),
    }
    clusters = {n: LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                dashboard_address=None, env={"OMP_NUM_THREADS": "1"})
                for n in (1, 2)}
    seconds = {job: {n: [] for n in clusters} for job in jobs}
    try:
        for cluster in clusters.values():  # warm-up: every worker loads both models
            for run, _ in jobs.values():
                run(cluster.scheduler_address)
        for r in range(args.rounds):
            order = (1, 2) if r % 2 == 0 else (2, 1)
            for job, (run, _) in jobs.items():
                for n in order:
                    seconds[job][n].append(run(clusters[n].scheduler_address))
                    print(job, n, "workers", round(seconds[job][n][-1], 2), "s", flush=True)
    finally:
        for cluster in clusters.values():
            cluster.close()
    record = {}
    for job, (_, count) in jobs.items():
        per_s = {n: [count / t for t in v] for n, v in seconds[job].items()}
        record[job] = {
            "images": count,
            "images_per_s_1_worker": spread(per_s[1]),
            "images_per_s_2_workers": spread(per_s[2]),
            "speedup_per_round": spread([b / a for a, b in zip(per_s[1], per_s[2], strict=True)]),
            "seconds": {f"{n}_workers": [round(t, 2) for t in v] for n, v in seconds[job].items()},
        }
    record["setup"] = {
        "image": f"{args.image_size}x{args.image_size} grey PNG",
        "classify_model": "resnet18 at 64 px, random init, engine torch",
        "segment_model": "unet tu-resnet10t, 128 px tiles, random init, engine torch",
        "threads_per_worker": 1, "cpus": os.cpu_count(), "rounds": args.rounds,
    }
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--classify-images", type=int, default=96)
    parser.add_argument("--segment-images", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {"dask": dask_part(args, Path(tmp)),
                   "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
