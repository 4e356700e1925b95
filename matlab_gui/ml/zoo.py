"""The model zoo: a builder for each architecture of the registry (`archs.py`), for both tasks.

Segmentation: `micro-ktnet` (U-Net, ResNeXt50_32x4d encoder, scSE decoder attention; paper 002),
`fcn32s/16s/8s` on VGG (paper 003) and the segmentation_models_pytorch family with any encoder.
Classification: timm backbones (ResNet, VGG, EfficientNet/-Lite/-V2 and any other timm name)
under a linear or paper-000 head, and paper 001's fully connected baseline. Every model gives
logits; pretrained encoder weights come from disk only (see `weights.py`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import segmentation_models_pytorch as smp
import timm
import torch
from torch import nn

from matlab_gui.errors import ModelError
from matlab_gui.ml.archs import (
    CLASSIFICATION,
    FCN_VARIANTS,
    REGISTRY,
    SEGMENTATION,
    SMP_CLASSES,
    TIMM_CLASSIFIERS,
    ArchInfo,
    weights_name,
)
from matlab_gui.ml.archs import architectures as architectures  # the zoo's public listing
from matlab_gui.ml.card import ClassInfo, ModelCard, Normalisation
from matlab_gui.ml.fcn import FCN
from matlab_gui.ml.heads import FNN, Classifier, build_head
from matlab_gui.ml.padding import PaddedSegmentation
from matlab_gui.ml.weights import by_position, find_weights, load_matching

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
LITE_MEAN = LITE_STD = [0.5, 0.5, 0.5]
MIN_COVERAGE = 0.9  # a checkpoint that fills less of the encoder than this is not used

SMP_ARCHS: dict[str, type[nn.Module]] = {n: getattr(smp, c) for n, c in SMP_CLASSES.items()}


def arch_info(arch: str) -> ArchInfo:
    """The registry entry, or any other timm classifier name (e.g. tf_efficientnetv2_s)."""
    if arch in REGISTRY:
        return REGISTRY[arch]
    if timm.is_model(arch):
        return ArchInfo(arch, CLASSIFICATION, f"timm {arch} backbone + head")
    raise ModelError(f"unknown architecture {arch!r}; `matlab-gui models` lists them")


def default_card(task: str, arch: str, classes: list, encoder: str | None = None, in_channels: int = 3,
                 **overrides) -> ModelCard:
    """A card with the usual settings for `arch`; keyword overrides replace any field."""
    info = arch_info(arch)
    if info.task != task:
        raise ModelError(f"{arch} is a {info.task} architecture, not {task}")
    encoder = encoder or info.default_encoder
    if info.encoders and encoder not in info.encoders:
        raise ModelError(f"{arch} takes the encoder {' or '.join(info.encoders)}, not {encoder!r}")
    weights = weights_name(arch, encoder) or ""
    mean, std = (LITE_MEAN, LITE_STD) if "lite" in weights else (IMAGENET_MEAN, IMAGENET_STD)
    if in_channels == 1:
        mean, std = [sum(mean) / 3], [sum(std) / 3]
    size = 256 if task == SEGMENTATION else 224
    fields = {
        "task": task, "arch": arch, "encoder": encoder if task == SEGMENTATION else None,
        "classes": [c if isinstance(c, ClassInfo) else ClassInfo(c) if isinstance(c, str) else ClassInfo(**c) for c in classes],
        "in_channels": in_channels, "input_size": size, "tile_overlap": size // 4,
        "normalisation": Normalisation(mean=list(mean), std=list(std)),
        "head": {"type": "linear", "pooling": "avg", "dropout": 0.2} if task == CLASSIFICATION else {},
        "name": arch,
    }
    if "head" in overrides and task == CLASSIFICATION:
        overrides["head"] = {**fields["head"], **overrides["head"]}
    if "input_size" in overrides and "tile_overlap" not in overrides:
        overrides["tile_overlap"] = int(overrides["input_size"]) // 4
    fields.update(overrides)
    return ModelCard(**fields)


def _smp(card: ModelCard, attention: str | None) -> nn.Module:
    cls = smp.Unet if card.arch == "micro-ktnet" else SMP_ARCHS[card.arch]
    kwargs = {"decoder_attention_type": attention} if attention else {}
    try:
        net = cls(encoder_name=card.encoder, encoder_weights=None, in_channels=card.in_channels,
                  classes=len(card.classes), **kwargs)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{card.arch} cannot use the encoder {card.encoder!r} ({str(exc)[:100]})") from None
    return PaddedSegmentation(net)


def _classifier(card: ModelCard) -> nn.Module:
    head = card.head or {}
    if card.arch == "fnn":
        return FNN(card.in_channels, len(card.classes), dropout=float(head.get("dropout", 0.3)))
    name = TIMM_CLASSIFIERS.get(card.arch, card.arch)
    backbone = timm.create_model(name, pretrained=False, num_classes=0, global_pool="", in_chans=card.in_channels)
    if isinstance(backbone, timm.models.vgg.VGG):
        # VGG's 4096-wide fc6/fc7 (~120M parameters) sit after forward_features, unused under our
        # heads: drop them, as Keras' include_top=False does in papers 000/004.
        backbone.prune_intermediate_layers(prune_head=True)
    with torch.no_grad():
        was_training = backbone.training
        channels = backbone.eval().forward_features(torch.zeros(1, card.in_channels, 64, 64)).shape[1]
        backbone.train(was_training)
    return Classifier(backbone, build_head(head.get("type", "linear"), channels, len(card.classes),
                                           pooling=head.get("pooling", "avg"), dropout=float(head.get("dropout", 0.2)),
                                           noise=float(head.get("noise", 0.1))))


BUILDERS: dict[str, Callable[[ModelCard], nn.Module]] = {
    "micro-ktnet": lambda c: _smp(c, "scse"),
    **{v: (lambda c, v=v: FCN(v, c.encoder or "vgg16", c.in_channels, len(c.classes))) for v in FCN_VARIANTS},
    **{n: (lambda c: _smp(c, None)) for n in SMP_ARCHS},
}


def _encoder_module(model: nn.Module) -> nn.Module | None:
    """The part of `model` that ImageNet weights initialise."""
    if isinstance(model, PaddedSegmentation):
        encoder = model.net.encoder
        return getattr(encoder, "model", encoder)  # timm-universal encoders wrap a timm model
    if isinstance(model, Classifier):
        return model.backbone
    if isinstance(model, FCN):
        return model.stages
    return None


def _load_pretrained(model: nn.Module, card: ModelCard, weights_dir) -> str | None:
    name = weights_name(card.arch, card.encoder)
    target = _encoder_module(model)
    found = find_weights(name, weights_dir) if name and target is not None else None
    if found is None:
        return None
    state = found.state
    if isinstance(model, FCN):  # torchvision VGG: features.* in order onto our stages
        state = by_position({k: v for k, v in state.items() if k.startswith("features.")}, target)
    elif not (set(state) & set(target.state_dict())):  # another naming: map onto the full timm model by order
        try:
            state = by_position(state, timm.create_model(name, pretrained=False))
        except (ValueError, RuntimeError):
            return None
    return found.source if load_matching(target, state) >= MIN_COVERAGE else None


def build_model(card: ModelCard, pretrained: bool = True, weights_dir=None) -> nn.Module:
    """The network `card` describes; with `pretrained`, encoder weights from disk when there are
    any (recorded in `card.weight_source`), else random initialisation with a warning."""
    info = arch_info(card.arch)
    if info.task != card.task:
        raise ModelError(f"{card.arch} is a {info.task} architecture, but the card says {card.task}")
    model = BUILDERS[card.arch](card) if card.arch in BUILDERS else _classifier(card)
    if pretrained:
        source = _load_pretrained(model, card, weights_dir)
        if source is None:
            what = weights_name(card.arch, card.encoder) or card.arch
            card.weight_source = f"random initialisation (no ImageNet weights for {what} on this machine)"
            if card.arch != "fnn":
                warnings.warn(f"{card.weight_source}; training starts from scratch and needs more labels", stacklevel=2)
        else:
            card.weight_source = source
    return model


def _body_and_head(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    body = _encoder_module(model)
    if body is None:
        return [], list(model.parameters())
    body_ids = {id(p) for p in body.parameters()}
    return list(body.parameters()), [p for p in model.parameters() if id(p) not in body_ids]


def set_trainable_fraction(model: nn.Module, fraction: float) -> None:
    """Train the head and the top `fraction` of the encoder's parameter tensors (from the output end).

    0 = head (and decoder) only, the frozen phase of transfer learning; 1 = everything.
    """
    body, head = _body_and_head(model)
    keep = round(max(0.0, min(1.0, fraction)) * len(body))
    for i, p in enumerate(body):
        p.requires_grad = i >= len(body) - keep
    for p in head:
        p.requires_grad = True
