"""Scale-out throughput: batch inference on a Dask cluster, and DDP training under torchrun.

`dask`: classify and segment on a LocalCluster of 1 vs 2 worker processes. Each worker has one
thread (and one torch thread); both clusters start once and are warmed up (model loaded in
every worker) before the clock runs, so rounds measure steady throughput. Rounds alternate
which cluster goes first; images per second are summarised by median and range, and the
speed-up of 2 workers over 1 per round.

`ddp`: training throughput (patches/s) on 1, 2, ... processes under torchrun. Each process
trains a U-Net (tu-resnet10t encoder, random weights) with the same batch per rank, so P
processes take P times the patches per step (weak scaling, as DDP is used). Every round
launches each process count once, alternating; a launch trains two epochs and times the
second (the first warms up). Reported: median and spread of the patches per second, speed-up
over one process and efficiency = speed-up / processes. On the CPU the cores are divided among
the processes (OMP_NUM_THREADS = cores / P), so two processes on a 2-core machine can at best
match one process using both cores; on a multi-GPU machine run
`--part ddp --device cuda --procs 1 2 4 8`.

    python benchmarks/scale_out.py                 # both parts, ~6 min on 2 shared cores
    python benchmarks/scale_out.py --part ddp --device cuda --procs 1 2 4 8

Writes benchmarks/results/scale_out.json ("dask" and "ddp"; a part not run keeps its last
result).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
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


def worker(args: argparse.Namespace) -> None:
    """One rank (started by torchrun): train and, on rank 0, write the epoch times."""
    import torch

    from matlab_gui.ml import distributed
    from matlab_gui.ml.card import ClassInfo
    from matlab_gui.ml.data import PatchDataset
    from matlab_gui.ml.device import pick_device
    from matlab_gui.ml.losses import build_loss
    from matlab_gui.ml.synthetic import shapes_set
    from matlab_gui.ml.trainer import TrainConfig, Trainer
    from matlab_gui.ml.zoo import build_model, default_card

    with distributed.session(pick_device(args.device)) as (world, device):
        torch.manual_seed(0)
        classes = [ClassInfo(n, (i * 80, 0, 0)) for i, n in enumerate(("matrix", "disc", "square"))]
        card = default_card("segmentation", "unet", classes, encoder=args.encoder, in_channels=1,
                            input_size=args.patch)
        model = build_model(card, pretrained=False)
        patches = args.steps * args.batch * world.size
        data = PatchDataset(shapes_set(4, seed=0, size=2 * args.patch), args.patch, patches, seed=0)
        config = TrainConfig(epochs=2, batch_size=args.batch, lr=1e-3, patience=0)
        history = Trainer(model, build_loss({}), data, config, device).fit().history
        if world.is_main:
            Path(args.report).write_text(json.dumps(
                {"procs": world.size, "patches": patches, "epoch_s": history[-1]["time_s"]}))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(procs: int, args: argparse.Namespace) -> float:
    """Patches per second of one torchrun launch with `procs` processes."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        env = dict(os.environ)
        if args.device == "cpu":
            env["OMP_NUM_THREADS"] = str(args.threads or max(1, (os.cpu_count() or 1) // procs))
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(procs),
                   "--master-port", str(_free_port()), __file__, "--part", "ddp", "--worker", "--report", str(report),
                   "--device", args.device, "--encoder", args.encoder, "--patch", str(args.patch),
                   "--batch", str(args.batch), "--steps", str(args.steps)]
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        if done.returncode:
            sys.exit(f"{procs} processes failed:\n{done.stderr[-3000:]}")
        done = json.loads(report.read_text())
    return done["patches"] / done["epoch_s"]


def ddp_part(args) -> dict:
    """Patches per second on each process count, alternating, and the scaling efficiency."""
    t0 = time.perf_counter()
    rates: dict[int, list[float]] = {p: [] for p in args.procs}
    for r in range(args.rounds):
        order = args.procs if r % 2 == 0 else args.procs[::-1]
        for procs in order:
            rates[procs].append(launch(procs, args))
        print(f"round {r + 1}: " + ", ".join(f"{p} proc {rates[p][-1]:.1f}/s" for p in args.procs),
              flush=True)
    fewest = min(args.procs)
    base = statistics.median(rates[fewest])
    rows = []
    for procs in args.procs:
        median = statistics.median(rates[procs])
        speedup = median / base * fewest  # over one process (extrapolated if 1 is not run)
        rows.append({"procs": procs, "patches_per_s_median": round(median, 2),
                     "patches_per_s_min": round(min(rates[procs]), 2),
                     "patches_per_s_max": round(max(rates[procs]), 2),
                     "speedup": round(speedup, 3), "efficiency": round(speedup / procs, 3),
                     "rounds": [round(x, 2) for x in rates[procs]]})
        print(f"{procs} processes: {median:.1f} patches/s (range {min(rates[procs]):.1f}-"
              f"{max(rates[procs]):.1f}), speed-up {speedup:.2f}x, efficiency {speedup / procs:.0%}")
    import torch

    result = {"device": args.device, "cpu_count": os.cpu_count(), "torch": torch.__version__,
              "model": f"unet/{args.encoder}", "patch": args.patch, "batch_per_process": args.batch,
              "steps_per_epoch": args.steps, "rounds": args.rounds, "results": rows,
              "threads_per_process": args.threads or "cores / processes",
              "wall_s": round(time.perf_counter() - t0, 1)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", nargs="+", choices=("dask", "ddp"), default=["dask", "ddp"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    dask = parser.add_argument_group("dask")
    dask.add_argument("--classify-images", type=int, default=96)
    dask.add_argument("--segment-images", type=int, default=8)
    dask.add_argument("--image-size", type=int, default=256)
    ddp = parser.add_argument_group("ddp")
    ddp.add_argument("--device", default="cpu", help="cpu or cuda")
    ddp.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    ddp.add_argument("--encoder", default="tu-resnet10t")
    ddp.add_argument("--patch", type=int, default=128)
    ddp.add_argument("--batch", type=int, default=4, help="patches per step on each process")
    ddp.add_argument("--steps", type=int, default=4, help="steps per timed epoch")
    ddp.add_argument("--threads", type=int,
                     help="CPU threads per process (default: the cores divided among them)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if "dask" in args.part:
        with tempfile.TemporaryDirectory() as tmp:
            results["dask"] = dask_part(args, Path(tmp))
    if "ddp" in args.part:
        results["ddp"] = ddp_part(args)
    results["date"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
