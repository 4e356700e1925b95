"""What the trainer costs per step over a plain PyTorch loop, and CPU step times of two models.

Both loops train the same model (same initial weights), with the same batch, optimiser, loss and
in-memory data, in alternating rounds so that load from other processes hits both alike; the
ratio is of the median step times (goal: at most 1.05). Then one training step of `micro-ktnet`
and of a `tu-tf_efficientnet_lite0` U-Net at 256 x 256 is timed on the CPU.
Writes benchmarks/results/train_overhead.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, TensorDataset

from matlab_gui.ml.losses import build_loss
from matlab_gui.ml.synthetic import TinySegNet, shapes_set
from matlab_gui.ml.trainer import TrainConfig, Trainer

RESULTS = Path(__file__).resolve().parent / "results" / "train_overhead.json"
CPU = torch.device("cpu")


def _data(n: int, size: int) -> TensorDataset:
    images = shapes_set(n, seed=0, size=size)
    return TensorDataset(torch.stack([torch.from_numpy(p.model_input()) for p in images]),
                         torch.stack([torch.from_numpy(p.target) for p in images]))


def _steps(stamps: list[float]) -> list[float]:
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def trainer_epoch(model, data, batch: int, lr: float) -> list[float]:
    stamps: list[float] = []
    config = TrainConfig(epochs=1, batch_size=batch, lr=lr, patience=0, amp=False)

    def progress(event):
        if event.stage == "train":
            stamps.append(time.perf_counter())

    Trainer(model, build_loss({}), data, config, CPU, progress=progress).fit()
    return _steps(stamps)


def plain_epoch(model, data, batch: int, lr: float) -> list[float]:
    loss_fn = build_loss({})
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(data, batch_size=batch, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(0))
    model.train()
    stamps = []
    for x, y in loader:
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()
        stamps.append(time.perf_counter())
    return _steps(stamps)


def overhead(rounds: int, images: int, size: int, batch: int, width: int) -> dict:
    torch.manual_seed(0)
    reference = TinySegNet(width=width)
    data = _data(images, size)
    ours, plain = [], []
    for i in range(rounds):  # alternate which loop goes first, so neither always runs warm
        runs = [(ours, trainer_epoch), (plain, plain_epoch)]
        for times, loop in runs if i % 2 == 0 else runs[::-1]:
            times += loop(copy.deepcopy(reference), data, batch, 1e-3)
    t, p = statistics.median(ours), statistics.median(plain)
    return {"model": f"TinySegNet(width={width})", "input": [batch, 1, size, size],
            "steps_each": len(ours), "trainer_step_ms": t * 1e3, "plain_step_ms": p * 1e3,
            "ratio": t / p, "goal": 1.05}


def step_time(arch: str, encoder: str | None, size: int, batch: int, repeats: int) -> dict:
    from matlab_gui.ml.zoo import build_model, default_card

    card = default_card("segmentation", arch, ["a", "b", "c"], encoder=encoder)
    model = build_model(card, pretrained=False).train()
    loss_fn = build_loss({})
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.randn(batch, card.in_channels, size, size)
    y = torch.randint(0, 3, (batch, size, size))
    times = []
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - t0)
    return {"arch": arch, "encoder": card.encoder, "input": [batch, card.in_channels, size, size],
            "step_s_median": statistics.median(times[1:]), "step_s_all": times[1:],
            "parameters": sum(p.numel() for p in model.parameters())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="timed steps per zoo model")
    parser.add_argument("--batch", type=int, default=2, help="batch of the zoo step times")
    args = parser.parse_args()
    result = {
        "overhead": overhead(args.rounds, images=64, size=64, batch=8, width=32),
        "cpu_step_times_256": [
            step_time("micro-ktnet", None, 256, args.batch, args.repeats),
            step_time("unet", "tu-tf_efficientnet_lite0", 256, args.batch, args.repeats),
        ],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2))
    o = result["overhead"]
    print(f"trainer {o['trainer_step_ms']:.2f} ms/step vs plain {o['plain_step_ms']:.2f} ms/step: "
          f"ratio {o['ratio']:.3f} (goal <= {o['goal']})")
    for s in result["cpu_step_times_256"]:
        print(f"{s['arch']} ({s['encoder']}) {s['input']}: {s['step_s_median']:.2f} s/step on CPU")


if __name__ == "__main__":
    main()
