"""The class table that travels with every mask the app writes: `classes.csv` in its folder.

One numbering for every mask on disk (project exports, `segment`, .mat files): value 0 means
unlabelled and value k is the k-th class of the class list, counted from 1, as MATLAB's Image
Labeler and ilastik number labels. The table states it per value, with names and colours, so
MATLAB (`readtable`), Fiji and pandas read the meaning without the app:

    value,name,red,green,blue
    0,unlabelled,0,0,0
    1,matrix,0,0,0
    2,precipitate,213,94,0

A table written by someone else may instead name value 0 (data sets that number classes from 0);
readers take each row as it stands.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matlab_gui.errors import UserError

FILE_NAME = "classes.csv"
UNLABELLED = "unlabelled"
HEADER = ["value", "name", "red", "green", "blue"]
MAX_VALUE = 65535


@dataclass(frozen=True)
class MaskClass:
    """What one mask value means."""

    value: int
    name: str
    color: tuple[int, int, int]

    @property
    def unlabelled(self) -> bool:
        return self.name.strip().casefold() == UNLABELLED


UNLABELLED_ROW = MaskClass(0, UNLABELLED, (0, 0, 0))


def numbered(names: Sequence[str], colours: Sequence[Sequence[int]]) -> list[MaskClass]:
    """The app's numbering for a class list: 0 unlabelled, then the classes from 1."""
    return [UNLABELLED_ROW, *(MaskClass(k, n, tuple(int(v) for v in c))
                              for k, (n, c) in enumerate(zip(names, colours, strict=True), 1))]


def table_text(classes: Sequence[MaskClass]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows([c.value, c.name, *c.color] for c in classes)
    return buffer.getvalue()


def write_class_table(folder: str | Path, classes: Sequence[MaskClass]) -> Path:
    """Write (atomically) `classes.csv` into `folder`; returns its path."""
    from matlab_gui.imaging.write import atomic_write_bytes

    path = Path(folder) / FILE_NAME
    payload = table_text(classes).encode("utf-8")
    atomic_write_bytes(path, lambda tmp: tmp.write_bytes(payload))
    return path


def _row(rec: list[str], line: int, path: Path) -> MaskClass:
    try:
        value, name, *rgb = rec
        value = int(value)
        color = tuple(int(v) for v in rgb) if rgb else (0, 0, 0)
    except ValueError:
        raise UserError(f"line {line} is not 'value,name,red,green,blue'", path) from None
    if not 0 <= value <= MAX_VALUE or len(color) != 3 or not all(0 <= v <= 255 for v in color):
        raise UserError(f"line {line}: value must be 0..{MAX_VALUE} and colours 0..255", path)
    if not name.strip():
        raise UserError(f"line {line}: the class has no name", path)
    return MaskClass(value, name.strip(), color)


def read_class_table(path: str | Path) -> list[MaskClass]:
    """The rows of a class table (a `classes.csv` file, or the folder holding one), in value
    order; UserError naming the file and line when it is not one."""
    path = Path(path)
    path = path / FILE_NAME if path.is_dir() else path
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the class table: {exc}", path) from exc
    reader = csv.reader(io.StringIO(text))
    header = [h.strip().lower() for h in next(reader, [])]
    if header[:2] != HEADER[:2]:
        raise UserError(f"is not a class table (its first line must be {','.join(HEADER)})", path)
    rows = [_row(rec, reader.line_num, path) for rec in reader if any(f.strip() for f in rec)]
    values = [r.value for r in rows]
    if len(set(values)) != len(values):
        raise UserError("names one value twice", path)
    return sorted(rows, key=lambda r: r.value)


def find_class_table(folder: str | Path) -> Path | None:
    """The class table of the masks in `folder`: in it, or in the folder above (an Image
    Labeler export keeps its masks one level down)."""
    folder = Path(folder)
    for candidate in (folder / FILE_NAME, folder.parent / FILE_NAME):
        if candidate.is_file():
            return candidate
    return None


def description(classes: Sequence[MaskClass]) -> str:
    """One line per value, for metadata fields that hold text (ImageJ's Info, .mat)."""
    return "\n".join(f"{c.value} = {c.name}" for c in classes)
