"""Where a classifier looked: Grad-CAM and Grad-CAM++ heat maps through `pytorch_grad_cam`.

The target layer is the network's last convolution, found by walking its modules, so any
classifier in the zoo (ResNet, VGG, EfficientNet, ...) works without a per-architecture table.
The map is float32 in [0, 1] at the image's own size, ready for the GUI to overlay.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import nn

from matlab_gui.errors import ModelError

METHODS = ("gradcam", "gradcam++")


def last_conv(model: nn.Module) -> nn.Module:
    """The last `Conv2d` in module order: the deepest spatial features before pooling."""
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ModelError(f"{type(model).__name__} has no convolution to explain")
    return convs[-1]


def explain(model: nn.Module, x: torch.Tensor, image_hw: tuple[int, int],
            target_class: int | None = None, method: str = "gradcam") -> tuple[np.ndarray, int]:
    """Heat map (H, W) float32 in [0, 1] for one normalised input `x` (C, h, w), and the class
    it explains (the predicted one unless `target_class` is given)."""
    from pytorch_grad_cam import GradCAM, GradCAMPlusPlus
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, not {method!r}")
    device = next(model.parameters()).device
    batch = x.unsqueeze(0).to(device)
    was_training = model.training
    model.eval()
    try:
        if target_class is None:
            with torch.no_grad():
                target_class = int(model(batch).argmax(1)[0])
        cam_type = GradCAM if method == "gradcam" else GradCAMPlusPlus
        with cam_type(model=model, target_layers=[last_conv(model)]) as cam:
            heat = cam(input_tensor=batch, targets=[ClassifierOutputTarget(target_class)])[0]
    finally:
        model.train(was_training)
    h, w = image_hw
    heat = cv2.resize(np.nan_to_num(heat.astype(np.float32)), (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(heat, 0.0, 1.0), target_class


def explain_image(model: nn.Module, card, image: np.ndarray, target_class: int | None = None,
                  method: str = "gradcam") -> tuple[np.ndarray, int]:
    """`explain` for a raw micrograph, prepared exactly as classification prepares it."""
    from matlab_gui.ml.inference import check_channels, classification_input

    check_channels(image, card)
    x = torch.from_numpy(classification_input(image, card))
    return explain(model, x, image.shape[:2], target_class, method)
