"""Matching mask files to project images on import.

Image Labeler (MATLAB) exports pixel labels as `PixelLabelData/Label_<n>.png`, one per image
in the order of its data source, holding class indices; other folders match by file stem."""

from __future__ import annotations

import re
from pathlib import Path

_LABELER = re.compile(r"^label_(\d+)$", re.IGNORECASE)


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
