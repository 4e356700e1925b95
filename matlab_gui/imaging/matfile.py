"""MATLAB v7.3 .mat files, for users who continue in MATLAB.

A v7.3 MAT-file is HDF5 behind a 512-byte user block that starts with MATLAB's 128-byte text
header, so h5py writes it. MATLAB is column-major: an (H, W) array is stored transposed so that
`load` gives an H x W matrix, and (C, H, W) planes become an H x W x C matrix.
"""

from __future__ import annotations

import platform
import re
import time
from pathlib import Path

import h5py
import numpy as np

from matlab_gui.errors import ImageWriteError
from matlab_gui.imaging.write import atomic_write_bytes

_MATLAB_CLASS = {
    "uint8": "uint8", "uint16": "uint16", "int16": "int16", "uint32": "uint32", "int32": "int32",
    "float32": "single", "float64": "double", "bool": "logical",
}


def matlab_name(name: str) -> str:
    """A valid MATLAB variable name made from a file name ('1st image.tif' -> 'm_1st_image')."""
    ident = re.sub(r"\W", "_", Path(name).stem)
    return (ident if ident[:1].isalpha() else f"m_{ident}")[:63]


def _header() -> bytes:
    created = time.strftime("%a %b %d %H:%M:%S %Y")
    text = (
        f"MATLAB 7.3 MAT-file, Platform: {platform.system()}-{platform.machine()}, "
        f"Created on: {created} HDF5 schema 1.00 ."
    ).encode("ascii", "replace")
    return text[:116].ljust(116) + b"\x00" * 8 + b"\x00\x02" + b"IM"


def write_mat(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Save named (H, W) or (C, H, W) arrays as one v7.3 .mat file, atomically.

    Names are turned into MATLAB variable names; float16 is stored as single (MATLAB has no half).
    """
    path = Path(path)
    for name, a in arrays.items():
        if a.ndim not in (2, 3) or np.dtype(np.float32 if a.dtype == np.float16 else a.dtype).name not in _MATLAB_CLASS:
            raise ImageWriteError(f"cannot store {name!r} ({a.dtype}, shape {a.shape}) in a .mat file", path)

    def write(tmp: Path) -> None:
        with h5py.File(tmp, "w", userblock_size=512) as f:
            for name, a in arrays.items():
                dtype = np.dtype(np.float32 if a.dtype == np.float16 else a.dtype)
                shape = a.shape[::-1] if a.ndim == 2 else (a.shape[0], a.shape[2], a.shape[1])
                ds = f.create_dataset(matlab_name(name), shape=shape, dtype=dtype, compression="gzip", chunks=True)
                ds.attrs["MATLAB_class"] = np.bytes_(_MATLAB_CLASS[dtype.name])
                for c, plane in [(None, a)] if a.ndim == 2 else enumerate(a):
                    ds[() if c is None else c] = plane.T.astype(dtype, copy=False)
        with open(tmp, "r+b") as fh:
            fh.write(_header())

    atomic_write_bytes(path, write)
