"""Colour pictures of masks for people: class colours, alpha blends, evaluation overlays.

The evaluation overlay follows paper 002: true positives yellow, false negatives green, false
positives red, true negatives blue, one picture per class for multi-class masks.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from matlab_gui.imaging.display import auto_levels, window

TP, FN, FP, TN = (255, 255, 0), (0, 255, 0), (255, 0, 0), (0, 0, 255)
IGNORED = (0, 0, 0)


def hex_to_rgb(colour: str | Sequence[int]) -> tuple[int, int, int]:
    """(r, g, b) from '#rrggbb' or an (r, g, b) sequence."""
    if isinstance(colour, str):
        text = colour.lstrip("#")
        return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16)
    r, g, b = colour[:3]
    return int(r), int(g), int(b)


def class_colours(mask: np.ndarray, colours: Sequence) -> np.ndarray:
    """(H, W, 3) uint8 with value v painted `colours[v]` (black past the list), via one LUT."""
    lut = np.zeros((max(int(mask.max(initial=0)) + 1, len(colours)), 3), dtype=np.uint8)
    lut[: len(colours)] = [hex_to_rgb(c) for c in colours]
    return lut[mask]


def to_display_rgb(image: np.ndarray) -> np.ndarray:
    """Any micrograph (8/16-bit, float, grey or RGB) as auto-levelled (H, W, 3) uint8."""
    shown = window(image, *auto_levels(image))
    return np.repeat(shown[..., None], 3, axis=2) if shown.ndim == 2 else shown


def blend(image: np.ndarray, overlay: np.ndarray, alpha: float = 0.4,
          where: np.ndarray | None = None) -> np.ndarray:
    """`overlay` over the display view of `image` with opacity `alpha` (only at `where`);
    uint8 throughout, so an 8k x 8k blend needs no float copies."""
    base = to_display_rgb(image)
    mixed = cv2.addWeighted(base, 1.0 - alpha, overlay.astype(np.uint8, copy=False), alpha, 0.0)
    return mixed if where is None else np.where(where[..., None], mixed, base)


def evaluation_overlay(pred: np.ndarray, truth: np.ndarray, value: int = 1,
                       ignore_value: int | None = None) -> np.ndarray:
    """TP/FN/FP/TN colours of class `value` (predicted vs true), unlabelled truth in black."""
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {truth.shape} differ in size")
    p, t = pred == value, truth == value
    code = (p.astype(np.uint8) << 1) | t  # 0 TN, 1 FN, 2 FP, 3 TP
    out = np.array([TN, FN, FP, TP], dtype=np.uint8)[code]
    if ignore_value is not None:
        out[truth == ignore_value] = IGNORED
    return out


def evaluation_overlays(pred: np.ndarray, truth: np.ndarray, values: Sequence[int],
                        ignore_value: int | None = None) -> dict[int, np.ndarray]:
    """One evaluation overlay per class value, for multi-class masks."""
    return {int(v): evaluation_overlay(pred, truth, v, ignore_value) for v in values}


PALETTE = ["#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7"]
LABEL_MIN_PX = 12  # particles narrower than this get an outline but no id (it would hide them)


def particle_overlay(image: np.ndarray | None, labels: np.ndarray, ids: Sequence[int],
                     centroids: Sequence[tuple[float, float]], widths: Sequence[float],
                     colours: Sequence = PALETTE) -> np.ndarray:
    """The particles of `labels` outlined over the display view of `image` (black when None),
    each in a colour of its own so touching particles that were split stand apart, with its id
    written at its centroid (x, y) where the particle is at least LABEL_MIN_PX wide."""
    base = np.zeros((*labels.shape, 3), np.uint8) if image is None else to_display_rgb(image)
    lut = np.array([hex_to_rgb(c) for c in colours], np.uint8)
    from matlab_gui.imaging.particles import outlines  # scikit-image: only to draw particles

    edge = outlines(labels)
    out = base.copy()
    out[edge] = lut[labels[edge] % len(lut)]
    scale = max(0.4, min(labels.shape) / 1500)
    for pid, (x, y), width in zip(ids, centroids, widths, strict=True):
        if width < LABEL_MIN_PX:
            continue
        text = str(pid)
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        at = (int(round(x - tw / 2)), int(round(y + th / 2)))
        cv2.putText(out, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out
