"""Pixels -> model input by the card's rule, the same in training, tiled inference and the GUI.

Micrographs come as 8-bit, 16-bit (often only 12 bits used) or float, greyscale or RGB. The
default rule stretches each image's 0.5..99.5 percentiles to 0..1, which makes a model indifferent
to detector gain and bit depth. Statistics are taken once per whole image (`input_stats`) so the
tiles of one huge micrograph are all normalised alike. Histogram equalisation (paper 001) is
applied to the raw image before this, by `imaging.display.equalise_histogram`, when the card's training
recorded `hist_eq`.
"""

from __future__ import annotations

import cv2
import numpy as np

from matlab_gui.imaging.display import auto_levels
from matlab_gui.ml.card import ModelCard

_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


_CV_RESIZES = frozenset({"uint8", "uint16", "int16", "float32", "float64"})


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area-averaged resize for every pixel type the reader returns, keeping the type (its range
    decides the "dtype" normalisation); OpenCV cannot resize int8, int32 or uint32 itself."""
    if image.dtype.name in _CV_RESIZES:
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    info = np.iinfo(image.dtype)
    wide = cv2.resize(image.astype(np.float64), (width, height), interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(wide), info.min, info.max).astype(image.dtype)


def match_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """(H, W, channels): greyscale replicated into RGB models, RGB reduced to luminance for grey ones."""
    if image.ndim == 2:
        image = image[..., None]
    have = image.shape[2]
    if have == channels:
        return image
    if channels == 3 and have == 1:
        return np.repeat(image, 3, axis=2)
    if channels == 1 and have >= 3:
        return (image[..., :3].astype(np.float32) @ _LUMA)[..., None]
    raise ValueError(f"cannot turn a {have}-channel image into {channels} channels")


def input_stats(image: np.ndarray, card: ModelCard) -> dict[str, float]:
    """The intensity range mapped to 0..1, from the whole image (subsampled when huge)."""
    norm = card.normalisation
    if norm.scale == "dtype":
        if np.issubdtype(image.dtype, np.integer):
            return {"lo": 0.0, "hi": float(np.iinfo(image.dtype).max)}
        return {"lo": 0.0, "hi": 1.0}
    lo, hi = auto_levels(image, norm.low_pct, norm.high_pct)
    return {"lo": lo, "hi": hi}


def to_model_input(image: np.ndarray, card: ModelCard, stats: dict[str, float] | None = None) -> np.ndarray:
    """float32 (C, H, W) ready for the model described by `card`."""
    stats = stats or input_stats(image, card)
    pixels = match_channels(image, card.in_channels)
    scaled = (pixels.astype(np.float32) - stats["lo"]) / max(stats["hi"] - stats["lo"], 1e-6)
    np.clip(scaled, 0.0, 1.0, out=scaled)
    mean = np.asarray(card.normalisation.mean, np.float32)
    std = np.asarray(card.normalisation.std, np.float32)
    scaled -= mean
    scaled /= std
    return np.ascontiguousarray(scaled.transpose(2, 0, 1))
