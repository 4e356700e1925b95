"""Classification heads on any backbone's feature map.

`linear`: global average or max pooling, dropout, one linear layer (papers 001, 004).
`sepconv`: the paper-000 head: depthwise-separable convolutions with batch norm before ReLU,
spatial dropout, Gaussian noise while training, global max pooling, then the classifier.
"""

from __future__ import annotations

import torch
from torch import nn


class GaussianNoise(nn.Module):
    """Adds N(0, sigma^2) noise in training only: a regulariser, invisible at inference."""

    def __init__(self, sigma: float = 0.1):
        super().__init__()
        self.sigma = sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.randn_like(x) * self.sigma if self.training and self.sigma > 0 else x


def separable_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
        nn.Conv2d(cin, cout, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class Pool(nn.Module):
    def __init__(self, kind: str):
        super().__init__()
        if kind not in ("avg", "max"):
            raise ValueError(f"pooling must be 'avg' or 'max', not {kind!r}")
        self.kind = kind

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(2, 3)) if self.kind == "max" else x.mean(dim=(2, 3))


def build_head(kind: str, channels: int, classes: int, pooling: str = "avg", dropout: float = 0.2,
               noise: float = 0.1, width: int = 256) -> nn.Module:
    if kind == "linear":
        return nn.Sequential(Pool(pooling), nn.Dropout(dropout), nn.Linear(channels, classes))
    if kind == "sepconv":
        return nn.Sequential(
            separable_conv(channels, width),
            nn.Dropout2d(dropout),
            GaussianNoise(noise),
            separable_conv(width, width // 2),
            Pool(pooling),
            nn.Linear(width // 2, classes),
        )
    raise ValueError(f"head type must be 'linear' or 'sepconv', not {kind!r}")


class Classifier(nn.Module):
    """A timm backbone's feature map -> head -> class logits."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone.forward_features(x))


class FNN(nn.Module):
    """Paper 001's fully connected baseline: the image shrunk to `side` x `side`, then MLP layers."""

    def __init__(self, in_channels: int, classes: int, side: int = 64, hidden: tuple[int, ...] = (512, 128),
                 dropout: float = 0.3):
        super().__init__()
        self.side = side
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_channels * side * side
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.interpolate(x, size=(self.side, self.side), mode="area")
        return self.head(self.body(x))
