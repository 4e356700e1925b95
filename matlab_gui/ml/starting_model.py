"""Which trained model a Fine-tune starts from.

A model trained on the same kind of material is the best start: the current model when it
does the task and its classes cover at least half of the project's by name, else the shipped
model of the task that covers most of them. A model of another material is a worse start than
ImageNet weights (benchmarks/fewshot.py, 5 painted images, 180 s: uhcs from nasa-super with a
new output layer 0.29 mean IoU against 0.42 from ImageNet, nasa_super from uhcs 0.67 against
0.77), so then there is no starting model and the train job builds a pretrained one.
Torch-free: the window asks this on its own thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from matlab_gui.ml.model_lookup import card_json, shipped_models
from matlab_gui.resources import DEFAULT_MODEL, models_dir


def _key(name: str) -> str:
    return " ".join(str(name).lower().replace("_", " ").replace("-", " ").split())


def shared_class_names(card: dict, class_names: Sequence[str]) -> int:
    ours = {_key(n) for n in class_names}
    return len(ours & {_key(c.get("name", "")) for c in card.get("classes", [])})


def related(card: dict, class_names: Sequence[str]) -> bool:
    """Whether a model's classes name at least half of the project's: the same material."""
    shared = shared_class_names(card, class_names)
    return shared > 0 and 2 * shared >= len(class_names)


def closest_shipped(task: str, class_names: Sequence[str], exclude: Iterable[str] = ()) -> Path | None:
    """The related shipped model of `task` sharing most class names; on a tie the default
    model, then the first by name. None when no shipped model is related."""
    excluded = set(exclude)
    best: tuple | None = None
    for name in shipped_models():
        folder = models_dir() / name
        card = card_json(folder)
        if name in excluded or card.get("task") != task or not related(card, class_names):
            continue
        rank = (shared_class_names(card, class_names), name == DEFAULT_MODEL)
        if best is None or rank > best[0]:
            best = (rank, folder)
    return None if best is None else best[1]


def starting_model(task: str, class_names: Sequence[str], current: Path | None,
                   exclude: Iterable[str] = ()) -> Path | None:
    """The current model when it does `task` on related classes, else the closest related
    shipped one; None: a new model from ImageNet weights."""
    card = {} if current is None else card_json(current)
    if card.get("task") == task and related(card, class_names):
        return Path(current)
    return closest_shipped(task, class_names, exclude)
