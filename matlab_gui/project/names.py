"""Names read from a project file are data: check them before they name a file or a dataset.

A project carries model names, model file names, image ids and image names. Joined onto a folder
or looked up in an HDF5 group, a name with a separator, `..`, an absolute path or a NUL would
reach outside its place (h5py resolves "/x" from the file root; `Path / "/x"` is "/x"), so every
such name must be exactly one plain path component, and a path built from one is checked again
after resolution.
"""

from __future__ import annotations

import re
from pathlib import Path

_FORBIDDEN = re.compile(r"[/\\:\x00-\x1f\x7f]")
_UNSAFE_IN_STEM = re.compile(r"[/\\:*?\"<>|\x00-\x1f\x7f]")


def check_name(name: object, what: str) -> str:
    """`name` when it is one plain path component (no separator, drive, NUL, `.` or `..`)."""
    if not isinstance(name, str) or not name or name in (".", "..") or _FORBIDDEN.search(name):
        raise ValueError(f"unsafe {what} {name!r}: must be a plain name, not a path")
    if name != name.strip() or len(name.encode()) > 255:
        raise ValueError(f"unsafe {what} {name!r}: surrounding spaces or too long")
    return name


def check_image_name(name: object) -> str:
    """An image's display name: any file name the source system allowed (outputs named after
    it go through `output_stem`), but never a path."""
    if not isinstance(name, str) or not name or "/" in name or "\x00" in name:
        raise ValueError(f"unsafe image name {name!r}: must be a file name, not a path")
    return name


def inside(folder: str | Path, name: str, what: str) -> Path:
    """`folder / name`, refused unless it stays directly inside `folder` once resolved (a
    symbolic link planted at that name cannot redirect the write)."""
    folder = Path(folder).resolve()
    path = (folder / check_name(name, what)).resolve()
    if path.parent != folder:
        raise ValueError(f"unsafe {what} {name!r}: resolves outside {folder}")
    return path


def output_stem(name: str) -> str:
    """A file-name stem for outputs named after an image: its name without the extension, with
    characters that are unsafe in file names on any system replaced by `_`."""
    stem = Path(_UNSAFE_IN_STEM.sub("_", name)).stem.strip(" .")
    return stem or "image"


def unique_output_stems(names: dict[str, str]) -> dict[str, str]:
    """Image id -> output stem; images that share a stem get their id appended, so two
    `x.tif` from different folders never write over each other's outputs."""
    stems = {image_id: output_stem(name) for image_id, name in names.items()}
    counts: dict[str, int] = {}
    for stem in stems.values():
        counts[stem.lower()] = counts.get(stem.lower(), 0) + 1
    return {i: s if counts[s.lower()] == 1 else f"{s}_{i}" for i, s in stems.items()}
