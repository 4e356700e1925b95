"""Training throughput (patches/s) on 1, 2, ... processes under torchrun, and the scaling efficiency.

Each process trains a U-Net (tu-resnet10t encoder, random weights) with the same batch per
rank, so P processes take P times the patches per step (weak scaling, as DDP is used). Every
round launches each process count once, alternating, so load from other programs hits all
alike; a launch trains two epochs and times the second (the first warms up). Reported: median
and spread of the patches per second over the rounds, speed-up over one process and
efficiency = speed-up / processes.

On the CPU the cores are divided among the processes (OMP_NUM_THREADS = cores / P), so two
processes on a 2-core machine can at best match one process using both cores; on a
multi-GPU machine run `--device cuda --procs 1 2 4 8`.
Writes benchmarks/results/scale_out_ddp.json.
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

RESULTS = Path(__file__).resolve().parent / "results" / "scale_out_ddp.json"


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
                   "--master-port", str(_free_port()), __file__, "--worker", "--report", str(report),
                   "--device", args.device, "--encoder", args.encoder, "--patch", str(args.patch),
                   "--batch", str(args.batch), "--steps", str(args.steps)]
        done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
        if done.returncode:
            sys.exit(f"{procs} processes failed:\n{done.stderr[-3000:]}")
        done = json.loads(report.read_text())
    return done["patches"] / done["epoch_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--encoder", default="tu-resnet10t")
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4, help="patches per step on each process")
    parser.add_argument("--steps", type=int, default=4, help="steps per timed epoch")
    parser.add_argument("--threads", type=int,
                        help="CPU threads per process (default: the cores divided among them)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
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
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
