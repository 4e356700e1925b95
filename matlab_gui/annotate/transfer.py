"""Matching mask files to project images on import, and MATLAB v7.3 .mat export.

Image Labeler (MATLAB) exports pixel labels as `PixelLabelData/Label_<n>.png`, one per image
in the order of its data source, holding class indices; other folders match by file stem."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np

_LABELER = re.compile(r"^label_(\d+)$", re.IGNORECASE)
_MAT_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by: matlab_gui. HDF5 schema 1.00 ."


def match_masks(mask_files: list[Path], image_names: list[str]) -> dict[int, Path]:
    """Map image position -> mask file: same stem, or Image Labeler's Label_<n> = n-th image."""
    stems = {Path(n).stem.lower(): i for i, n in enumerate(image_names)}
    out: dict[int, Path] = {}
    for f in sorted(mask_files):
        stem = f.stem.lower()
        if stem in stems:
            out[stems[stem]] = f
        elif (m := _LABELER.match(stem)) and 1 <= int(m.group(1)) <= len(image_names):
            out.setdefault(int(m.group(1)) - 1, f)
    return out


def matlab_name(name: str) -> str:
    """A valid MATLAB variable name made from a file name."""
    ident = re.sub(r"\W", "_", Path(name).stem)
    return ident if ident[:1].isalpha() else f"m_{ident}"


def write_mat(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """A MATLAB v7.3 .mat (HDF5 with MATLAB's 512-byte header) that `load` reads as uint8/uint16
    matrices of the same height x width (MATLAB is column-major, so arrays are transposed)."""
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, a in arrays.items():
            ds = f.create_dataset(
                matlab_name(name), data=np.ascontiguousarray(a.T), compression="gzip"
            )
            ds.attrs["MATLAB_class"] = np.bytes_(str(a.dtype))
    header = _MAT_HEADER.ljust(116) + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as fh:
        fh.write(header.ljust(128, b"\x00"))
