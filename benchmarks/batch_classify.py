"""Folder classification speed: the classify job vs a plain torchvision loop.

Both classify the same synthetic images (two class folders, ImageFolder layout) with the same
model, batch size and number of loader workers. The plain loop is `ImageFolder` + `DataLoader` +
forward + softmax, nothing else; the job also checks files, records size and mtime, and writes
the CSV. Rounds alternate the order; images per second are compared by median (goal: ratio of
job to plain loop at least 1.0).

    python benchmarks/batch_classify.py            # 500 images, resnet18 at 224 px, ~2 min on 2 cores

Writes benchmarks/results/batch_classify.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from spread import spread, verdict

from matlab_gui.imaging import write_image

RESULTS = Path(__file__).resolve().parent / "results" / "batch_classify.json"
CLASSES = ("bright", "dark")


def write_images(root: Path, n: int, size: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        name = CLASSES[i % 2]
        (root / name).mkdir(parents=True, exist_ok=True)
        level = 170 if name == "bright" else 70
        image = np.clip(rng.normal(level, 40, (size, size, 3)), 0, 255).astype(np.uint8)
        write_image(root / name / f"{i:04d}.png", image)


def save_classifier(folder: Path, arch: str, input_size: int) -> None:
    from matlab_gui.ml.card import ClassInfo
    from matlab_gui.ml.model_folder import save_model
    from matlab_gui.ml.zoo import build_model, default_card

    torch.manual_seed(0)
    classes = [ClassInfo(name=n, color=(255, 255, 255)) for n in CLASSES]
    card = default_card("classification", arch, classes, in_channels=3, input_size=input_size)
    save_model(folder, build_model(card, pretrained=False), card)


def run_job(model_dir: Path, root: Path, out: Path, batch: int, workers: int) -> int:
    from matlab_gui.jobs.classify import ClassifyRequest, run_classify

    out.unlink(missing_ok=True)
    result = run_classify(ClassifyRequest(model_dir, root, recursive=True, out=out, device="cpu",
                                          batch=batch, workers=workers))
    return result.classified


@torch.inference_mode()
def run_plain(model: torch.nn.Module, root: Path, input_size: int, batch: int, workers: int) -> int:
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    transform = transforms.Compose([
        transforms.Resize((input_size, input_size)), transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    loader = DataLoader(datasets.ImageFolder(root, transform=transform), batch_size=batch,
                        num_workers=workers)
    n = 0
    for x, _ in loader:
        model(x).softmax(1).numpy()
        n += len(x)
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--input-size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from matlab_gui.ml.model_folder import load_model

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_images(tmp / "images", args.images, args.image_size)
        save_classifier(tmp / "model", args.arch, args.input_size)
        model = load_model(tmp / "model", torch.device("cpu")).module.eval()
        times: dict[str, list[float]] = {"job": [], "plain": []}
        for r in range(args.rounds):
            for which in (("job", "plain") if r % 2 == 0 else ("plain", "job")):
                start = time.perf_counter()
                if which == "job":
                    n = run_job(tmp / "model", tmp / "images", tmp / "out.csv", args.batch,
                                args.workers)
                else:
                    n = run_plain(model, tmp / "images", args.input_size, args.batch, args.workers)
                times[which].append(time.perf_counter() - start)
                assert n == args.images, (which, n)
                print(which, round(times[which][-1], 2), "s", flush=True)
    speed = {k: args.images / statistics.median(v) for k, v in times.items()}
    ratios = [plain / job for job, plain in zip(times["job"], times["plain"], strict=True)]
    record = {
        "images": args.images, "image": f"{args.image_size}x{args.image_size} RGB PNG",
        "model": f"{args.arch} at {args.input_size} px, random init", "batch": args.batch,
        "workers": args.workers, "device": "cpu", "threads": torch.get_num_threads(),
        "job_images_per_s": round(speed["job"], 2), "plain_images_per_s": round(speed["plain"], 2),
        "ratio": round(speed["job"] / speed["plain"], 3), "ratio_goal": 1.0,
        "ratio_per_round": spread(ratios), "goal": verdict(ratios, 1.0),
        "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
        "torch": torch.__version__, "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
