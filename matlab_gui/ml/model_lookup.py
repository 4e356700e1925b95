"""`--model` may be a model folder or the name of a model shipped with the app."""

from __future__ import annotations

from pathlib import Path

from matlab_gui.errors import ModelError
from matlab_gui.resources import models_dir

CARD = "card.json"


def shipped_models() -> list[str]:
    """Names of the model folders shipped in `models/` (those with a card)."""
    root = models_dir()
    return sorted(p.parent.name for p in root.glob(f"*/{CARD}")) if root.is_dir() else []


def resolve_model(name_or_path: str | Path) -> Path:
    """The model folder for a path, else for a shipped model's name; ModelError otherwise."""
    path = Path(name_or_path)
    if path.is_dir():
        if not (path / CARD).is_file():
            raise ModelError(f"not a model folder: no {CARD} inside", path)
        return path
    if path.exists():
        raise ModelError("a model is a folder (card.json + model.safetensors), not a file", path)
    shipped = models_dir() / str(name_or_path)
    if len(path.parts) == 1 and (shipped / CARD).is_file():
        return shipped
    names = shipped_models()
    known = ", ".join(names) if names else "none shipped"
    raise ModelError(f"no model folder or shipped model called {str(name_or_path)!r} "
                     f"(shipped models: {known})")
