"""Menus, toolbar, keyboard shortcuts and recent files: one table of actions, wired to the
window's methods."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from matlab_gui import __version__
from matlab_gui.gui import dialogs, image_limit, mask_transfer
from matlab_gui.gui.icons import icon
from matlab_gui.workbench.state import TOOLS

Qt = QtCore.Qt
RECENT_KEY = "recent"
MAX_RECENT = 8
TOOL_SPECS = {
    "brush": ("Brush", "B", "Paint the current class (drag); [ and ] change the size"),
    "eraser": ("Eraser", "E", "Erase to unlabelled (drag)"),
    "fill": ("Fill", "F", "Flood-fill a grain or particle: connected pixels within the tolerance"),
    "smart": (
        "Smart click",
        "W",
        "Click a particle, grain or phase (or drag a box around it): its region is previewed; "
        "Enter accepts, Esc discards",
    ),
    "polygon": (
        "Polygon / lasso",
        "P",
        "Click vertices (double-click or Enter closes) or drag a lasso",
    ),
    "superpixel": (
        "Superpixel",
        "S",
        "Click a superpixel to label all of it (computed in the background)",
    ),
    "picker": ("Pick class", "I", "Click a painted pixel to make its class current"),
}


def _action(
    w, text, slot=None, shortcut=None, tip=None, icon_name=None, checkable=False, enabled=True
):
    a = QtGui.QAction(text, w)
    if icon_name:
        a.setIcon(icon(icon_name))
    if shortcut:
        a.setShortcut(QtGui.QKeySequence(shortcut))
        a.setShortcutContext(Qt.WindowShortcut)
    tip = tip or text.replace("…", "").replace("&", "")
    a.setToolTip(f"{tip} ({a.shortcut().toString()})" if shortcut else tip)
    a.setStatusTip(tip)
    a.setCheckable(checkable)
    a.setEnabled(enabled)
    if slot is not None:
        a.triggered.connect(lambda *_: slot())
    w.addAction(a)
    return a


def build(w) -> dict[str, QtGui.QAction]:
    """Create every action, the menu bar and the toolbar of main window `w`."""
    A: dict[str, QtGui.QAction] = {}  # noqa: N806
    mb = w.menuBar()

    def open_project():
        path = dialogs.open_project_path(w)
        if path:
            w.open_project(path)

    def open_folder():
        folder = dialogs.folder(w, "Open folder of images")
        if folder:
            w.open_paths([folder])

    f = mb.addMenu("&File")
    A["new"] = _action(w, "&New project…", w.new_project, "Ctrl+N")
    A["open"] = _action(w, "&Open project…", open_project, "Ctrl+O", icon_name="open")
    A["open_images"] = _action(
        w,
        "Open &images…",
        lambda: w.open_paths(dialogs.image_paths(w)),
        "Ctrl+Shift+O",
        "Add micrographs to the project",
    )
    A["open_folder"] = _action(w, "Open &folder…", open_folder)
    A["add_referenced"] = _action(
        w,
        "Add images by &reference…",
        lambda: w.add_images(dialogs.image_paths(w), embed=False),
        tip="Keep the files where they are: the project stores their path and checksum",
    )
    A["save"] = _action(w, "&Save", w.save, "Ctrl+S", icon_name="save")
    A["save_as"] = _action(w, "Save &as…", w.save_as, "Ctrl+Shift+S")
    A["import"] = _action(
        w,
        "&Import masks…",
        partial(mask_transfer.import_masks, w),
        tip="Class-index PNG/TIFF masks matched by file name, or an Image Labeler PixelLabelData folder",
    )
    A["export"] = _action(
        w,
        "&Export masks…",
        partial(mask_transfer.export_masks, w),
        tip="Class-index PNG/TIFF, MATLAB .mat (v7.3) or colour overlays",
    )
    A["quit"] = _action(w, "&Quit", w.close, "Ctrl+Q")
    for key in ("new", "open", "open_images", "open_folder", "add_referenced"):
        f.addAction(A[key])
    w.recent_menu = f.addMenu("Open &recent")
    f.addSeparator()
    for key in ("save", "save_as"):
        f.addAction(A[key])
    f.addSeparator()
    f.addAction(A["import"])
    f.addAction(A["export"])
    f.addSeparator()
    f.addAction(A["quit"])
    _fill_recent(w)

    e = mb.addMenu("&Edit")
    A["undo"] = _action(w, "&Undo", w.router.undo, "Ctrl+Z", icon_name="undo")
    A["redo"] = _action(w, "&Redo", w.router.redo, "Ctrl+Shift+Z", icon_name="redo")
    e.addAction(A["undo"])
    e.addAction(A["redo"])

    v = w.view_menu = mb.addMenu("&View")
    A["fit"] = _action(w, "&Fit to window", w.canvas.fit, "Ctrl+0", icon_name="fit")
    A["actual"] = _action(
        w, "&Actual size (100 %)", w.canvas.actual_size, "Ctrl+1", icon_name="actual"
    )
    def toggle(key):
        return lambda: w.workbench.set_view(**{key: not w.workbench.view[key]})

    A["show_mask"] = _action(w, "Show &mask", toggle("show_mask"), "M", icon_name="mask")
    A["outline"] = _action(w, "&Outline only", toggle("outline"), "O", icon_name="outline")
    A["auto"] = _action(w, "Auto &contrast", w.auto_contrast, "Ctrl+Shift+A")
    A["next"] = _action(w, "&Next image", lambda: w.images.step(1), "PgDown")
    A["previous"] = _action(w, "&Previous image", lambda: w.images.step(-1), "PgUp")
    for key in ("fit", "actual", "show_mask", "outline", "auto", "next", "previous"):
        v.addAction(A[key])
    v.addSeparator()
    for dock in w._docks.values():
        v.addAction(dock.toggleViewAction())

    i = mb.addMenu("I&mage")
    A["pixel_size"] = _action(
        w, "Set &pixel size…", w.set_pixel_size, tip="Physical size of one pixel, for the scale bar"
    )
    A["set_scale"] = _action(
        w, "Set &scale…", w.scale.draw_line,
        tip="Drag a line along the scale bar and type its length: the pixel size for this "
            "image, the selected ones or all of the same size",
    )
    A["find_scale_bar"] = _action(
        w, "&Find scale bar…", w.scale.find_bar,
        tip="Look for the scale bar burned into the image and propose its pixel size",
    )
    A["remove_images"] = _action(
        w, "&Remove selected images…", w.remove_selected_images,
        tip="Take the selected images out of the project (the files stay)",
    )
    A["relink"] = _action(
        w, "Re&link missing images…", w.relink_images,
        tip="Find referenced images that were moved: same file name and content, in a folder",
    )
    A["image_limit"] = _action(
        w, "Largest image to &open…", partial(image_limit.ask, w),
        tip="Images whose header claims more pixels are refused before decoding",
    )
    i.addAction(A["pixel_size"])
    i.addAction(A["set_scale"])
    i.addAction(A["find_scale_bar"])
    i.addSeparator()
    i.addAction(A["remove_images"])
    i.addAction(A["relink"])
    i.addSeparator()
    i.addAction(A["image_limit"])

    a = mb.addMenu("&Annotate")
    group = QtGui.QActionGroup(w)
    for tool in TOOLS:
        text, key, tip = TOOL_SPECS[tool]
        A[f"tool_{tool}"] = act = _action(
            w, text, partial(w.set_tool, tool), key, tip, tool, checkable=True
        )
        group.addAction(act)
        a.addAction(act)
    a.addSeparator()
    A["smaller"] = _action(w, "Smaller brush", partial(w.change_brush, 1 / 1.25), "[")
    A["bigger"] = _action(w, "Bigger brush", partial(w.change_brush, 1.25), "]")
    A["close_path"] = _action(w, "Close polygon / accept smart region", w.router.close_path,
                              "Return")
    A["cancel_path"] = _action(w, "Cancel polygon / smart region", w.router.cancel_path, "Escape")
    A["label"] = _action(
        w,
        "&Label selected images with current class",
        lambda: w.label_selected(w.router.value),
        "L",
    )
    A["unlabel"] = _action(
        w, "&Clear image label of selected images", lambda: w.label_selected(None), "Shift+L"
    )
    for key in ("smaller", "bigger", "close_path", "cancel_path", "label", "unlabel"):
        a.addAction(A[key])
    for n in range(1, 10):
        A[f"class_{n}"] = _action(w, f"Class {n}", partial(w.palette.select, n), str(n))

    w.model_menu = mb.addMenu("Mo&del")  # filled by model_features
    w.batch_menu = mb.addMenu("&Batch")
    h = mb.addMenu("&Help")
    h.addAction(_action(w, "&Keyboard shortcuts", lambda: dialogs.shortcuts(w, shortcut_table(w)),
                        "F1"))
    h.addAction(_action(w, "&About", partial(dialogs.about, w, __version__)))

    tb = w.addToolBar("Main")
    tb.setObjectName("mainToolbar")
    tb.setIconSize(QtCore.QSize(22, 22))
    for key in (
        "open",
        "save",
        None,
        "undo",
        "redo",
        None,
        *[f"tool_{t}" for t in TOOLS],
        None,
        "fit",
        "actual",
        "show_mask",
        "outline",
    ):
        tb.addSeparator() if key is None else tb.addAction(A[key])
    return A


def shortcut_table(w) -> list[tuple[str, str]]:
    """(keys, what they do) for every action of the window that has a shortcut."""
    rows = []
    for action in QtWidgets.QWidget.actions(w):  # the window's `actions` is the dict of build()
        keys = action.shortcut().toString(QtGui.QKeySequence.NativeText)
        if keys:
            rows.append((keys, action.text().replace("&", "").replace("…", "")))
    return sorted(set(rows), key=lambda r: (len(r[0]) > 1, r[0]))


def recent_paths() -> list[str]:
    """The recent files, newest first. QSettings hands back a one-item list as a plain string
    on some platforms; iterating that would list its characters."""
    value = QtCore.QSettings().value(RECENT_KEY, [])
    if isinstance(value, str):
        value = [value]
    return [str(p) for p in value or [] if p]


def _fill_recent(w) -> None:
    w.recent_menu.clear()
    for path in recent_paths():
        w.recent_menu.addAction(path, partial(w.open_paths, [Path(path)]))
    w.recent_menu.setEnabled(not w.recent_menu.isEmpty())


def remember_recent(w, path: Path) -> None:
    items = [str(Path(path).resolve())]
    items += [p for p in recent_paths() if p != items[0]]
    QtCore.QSettings().setValue(RECENT_KEY, items[:MAX_RECENT])
    _fill_recent(w)
