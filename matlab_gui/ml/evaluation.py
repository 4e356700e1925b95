"""Scoring a model on held-out data: whole images for segmentation, batches for classification.

Shared by the trainer's per-epoch validation and the evaluate job. Segmentation predicts each
image with `predict(image) -> class indices`: by default the whole image, padded to a multiple
of 32 and cropped back (the trainer's quick per-epoch check); the evaluate job passes the tiled
inference `segment` and the window run, so its score is the one users get.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from matlab_gui.imaging.pixel_scores import segmentation_scores
from matlab_gui.ml.data import PreparedImage
from matlab_gui.ml.metrics import ConfusionMatrix, classification_scores
from matlab_gui.ml.padding import pad_to_multiple
from matlab_gui.progress import CancelToken


def _autocast(device: torch.device, amp: bool):
    return torch.autocast("cuda", dtype=torch.float16, enabled=amp and device.type == "cuda")


@torch.inference_mode()
def segmentation_logits(model: nn.Module, x: np.ndarray, device: torch.device, amp: bool = False):
    """Logits `(C, H, W)` of one normalised whole image `(C, H, W)`."""
    t = torch.from_numpy(x).unsqueeze(0).to(device)
    h, w = t.shape[-2:]
    with _autocast(device, amp):
        out = model(pad_to_multiple(t, 32))
    return out[0, :, :h, :w].float()


def evaluate_segmentation(
    model: nn.Module,
    images: Sequence[PreparedImage],
    class_names: Sequence[str],
    device: torch.device,
    amp: bool = False,
    cancel: CancelToken | None = None,
    predict: Callable[[PreparedImage], np.ndarray] | None = None,
) -> dict:
    """Confusion matrix over every labelled pixel of `images`, then IoU/Dice/P/R/accuracy."""
    was_training = model.training
    model.eval()
    cm = ConfusionMatrix(len(class_names))

    def whole_image(image: PreparedImage) -> torch.Tensor:
        logits = segmentation_logits(model, image.model_input(), device, amp)
        return (logits[0] > 0).long() if logits.shape[0] == 1 else logits.argmax(0)

    try:
        for image in images:
            if cancel is not None:
                cancel.raise_if_cancelled()
            pred = torch.as_tensor(predict(image)).long() if predict else whole_image(image)
            cm.update(pred, torch.from_numpy(image.target).to(pred.device))
    finally:
        model.train(was_training)
    return segmentation_scores(cm.matrix, class_names)


@torch.inference_mode()
def predict_classes(
    model: nn.Module, dataset: Dataset, device: torch.device, batch_size: int = 16,
    amp: bool = False, cancel: CancelToken | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """True labels and softmax probabilities `(N, C)` for a classification data set."""
    was_training = model.training
    model.eval()
    labels, probs = [], []
    try:
        for x, y in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            if cancel is not None:
                cancel.raise_if_cancelled()
            with _autocast(device, amp):
                logits = model(x.to(device)).float()
            probs.append(logits.softmax(1).cpu().numpy())
            labels.append(y.numpy())
    finally:
        model.train(was_training)
    return np.concatenate(labels), np.concatenate(probs)


def evaluate_classification(
    model: nn.Module, dataset: Dataset, class_names: Sequence[str], device: torch.device,
    batch_size: int = 16, amp: bool = False, cancel: CancelToken | None = None,
    curves: bool = False,
) -> dict:
    y, probs = predict_classes(model, dataset, device, batch_size, amp, cancel)
    return classification_scores(y, probs, class_names, curves=curves)
