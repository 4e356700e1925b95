"""MATLAB .mat files: the one writer (and reader) of every .mat the app produces.

A file whose every variable is below 2 GiB is MATLAB v7 (compressed MAT v5, written by scipy):
MATLAB, GNU Octave and scipy load it whole, cell arrays included. Larger variables do not fit
v7's 32-bit sizes, so such a file is v7.3: HDF5 behind a 512-byte user block that starts with
MATLAB's 128-byte text header, written with h5py. MATLAB and h5py read v7.3; Octave reads its
numbers but not its cell arrays. MATLAB is column-major: in v7.3 an (H, W) array is stored
transposed so that `load` gives an H x W matrix, and (C, H, W) planes become an H x W x C matrix
in both formats. Text is a MATLAB char array, lists of text are cell arrays of char, numbers are
double, so `load` gives ordinary variables.

Beside the arrays each file holds what they mean (the mask numbering of `class_table`):
  class_values  1 x K double   mask value of each class (0 = unlabelled)
  class_names   1 x K cell     the classes' names
  class_colors  K x 3 uint8    their display colours
  pixel_size_um double         (or one per image) NaN when unknown
and, in a file of several images, `image_names` / `variable_names` (1 x N cells) mapping each
variable to the image it came from: file names seldom are valid, unique MATLAB names.
"""

from __future__ import annotations

import platform
import re
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from matlab_gui.errors import ImageWriteError, UserError
from matlab_gui.imaging.class_table import MaskClass
from matlab_gui.imaging.write import atomic_write_bytes

_MATLAB_CLASS = {
    "uint8": "uint8", "uint16": "uint16", "int16": "int16", "uint32": "uint32", "int32": "int32",
    "float32": "single", "float64": "double", "bool": "logical",
}
NAME_LIMIT = 63  # MATLAB's namelengthmax
V7_LIMIT = 2**31 - 2**20  # bytes: MAT v5/v7 stores a variable's size in 32 bits
# Words MATLAB reserves (iskeyword): never variable names.
_MATLAB_KEYWORDS = {
    "break", "case", "catch", "classdef", "continue", "else", "elseif", "end", "for", "function",
    "global", "if", "otherwise", "parfor", "persistent", "return", "spmd", "switch", "try",
    "while",
}
METADATA = ("class_values", "class_names", "class_colors", "pixel_size_um", "pixel_sizes_um",
            "image_names", "variable_names", "model", "source")

Field = str | float | Sequence[str] | np.ndarray


def matlab_name(name: str) -> str:
    """A valid MATLAB variable name made from a file name ('1st image.tif' -> 'm_1st_image')."""
    ident = re.sub(r"\W", "_", Path(name).stem, flags=re.ASCII)
    ident = ident if ident[:1].isalpha() and ident not in _MATLAB_KEYWORDS else f"m_{ident}"
    return ident[:NAME_LIMIT]


def unique_matlab_names(names: Iterable[str], taken: Iterable[str] = METADATA) -> list[str]:
    """A valid MATLAB variable name for each name, in order, none equal to another or to
    `taken` ('spot1.tif', 'spot1.png', and a second 'spot1.tif' from another folder -> spot1,
    spot1_2, spot1_3), at most 63 characters."""
    used = {t.casefold() for t in taken}
    out: list[str] = []
    for name in names:
        base = matlab_name(name)
        candidate, n = base, 1
        while candidate.casefold() in used:  # case too: one file per name on Windows readers
            n += 1
            suffix = f"_{n}"
            candidate = base[: NAME_LIMIT - len(suffix)] + suffix
        used.add(candidate.casefold())
        out.append(candidate)
    return out


def class_fields(classes: Sequence[MaskClass]) -> dict[str, Field]:
    """The class table as .mat fields."""
    return {
        "class_values": np.array([c.value for c in classes], np.float64),
        "class_names": [c.name for c in classes],
        "class_colors": np.array([c.color for c in classes], np.uint8).reshape(-1, 3),
    }


def _header() -> bytes:
    created = time.strftime("%a %b %d %H:%M:%S %Y")
    text = (
        f"MATLAB 7.3 MAT-file, Platform: {platform.system()}-{platform.machine()}, "
        f"Created on: {created} HDF5 schema 1.00 ."
    ).encode("ascii", "replace")
    return text[:116].ljust(116) + b"\x00" * 8 + b"\x00\x02" + b"IM"


def _storable(a: np.ndarray) -> np.dtype | None:
    dtype = np.dtype(np.float32 if a.dtype == np.float16 else a.dtype)
    return dtype if dtype.name in _MATLAB_CLASS and a.ndim in (1, 2, 3) else None


