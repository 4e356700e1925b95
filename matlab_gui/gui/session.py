"""The open project, the image being edited and its Editor; background autosave.

Qt-light on purpose (signals only): the main window asks it to open, switch, save; it keeps
the rule that the project is touched by one thread at a time (the GUI thread waits for a
running autosave, which takes milliseconds, before it changes the project again)."""

from __future__ import annotations

import json
import shutil
import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PySide6 import QtCore

from matlab_gui.annotate import Editor
from matlab_gui.errors import UserError
from matlab_gui.project import PROJECT_SUFFIX, ClassDef, Project

DEFAULT_CLASSES = [ClassDef(1, "Phase 1", (230, 25, 75)), ClassDef(2, "Phase 2", (60, 180, 75))]


class Session(QtCore.QObject):
    """One open project (possibly an untitled one in a temporary folder)."""

    saved = QtCore.Signal(str)  # error message, "" on success
    changed = QtCore.Signal()  # dirty state or title may have changed

    def __init__(self, project: Project, untitled: bool = False):
        super().__init__()
        self.project = project
        self.untitled = untitled
        self.image_id: str | None = None
        self.image: np.ndarray | None = None
        self.editor: Editor | None = None
        self._flushed_version = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="autosave")
        self._saving: Future | None = None

    @classmethod
    def untitled_project(cls) -> Session:
        """Images opened without a project go into a temporary project (autosaved, so a crash
        loses little); Save then asks where to keep it."""
        folder = Path(tempfile.mkdtemp(prefix="matlab_gui-"))
        project = Project.create(folder / f"untitled{PROJECT_SUFFIX}", DEFAULT_CLASSES, exclusive=True)
        return cls(project, True)

    @classmethod
    def open(cls, path: str | Path, readonly: bool = False) -> Session:
        """The window's project; the edit lock keeps a second window from editing it too."""
        return cls(Project.open(path, readonly=readonly, exclusive=not readonly))

    # -- state -------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        edited = self.editor is not None and self.editor.version != self._flushed_version
        return edited or self.project.dirty or self.saving

    @property
    def saving(self) -> bool:
        return self._saving is not None and not self._saving.done()

    def wait(self) -> None:
        """Block until a running autosave finishes (before touching the project)."""
        if self._saving is not None:
            self._saving.exception()  # its outcome is reported by _saved

    # -- images ------------------------------------------------------------------------
    def select(self, image_id: str) -> None:
        """Make `image_id` the edited image (its pixels and mask are read now)."""
        self.flush()
        self.wait()
        self.image = self.project.read_image(image_id)
        self.editor = Editor(self.project.get_mask(image_id))
        self.image_id = image_id
        self._flushed_version = 0

    def flush(self) -> None:
        """Hand the edited mask to the project (copied there; written at the next save)."""
        if self.editor is None or self.editor.version == self._flushed_version:
            return
        self.wait()
        self.project.set_mask(self.image_id, self.editor.mask)
        self._flushed_version = self.editor.version

    def update_settings(self, **values) -> None:
        """Merge view state into the project's settings (no change, no dirty marker)."""
        self.wait()
        old = self.project.settings
        new = {**old, **values}
        if json.loads(json.dumps(new)) != old:
            self.project.settings = new

    # -- saving ------------------------------------------------------------------------
    def save(self) -> None:
        """Save now, in this thread (explicit Save, Save As, close)."""
        self.flush()
        self.wait()
        self.project.save()
        self.changed.emit()

    def save_as(self, path: str | Path) -> None:
        self.flush()
        self.wait()
        self.project.save_as(path)
        self.untitled = False
        self.changed.emit()

    def autosave(self) -> None:
        """Save in the background; the GUI keeps painting meanwhile (edits go to the Editor's
        mask, not the project, until the next flush)."""
        self.flush()
        if self.saving or not self.project.dirty or self.project.readonly:
            return
        self._saving = self._pool.submit(self.project.save)
        self._saving.add_done_callback(self._saved)

    def _saved(self, future: Future) -> None:
        exc = future.exception()
        self.saved.emit(
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
