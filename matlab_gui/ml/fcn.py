"""FCN-32s / 16s / 8s on a VGG body (Long et al.), and HPTL's stage-to-stage transfer (paper 003).

The fully convolutional fc6/fc7 are 3x3/1x1 convolutions of 1024 channels instead of VGG's
7x7/1x1 of 4096: the original needs ~130M parameters more, too much for a desktop GPU, and no
ImageNet VGG weights can be had offline here anyway. The skip scores of 16s/8s follow the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import vgg16, vgg19

VARIANTS = {"fcn32s": 32, "fcn16s": 16, "fcn8s": 8}
BACKBONES = {"vgg16": vgg16, "vgg19": vgg19}


def _split_at_pools(features: nn.Sequential) -> list[nn.Sequential]:
    """VGG's feature stack cut after each max-pool: five stages at strides 2..32."""
    stages, current = [], []
    for layer in features:
        current.append(layer)
        if isinstance(layer, nn.MaxPool2d):
            stages.append(nn.Sequential(*current))
            current = []
    return stages


class FCN(nn.Module):
    """Per-pixel class logits at the input size; any input size (padded to a multiple of 32)."""

    def __init__(self, variant: str, backbone: str = "vgg16", in_channels: int = 3, classes: int = 2, width: int = 1024):
        super().__init__()
        self.stride = VARIANTS[variant]
        vgg = BACKBONES[backbone](weights=None)
        if in_channels != 3:
            vgg.features[0] = nn.Conv2d(in_channels, 64, 3, padding=1)
        self.stages = nn.ModuleList(_split_at_pools(vgg.features))
        self.fc = nn.Sequential(
            nn.Conv2d(512, width, 3, padding=1), nn.ReLU(inplace=True), nn.Dropout2d(0.5),
            nn.Conv2d(width, width, 1), nn.ReLU(inplace=True), nn.Dropout2d(0.5),
        )
        self.score_fr = nn.Conv2d(width, classes, 1)
        self.score_pool4 = nn.Conv2d(512, classes, 1) if self.stride <= 16 else None
        self.score_pool3 = nn.Conv2d(256, classes, 1) if self.stride <= 8 else None
        for score in (self.score_pool4, self.score_pool3):
            if score is not None:  # skips start silent, as in the paper
                nn.init.zeros_(score.weight)
                nn.init.zeros_(score.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % 32, (-w) % 32
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        pools = []
        for stage in self.stages:
            x = stage(x)
            pools.append(x)
        score = self.score_fr(self.fc(pools[4]))
        for skip, pool in ((self.score_pool4, pools[3]), (self.score_pool3, pools[2])):
            if skip is not None:
                score = F.interpolate(score, size=pool.shape[-2:], mode="bilinear", align_corners=False) + skip(pool)
        score = F.interpolate(score, size=(h + ph, w + pw), mode="bilinear", align_corners=False)
        return score[..., :h, :w]


def transfer_fcn(source: nn.Module, target: nn.Module) -> int:
    """Initialise `target` (e.g. FCN-16s) from every layer it shares with `source` (FCN-32s).

    HPTL keeps all transferred layers trainable; returns how many tensors were copied.
    """
    own = target.state_dict()
    shared = {k: v for k, v in source.state_dict().items() if k in own and own[k].shape == v.shape}
    target.load_state_dict(shared, strict=False)
    return len(shared)
