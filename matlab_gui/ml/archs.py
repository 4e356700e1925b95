"""The architecture registry as plain data: what the zoo builds and the window lists.

No torch here, so the Training settings dialog can list the architectures the moment it opens;
`zoo.py` builds them and `weights.py` finds their ImageNet weights (both import torch).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

SEGMENTATION, CLASSIFICATION = "segmentation", "classification"

FCN_VARIANTS = ("fcn32s", "fcn16s", "fcn8s")
# name -> segmentation_models_pytorch class name
SMP_CLASSES = {
    "unet": "Unet", "unetplusplus": "UnetPlusPlus", "fpn": "FPN", "pspnet": "PSPNet",
    "linknet": "Linknet", "manet": "MAnet", "deeplabv3": "DeepLabV3", "deeplabv3plus": "DeepLabV3Plus",
}
TIMM_CLASSIFIERS = {
    "resnet18": "resnet18", "resnet34": "resnet34", "resnet50": "resnet50", "vgg16": "vgg16",
    "efficientnet_b0": "efficientnet_b0", "efficientnet_lite0": "tf_efficientnet_lite0",
    "efficientnetv2_b0": "tf_efficientnetv2_b0",
}


@dataclass(frozen=True)
class ArchInfo:
    name: str
    task: str
    description: str
    default_encoder: str | None = None
    encoders: tuple[str, ...] | None = None  # None: any encoder the library supports


def _registry() -> dict[str, ArchInfo]:
    entries = [
        ArchInfo("micro-ktnet", SEGMENTATION, "U-Net, ResNeXt50_32x4d encoder, scSE attention in the decoder (paper 002)",
                 "resnext50_32x4d"),
        *(ArchInfo(v, SEGMENTATION, f"FCN-{v[3:-1]}s on VGG; HPTL chain 32s -> 16s -> 8s (paper 003)", "vgg16",
                   ("vgg16", "vgg19")) for v in FCN_VARIANTS),
        *(ArchInfo(n, SEGMENTATION, f"segmentation_models_pytorch {c}", "tu-tf_efficientnet_lite0")
          for n, c in SMP_CLASSES.items()),
        *(ArchInfo(n, CLASSIFICATION, f"timm {t} backbone + head (linear or paper-000 sepconv; avg/max pooling)")
          for n, t in TIMM_CLASSIFIERS.items()),
        ArchInfo("fnn", CLASSIFICATION, "plain fully connected network on a 64x64 image (paper 001 baseline)"),
    ]
    return {e.name: e for e in entries}


REGISTRY = _registry()


def architectures(task: str | None = None) -> list[ArchInfo]:
    """The registry's entries (of one task), in its order."""
    return [a for a in REGISTRY.values() if task in (None, a.task)]


def weights_name(arch: str, encoder: str | None) -> str | None:
    """The timm/torchvision model whose ImageNet weights fit this encoder or backbone."""
    if arch in REGISTRY and REGISTRY[arch].task == SEGMENTATION:
        if encoder is None:
            return None
        return encoder[3:] if encoder.startswith("tu-") else encoder
    return TIMM_CLASSIFIERS.get(arch, arch) if arch != "fnn" else None


def imagenet_offline(archs: Iterable[ArchInfo]) -> dict[str, bool]:
    """Arch name -> ImageNet weights for its default encoder/backbone are on this machine.
    Imports torch and reads the weight files (seconds): call it off the GUI thread."""
    from matlab_gui.ml.weights import available_offline

    found: dict[str | None, bool] = {None: False}
    out = {}
    for a in archs:
        name = weights_name(a.name, a.default_encoder)
        if name not in found:
            found[name] = available_offline(name)
        out[a.name] = found[name]
    return out


AUTO = "auto"  # the architecture a new model gets when the user chose none: see `automatic_arch`


def automatic_arch(task: str) -> str:
    """The best architecture with pretrained weights on this machine: Micro-KTNet (the paper's
    U-Net + ResNeXt50 + scSE) when its ResNeXt50 ImageNet weights are here, else the U-Net with
    the ImageNet EfficientNet-Lite0 encoder that every install has; for classifiers
    EfficientNet-Lite0. A random start is slow and poor on a few images, so it is never chosen
    while weights exist. Imports torch (weights look-up): call it off the GUI thread."""
    if task == SEGMENTATION:
        return "micro-ktnet" if imagenet_offline([REGISTRY["micro-ktnet"]])["micro-ktnet"] else "unet"
    return "efficientnet_lite0"
