"""One open project, the image being edited, the undo history of every image edited since the
project opened, and the background autosave.

Plain Python: its `saved` event fires in the autosave thread (the window's Qt adapter carries
it to the GUI thread). The project is touched by one thread at a time: before the GUI thread
changes it, it waits for a running autosave. Reads the GUI repeats on every mouse move (the
current image's record) come from a copy kept here, so hover and paint never wait for a save.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np

from matlab_gui.annotate import Editor
from matlab_gui.annotate.classes import remap
from matlab_gui.annotate.history import History
from matlab_gui.annotate.rect import Rect
from matlab_gui.errors import UserError
from matlab_gui.project import PROJECT_SUFFIX, ClassDef, ImageRecord, Project
from matlab_gui.workbench.events import EventGroup

UNTITLED_PREFIX = "matlab_gui-"
DEFAULT_CLASSES = [ClassDef(1, "Phase 1", (230, 25, 75)), ClassDef(2, "Phase 2", (60, 180, 75))]
HISTORY_BUDGET = 1 << 30  # bytes of undo kept for the images not shown; the oldest go first


def leftover_untitled() -> list[Path]:
    """Untitled projects in the temporary folder, newest first: a window that closed normally
    removed its own, so these belong to windows that died (or to ones still running)."""
    root = Path(tempfile.gettempdir())
    found = [p for p in root.glob(f"{UNTITLED_PREFIX}*/untitled{PROJECT_SUFFIX}") if p.is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


class Session:
    """One open project (possibly an untitled one in a temporary folder).

    events: `saved` (error text, "" on success; from the autosave thread), `changed` (the dirty
    state or the title may have changed)."""

    def __init__(self, project: Project, untitled: bool = False):
        self.project = project
        self.untitled = untitled
        self.events = EventGroup("saved", "changed")
        self.image_id: str | None = None
        self.image: np.ndarray | None = None
        self.editor: Editor | None = None
        self.record: ImageRecord | None = None  # the current image's, kept for hover and paint
        self._flushed_version = 0
        self._histories: OrderedDict[str, History] = OrderedDict()  # images not shown now
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autosave")
        self._saving: Future | None = None
        self._settings = project.settings  # see `settings`
        self._settings_changed = False
        self._provided: set[str | None] = set()  # see mark_provided
        self._provided_classes = project.classes

    @classmethod
    def untitled_project(cls) -> Session:
        """Images opened without a project go into a temporary project (autosaved, so a crash
        loses little); Save then asks where to keep it."""
        folder = Path(tempfile.mkdtemp(prefix=UNTITLED_PREFIX))
        project = Project.create(folder / f"untitled{PROJECT_SUFFIX}", DEFAULT_CLASSES, exclusive=True)
        return cls(project, True)

    @classmethod
    def recover(cls, path: str | Path) -> Session:
        """Reopen an untitled project that a window which died left behind; it stays untitled
        (Save asks where). ProjectLockedError when a running window still has it."""
        return cls(Project.open(path, exclusive=True), untitled=True)

    @classmethod
    def open(cls, path: str | Path, readonly: bool = False) -> Session:
        """The window's project; the edit lock keeps a second window from editing it too."""
        return cls(Project.open(path, readonly=readonly, exclusive=not readonly))

    # -- state -------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self._unflushed or self._settings_changed or self.project.dirty or self.saving

    @property
    def _unflushed(self) -> bool:
        """The edited mask has changes the project does not have yet."""
        return self.editor is not None and self.editor.version != self._flushed_version

    @property
    def saving(self) -> bool:
        return self._saving is not None and not self._saving.done()

    def wait(self) -> None:
        """Block until a running autosave finishes (before touching the project)."""
        if self._saving is not None:
            self._saving.exception()  # its outcome is reported by _saved

    # -- images ------------------------------------------------------------------------
    def select(self, image_id: str) -> None:
        """Make `image_id` the edited image (its pixels and mask are read now); the image left
        keeps its undo history for when it is shown again."""
        self.flush()
        self.wait()
        image = self.project.read_image(image_id)
        mask = self.project.get_mask(image_id)
        if self.editor is not None:
            self._keep_history(self.image_id, self.editor.history)
        self.image, self.image_id = image, image_id
        self.editor = Editor(mask, self._histories.pop(image_id, None))
        self.record = self.project.record(image_id)
        self._flushed_version = 0

    def _keep_history(self, image_id: str, history: History) -> None:
        if not len(history) and not history.nbytes:
            return
        self._histories[image_id] = history
        total = sum(h.nbytes for h in self._histories.values())
        while total > HISTORY_BUDGET and len(self._histories) > 1:
            total -= self._histories.popitem(last=False)[1].nbytes

    def history_of(self, image_id: str) -> History | None:
        """The undo history an image has in this session (None before its first edit)."""
        if image_id == self.image_id and self.editor is not None:
            return self.editor.history
        return self._histories.get(image_id)

    def flush(self) -> None:
        """Hand the edited mask and view settings to the project (copied there; written at the
        next save)."""
        self._push_settings()
        if not self._unflushed:
            return
        self.wait()
        self.project.set_mask(self.image_id, self.editor.mask)
        self.refresh_record()
        self._flushed_version = self.editor.version

    def refresh_record(self) -> ImageRecord | None:
        """Re-read the current image's record after the project changed it (pixel size, label)."""
        if self.image_id is not None:
            self.record = self.project.record(self.image_id)
        return self.record

    def set_pixel_size(self, metres: float | None) -> None:
        """The current image's pixel size (None: uncalibrated)."""
        self.set_pixel_sizes([self.image_id], metres)

    def set_pixel_sizes(self, image_ids: list[str], metres: float | None) -> list[str]:
        """Give these images one pixel size (None: uncalibrated), as one entry of the project's
        history; returns those whose pixel size changed."""
        self.wait()
        metres = float(metres) if metres else None
        changed = [i for i in image_ids if self.project.record(i).pixel_size_m != metres]
        for image_id in changed:
            self.project.set_pixel_size(image_id, metres)
        if changed:
            self.project.log("set pixel size", metres=metres, ids=changed)
        self.refresh_record()
        return changed

    @property
    def settings(self) -> dict:
        """The project's view settings as the window last set them (read without the lock)."""
        return json.loads(json.dumps(self._settings))

    def update_settings(self, **values) -> None:
        """Merge view state into the project's settings (no change, no dirty marker). Never
        waits for a save: while one runs, the change is handed over after it."""
        new = json.loads(json.dumps({**self._settings, **values}))
        if new != self._settings:
            self._settings, self._settings_changed = new, True
            self._push_settings()

    def _push_settings(self) -> None:
        if self._settings_changed and not self.saving:
            self.project.settings = self._settings
            self._settings_changed = False

    # -- domain edits ------------------------------------------------------------------
    def apply_classes(self, classes: list[ClassDef], mapping: dict[int, int] | None = None) -> list[str]:
        """Make `classes` the project's class list. `mapping` (old index -> new, 0 = unlabelled)
        renumbers the painted pixels and image labels of every image, and the undo steps
        already recorded, so undo keeps restoring the same phases; the renumbering itself is
        not an undo step. Returns the ids of the images whose mask or label changed."""
        self.flush()
        self.wait()
        changed: list[str] = []
        for image_id in self.project.image_ids if mapping else []:
            record = self.project.record(image_id)
            touched = False
            label = None if record.label is None else mapping.get(record.label, record.label) or None
            if label != record.label:
                self.project.set_label(image_id, label)
                touched = True
            if image_id == self.image_id and self.editor is not None:
                touched |= self.editor.remap(mapping) is not None
            elif record.has_mask:
                old = self.project.get_mask(image_id)
                new = remap(old, mapping)
                if not np.array_equal(old, new):
                    self.project.set_mask(image_id, new)
                    touched = True
            if touched:
                changed.append(image_id)
        for history in self._histories.values() if mapping else []:
            history.remap(mapping)
        self.project.set_classes(classes)
        self.refresh_record()
        return changed

    def used_class_indices(self) -> set[int]:
        """Class indices something is painted or labelled with (the edited mask as it is now)."""
        self.flush()
        self.wait()
        records = [self.project.record(i) for i in self.project.image_ids]
        used = {r.label for r in records} - {None}
        for r in records:
            if r.has_mask:
                used |= {int(v) for v in np.unique(self.project.get_mask(r.id))}
        return used - {0}

    def store_predictions(self, outcomes, indices, model_key: str | None) -> list[str]:
        """Keep segmentation outcomes in the project, their labels renumbered from the model's
        outputs to project class `indices` (outcome.project_indices set). Returns the ids."""
        self.wait()
        to_index = np.array(indices, dtype=np.uint16)
        known, stored = set(self.project.image_ids), []
        for o in outcomes:
            if o.labels is not None and o.image_id in known:
                o.labels, o.project_indices = to_index[o.labels], True
                self.project.set_prediction(o.image_id, o.labels, o.confidence, model_key)
                stored.append(o.image_id)
        return stored

    def label_images(self, image_ids: list[str], index: int | None) -> list[str]:
        """Set the image-level class of these images; returns those whose label changed."""
        self.wait()
        changed = [i for i in image_ids if self.project.record(i).label != index]
        for image_id in changed:
            self.project.set_label(image_id, index)
        self.refresh_record()
        return changed

    def remove_images(self, image_ids: list[str]) -> None:
        """Remove images from the project with their masks, labels, predictions and undo."""
        self.wait()
        for image_id in image_ids:
            self.project.remove_image(image_id)
            self._histories.pop(image_id, None)
        if self.image_id in image_ids:
            self.image_id = self.image = self.editor = self.record = None
            self._flushed_version = 0

    def holds_work(self) -> bool:
        """Whether closing now would lose something the user made. A named project: any
        unsaved change. An untitled one: anything beyond what the app opened by itself (the
        bundled sample, marked with `mark_provided`)."""
        if not self.untitled:
            return self.dirty
        records = [self.project.record(i) for i in self.project.image_ids]
        return (self._unflushed or bool(self.project.model_names())
                or self.project.classes != self._provided_classes
                or any(r.has_mask or r.label is not None or r.has_prediction
                       or r.source_path not in self._provided for r in records))

    def mark_provided(self) -> None:
        """What the project holds now was opened by the app, not made by the user."""
        self._provided = {self.project.record(i).source_path for i in self.project.image_ids}
        self._provided_classes = self.project.classes

    def assign(self, labels: np.ndarray, where: np.ndarray | None = None) -> Rect | None:
        """Write class indices into the current image's mask as one undo step (Accept)."""
        if self.editor is None:
            return None
        return self.editor.assign(labels, where)

    def set_mask(self, image_id: str, mask: np.ndarray) -> bool:
        """Replace an image's mask (import) as one undo step of that image, current or not.
        False when nothing changed."""
        mask = np.asarray(mask)
        shape = tuple(self.project.record(image_id).shape[:2])
        if mask.shape != shape:
            raise ValueError(f"mask of {mask.shape[1]} x {mask.shape[0]} px for an image of "
                             f"{shape[1]} x {shape[0]} px")
        if image_id == self.image_id and self.editor is not None:
            return self.editor.assign(mask) is not None
        self.wait()
        editor = Editor(self.project.get_mask(image_id), self._histories.pop(image_id, None))
        changed = editor.assign(mask) is not None
        self._keep_history(image_id, editor.history)
        if changed:
            self.project.set_mask(image_id, editor.mask)
        return changed

    # -- saving ------------------------------------------------------------------------
    def save(self) -> None:
        """Save now, in this thread (explicit Save, Save As, close)."""
        self.flush()
        self.wait()
        self._push_settings()
        self.project.save()
        self.events.changed.emit()

    def save_as(self, path: str | Path) -> None:
        self.flush()
        self.wait()
        self._push_settings()
        self.project.save_as(path)
        self.untitled = False
        self.events.changed.emit()

    def autosave(self) -> None:
        """Save in the background; the GUI keeps painting meanwhile (edits go to the Editor's
        mask, not the project, until the next flush). Never waits: with a save running, the
        next autosave takes the edits."""
        if self.saving:
            return
        self.flush()
        if not self.project.dirty or self.project.readonly:
            return
        self._saving = self._pool.submit(self.project.save)
        self._saving.add_done_callback(self._saved)

    def _saved(self, future: Future) -> None:
        exc = future.exception()
        self.events.saved.emit(
            "" if exc is None else str(exc) if isinstance(exc, UserError) else repr(exc)
        )

    def close(self) -> None:
        """Close the project; an untitled one closed without Save As is discarded with its
        temporary folder (it only survives a crash, for recovery)."""
        self.wait()
        self._pool.shutdown(wait=True)
        self.project.close()
        if self.untitled:
            shutil.rmtree(self.project.path.parent, ignore_errors=True)
