"""`--model` may be a model folder, the name of a model shipped with the app, or
`PROJECT.mgp:NAME`, a model stored in a project."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from matlab_gui.errors import ModelError
from matlab_gui.resources import models_dir

CARD = "card.json"


def shipped_models() -> list[str]:
    """Names of the model folders shipped in `models/` (those with a card)."""
    root = models_dir()
    return sorted(p.parent.name for p in root.glob(f"*/{CARD}")) if root.is_dir() else []


def card_json(folder: Path | None) -> dict:
    """A model folder's card as plain JSON, unvalidated and without torch; {} when unreadable."""
    try:
        card = json.loads((Path(folder) / CARD).read_text(encoding="utf-8"))
    except (OSError, TypeError, ValueError, RecursionError):  # nesting too deep for json
        return {}
    return card if isinstance(card, dict) else {}


def old_copy(folder: Path) -> Path:
    """Where a two-rename model swap parks the old folder (see `model_folder._swap_in`)."""
    return folder.with_name(f".{folder.name}.old")


def restore_interrupted_save(folder: Path) -> None:
    """Put back the old model a two-rename swap had moved away when it was cut off (only where
    the system has no one-step exchange). Torch-free, so every look-up of a path can call it."""
    folder = Path(folder)
    if not os.path.lexists(folder) and old_copy(folder).is_dir():
        try:
            os.rename(old_copy(folder), folder)
        except OSError as exc:
            raise ModelError(f"cannot restore the model from {old_copy(folder).name}: {exc}",
                             folder) from None


def resolve_model(name_or_path: str | Path) -> Path:
    """The model folder for a path, else for a shipped model's name; ModelError otherwise."""
    path = Path(name_or_path)
    restore_interrupted_save(path)
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


def split_project_model(spec: str | Path) -> tuple[Path, str] | None:
    """(project file, model name) for `PROJECT.mgp:NAME`, else None. Only a part before the
    last ':' that ends in .mgp and is an existing file splits, so a Windows drive (`C:\\x`) or
    a folder with a colon in its name stays a path."""
    from matlab_gui.project import PROJECT_SUFFIX

    head, colon, name = str(spec).rpartition(":")
    if not colon or not head.lower().endswith(PROJECT_SUFFIX) or not Path(head).is_file():
        return None
    return Path(head), name


def export_project_model(project_path: Path, name: str, dest: Path) -> Path:
    """Write model `name` of a project (opened read-only) into `dest/name`; ModelError naming
    the project's models when it has none by that name."""
    from matlab_gui.project import Project
    from matlab_gui.project.names import inside

    with Project.open(project_path, readonly=True) as project:
        stored = project.model_names()
        if name not in stored:
            known = ", ".join(sorted(stored)) or "none"
            raise ModelError(f"no model {name!r} in the project (its models: {known})",
                             project_path)
        return project.export_model(name, inside(dest, name, "model name"))


@contextmanager
def model_folder(spec: str | Path, where: Path | None = None) -> Iterator[Path]:
    """`resolve_model`, where `PROJECT.mgp:NAME` is exported to a temporary folder that lasts
    as long as the `with` block (the jobs read a model from a folder). `where` holds that
    folder (default: the system's temporary folder); workers on other machines need it on the
    file system they share."""
    found = split_project_model(spec)
    if found is None:
        yield resolve_model(spec)
        return
    if where is not None:
        Path(where).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".matlab_gui-model-", dir=where) as temp:
        yield export_project_model(*found, Path(temp))
