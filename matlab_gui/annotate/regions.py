"""Regions found in the image rather than drawn: flood fill by intensity, and superpixels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.segmentation import find_boundaries, flood, slic

from matlab_gui.annotate.rect import EMPTY, Rect, bounding


def grey(image: np.ndarray) -> np.ndarray:
    """One channel to compare intensities on: the image itself, or the mean of RGB."""
    return image if image.ndim == 2 else image.mean(axis=2, dtype=np.float32)


def flood_region(image: np.ndarray, y: int, x: int, tolerance: float) -> tuple[Rect, np.ndarray]:
    """Connected pixels whose value is within `tolerance` (image units) of the clicked pixel:
    one click selects a grain or particle."""
    g = grey(image)
    if not (0 <= y < g.shape[0] and 0 <= x < g.shape[1]):
        return EMPTY, np.zeros((0, 0), bool)
    if np.issubdtype(g.dtype, np.unsignedinteger):
        g = g.astype(np.int32)  # flood's tolerance arithmetic would wrap on unsigned types
    region = flood(g, (int(y), int(x)), tolerance=float(tolerance))
    rect = bounding(region)
    return rect, region[rect.slices]


@dataclass
class Superpixels:
    """An over-segmentation of the image: `labels` (H, W) int32 and each label's bounding slices."""

    labels: np.ndarray
    boxes: list[tuple[slice, slice] | None]

    def region(self, y: int, x: int) -> tuple[Rect, np.ndarray]:
        """The superpixel under (y, x) as a (rect, region) footprint."""
        h, w = self.labels.shape
        if not (0 <= y < h and 0 <= x < w):
            return EMPTY, np.zeros((0, 0), bool)
        label = int(self.labels[y, x])
        ys, xs = self.boxes[label - 1]
        rect = Rect(ys.start, xs.start, ys.stop, xs.stop)
        return rect, self.labels[rect.slices] == label

    def boundaries(self) -> np.ndarray:
        """uint8 (H, W): 1 on the edges between superpixels, to show where a click will fill."""
        return find_boundaries(self.labels, mode="inner").view(np.uint8)


def superpixels(
    image: np.ndarray,
    lo: float,
    hi: float,
    n_segments: int = 2000,
    compactness: float = 0.1,
    max_side: int = 2048,
) -> Superpixels:
    """SLIC over-segmentation of the display-windowed image (slow: run it in a worker thread).

    Large images are segmented at reduced resolution and the labels scaled back up, so an
    8k image takes seconds, not minutes."""
    h, w = image.shape[:2]
    step = max(1, int(np.ceil(max(h, w) / max_side)))
    small = np.clip((image[::step, ::step].astype(np.float32) - lo) / max(hi - lo, 1e-12), 0, 1)
    labels = slic(
        small,
        n_segments=n_segments,
        compactness=compactness,
        channel_axis=-1 if small.ndim == 3 else None,
        start_label=1,
    )
    if step > 1:
        labels = np.repeat(np.repeat(labels, step, axis=0), step, axis=1)[:h, :w]
    labels = np.ascontiguousarray(labels, dtype=np.int32)
    return Superpixels(labels, ndimage.find_objects(labels))
