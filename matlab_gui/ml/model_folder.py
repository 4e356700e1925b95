"""Model folders: `model.safetensors` + `card.json`, written atomically, loaded without pickle.

Saving writes a complete new folder beside the target and swaps it in by renames, so an
interrupted save never leaves a folder with new weights and an old card (or half a file).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from matlab_gui.errors import ModelError, UserError
from matlab_gui.imaging.write import FILE_MODE
from matlab_gui.ml.card import ModelCard

WEIGHTS, CARD = "model.safetensors", "card.json"


@dataclass
class LoadedModel:
    module: nn.Module
    card: ModelCard
    folder: Path | None = None


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())


def save_model(folder: str | Path, model: nn.Module, card: ModelCard, half: bool = False) -> Path:
    """Write `model` and `card` as a model folder; `half` stores float weights as float16."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().to("cpu")
        state[key] = (value.half() if half and value.is_floating_point() else value).contiguous().clone()
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a model folder is shared like any other
    try:
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt", "arch": card.arch})
        (tmp / WEIGHTS).chmod(FILE_MODE)  # safetensors writes 0600
        (tmp / CARD).write_text(card.to_json() + "\n", encoding="utf-8")
        _fsync_tree(tmp)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
            tmp.rename(folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def read_card(folder: str | Path) -> ModelCard:
    """The card of a model folder, validated."""
    folder = Path(folder)
    if not folder.exists():
        raise ModelError("no such model folder", folder)
    if not folder.is_dir():
        raise ModelError("a model is a folder with model.safetensors and card.json, not a file", folder)
    if not (folder / CARD).is_file():
        raise ModelError("card.json is missing: this is not a model folder", folder)
    try:
        return ModelCard.from_json((folder / CARD).read_text(encoding="utf-8"))
    except ModelError as exc:
        raise ModelError(exc.problem, folder / CARD) from None


def _check_state(state: dict[str, torch.Tensor], module: nn.Module, path: Path) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in own.items()
             if k in state and state[k].shape != v.shape]
    for problem, items in (("missing tensors", missing), ("unexpected tensors", extra), ("wrong shapes", wrong)):
        if items:
            more = f" and {len(items) - 3} more" if len(items) > 3 else ""
            raise ModelError(f"weights do not fit the card's architecture: {problem}: {', '.join(items[:3])}{more}", path)


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """The model in `folder`, in eval mode on `device`. Executes no pickled code."""
    from matlab_gui.ml.zoo import build_model

    folder = Path(folder)
    card = read_card(folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise ModelError("model.safetensors is missing", folder)
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"unreadable weights ({str(exc)[:80]})", weights) from None
    try:
        module = build_model(card, pretrained=False)
    except UserError:
        raise
    except Exception as exc:  # a card naming an encoder the libraries cannot build
        raise ModelError(f"cannot build {card.arch} with encoder {card.encoder!r} ({str(exc)[:80]})", folder) from None
    _check_state(state, module, weights)
    module.load_state_dict(state)
    return LoadedModel(module.to(device).eval(), card, folder)
