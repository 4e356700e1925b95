"""Scores read off a confusion matrix (IoU, Dice/F1, precision, recall, pixel accuracy).

numpy only, so the window can score a prediction against the annotation on the GUI thread
without loading torch; ml/ fills the same matrix on the model's device."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(truth: np.ndarray, pred: np.ndarray, num_classes: int,
                     where: np.ndarray | None = None) -> np.ndarray:
    """`matrix[true, predicted]` counted over the pixels `where` (all when None); values at or
    past `num_classes` are left out."""
    t, p = np.asarray(truth), np.asarray(pred)
    if where is not None:
        t, p = t[where], p[where]
    t, p = t.ravel().astype(np.int64), p.ravel().astype(np.int64)
    keep = (t < num_classes) & (p < num_classes) & (t >= 0) & (p >= 0)
    counts = np.bincount(t[keep] * num_classes + p[keep], minlength=num_classes**2)
    return counts.reshape(num_classes, num_classes)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def _nan_to_none(values: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in values]


def segmentation_scores(matrix: np.ndarray, class_names: Sequence[str] | None = None) -> dict:
    """IoU, Dice/F1, precision, recall per class and their means, plus pixel accuracy.

    A class absent from both truth and prediction has no score (None) and is left out of the
    means, so a test set without, say, cracks is not rewarded or punished for them.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)
    fp = matrix.sum(0) - tp
    fn = matrix.sum(1) - tp
    iou = _ratio(tp, tp + fp + fn)
    dice = _ratio(2 * tp, 2 * tp + fp + fn)
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    total = matrix.sum()

    def mean(x):
        return float(np.nanmean(x)) if np.isfinite(x).any() else None

    return {
        "mean_iou": mean(iou),
        "mean_dice": mean(dice),
        "mean_precision": mean(precision),
        "mean_recall": mean(recall),
        "pixel_accuracy": float(tp.sum() / total) if total else None,
        "per_class_iou": _nan_to_none(iou),
        "per_class_dice": _nan_to_none(dice),
        "per_class_precision": _nan_to_none(precision),
        "per_class_recall": _nan_to_none(recall),
        "class_names": list(class_names) if class_names else [str(i) for i in range(len(tp))],
        "confusion_matrix": matrix.astype(np.int64).tolist(),
        "pixels": int(total),
    }
