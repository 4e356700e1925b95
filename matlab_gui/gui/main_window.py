"""The main window: assembles canvas, panels, menus and toolbar, routes input to the Workbench
(the open project, image, classes, tool) and the background workers, and renders the
Workbench's events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from matlab_gui import __version__
from matlab_gui.annotate.render import palette
from matlab_gui.errors import ProjectConflictError, ProjectLockedError, UserError
from matlab_gui.gui import dialogs, menus, repair_dialog
from matlab_gui.gui.canvas import Canvas
from matlab_gui.gui.class_palette import ClassPalette
from matlab_gui.gui.image_list import ImageList
from matlab_gui.gui.levels_panel import LevelsPanel
from matlab_gui.gui.model_features import attach as attach_model_features
from matlab_gui.gui.set_scale import SetScale
from matlab_gui.gui.status import StatusReadout
from matlab_gui.gui.tool_options import ToolOptions
from matlab_gui.gui.tools import ToolRouter
from matlab_gui.gui.workbench_signals import WorkbenchSignals
from matlab_gui.gui.workers import Workers
from matlab_gui.project import PROJECT_SUFFIX
from matlab_gui.workbench import DEFAULT_CLASSES, Session, Workbench
from matlab_gui.workbench.state import VIEW_DEFAULTS

Qt = QtCore.Qt
AUTOSAVE_MS = 3 * 60 * 1000
GEOMETRY_KEY, LAYOUT_KEY, LAYOUT_VERSION = "window/geometry", "window/layout", 1


class MainWindow(QtWidgets.QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.workbench = Workbench()
        self.signals = WorkbenchSignals(self.workbench, self)
        self._sp_edges = None  # superpixel edges of the current image, shown with that tool
        self._deferred_image: str | None = None  # asked for while a save was running
        self.canvas = Canvas()
        self.setCentralWidget(self.canvas)
        self.router = ToolRouter(self.canvas, self.workbench)
        self.images = ImageList()
        self.palette = ClassPalette()
        self.levels = LevelsPanel()
        self.options = ToolOptions()
        self.workers = Workers(self)
        self.scale = SetScale(self)
        self._docks = {}
        for title, widget, area in [
            ("Images", self.images, Qt.LeftDockWidgetArea),
            ("Classes", self.palette, Qt.RightDockWidgetArea),
            ("Tool options", self.options, Qt.RightDockWidgetArea),
            ("Levels", self.levels, Qt.RightDockWidgetArea),
        ]:
            dock = QtWidgets.QDockWidget(title, self)
            dock.setObjectName(title)
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self._docks[title] = dock
        self.readout = StatusReadout(self.statusBar())
        self.actions = menus.build(self)
        self.setAcceptDrops(True)
        self._connect()
        self._autosave = QtCore.QTimer(self, interval=AUTOSAVE_MS, timeout=self._autosave_now)
        self._autosave.start()
        self.resize(1280, 820)
        self.resizeDocks([self._docks["Images"], self._docks["Classes"]], [230, 290], Qt.Horizontal)
        self.resizeDocks(
            [self._docks["Classes"], self._docks["Tool options"], self._docks["Levels"]],
            [220, 200, 220],
            Qt.Vertical,
        )
        self._update_title()
        self.options.display(self.workbench.view)  # the panel starts from the model's values
        self.set_tool("brush")
        self.model_features = attach_model_features(self)
        self._restore_layout()

    def _restore_layout(self) -> None:
        """The docks and toolbar as the user left them (the last window closed saved them)."""
        settings = QtCore.QSettings()
        geometry, state = settings.value(GEOMETRY_KEY), settings.value(LAYOUT_KEY)
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state, LAYOUT_VERSION)

    def _save_layout(self) -> None:
        settings = QtCore.QSettings()
        settings.setValue(GEOMETRY_KEY, self.saveGeometry())
        settings.setValue(LAYOUT_KEY, self.saveState(LAYOUT_VERSION))

    @property
    def session(self) -> Session | None:
        """The open project's session (None when nothing is open)."""
        return self.workbench.session

    def _connect(self) -> None:
        c, r, s = self.canvas, self.router, self.signals
        c.hovered.connect(self._hover)
        c.view_changed.connect(lambda: self.readout.set_zoom(c.zoom()))
        r.message.connect(lambda m: self.statusBar().showMessage(m, 3000))
        r.hint.connect(lambda m: self.statusBar().showMessage(m) if m else self.statusBar().clearMessage())
        r.region_requested.connect(self._smart_requested)
        s.project.connect(self._project_changed)
        s.mask.connect(self.canvas.overlay.refresh)
        s.classes.connect(self._classes_changed)
        s.tool.connect(self._tool_changed)
        s.current_class.connect(self._class_selected)
        s.saved.connect(self._autosaved)
        s.changed.connect(lambda _: self._changed())
        self.images.image_activated.connect(self.show_image)
        self.palette.current_changed.connect(
            lambda index: setattr(self.workbench, "current_class", index))
        self.palette.add_requested.connect(self.add_class)
        self.palette.rename_requested.connect(self.rename_class)
        self.palette.recolour_requested.connect(self.recolour_class)
        self.palette.move_requested.connect(self.move_class)
        self.palette.delete_requested.connect(self.delete_class)
        self.palette.label_requested.connect(self.label_selected)
        self.levels.levels_changed.connect(self._levels_changed)
        self.levels.auto_requested.connect(self.auto_contrast)
        self.levels.contrast_changed.connect(self._contrast_changed)
        o, wb = self.options, self.workbench
        o.brush_changed.connect(lambda v: wb.set_view(brush=v))
        o.tolerance_changed.connect(lambda v: wb.set_view(tolerance=v))
        o.opacity_changed.connect(lambda v: wb.set_view(opacity=v))
        o.show_mask_changed.connect(lambda v: wb.set_view(show_mask=v))
        o.outline_changed.connect(lambda v: wb.set_view(outline=v))
        o.superpixels_changed.connect(lambda v: wb.set_view(segments=v))
        s.view.connect(self._view_changed)
        s.pixel_size.connect(self._pixel_size_changed)
        self.workers.thumbnail_ready.connect(self.images.set_thumbnail)
        self.workers.superpixels_ready.connect(self._superpixels_ready)
        self.workers.contrast_ready.connect(self._contrast_ready)
        self.workers.smart_ready.connect(self._smart_ready)

    # -- opening -----------------------------------------------------------------------
    def open_paths(self, paths: list[Path]) -> None:
        """Open a project (.mgp) or images and folders of images (command line, drag and drop)."""
        paths = [Path(p) for p in paths]
        projects = [p for p in paths if p.suffix.lower() == PROJECT_SUFFIX]
        if projects:
            self.open_project(projects[0])
        images = []
        for p in paths:
            if p.is_dir():
                from matlab_gui.imaging import list_images

                images += list_images(p, recursive=False)
            elif p.suffix.lower() != PROJECT_SUFFIX:
                images.append(p)
        if images:
            self.add_images(images)

    def open_sample(self) -> None:
        """The bundled sample micrograph, with the preselected model's classes, so the first
        Predict and Accept a new user tries fit the project."""
        from matlab_gui.resources import default_sample

        self.open_paths([default_sample()])
        if self.session is not None and self.session.untitled:
            self.model_features.prediction.use_model_classes()
            self.session.mark_provided()  # quitting without touching it asks nothing

    def offer_recovery(self) -> bool:
        """At start: offer the work of an untitled project a crashed window left behind.
        True when one was recovered (then it is the open project)."""
        from datetime import datetime

        from matlab_gui.workbench.session import leftover_untitled

        for path in leftover_untitled():
            try:
                session = Session.recover(path)
            except UserError:  # another window has it, or it is unreadable: leave it alone
                continue
            count = len(session.project.image_ids)
            when = datetime.fromtimestamp(path.stat().st_mtime)
            if count and dialogs.ask_yes(
                self, "Recover unsaved work",
                f"matlab_gui closed without saving an untitled project ({count} image"
                f"{'s' if count > 1 else ''}, last autosaved {when:%Y-%m-%d %H:%M}).\n\n"
                "Recover it? No discards it.",
            ):
                self._replace_session(session)
                return True
            session.close()  # untitled: its temporary folder goes with it
        return False

    def open_project(self, path: Path) -> None:
        """Open `path` in place of the current project; the current one stays open when the
        user cancels or the new one cannot be opened."""
        if self.session is not None and Path(path).resolve() == self.session.project.path.resolve():
            return
        if not self.confirm_close():
            return
        try:
            try:
                session = Session.open(path)
            except ProjectLockedError as exc:
                if not dialogs.ask_yes(self, "Project in use", f"{exc}\n\nOpen it read-only?"):
                    return
                session = Session.open(path, readonly=True)
        except UserError as exc:
            session = repair_dialog.open_damaged(self, path, exc)
        else:
            session = repair_dialog.check_opened(self, session)
        if session is None:
            return
        self._replace_session(session)
        if session.project.notices:
            dialogs.warning(self, "Opened with a note", "\n\n".join(session.project.notices))
        menus.remember_recent(self, session.project.path)

    def new_project(self, path: Path | None = None) -> None:
        """Ask about the current project's unsaved work first, then where the new one goes."""
        if not self.confirm_close():
            return
        path = path or dialogs.save_project_path(self)
        if path is None:
            return
        from matlab_gui.project import Project

        try:
            project = Project.create(path, DEFAULT_CLASSES, overwrite=True, exclusive=True)
        except UserError as exc:
            dialogs.error(self, "Cannot create the project", str(exc))
            return
        self._replace_session(Session(project))

    def add_images(self, paths: list[Path], embed: bool = True) -> None:
        """Add images to the project (copied in by default; `embed=False` references them);
        a file already in the project is not added again; unreadable ones are reported in one
        dialog and the others still open."""
        from matlab_gui.imaging import read_image

        if self.session is None:
            self._replace_session(Session.untitled_project())
        self.session.wait()
        project = self.session.project
        failures, added, duplicates = [], [], []
        progress = dialogs.progress(self, "Opening images…", len(paths)) if len(paths) > 3 else None
        for i, path in enumerate(paths):
            if progress is not None:
                progress.setValue(i)
                if progress.wasCanceled():
                    break
            try:
                twin = project.find_file(path)
                if twin is not None:
                    duplicates.append((Path(path).name, project.record(twin).name))
                    added.append(twin)
                    continue
                m = read_image(path)
                added.append(project.add_image(path, embed=embed, data=m.data,
                                               pixel_size_m=m.meta.pixel_size_m))
                self.workers.thumbnail(added[-1], m.data)
            except UserError as exc:
                failures.append(str(exc))
        if progress is not None:
            progress.close()
        self._refresh_list()
        if added:
            self.images.select_id(added[0])
            menus.remember_recent(self, paths[0])
        if duplicates:
            self.statusBar().showMessage(
                "Already in the project, not added again: "
                + ", ".join(f"{a}" + (f" (as {b})" if a != b else "") for a, b in duplicates), 10000)
        if failures:
            dialogs.warning(
                self,
                "Some images could not be opened",
                f"{len(failures)} of {len(paths)} files could not be opened:\n\n"
                + "\n".join(failures),
            )
        self._update_title()

    def remove_selected_images(self) -> None:
        """Take the selected images out of the project (their masks and predictions too)."""
        s = self.session
        ids = [] if s is None else self.images.selected_ids()
        if not ids or not dialogs.ask_yes(
            self, "Remove images",
            f"Remove {len(ids)} image{'s' if len(ids) > 1 else ''} from the project, with "
            "their masks, labels and predictions? The image files themselves stay.",
        ):
            return
        shown = s.image_id in ids
        self.workbench.remove_images(ids)
        self._refresh_list()
        remaining = s.project.image_ids
        if shown and remaining:
            self.images.select_id(remaining[0])
        elif shown:
            self._clear_view()
        self._update_title()

    def relink_images(self) -> None:
        """Image > Relink missing images: find moved referenced images in a folder."""
        s = self.session
        if s is None:
            return
        missing = s.project.missing_images()
        if not missing:
            dialogs.info(self, "Relink images", "Every referenced image is where the project says.")
            return
        folder = dialogs.folder(self, f"Folder holding the {len(missing)} missing images")
        if folder is None:
            return
        s.wait()
        found = s.project.relink(folder)
        self._refresh_list()
        left = len(missing) - len(found)
        dialogs.info(self, "Relink images", f"Found {len(found)} of {len(missing)} missing images"
                     + (f"; {left} still missing (same name and content needed)." if left else "."))
        self._update_title()

    def _replace_session(self, session: Session) -> None:
        """Close the current project (its work already saved or discarded) and open `session`."""
        self.workers.cancel()
        self.workbench.close()
        self.workbench.open(session)

    def _project_changed(self, session: Session | None) -> None:
        """Render a newly opened project, or the empty window when none is open."""
        self._clear_view()
        self.images.clear()
        if session is None:
            self._apply_lut()
            self._update_title()
            return
        settings = session.settings
        self.palette.set_classes(session.project.classes, settings.get("class"))
        self._apply_lut()
        self.workbench.set_view(**{k: settings.get(k, v) for k, v in VIEW_DEFAULTS.items()})
        self.levels.set_contrast(settings.get("contrast", "linear"))
        self.set_tool(settings.get("tool", "brush"))
        self._refresh_list()
        ids = session.project.image_ids
        self.workers.thumbnails(session.project, ids)
        current = settings.get("current")
        if ids:
            self.images.select_id(current if current in ids else ids[0])
        self._update_title()

    def _clear_view(self) -> None:
        """No image shown: canvas, levels, scale bar and superpixels empty."""
        self.canvas.overlay.set_mask(None)
        self.canvas.clear_image()
        self.canvas.guides.set_mask(None)
        self.canvas.scale_bar.set_pixel_size(None)
        self.levels.clear()
        self.router.superpixels = None
        self.router.discard_preview()

    def confirm_close(self) -> bool:
        """Ask about unsaved work (and save it when asked to). False if the user cancels.

        Only the view (zoom, panel settings) changed since the last save: saved without asking."""
        s = self.session
        if s is None:
            return True
        holds_work = s.holds_work()  # before the view state below marks the project changed
        self._store_view_state()
        if holds_work:
            answer = dialogs.ask_save(self, self._project_name())
            return answer == "discard" or answer == "save" and self.save()
        if s.dirty and not s.untitled and not s.project.readonly:
            return self.save()  # a read-only project's view state is simply not kept
        return True

    def close_session(self) -> bool:
        """Ask about unsaved work, then close the project. False if the user cancels."""
        if not self.confirm_close():
            return False
        self.workers.cancel()
        self.workbench.close()
        return True

    # -- the current image -------------------------------------------------------------
    def show_image(self, image_id: str) -> None:
        """Show an image. While an autosave writes the project, the switch waits for it without
        holding up the window (the image shown stays editable meanwhile)."""
        s = self.session
        if s is None or image_id == s.image_id:
            return
        if s.saving:
            self._deferred_image = image_id
            self.statusBar().showMessage("Saving… the image opens when the save is done")
            return
        self._deferred_image = None
        self._store_view_state()
        try:
            self.workbench.select(image_id)
        except UserError as exc:
            dialogs.error(self, "Cannot show the image", str(exc))
            return
        record = s.record
        lo, hi, gamma = s.settings.get("levels", {}).get(image_id) or (
            *self._auto_levels(s.image),
            1.0,
        )
        self.canvas.set_image(s.image, (lo, hi), gamma)
        self._show_contrast_view()
        self.levels.set_data(s.image)
        self.levels.set_levels(lo, hi, gamma)
        self.router.levels = (lo, hi)
        self.canvas.overlay.set_mask(s.editor.mask)
        self.canvas.scale_bar.set_pixel_size(record.pixel_size_m)
        view = s.settings.get("views", {}).get(image_id)
        self.canvas.set_view_rect(view) if view else self.canvas.fit()
        self.workers.thumbnail(image_id, s.image)
        self.router.superpixels = None
        self.router.discard_preview()  # it was of the image shown before
        self.canvas.guides.set_mask(None)
        if self.router.tool == "superpixel":
            self._start_superpixels()
        s.autosave()
        self._update_title()

    @staticmethod
    def _auto_levels(data: np.ndarray) -> tuple[float, float]:
        from matlab_gui.imaging.display import auto_levels

        if data.dtype == np.uint8 and data.ndim == 3:
            return 0.0, 255.0  # RGB is shown as is
        return tuple(float(v) for v in auto_levels(data, 0.5, 99.5))

    def auto_contrast(self) -> None:
        if self.session and self.session.image is not None:
            lo, hi = self._auto_levels(self.session.image)
            self.levels.set_levels(lo, hi, self.levels.levels()[2])
            self._levels_changed(lo, hi, self.levels.levels()[2])

    def _contrast_changed(self, mode: str) -> None:
        """Linear shows the data through levels and gamma; Equalised and CLAHE show a view
        computed in the background (the data, and what tools see, never change)."""
        s = self.session
        if s is None:
            return
        s.update_settings(contrast=mode)
        if s.image is not None and mode == "linear":
            lo, hi, gamma = self.levels.levels()
            self.canvas.set_image(s.image, (lo, hi), gamma)
        self._show_contrast_view()

    def _show_contrast_view(self) -> None:
        s, mode = self.session, self.levels.contrast.currentData()
        if s is not None and s.image is not None and mode != "linear":
            self.statusBar().showMessage(f"Computing the {mode} view…")
            self.workers.contrast(s.image_id, s.image, mode)

    def _contrast_ready(self, image_id: str, mode: str, view) -> None:
        s = self.session
        if s is not None and image_id == s.image_id and mode == self.levels.contrast.currentData():
            self.canvas.set_image(view, (0, 255), self.levels.levels()[2])
            self.statusBar().clearMessage()

    def _levels_changed(self, lo: float, hi: float, gamma: float) -> None:
        linear = self.levels.contrast.currentData() == "linear"
        self.canvas.set_levels((lo, hi) if linear else (0, 255), gamma)  # a view is uint8
        self.router.levels = (lo, hi)
        if self.session and self.session.image_id:
            levels = {
                **self.session.settings.get("levels", {}),
                self.session.image_id: [lo, hi, gamma],
            }
            self.session.update_settings(levels=levels)
            self._update_title()

    def _store_view_state(self) -> None:
        s = self.session
        if s is None or s.image_id is None:
            return
        views = dict(s.settings.get("views", {}))
        views[s.image_id] = [round(v, 2) for v in self.canvas.view_rect()]
        s.update_settings(
            current=s.image_id,
            views=views,
            **self.workbench.view,
            tool=self.workbench.tool,
            **{"class": self.workbench.current_class},
        )

    # -- tools -------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        self.workbench.tool = tool

    def _tool_changed(self, tool: str) -> None:
        if tool != "superpixel":
            self.canvas.guides.set_mask(None)
        elif self.router.superpixels is not None:
            self.canvas.guides.set_mask(self._sp_edges)
        self.router.tool_changed(tool)
        self.actions[f"tool_{tool}"].setChecked(True)
        self.canvas.viewport().setCursor(Qt.CrossCursor)
        if tool == "superpixel" and self.router.superpixels is None:
            self._start_superpixels()

    def _start_superpixels(self) -> None:
        s = self.session
        if s is None or s.image is None:
            return
        self.router.superpixels = None
        self.canvas.guides.set_mask(None)
        self.statusBar().showMessage("Computing superpixels in the background…")
        self.workers.superpixels(
            s.image_id, s.image, self.router.levels, self.workbench.view["segments"]
        )

    def _superpixels_ready(self, image_id: str, sp, edges) -> None:
        if self.session and image_id == self.session.image_id:
            self.router.superpixels, self._sp_edges = sp, edges
            self.canvas.guides.set_mask(edges if self.router.tool == "superpixel" else None)
            self.statusBar().showMessage(
                f"{int(sp.labels.max())} superpixels ready: click one to label it", 4000
            )

    def _smart_requested(self, click, box) -> None:
        s = self.session
        if s is not None and s.image is not None:
            self.workers.smart_region(s.image_id, s.image, click, box)

    def _smart_ready(self, image_id: str, found) -> None:
        if self.session is not None and image_id == self.session.image_id:
            self.router.show_preview(*found)

    def change_brush(self, factor: float) -> None:
        size = self.workbench.view["brush"]
        self.workbench.set_view(brush=min(500, max(1, round(size * factor) if factor > 1
                                                   else int(size / (1 / factor)))))

    def _view_changed(self, changed: dict) -> None:
        """Render view settings from wherever they changed (panel, key, project)."""
        self.options.display(changed)
        overlay = self.canvas.overlay
        for key, apply in (("opacity", overlay.set_opacity), ("show_mask", overlay.set_visible),
                           ("outline", overlay.set_outline_only)):
            if key in changed:
                apply(changed[key])
        if "brush" in changed:
            self.router.brush_changed()
        if "segments" in changed:
            self._start_superpixels()

    def _class_selected(self, index: int) -> None:
        self.palette.select(index)
        name = (
            next((c.name for c in self.session.project.classes if c.index == index), "")
            if self.session
            else ""
        )
        self.readout.set_class(f"class {index}: {name}" if name else "")

    def _changed(self) -> None:
        """Something in the project changed: the title's `*`; the first stroke on an image
        marks it labelled in the list."""
        s = self.session
        if s is not None and s.record is not None and not s.record.has_mask \
                and s.editor is not None and s.editor.version:
            s.flush()
            self.images.update_record(s.record, s.project.classes)
        self._update_title()

    def _hover(self, y: float, x: float) -> None:
        s = self.session
        if s is None or s.image is None:
            return
        self.readout.show(s.image, y, x, s.record.pixel_size_m)

    def _apply_lut(self) -> None:
        classes = self.session.project.classes if self.session else []
        self.canvas.overlay.set_lut(palette({c.index: c.color for c in classes}))

    # -- classes -----------------------------------------------------------------------
    def apply_classes(self, classes, mapping: dict[int, int] | None = None) -> None:
        """Apply a new class list; `mapping` re-numbers painted pixels in every mask (and the
        undo steps already recorded, so Undo keeps its meaning)."""
        self.workbench.apply_classes(classes, mapping)

    def _classes_changed(self, classes) -> None:
        self.palette.set_classes(classes)
        self._apply_lut()
        self._refresh_list()
        self._update_title()

    def add_class(self) -> None:
        if self.session is None:
            return
        from matlab_gui.project import ClassDef

        classes = self.session.project.classes
        index = max((c.index for c in classes), default=0) + 1
        name = dialogs.text(self, "Add class", "Name of the new class:", f"Phase {index}")
        if name:
            self.apply_classes([*classes, ClassDef(index, name, dialogs.next_colour(index))])
            self.palette.select(index)

    def rename_class(self, index: int) -> None:
        from dataclasses import replace

        classes = self.session.project.classes if self.session else []
        old = next((c for c in classes if c.index == index), None)
        name = old and dialogs.text(self, "Rename class", "New name:", old.name)
        if name:
            self.apply_classes([replace(c, name=name) if c.index == index else c for c in classes])

    def recolour_class(self, index: int) -> None:
        from dataclasses import replace

        classes = self.session.project.classes if self.session else []
        old = next((c for c in classes if c.index == index), None)
        colour = old and dialogs.colour(self, old.color)
        if colour:
            self.apply_classes(
                [replace(c, color=colour) if c.index == index else c for c in classes]
            )

    def move_class(self, index: int, delta: int) -> None:
        from dataclasses import replace

        classes = self.session.project.classes if self.session else []
        other = index + delta
        if not any(c.index == index for c in classes) or not any(c.index == other for c in classes):
            return
        swapped = [
            replace(c, index=other if c.index == index else index if c.index == other else c.index)
            for c in classes
        ]
        self.apply_classes(sorted(swapped, key=lambda c: c.index), {index: other, other: index})
        self.palette.select(other)

    def delete_class(self, index: int) -> None:
        from dataclasses import replace

        from matlab_gui.annotate.classes import deletion_mapping

        classes = self.session.project.classes if self.session else []
        victim = next((c for c in classes if c.index == index), None)
        if victim is None or not dialogs.confirm_delete_class(
            self, victim.name, index, len(classes)
        ):
            return
        kept = [replace(c, index=c.index - (c.index > index)) for c in classes if c.index != index]
        self.apply_classes(kept, deletion_mapping(index, len(classes)))

    # -- image-level labels ------------------------------------------------------------
    def label_selected(self, index: int | None) -> None:
        """Give every selected image the image-level class `index` (None clears it)."""
        s = self.session
        if s is None:
            return
        for image_id in self.workbench.label_images(self.images.selected_ids(), index or None):
            self.images.update_record(s.project.record(image_id), s.project.classes)
        self._update_title()

    # -- saving ------------------------------------------------------------------------
    def save(self) -> bool:
        if self.session is None:
            return True
        if self.session.untitled:
            return self.save_as()
        self._store_view_state()
        try:
            self.session.save()
        except UserError as exc:
            if isinstance(exc, ProjectConflictError) or self.session.project.readonly:
                if dialogs.ask_yes(self, "Cannot save here", f"{exc}\n\nSave As a new project now?"):
                    return self.save_as()
                return False
            dialogs.error(self, "Cannot save", str(exc))
            return False
        self.statusBar().showMessage(f"Saved {self.session.project.path}", 3000)
        return True

    def save_as(self, path: Path | None = None) -> bool:
        if self.session is None:
            return True
        path = path or dialogs.save_project_path(self)
        if path is None:
            return False
        self._store_view_state()
        try:
            self.session.save_as(path)
        except UserError as exc:
            dialogs.error(self, "Cannot save", str(exc))
            return False
        menus.remember_recent(self, path)
        self._update_title()
        return True

    def _autosave_now(self) -> None:
        if self.session is not None:
            self._store_view_state()
            self.session.autosave()

    def _autosaved(self, error: str) -> None:
        if error:
            self.statusBar().showMessage(f"Autosave failed: {error}", 10000)
        self._update_title()
        waiting, self._deferred_image = self._deferred_image, None
        if waiting and self.session is not None and waiting in self.session.project.image_ids:
            self.statusBar().clearMessage()
            self.show_image(waiting)

    def _project_name(self) -> str:
        if self.session is None:
            return ""
        return "untitled" if self.session.untitled else self.session.project.path.name

    def _update_title(self) -> None:
        name = self._project_name()
        dirty = "*" if self.session is not None and self.session.dirty else ""
        if self.session is not None and self.session.project.readonly:
            dirty += " (read-only)"
        self.setWindowTitle(
            f"{name}{dirty} — matlab_gui {__version__}" if name else f"matlab_gui {__version__}"
        )

    def _refresh_list(self) -> None:
        if self.session is not None:
            p = self.session.project
            self.images.set_records([p.record(i) for i in p.image_ids], p.classes)

    # -- image menu --------------------------------------------------------------------
    def set_pixel_size(self) -> None:
        s = self.session
        if s is None or s.image_id is None:
            return
        current = s.project.record(s.image_id).pixel_size_m
        metres = dialogs.pixel_size(self, current)
        if metres is not None:
            self.workbench.set_pixel_sizes([s.image_id], metres)

    def _pixel_size_changed(self, image_ids: list[str]) -> None:
        """Images were calibrated: the scale bar follows when the one shown is among them."""
        s = self.session
        if s is not None and s.image_id in image_ids:
            self.canvas.scale_bar.set_pixel_size(s.record.pixel_size_m)
        self._update_title()

    # -- window events -----------------------------------------------------------------
    def closeEvent(self, ev: QtGui.QCloseEvent) -> None:  # noqa: N802
        if self.close_session():
            self._save_layout()
            self.model_features.close()
            ev.accept()
        else:
            ev.ignore()

    def dragEnterEvent(self, ev: QtGui.QDragEnterEvent) -> None:  # noqa: N802
        if ev.mimeData().hasUrls():
            ev.acceptProposedAction()

    def dropEvent(self, ev: QtGui.QDropEvent) -> None:  # noqa: N802
        paths = [Path(u.toLocalFile()) for u in ev.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_paths(paths)

    def wait_until_idle(self, timeout_s: float = 30.0) -> None:
        """Run the event loop until background work (thumbnails, superpixels) is done.

        One nested event loop polled by a timer, not a processEvents() loop: PySide6 6.12 leaks a
        reference to None per processEvents() call, which crashes a long polling loop."""
        loop = QtCore.QEventLoop()
        deadline = QtCore.QDeadlineTimer(int(timeout_s * 1000))
        timer = QtCore.QTimer(interval=50)
        timer.timeout.connect(
            lambda: (self.workers.busy and not deadline.hasExpired()) or loop.quit()
        )
        timer.start()
        loop.exec()
        timer.stop()