def _put_array(group: h5py.Group, name: str, a: np.ndarray) -> None:
    """(H, W) transposed, (C, H, W) as H x W x C, a 1-D array as a 1 x N row."""
    a = np.asarray(a)
    dtype = _storable(a)
    if a.ndim == 1:
        a = a[None, :]
    shape = a.shape[::-1] if a.ndim == 2 else (a.shape[0], a.shape[2], a.shape[1])
    big = a.size > 4096
    ds = group.create_dataset(name, shape=shape, dtype=dtype, compression="gzip" if big else None,
                              chunks=True if big else None)
    ds.attrs["MATLAB_class"] = np.bytes_(_MATLAB_CLASS[dtype.name])
    for c, plane in [(None, a)] if a.ndim == 2 else enumerate(a):
        ds[() if c is None else c] = plane.T.astype(dtype, copy=False)


def _put_text(group: h5py.Group, name: str, text: str) -> h5py.Dataset:
    if not text:  # MATLAB's empty char: its dimensions, flagged empty
        ds = group.create_dataset(name, data=np.array([0, 0], np.uint64))
        ds.attrs["MATLAB_empty"] = np.uint8(1)
    else:
        units = np.frombuffer(text.encode("utf-16-le"), np.uint16)
        ds = group.create_dataset(name, data=units.reshape(-1, 1))  # a 1 x L row in MATLAB
        ds.attrs["MATLAB_int_decode"] = np.int32(2)
    ds.attrs["MATLAB_class"] = np.bytes_("char")
    return ds


def _put_cell(f: h5py.File, name: str, texts: Sequence[str]) -> None:
    refs = f.require_group("#refs#")
    targets = [_put_text(refs, f"{name}_{i}", t).ref for i, t in enumerate(texts)]
    ds = f.create_dataset(name, shape=(len(texts), 1), dtype=h5py.ref_dtype)
    for i, ref in enumerate(targets):
        ds[i, 0] = ref
    ds.attrs["MATLAB_class"] = np.bytes_("cell")


def _put_field(f: h5py.File, name: str, value: Field) -> None:
    if isinstance(value, str):
        _put_text(f, name, value)
    elif isinstance(value, (list, tuple)):
        _put_cell(f, name, [str(v) for v in value])
    else:
        _put_array(f, name, np.atleast_1d(np.asarray(value)))


def _v7_value(value: Field | np.ndarray):
    """A field or array as scipy.io.savemat writes it: (C, H, W) planes as H x W x C, lists of
    text as a 1 x N cell, float16 as single."""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        cell = np.empty((1, len(value)), object)
        cell[0, :] = [str(v) for v in value]
        return cell
    a = np.atleast_1d(np.asarray(value))
    a = a.astype(_storable(a), copy=False)
    return np.moveaxis(a, 0, -1) if a.ndim == 3 else a


def _write_v7(tmp: Path, arrays: Mapping[str, np.ndarray], fields: Mapping[str, Field]) -> None:
    values = {name: _v7_value(v) for name, v in [*arrays.items(), *fields.items()]}
    scipy.io.savemat(tmp, values, appendmat=False, format="5", do_compression=True,
                     oned_as="row")


def _write_v73(tmp: Path, arrays: Mapping[str, np.ndarray], fields: Mapping[str, Field]) -> None:
    with h5py.File(tmp, "w", userblock_size=512) as f:
        for name, a in arrays.items():
            _put_array(f, name, a)
        for name, value in fields.items():
            _put_field(f, name, value)
    with open(tmp, "r+b") as fh:
        fh.write(_header())


def write_mat(path: str | Path, arrays: Mapping[str, np.ndarray],
              fields: Mapping[str, Field] | None = None, v7_limit: int = V7_LIMIT) -> None:
    """Save named (H, W) or (C, H, W) arrays and metadata `fields` (text, lists of text,
    numbers) as one .mat file, atomically: v7 unless an array needs `v7_limit` bytes or more,
    then v7.3. Array names must be valid MATLAB names (`unique_matlab_names`); float16 is
    stored as single (MATLAB has no half)."""
    path = Path(path)
    fields = dict(fields or {})
    for name, a in arrays.items():
        if matlab_name(name) != name or name in fields:
            raise ImageWriteError(f"{name!r} is not a free MATLAB variable name", path)
        if np.asarray(a).ndim not in (2, 3) or _storable(np.asarray(a)) is None:
            raise ImageWriteError(f"cannot store {name!r} ({a.dtype}, shape {a.shape}) in a .mat file", path)
    largest = max((a.size * _storable(np.asarray(a)).itemsize for a in arrays.values()), default=0)
    writer = _write_v73 if largest >= v7_limit else _write_v7
    atomic_write_bytes(path, lambda tmp: writer(tmp, arrays, fields))


# -- reading back ---------------------------------------------------------------------------


@dataclass
class MatContents:
    """The masks of an app-written .mat file and what they mean."""

    arrays: dict[str, np.ndarray]  # variable -> 2-D integer mask, H x W
    image_names: dict[str, str] = field(default_factory=dict)  # variable -> image file name
    classes: list[MaskClass] | None = None
    pixel_size_um: dict[str, float] = field(default_factory=dict)  # variable -> size, if known


