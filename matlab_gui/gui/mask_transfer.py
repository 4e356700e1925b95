"""File > Import masks / Export masks: asks where and which format, then lets
jobs.export_masks write the files. What an import would do is planned by annotate.mask_import and shown in
gui.mask_import_dialog before any mask changes."""

from __future__ import annotations

from PySide6 import QtWidgets

from matlab_gui.errors import UserError
from matlab_gui.gui import dialogs

# The export dialog's choices -> jobs.export_masks formats.
FORMATS = {"Class-index PNG": "png", "Class-index TIFF": "tiff", "MATLAB .mat (v7.3)": "mat",
           "Colour overlay PNG": "overlay"}


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
    """Every labelled image's mask in the format chosen, with classes.csv beside them."""
    from matlab_gui.jobs.export_masks import export_masks as export

    s = w.session
    fmt = s and dialogs.choice(w, "Export masks", "Format:", list(FORMATS))
    folder = fmt and dialogs.folder(w, "Export masks to folder")
    if not folder:
        return
    s.flush()
    s.wait()
    try:
        result = export(s.project, folder, FORMATS[fmt])
    except (UserError, OSError) as exc:
        dialogs.error(w, "Export masks", str(exc))
        return
    w.statusBar().showMessage(f"Exported {result.masks} masks to {folder} (value k = class k, "
                              "0 = unlabelled; classes.csv names them)", 8000)
