"""Saving one changed 4k x 4k mask into a large project: goal < 0.3 s, independent of its size.

Builds a 100-image project of embedded 4096 x 4096 uint8 images (about 1.6 GB) with a 4k mask per
image, and a 10-image one the same way; changes one mask and times `save()` (median of 5), and
times `Project.open`. `benchmarks/io.py` runs it (results in `benchmarks/results/io.json`).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from matlab_gui.project import ClassDef, Project

SIZE = 4096
REPEATS = 5
CLASSES = [ClassDef(i, f"phase {i}", (60 * i, 255 - 60 * i, 128)) for i in range(1, 4)]


def realistic_mask(seed: int) -> np.ndarray:
    """Smooth blobs of 4 labels with irregular boundaries, like a hand-labelled micrograph."""
    field = np.random.default_rng(seed).random((64, 64), dtype=np.float32)
    smooth = ndimage.zoom(field, SIZE // 64, order=1)
    return np.digitize(smooth, [0.3, 0.5, 0.7]).astype(np.uint8)


def build(path: Path, n_images: int, batch: int = 10) -> list[str]:
    """A project of `n_images` embedded 4k images and masks, saved in batches to bound memory."""
    rng = np.random.default_rng(0)
    mask = realistic_mask(0)
    with Project.create(path, classes=CLASSES, overwrite=True) as project:
        for start in range(0, n_images, batch):
            for k in range(start, min(start + batch, n_images)):
                pixels = np.frombuffer(rng.bytes(SIZE * SIZE), np.uint8).reshape(SIZE, SIZE)
                image_id = project.add_image(f"sem_{k:03d}.tif", data=pixels, pixel_size_m=5e-9)
                project.set_mask(image_id, mask)
            project.save()
        return project.image_ids


def time_saves(path: Path, ids: list[str]) -> list[float]:
    """Seconds for each of REPEATS saves that change one (different) 4k mask."""
    masks = [realistic_mask(100 + k) for k in range(REPEATS)]
    times = []
    with Project.open(path) as project:
        for k, mask in enumerate(masks):
            project.set_mask(ids[(7 * k) % len(ids)], mask)
            start = time.perf_counter()
            project.save()
            times.append(time.perf_counter() - start)
    return times


def time_opens(path: Path) -> list[float]:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        project = Project.open(path)
        times.append(time.perf_counter() - start)
        project.close()
    return times


def bench_project_save(n_images: int, folder: Path) -> dict:
    path = folder / f"bench_{n_images}.mgp"
    start = time.perf_counter()
    ids = build(path, n_images)
    build_s = time.perf_counter() - start
    size_before = path.stat().st_size
    saves = time_saves(path, ids)
    opens = time_opens(path)
    return {
        "images": n_images,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "growth_after_5_saves_mb": round((path.stat().st_size - size_before) / 1e6, 2),
        "build_s": round(build_s, 2),
        "save_one_mask_s_median": round(statistics.median(saves), 4),
        "save_one_mask_s_all": [round(t, 4) for t in saves],
        "open_s_median": round(statistics.median(opens), 4),
    }