class _V73:
    """Field access to a v7.3 file (HDF5, arrays transposed)."""

    def __init__(self, f: h5py.File):
        self.f = f

    def __contains__(self, name: str) -> bool:
        return name in self.f

    def matrices(self) -> dict[str, np.ndarray]:
        return {name: np.asarray(ds[()]).T for name, ds in self.f.items()
                if isinstance(ds, h5py.Dataset) and name not in METADATA
                and ds.ndim == 2 and ds.dtype.kind in "ui"}

    def text(self, name: str, ds: h5py.Dataset | None = None) -> str:
        ds = self.f[name] if ds is None else ds
        if ds.attrs.get("MATLAB_empty"):
            return ""
        return np.asarray(ds[()], np.uint16).ravel().tobytes().decode("utf-16-le")

    def cell(self, name: str) -> list[str]:
        return [self.text("", self.f[ref]) for ref in np.asarray(self.f[name][()]).ravel()]

    def numbers(self, name: str) -> np.ndarray:
        return np.asarray(self.f[name][()]).T.ravel()

    def rows(self, name: str) -> np.ndarray:
        return np.asarray(self.f[name][()]).T


class _V7:
    """Field access to a v5/v7 file as scipy.io.loadmat gives it (arrays as MATLAB sees them)."""

    def __init__(self, path: Path):
        self.values = {k: v for k, v in scipy.io.loadmat(path, chars_as_strings=True).items()
                       if not k.startswith("__")}

    def __contains__(self, name: str) -> bool:
        return name in self.values

    def matrices(self) -> dict[str, np.ndarray]:
        return {name: v for name, v in self.values.items()
                if isinstance(v, np.ndarray) and name not in METADATA
                and v.ndim == 2 and v.dtype.kind in "ui"}

    @staticmethod
    def _str(v) -> str:
        v = np.asarray(v)
        if v.dtype.kind != "U":
            raise ValueError("a text field holds no text")
        return str(v.ravel()[0]) if v.size else ""

    def text(self, name: str) -> str:
        return self._str(self.values[name])

    def cell(self, name: str) -> list[str]:
        v = self.values[name]
        if v.dtype != object:
            raise ValueError(f"{name} is not a cell array")
        return [self._str(x) for x in v.ravel()]

    def numbers(self, name: str) -> np.ndarray:
        return np.asarray(self.values[name]).ravel()

    def rows(self, name: str) -> np.ndarray:
        return np.asarray(self.values[name])


def _classes(f: _V73 | _V7, path: Path) -> list[MaskClass] | None:
    if "class_names" not in f or "class_values" not in f:
        return None
    names, values = f.cell("class_names"), f.numbers("class_values").astype(int)
    colours = (f.rows("class_colors").reshape(-1, 3) if "class_colors" in f
               else np.zeros((len(names), 3), int))
    if not len(names) == len(values) == len(colours):
        raise UserError("class_names, class_values and class_colors differ in length", path)
    return [MaskClass(int(v), n, tuple(int(x) for x in c))
            for v, n, c in zip(values, names, colours, strict=True)]


def _contents(f: _V73 | _V7, path: Path) -> MatContents:
    arrays = f.matrices()
    contents = MatContents(arrays, classes=_classes(f, path))
    if "variable_names" in f and "image_names" in f:
        variables, images = f.cell("variable_names"), f.cell("image_names")
        contents.image_names = dict(zip(variables, images, strict=True))
        if "pixel_sizes_um" in f:
            sizes = f.numbers("pixel_sizes_um")
            contents.pixel_size_um = dict(zip(variables, sizes.tolist(), strict=True))
    elif "source" in f:
        contents.image_names = {name: f.text("source") for name in arrays}
    if "pixel_size_um" in f:
        size = float(f.numbers("pixel_size_um")[0])
        contents.pixel_size_um = dict.fromkeys(arrays, size)
    return contents


def read_mat(path: str | Path) -> MatContents:
    """The masks in a .mat file, v7.3 or older (the app's, or any holding 2-D integer
    matrices), with their class table and image names when the file carries them."""
    path = Path(path)
    try:
        if h5py.is_hdf5(path):
            with h5py.File(path, "r") as f:
                contents = _contents(_V73(f), path)
        else:
            contents = _contents(_V7(path), path)
    except UserError:
        raise
    except (KeyError, ValueError, TypeError, IndexError, OSError, UnicodeDecodeError,
            NotImplementedError, zlib.error, scipy.io.matlab.MatReadError) as exc:
        raise UserError(f"is not a .mat file MATLAB wrote, or is damaged ({exc})", path) from None
    contents.pixel_size_um = {k: v for k, v in contents.pixel_size_um.items() if np.isfinite(v)}
    return contents
