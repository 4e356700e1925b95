"""Training losses for per-pixel and per-image targets, all honouring `IGNORE_INDEX`.

Targets are int64 class indices; pixels equal to `IGNORE_INDEX` (unlabelled scribble background)
contribute nothing, not even gradient, to any loss here. The default segmentation loss is
0.7 x cross-entropy + 0.3 x Dice (paper 002); focal and class-balanced weighting come from
paper 001's list. With one output channel, cross-entropy becomes binary cross-entropy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IGNORE_INDEX = -100
DEFAULT_SEG_LOSS = {"ce": 0.7, "dice": 0.3}
DEFAULT_CLS_LOSS = {"ce": 1.0}


def _valid(target: torch.Tensor) -> torch.Tensor:
    return target != IGNORE_INDEX


def cross_entropy(logits, target, weight=None, label_smoothing: float = 0.0):
    """Mean CE over labelled pixels/images (BCE for one channel); 0 when nothing is labelled."""
    valid = _valid(target)
    if logits.shape[1] == 1:
        per = F.binary_cross_entropy_with_logits(
            logits[:, 0], target.clamp(min=0).to(logits.dtype), reduction="none"
        )
        return torch.where(valid, per, 0.0).sum() / valid.sum().clamp(min=1)
    per = F.cross_entropy(
        logits, target, weight=weight, ignore_index=IGNORE_INDEX, reduction="none",
        label_smoothing=label_smoothing,
    )
    if weight is None:
        return per.sum() / valid.sum().clamp(min=1)
    norm = weight[target.clamp(min=0)] * valid
    return per.sum() / norm.sum().clamp(min=1e-12)


def _probs_and_onehot(logits, target):
    valid = _valid(target).unsqueeze(1)
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits)
        probs = torch.cat([1 - p, p], 1)
    else:
        probs = logits.softmax(1)
    onehot = F.one_hot(target.clamp(min=0), probs.shape[1]).movedim(-1, 1).to(probs.dtype)
    return probs * valid, onehot * valid


def dice_loss(logits, target, smooth: float = 1.0):
    """1 - soft Dice, averaged over classes, counting only labelled pixels."""
    probs, onehot = _probs_and_onehot(logits, target)
    dims = (0, *range(2, probs.ndim))
    inter = (probs * onehot).sum(dims)
    total = probs.sum(dims) + onehot.sum(dims)
    return 1 - ((2 * inter + smooth) / (total + smooth)).mean()


def focal_loss(logits, target, gamma: float = 2.0, weight=None):
    """Focal loss (Lin et al.): CE down-weighted on easy, already well classified examples."""
    valid = _valid(target)
    if logits.shape[1] == 1:
        logits = torch.cat([torch.zeros_like(logits), logits], 1)
    logp = logits.log_softmax(1).gather(1, target.clamp(min=0).unsqueeze(1)).squeeze(1)
    per = -((1 - logp.exp()) ** gamma) * logp
    if weight is not None:
        per = per * weight[target.clamp(min=0)]
    return torch.where(valid, per, 0.0).sum() / valid.sum().clamp(min=1)


def balanced_weights(counts: Sequence[int]) -> np.ndarray:
    """Weights that balance every class to the largest (paper 000): max(count) / count."""
    counts = np.asarray(counts, dtype=np.float64)
    return np.where(counts > 0, counts.max() / np.maximum(counts, 1), 0.0).astype(np.float32)


def sqrt_balanced_weights(counts: Sequence[int]) -> np.ndarray:
    """sqrt(max(count) / count), mean 1 over present classes: lifts a rare phase without the
    100x weights that `balanced` gives a 1 % class, which make training jumpy."""
    w = np.sqrt(balanced_weights(counts).astype(np.float64))
    present = np.asarray(counts) > 0
    return (w * present.sum() / max(w.sum(), 1e-12)).astype(np.float32)


def effective_number_weights(counts: Sequence[int], beta: float = 0.999) -> np.ndarray:
    """Class-balanced weights (Cui et al. 2019): (1 - beta) / (1 - beta^n), mean 1."""
    counts = np.asarray(counts, dtype=np.float64)
    w = np.where(counts > 0, (1 - beta) / (1 - beta ** np.maximum(counts, 1)), 0.0)
    return (w * (counts > 0).sum() / max(w.sum(), 1e-12)).astype(np.float32)


CLASS_WEIGHTS = {"balanced": balanced_weights, "sqrt": sqrt_balanced_weights,
                 "effective": effective_number_weights}


class CombinedLoss(nn.Module):
    """A weighted sum of `ce`, `dice` and `focal` terms, e.g. `{"ce": 0.7, "dice": 0.3}`."""

    def __init__(self, terms: Mapping[str, float], class_weights=None, focal_gamma: float = 2.0,
                 label_smoothing: float = 0.0):
        super().__init__()
        unknown = set(terms) - {"ce", "dice", "focal"}
        if unknown or not terms:
            raise ValueError(f"loss terms must be among ce, dice, focal; got {sorted(terms)}")
        self.terms = dict(terms)
        self.focal_gamma = focal_gamma
        self.label_smoothing = label_smoothing
        weight = None if class_weights is None else torch.as_tensor(class_weights, dtype=torch.float32)
        self.register_buffer("class_weights", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        w = self.class_weights
        parts = {
            "ce": lambda: cross_entropy(logits, target, w, self.label_smoothing),
            "dice": lambda: dice_loss(logits, target),
            "focal": lambda: focal_loss(logits, target, self.focal_gamma, w),
        }
        return sum(k * parts[name]() for name, k in self.terms.items() if k)


def build_loss(spec: Mapping, class_counts: Sequence[int] | None = None) -> CombinedLoss:
    """The loss a card's `training["loss"]` names.

    `spec`: `{"terms": {"ce": 0.7, "dice": 0.3}, "class_weights": None|"balanced"|"sqrt"|"effective",
    "focal_gamma": 2.0, "label_smoothing": 0.0}`.
    """
    rule = spec.get("class_weights")
    weights = None
    if rule and class_counts is not None:
        weights = CLASS_WEIGHTS[rule](
            class_counts
        )
    return CombinedLoss(
        spec.get("terms", DEFAULT_SEG_LOSS), weights, spec.get("focal_gamma", 2.0),
        spec.get("label_smoothing", 0.0),
    )
