"""What kind of file a path is, told without importing the readers (h5py costs a third of a
second; `info` on a plain image should not pay it)."""

from __future__ import annotations

from pathlib import Path

PROJECT_SUFFIX = ".mgp"
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def is_project(path: Path) -> bool:
    """A project by its suffix, or an HDF5 file under another name."""
    path = Path(path)
    if path.suffix.lower() == PROJECT_SUFFIX:
        return True
    if not path.is_file():  # a FIFO or device would block the read below
        return False
    try:
        with path.open("rb") as fh:
            return fh.read(8) == HDF5_SIGNATURE
    except OSError:
        return False
