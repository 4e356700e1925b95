"""Export a project's masks for other tools: class-index PNG / TIFF, one MATLAB file, overlays.

Every format keeps the meaning: the masks use the project's numbering (0 unlabelled, class k
= value k), `classes.csv` beside them names every value, each file carries its image's pixel
size, and the .mat holds the class table, pixel sizes and which variable is which image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matlab_gui.errors import UserError
from matlab_gui.imaging import write_image, write_mask
from matlab_gui.imaging.class_table import UNLABELLED_ROW, MaskClass, write_class_table
from matlab_gui.imaging.matfile import class_fields, unique_matlab_names, write_mat
from matlab_gui.imaging.overlays import blend, class_colours
from matlab_gui.imaging.write import check_output
from matlab_gui.progress import CancelToken, Progress, ProgressCallback, report
from matlab_gui.project.names import unique_output_stems

FORMATS = ("png", "tiff", "mat", "overlay")
MAT_FILE = "masks.mat"


@dataclass
class ExportResult:
    folder: Path
    files: list[Path] = field(default_factory=list)
    masks: int = 0


def class_table(project) -> list[MaskClass]:
    """The project's classes as mask values, with 0 named unlabelled."""
    return [UNLABELLED_ROW, *(MaskClass(c.index, c.name, c.color)
                              for c in sorted(project.classes, key=lambda c: c.index))]


def export_masks(project, folder: Path, fmt: str, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> ExportResult:
    """Write every labelled image's mask into `folder` in `fmt` (one of FORMATS)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown mask format {fmt!r} (use {', '.join(FORMATS)})")
    folder = Path(folder)
    check_output(folder, folder=True)
    cancel = cancel or CancelToken()
    ids = [i for i in project.image_ids if project.record(i).has_mask]
    records = {i: project.record(i) for i in ids}
    table = class_table(project)
    result = ExportResult(folder, masks=len(ids))
    if fmt == "mat":
        variables = dict(zip(ids, unique_matlab_names([records[i].name for i in ids]), strict=True))
        arrays = {}
        for n, i in enumerate(ids):
            cancel.raise_if_cancelled()
            report(progress, Progress("export", n, len(ids), message=records[i].name))
            arrays[variables[i]] = project.get_mask(i)
        sizes = [records[i].pixel_size_m * 1e6 if records[i].pixel_size_m else np.nan for i in ids]
        fields = {**class_fields(table), "image_names": [records[i].name for i in ids],
                  "variable_names": [variables[i] for i in ids],
                  "pixel_sizes_um": np.array(sizes, np.float64)}
        result.files.append(folder / MAT_FILE)
        write_mat(result.files[-1], arrays, fields)
    else:
        stems = unique_output_stems({i: records[i].name for i in ids})
        colours = [(0, 0, 0)] * (max((c.value for c in table), default=0) + 1)
        for c in table[1:]:
            colours[c.value] = c.color
        for n, i in enumerate(ids):
            cancel.raise_if_cancelled()
            report(progress, Progress("export", n, len(ids), message=records[i].name))
            mask, size = project.get_mask(i), records[i].pixel_size_m
            if fmt == "overlay":
                result.files.append(folder / f"{stems[i]}_overlay.png")
                picture = blend(project.read_image(i), class_colours(mask, colours), where=mask > 0)
                write_image(result.files[-1], picture, size)
            else:
                result.files.append(folder / f"{stems[i]}.{'png' if fmt == 'png' else 'tif'}")
                write_mask(result.files[-1], mask, size, table)
    result.files.append(write_class_table(folder, table))
    report(progress, Progress("export", len(ids), len(ids)))
    return result
