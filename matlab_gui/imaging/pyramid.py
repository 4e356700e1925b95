"""A display pyramid: the image averaged down by 2, 4, 8, … so a zoomed-out view windows and
draws about as many pixels as the screen has, not the whole montage.

Level k has ceil(h / 2^k) x ceil(w / 2^k) pixels and stands for the whole image (the display
stretches it over the full-resolution rectangle); each pixel is the area mean of the pixels of
level k - 1 it covers (OpenCV's INTER_AREA, exact 2 x 2 means where the size is even). Levels are
built on demand, each from the one below it, and kept: a thread may call `build` while another
reads `ready`, since a level is stored only once it is complete.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from matlab_gui.progress import CancelToken

_CV_DTYPES = (np.uint8, np.uint16, np.int16, np.float32, np.float64)
SMALLEST_SIDE = 32  # no level below the one whose longest side is this small


def halve(a: np.ndarray) -> np.ndarray:
    """`a` (h, w[, c]) averaged down to ceil(h / 2) x ceil(w / 2), in its dtype (integers
    rounded; dtypes OpenCV cannot average become float32)."""
    if a.dtype not in _CV_DTYPES:
        a = a.astype(np.float32)
    if a.ndim == 3 and a.shape[2] > 4:  # OpenCV resizes at most four channels at a time
        return np.stack([halve(a[..., c]) for c in range(a.shape[2])], axis=2)
    h, w = a.shape[:2]
    out = cv2.resize(a, ((w + 1) // 2, (h + 1) // 2), interpolation=cv2.INTER_AREA)
    return out.reshape(out.shape[:2] + a.shape[2:])  # OpenCV drops a single channel axis


def level_for(image_px_per_screen_px: float, count: int) -> int:
    """The coarsest level that still has at least one of its pixels per screen pixel, when one
    screen pixel covers `image_px_per_screen_px` full-resolution pixels (0 at 100 % and closer)."""
    if not image_px_per_screen_px > 1.0:  # also NaN: a view not laid out yet
        return 0
    k = int(math.floor(math.log2(image_px_per_screen_px * (1 + 1e-9))))
    return max(0, min(k, count - 1))


class DisplayPyramid:
    """The levels of one image; level 0 is the image itself (never copied)."""

    def __init__(self, image: np.ndarray, smallest_side: int = SMALLEST_SIDE):
        self.base = image
        h, w = image.shape[:2]
        count = 1
        while max(h, w) > smallest_side:
            h, w = (h + 1) // 2, (w + 1) // 2
            count += 1
        self.count = count
        self._levels: dict[int, np.ndarray] = {0: image}

    def shape(self, k: int) -> tuple[int, int]:
        h, w = self.base.shape[:2]
        return -(-h // (1 << k)), -(-w // (1 << k))

    def ready(self, k: int) -> np.ndarray | None:
        """Level k if it has been built, else None."""
        return self._levels.get(k)

    def _start(self, k: int) -> int:
        """The finest level already built from which level k is computed."""
        return max(i for i in list(self._levels) if i <= k)

    def work(self, k: int) -> int:
        """How many pixels building level k would read (0 when it is there): the caller decides
        whether that is quick enough for the GUI thread."""
        k = max(0, min(k, self.count - 1))
        if k in self._levels:
            return 0
        h, w = self.shape(self._start(k))
        return h * w

    def build(self, k: int, cancel: CancelToken | None = None) -> np.ndarray:
        """Level k, computing the missing levels below it from the finest one already there
        (seconds for a 16k x 16k image at most; call it off the GUI thread for big images)."""
        k = max(0, min(k, self.count - 1))
        j = self._start(k)
        level = self._levels[j]
        while j < k:
            if cancel is not None:
                cancel.raise_if_cancelled()
            level = halve(level)
            j += 1
            self._levels[j] = level
        return level

    def preview(self, k: int, box: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """A stand-in for level k while it is built: every 2^k-th pixel (same shape, milliseconds,
        but aliased where the image has fine detail); with `box` (y0, x0, y1, x1 in level-k
        pixels) only that part of it, so a fine level of a huge montage costs the view's pixels."""
        s = 1 << k
        y0, x0, y1, x1 = box or (0, 0, *self.shape(k))
        return np.ascontiguousarray(self.base[y0 * s:y1 * s:s, x0 * s:x1 * s:s])
