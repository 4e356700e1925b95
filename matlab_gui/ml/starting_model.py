"""Which trained model a Fine-tune starts from, when the user has not trained one yet.

Layers trained on micrographs are a better start than ImageNet alone, so a new model starts
from the current model when it does the same task, else from the shipped model of that task
whose classes share most names with the project's (the window's default model on a tie).
Torch-free: the window asks this on its own thread.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from matlab_gui.ml.model_lookup import CARD, shipped_models
from matlab_gui.resources import DEFAULT_MODEL, models_dir


def _card(folder: Path) -> dict:
    try:
        return json.loads((folder / CARD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _key(name: str) -> str:
    return " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())


def shared_class_names(card: dict, class_names: Sequence[str]) -> int:
    ours = {_key(n) for n in class_names}
    return len(ours & {_key(c.get("name", "")) for c in card.get("classes", [])})


def closest_shipped(task: str, class_names: Sequence[str], exclude: Iterable[str] = ()) -> Path | None:
    """The shipped model of `task` sharing most class names; on a tie the default model,
    then the first by name. None when no shipped model does the task."""
    excluded = set(exclude)
    best: tuple | None = None
    for name in shipped_models():
        folder = models_dir() / name
        card = _card(folder)
        if name in excluded or card.get("task") != task:
            continue
        rank = (shared_class_names(card, class_names), name == DEFAULT_MODEL)
        if best is None or rank > best[0]:
            best = (rank, folder)
    return None if best is None else best[1]


def starting_model(task: str, class_names: Sequence[str], current: Path | None,
                   exclude: Iterable[str] = ()) -> Path | None:
    """The current model when it does `task`, else the closest shipped one (None: ImageNet)."""
    if current is not None and _card(Path(current)).get("task") == task:
        return Path(current)
    return closest_shipped(task, class_names, exclude)
