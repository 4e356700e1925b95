"""Segmentation and classification scores (segmentation's are read off the matrix by
imaging/pixel_scores.py).

Pixels are counted into a confusion matrix on the model's device (millions of pixels per image
make per-pixel scikit-learn calls too slow); every score is then read off that matrix.
Per-image classification scores come from scikit-learn. Results are plain dicts of floats and
lists, ready for the card and `--json`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch
from sklearn import metrics as skm

from matlab_gui.ml.losses import IGNORE_INDEX


class ConfusionMatrix:
    """Accumulates `matrix[true, predicted]` over batches, skipping `IGNORE_INDEX` pixels."""

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.matrix = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        valid = target != IGNORE_INDEX
        idx = target[valid].long() * self.num_classes + pred[valid].long()
        counts = torch.bincount(idx, minlength=self.num_classes**2)
        self.matrix += counts.cpu().numpy().reshape(self.num_classes, self.num_classes)


def classification_scores(
    y_true: Sequence[int], probs: np.ndarray, class_names: Sequence[str], curves: bool = False
) -> dict:
    """Accuracy, balanced accuracy, Cohen's kappa, per-class P/R/F1, one-vs-rest ROC-AUC.

    `probs` is `(N, C)`. With `curves`, also ROC and PR curve points per class (one-vs-rest).
    """
    with warnings.catch_warnings():  # tiny validation sets: one class only is a normal case
        warnings.simplefilter("ignore", UserWarning)
        return _classification_scores(y_true, probs, class_names, curves)


def _classification_scores(y_true, probs, class_names, curves) -> dict:
    y_true = np.asarray(y_true, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float64)
    labels = list(range(len(class_names)))
    y_pred = probs.argmax(1)
    p, r, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    out = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
        "kappa": _kappa(y_true, y_pred),
        "auc": _auc(y_true, probs, labels),
        "precision": float(np.mean(p)),
        "recall": float(np.mean(r)),
        "f1": float(np.mean(f1)),
        "per_class": {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f1[i]),
                   "support": int(support[i])}
            for i, name in enumerate(class_names)
        },
        "class_names": list(class_names),
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "images": int(len(y_true)),
    }
    if curves:
        out["curves"] = _curves(y_true, probs, class_names)
    return out


def _kappa(y_true, y_pred) -> float | None:
    if len(set(y_true.tolist()) | set(y_pred.tolist())) < 2:
        return None
    value = skm.cohen_kappa_score(y_true, y_pred)
    return None if np.isnan(value) else float(value)


def _auc(y_true, probs, labels) -> float | None:
    """One-vs-rest macro ROC-AUC over the classes that occur; None when fewer than two do."""
    present = np.unique(y_true)
    if len(present) < 2:
        return None
    if len(labels) == 2:
        return float(skm.roc_auc_score(y_true, probs[:, 1]))
    scores = [skm.roc_auc_score(y_true == c, probs[:, c]) for c in present]
    return float(np.mean(scores))


def _curves(y_true, probs, class_names) -> dict:
    out = {}
    for c, name in enumerate(class_names):
        positive = y_true == c
        if positive.all() or not positive.any():
            continue
        fpr, tpr, _ = skm.roc_curve(positive, probs[:, c])
        precision, recall, _ = skm.precision_recall_curve(positive, probs[:, c])
        out[name] = {
            "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
            "pr": {"precision": precision.tolist(), "recall": recall.tolist()},
            "average_precision": float(skm.average_precision_score(positive, probs[:, c])),
        }
    return out
