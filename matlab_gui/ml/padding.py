"""Padding to the multiple of 32 the encoder-decoder networks need, and the wrapper that pads
any input and crops the logits back. Kept apart from the zoo (which imports
segmentation-models-pytorch and timm, seconds at start-up) so a converted model runs without
building the torch network."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pad_to_multiple(x: torch.Tensor, multiple: int = 32) -> torch.Tensor:
    """`x` (N, C, H, W) padded at the bottom and right up to a multiple of `multiple`,
    reflected where each side is longer than its padding, else replicated."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if not ph and not pw:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="reflect" if h > ph and w > pw else "replicate")


class PaddedSegmentation(nn.Module):
    """Pads any input to the network's required multiple and crops the logits back."""

    def __init__(self, net: nn.Module, multiple: int = 32):
        super().__init__()
        self.net = net
        self.multiple = multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return self.net(pad_to_multiple(x, self.multiple))[..., :h, :w]
