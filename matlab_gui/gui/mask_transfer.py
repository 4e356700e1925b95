"""File > Import masks / Export masks: asks where and which format, then lets imaging/
write the files. Matching and the .mat format live in annotate.transfer."""

from __future__ import annotations

import numpy as np

from matlab_gui.annotate.transfer import match_masks
from matlab_gui.errors import UserError
from matlab_gui.gui import dialogs
from matlab_gui.imaging.matfile import write_mat
from matlab_gui.project.names import unique_output_stems

FORMATS = ["Class-index PNG", "Class-index TIFF", "MATLAB .mat (v7.3)", "Colour overlay PNG"]


def import_masks(w) -> None:
    """Masks from a folder, matched to the project's images by name (or Image Labeler order)."""
    from matlab_gui.imaging import IMAGE_SUFFIXES, read_mask

    s = w.session
    folder = s and dialogs.folder(w, "Import masks from folder")
    if not folder:
        return
    labeler = folder / "PixelLabelData"
    folder = labeler if labeler.is_dir() else folder
    s.flush()
    s.wait()
    ids = s.project.image_ids
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
    matches = match_masks(files, [s.project.record(i).name for i in ids])
    failures = []
    for pos, path in matches.items():
        try:
            w.workbench.import_mask(ids[pos], np.asarray(read_mask(path)))
        except (UserError, ValueError) as exc:
            failures.append(f"{path.name}: {exc}")
    w._refresh_list()
    w._update_title()
    message = f"Imported {len(matches) - len(failures)} masks for {len(ids)} images."
    if failures:
        dialogs.warning(w, "Import masks", message + "\n\n" + "\n".join(failures))
    else:
        w.statusBar().showMessage(message, 5000)


def export_masks(w) -> None:
    from matlab_gui.imaging import write_image, write_mask
    from matlab_gui.imaging.overlays import blend, class_colours

    s = w.session
    fmt = s and dialogs.choice(w, "Export masks", "Format:", FORMATS)
    folder = fmt and dialogs.folder(w, "Export masks to folder")
    if not folder:
        return
    s.flush()
    s.wait()
    ids = [i for i in s.project.image_ids if s.project.record(i).has_mask]
    stems = unique_output_stems({i: s.project.record(i).name for i in ids})
    by_index = {c.index: c.color for c in s.project.classes}
    colours = [by_index.get(v, (0, 0, 0)) for v in range(max(by_index, default=0) + 1)]
    try:
        if fmt == FORMATS[2]:
            write_mat(folder / "masks.mat", {stems[i]: s.project.get_mask(i) for i in ids})
        for image_id in ids if fmt != FORMATS[2] else []:
            stem = stems[image_id]
            mask = s.project.get_mask(image_id)
            if fmt == FORMATS[3]:
                overlay = blend(s.project.read_image(image_id), class_colours(mask, colours),
                                where=mask > 0)
                write_image(folder / f"{stem}_overlay.png", overlay)
            else:
                write_mask(folder / f"{stem}.{'png' if fmt == FORMATS[0] else 'tif'}", mask)
    except (UserError, OSError) as exc:
        dialogs.error(w, "Export masks", str(exc))
        return
    w.statusBar().showMessage(f"Exported {len(ids)} masks to {folder}", 5000)
