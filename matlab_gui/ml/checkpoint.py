"""A resumable training state without pickle: tensors in safetensors, everything else in JSON.

The folder holds `state.safetensors` (model, best model, optimizer tensors, torch RNG state) and
`state.json` (epoch, history, optimizer hyper-parameters, scheduler state, best score). Both are
written to temporary names, fsync'd and renamed into place, JSON last: the JSON rename commits a
save. The JSON names the tensor file it belongs to by a token stored in both, so the pair left by
a crash between the two renames (new tensors, previous JSON) reads as no checkpoint, never as a
state mixing two epochs.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from matlab_gui.errors import ModelError
from matlab_gui.ml.model_folder import fsync_path

STATE_TENSORS = "state.safetensors"
STATE_JSON = "state.json"


@dataclass
class TrainingState:
    """Everything a run needs to continue where it stopped."""

    epoch: int  # epochs completed
    model: dict[str, torch.Tensor]
    optimizer: dict
    scheduler: dict | None = None
    scaler: dict | None = None
    best_model: dict[str, torch.Tensor] | None = None
    best_score: float | None = None
    best_epoch: int = 0
    history: list[dict] = field(default_factory=list)
    rng: torch.Tensor | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _split_tensors(obj, prefix: str, tensors: dict):
    """Replace tensors in a nested dict/list by `{"__tensor__": key}` and collect them."""
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().cpu().clone().contiguous()
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {str(k): _split_tensors(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_split_tensors(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    return obj


def _join_tensors(obj, tensors: dict):
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return tensors[obj["__tensor__"]]
        return {k: _join_tensors(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join_tensors(v, tensors) for v in obj]
    return obj


def _int_keys(state: dict) -> dict:
    """Optimizer `state` is keyed by parameter index; JSON made the keys strings."""
    return {**state, "state": {int(k): v for k, v in state["state"].items()}}


def _token(path: Path) -> str | None:
    """The save token in a tensor file's header; None for a file that is not one."""
    try:
        with safe_open(str(path), "pt") as fh:
            return (fh.metadata() or {}).get("token")
    except (SafetensorError, OSError):
        return None


def save_state(folder: Path, state: TrainingState) -> None:
    """Write `state` so that a kill at any moment leaves either it or the previous one whole."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    meta = {
        "epoch": state.epoch,
        "model": _split_tensors(state.model, "model", tensors),
        "optimizer": _split_tensors(state.optimizer, "optimizer", tensors),
        "scheduler": _split_tensors(state.scheduler, "scheduler", tensors),
        "scaler": _split_tensors(state.scaler, "scaler", tensors),
        "best_model": _split_tensors(state.best_model, "best", tensors),
        "best_score": state.best_score,
        "best_epoch": state.best_epoch,
        "history": state.history,
        "rng": _split_tensors(state.rng, "rng", tensors),
        "extra": state.extra,
        "tensors_token": uuid.uuid4().hex,
    }
    tmp_tensors, tmp_json = folder / (STATE_TENSORS + ".tmp"), folder / (STATE_JSON + ".tmp")
    save_file(tensors, str(tmp_tensors), metadata={"token": meta["tensors_token"]})
    tmp_json.write_text(json.dumps(meta), encoding="utf-8")
    fsync_path(tmp_tensors)
    fsync_path(tmp_json)
    os.replace(tmp_tensors, folder / STATE_TENSORS)
    os.replace(tmp_json, folder / STATE_JSON)  # the commit
    fsync_path(folder)


def _torn(folder: Path, meta) -> bool:
    """True for tensors of another save beside this JSON (a crash between the two renames)."""
    return not isinstance(meta, dict) or _token(folder / STATE_TENSORS) != meta.get("tensors_token")


def has_state(folder: Path | None) -> bool:
    """Whether `folder` holds a state to resume from; a torn pair is none, so a run starts over."""
    if folder is None or not (Path(folder) / STATE_JSON).is_file():
        return False
    try:
        meta = json.loads((Path(folder) / STATE_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True  # damaged, not torn: load_state says what is wrong
    return not _torn(Path(folder), meta)


def load_state(folder: Path) -> TrainingState:
    folder = Path(folder)
    try:
        meta = json.loads((folder / STATE_JSON).read_text(encoding="utf-8"))
        if _torn(folder, meta):
            raise ValueError(f"{STATE_TENSORS} and {STATE_JSON} are from different saves")
        del meta["tensors_token"]
        tensors = load_file(str(folder / STATE_TENSORS))
        meta = _join_tensors(meta, tensors)
        meta["optimizer"] = _int_keys(meta["optimizer"])
        return TrainingState(**meta)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"cannot read the training state: {exc}", folder) from exc
