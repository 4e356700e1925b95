"""File > Import masks / Export masks: asks where and which format, then lets imaging/
write the files. What an import would do is planned by annotate.mask_import and shown in
gui.mask_import_dialog before any mask changes."""

from __future__ import annotations

from PySide6 import QtWidgets

from matlab_gui.errors import UserError
from matlab_gui.gui import dialogs
from matlab_gui.imaging.matfile import write_mat
from matlab_gui.project.names import unique_output_stems

FORMATS = ["Class-index PNG", "Class-index TIFF", "MATLAB .mat (v7.3)", "Colour overlay PNG"]


def import_masks(w) -> None:
    """Masks from a folder: planned (which file onto which image, what each value means),
    previewed, and applied only on Import, one undo step per image."""
    from matlab_gui.annotate.mask_import import apply_plan, plan_import
    from matlab_gui.gui.mask_import_dialog import MaskImportDialog

    s = w.session
    folder = s and dialogs.folder(w, "Import masks from folder")
    if not folder:
        return
    s.flush()
    s.wait()
    records = [s.project.record(i) for i in s.project.image_ids]
    try:
        plan = plan_import(folder, {r.id: r.name for r in records}, s.project.classes,
                           {r.id: tuple(r.shape[:2]) for r in records})
    except UserError as exc:
        dialogs.error(w, "Import masks", str(exc))
        return
    if not plan.matches and not plan.skipped:
        dialogs.warning(w, "Import masks", "\n".join(
            [f"{folder}: no masks here (class-index PNG, TIFF, BMP or .mat files, also in "
             "PixelLabelData folders).", *plan.notes]))
        return
    dialog = MaskImportDialog(plan, {r.id for r in records if r.has_mask}, w)
    if dialog.exec() != QtWidgets.QDialog.Accepted:
        return
    mapping = dialog.mapping()
    if mapping.new_classes:
        w.apply_classes([*s.project.classes, *mapping.new_classes])
    outcome = apply_plan(plan, mapping, w.workbench.import_mask)
    w._refresh_list()
    w._update_title()
    message = f"Imported {len(outcome.changed)} masks for {len(records)} images"
    if outcome.unchanged:
        message += f" ({len(outcome.unchanged)} were the same already)"
    if outcome.failures:
        dialogs.warning(w, "Import masks", message + ".\n\n" + "\n".join(outcome.failures))
    else:
        w.statusBar().showMessage(message + ".", 5000)


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
