"""Synthetic shapes data and a tiny network: fast, known-answer material for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from matlab_gui.ml.data import PreparedImage

# File stems as awkward as real ones: `#`, brackets, spaces.
ODD_STEMS = ["a#1 (2)", "b spaced", "c(3)", "d", "e", "f"]


def shapes_image(rng: np.random.Generator, size: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """A noisy grey image with bright discs (class 1) and dark squares (class 2) on class 0."""
    image = rng.normal(0.5, 0.05, (size, size)).astype(np.float32)
    mask = np.zeros((size, size), np.uint8)
    yy, xx = np.mgrid[:size, :size]
    for _ in range(3):
        cy, cx, r = rng.integers(8, size - 8, 2).tolist() + [int(rng.integers(4, 8))]
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        image[disc] += 0.4
        mask[disc] = 1
    y0, x0 = rng.integers(0, size - 10, 2)
    image[y0 : y0 + 8, x0 : x0 + 8] = 0.05
    mask[y0 : y0 + 8, x0 : x0 + 8] = 2
    return image, mask


def standardise(pixels: np.ndarray) -> np.ndarray:
    """The shapes images' normalisation: grey (H, W) around 0.5 -> float32 (1, H, W)."""
    return ((pixels - 0.5) / 0.25)[None].astype(np.float32)


def shapes_set(n: int, seed: int = 0, size: int = 48) -> list[PreparedImage]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        image, mask = shapes_image(rng, size)
        out.append(PreparedImage(f"img{i}", image, mask.astype(np.int64), standardise))
    return out


class TinySegNet(nn.Module):
    """Three convolutions: enough to learn the shapes set, fast enough for a unit test."""

    def __init__(self, in_channels: int = 1, classes: int = 3, width: int = 16):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ReLU(),
        )
        self.head = nn.Conv2d(width, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def _write_png(path: Path, pixels: np.ndarray) -> None:
    ok, data = cv2.imencode(".png", pixels)
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.write_bytes(data.tobytes())


def write_segmentation_folder(
    root: Path, stems: Sequence[str] = ODD_STEMS, size: int = 48, sparse: bool = False
) -> Path:
    """images/ + masks/ with odd stems; one 16-bit image; dense masks 0..2 (or 0 = unlabelled)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i, stem in enumerate(stems):
        image, mask = shapes_image(rng, size)
        image = np.clip(image, 0, 1)
        pixels = (image * 65535).astype(np.uint16) if i == 0 else (image * 255).astype(np.uint8)
        if sparse:
            scribble = np.zeros_like(mask)
            scribble[::4, ::4] = mask[::4, ::4] + 1
            mask = scribble
        _write_png(root / "images" / f"{stem}.png", pixels)
        _write_png(root / "masks" / f"{stem}.png", mask)
    return root


def write_classification_folder(root: Path, per_class: int = 6, size: int = 24) -> Path:
    """`<split>/<CLASS>/` with a bright and a dark class (odd file names), train/val/test."""
    rng = np.random.default_rng(2)
    for split, n in (("train", per_class), ("val", 2), ("test", 2)):
        for name, level in (("bright", 200), ("dark", 40)):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                image = np.clip(rng.normal(level, 20, (size, size, 3)), 0, 255).astype(np.uint8)
                _write_png(folder / f"{name} #{i}.png", image)
    return root
