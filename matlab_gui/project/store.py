"""`Project`: one `.mgp` file (HDF5) with images, masks, labels, predictions, models and history.

Reads go through a plain read-only h5py handle and touch a dataset only when asked for it, so a
project of hundreds of 4k images opens at once. Changes wait in memory until `save()`, which
writes only what changed, through the crash-safe journal (see `journal.py`).

Several processes may have one project open. A read holds the journal's shared lock, so it never
sees a save half-applied, and retries after a writer that ignores locks. A save that finds the
file saved by someone else since it was read merges the metadata per image and per field
(`merge.py`) and refuses, keeping the unsaved work, where both changed the same thing.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path

import h5py
import numpy as np

from matlab_gui.errors import ProjectError, SchemaTooNewError
from matlab_gui.file_kinds import HDF5_SIGNATURE
from matlab_gui.project import fileio, names, schema
from matlab_gui.project.changes import Changes
from matlab_gui.project.edit_lock import EditLock
from matlab_gui.project.journal import forget, journaled, pending, recover, shared
from matlab_gui.project.merge import MergeConflict, merge
from matlab_gui.project.schema import ClassDef, ImageRecord, Meta


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    """Changes whenever the file is written (journal replay, another process saving)."""
    return st.st_ino, st.st_size, st.st_mtime_ns


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _mask_dtype(classes: list[ClassDef]) -> np.dtype:
    return np.dtype(np.uint16 if max((c.index for c in classes), default=0) > 255 else np.uint8)


def _locked(method: Callable) -> Callable:
    """Run under the project's lock: a save must not close the file under a reading thread."""

    @wraps(method)
    def run(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return run


_READ_TRIES = 3


def _reads(method: Callable) -> Callable:
    """Read datasets under the readers' lock (no save is applied meanwhile), from a handle that
    is fresh; a read torn by a writer that ignores locks is retried from a reopened handle."""

    @wraps(method)
    def run(self, *args, **kwargs):
        with self._lock:
            for attempt in range(1, _READ_TRIES + 1):
                try:
                    self._finish_pending_save()
                    with shared(self.path):
                        self._refresh()
                        return method(self, *args, **kwargs)
                except OSError as exc:
                    if self._closed or attempt == _READ_TRIES:
                        raise ProjectError(f"cannot read the project: {exc}", self.path) from exc
                    self._close_handle()
                    time.sleep(0.05 * attempt)

    return run


def _writable(path: Path) -> bool:
    """Whether `path` can be saved: the file opens for writing and its folder takes new files
    (the journal). False on read-only media, without permission, and for a locked-down folder."""
    try:
        os.close(fileio.open_fd(path, os.O_RDWR))
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return False
        raise
    return os.access(path.parent, os.W_OK)


def _disk_full(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _save_failed(exc: BaseException) -> str:
    if _disk_full(exc):
        return "disk full: your work is kept in memory; free space and save again"
    reason = getattr(exc, "strerror", None) or exc
    return f"cannot save ({reason}); your work is kept in memory: save again, or use Save As"


class Project:
    """An open project. Create with `Project.create`, open with `Project.open`.

    One thread edits and saves (the GUI); other threads (a training job) may read meanwhile.
    """

    def __init__(self, path: Path, readonly: bool = False):
        """Use `Project.open` / `Project.create`."""
        self.path = Path(path)
        self.readonly = readonly  # edits stay in memory; only Save As keeps them
        self.notices: list[str] = []  # things the user should hear about, found while opening
        self._h5: h5py.File | None = None
        self._raw = None
        self._stamp: tuple[int, int, int] | None = None
        self._closed = False
        self._meta = Meta()
        self._base = Meta()  # the metadata as last read from or written to the file
        self._attempted: Meta | None = None  # what a failed save meant to write (may yet land)
        self._attempted_history = 0  # how many history entries it carried
        self._changes = Changes()
        self._verified: set[str] = set()  # referenced images whose sha256 was checked
        self._edit_lock: EditLock | None = None
        self._lock = threading.RLock()

    # -- create / open / close ----------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: str | Path,
        classes: list[ClassDef] = (),
        overwrite: bool = False,
        exclusive: bool = False,
    ) -> Project:
        """A new, empty project written to disk at once (atomically, via a temp file);
        `exclusive` as for `open`."""
        path = Path(path)
        if path.is_dir():
            raise ProjectError("is a folder, not a project file", path)
        if path.exists() and not overwrite:
            raise ProjectError("already exists", path)
        lock = EditLock.take(path) if exclusive else None  # never overwrite one open elsewhere
        temp = path.with_name(path.name + ".new")
        try:
            with h5py.File(temp, "w", locking=False, **schema.FILE_OPTIONS) as f:
                f.attrs["format"] = schema.FORMAT_NAME
                f.attrs["schema_version"] = schema.SCHEMA_VERSION
                for group in schema.GROUPS:
                    f.create_group(group)
                entry = {"time": _now(), "action": "create project", "details": {}}
                schema.append_history(f, [json.dumps(entry)])
                Meta(classes=sorted(classes, key=lambda c: c.index)).write(f.attrs)
            with temp.open("rb") as fh:
                os.fsync(fh.fileno())
            forget(path)  # a stale journal of an overwritten project must not touch this one
            os.replace(temp, path)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            if lock is not None:
                lock.release()
            raise ProjectError(f"cannot create project: {exc.strerror or exc}", path) from exc
        try:
            project = cls.open(path)
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        project._edit_lock = lock
        return project

    @classmethod
    def open(cls, path: str | Path, readonly: bool = False, exclusive: bool = False) -> Project:
        """Open an existing project; finishes a save that a killed process left half-done.

        Read-only media open read-only. `exclusive` (the window) takes the edit lock, so a
        second window is refused with a message naming who has the project open."""
        path = Path(path)
        if not path.exists():
            raise ProjectError("no such file", path)
        if path.is_dir():
            raise ProjectError("is a folder, not a project file", path)
        try:
            with path.open("rb") as fh:
                signature = fh.read(8)
        except OSError as exc:
            raise ProjectError(f"cannot read: {exc.strerror or exc}", path) from exc
        if signature != HDF5_SIGNATURE:
            raise ProjectError("not a matlab_gui project (not an HDF5 file)", path)
        try:
            can_write = _writable(path)
        except OSError as exc:
            raise ProjectError(f"cannot open: {exc.strerror or exc}", path) from exc
        writable = can_write and not readonly
        project = cls(path, readonly=not writable)
        try:
            if writable:
                if exclusive:
                    project._edit_lock = EditLock.take(path)
            if can_write:  # read-only or not: a save another window committed is finished first
                notice = recover(path).notice()
                if notice:
                    project.notices.append(notice)
            elif pending(path):
                raise ProjectError(
                    "a save that was interrupted waits in its .journal file, but the folder is "
                    "read-only: copy the project with its .journal to a writable folder and open "
                    "it there",
                    path,
                )
            elif not readonly:
                project.notices.append("the file or its folder is read-only: opened read-only "
                                       "(Save As keeps your changes in a new file)")
            with shared(path):
                project._open_handle()
        except BaseException as exc:
            project._release_edit_lock()
            if isinstance(exc, KeyError):  # h5py's word for an object it cannot open
                raise ProjectError(f"corrupt project file: {exc.args[0] if exc.args else exc}",
                                   path) from exc
            if isinstance(exc, OSError):
                if _disk_full(exc):
                    raise ProjectError(
                        "disk full: a save that was interrupted cannot be finished; free space "
                        "and open it again (nothing is lost)",
                        path,
                    ) from exc
                raise ProjectError(f"corrupt or unreadable project file: {exc}", path) from exc
            raise
        return project

    def _release_edit_lock(self) -> None:
        if self._edit_lock is not None:
            self._edit_lock.release()
            self._edit_lock = None

    def _open_handle(self, keep_state: bool = False) -> None:
        """Open the read handle and load the metadata (root attributes only, no dataset);
        `keep_state` keeps the in-memory (unsaved) metadata and the base it was edited from.

        The handle reads through a plain Python file object, not HDF5's own driver: HDF5 shares
        one cached view per file among all its handles, which would go stale when this or another
        `Project` saves through the journal.
        """
        raw = self.path.open("rb", buffering=0)
        try:
            stamp = _stamp(os.fstat(raw.fileno()))
            f = h5py.File(raw, "r")
        except BaseException:
            raw.close()
            raise
        try:
            meta = self._read_meta(f)
        except BaseException:
            f.close()
            raw.close()
            raise
        self._h5, self._raw, self._stamp = f, raw, stamp
        if not keep_state:
            self._meta, self._base = meta, meta.copy()

    def _read_meta(self, f: h5py.File) -> Meta:
        if f.attrs.get("format") != schema.FORMAT_NAME:
            raise ProjectError("not a matlab_gui project (HDF5 without project data)", self.path)
        raw_version = f.attrs.get("schema_version", 0)
        try:
            version = int(raw_version)
        except (TypeError, ValueError, OverflowError):
            raise ProjectError(f"corrupt project: schema version '{raw_version}' is not a number",
                               self.path) from None
        if version > schema.SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"written by a newer matlab_gui (schema {version}, this version reads up to "
                f"{schema.SCHEMA_VERSION}); update the app",
                self.path,
            )
        try:
            return Meta.read(f.attrs)
        except (KeyError, ValueError, TypeError) as exc:
            raise ProjectError(f"corrupt project metadata: {exc}", self.path) from exc

    def _close_handle(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._raw.close()
            self._h5 = self._raw = None

    @_locked
    def close(self) -> None:
        """Close the file; unsaved changes are dropped (ask the user before)."""
        self._closed = True
        self._close_handle()
        self._release_edit_lock()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @_locked
    def _refresh(self) -> None:
        """Reopen when another `Project` or process saved the file since we read it, or when a
        failed read or save left no handle; unsaved metadata is kept."""
        if self._closed:
            return
        try:
            changed = _stamp(os.stat(self.path)) != self._stamp
        except OSError as exc:
            raise ProjectError(f"project file is gone: {exc.strerror}", self.path) from exc
        if changed or self._h5 is None:
            self._close_handle()
            self._finish_pending_save()
            try:
                with shared(self.path):
                    self._open_handle(keep_state=self.dirty)
            except OSError as exc:
                if self.dirty:  # the unsaved state stays readable; only the file waits
                    return
                raise ProjectError(f"cannot read the project: {exc}", self.path) from exc

    def _finish_pending_save(self) -> bool:
        """Apply a save whose journal is committed but not yet applied (its apply failed: disk
        full), so reads see it; True when one was. Harmless while that still fails (the next
        save or open finishes it) or while another process saves."""
        if not pending(self.path):
            return False
        try:
            recovery = recover(self.path)
        except OSError:
            return False
        if recovery.notice():
            self.notices.append(recovery.notice())
        return recovery.replayed

    @property
    def _file(self) -> h5py.File:
        """The read handle, fresh (call under the readers' lock, see `_reads`)."""
        if self._closed:
            raise ProjectError("project is closed", self.path)
        self._refresh()
        if self._h5 is None:
            raise ProjectError("the project file cannot be read now (a save is waiting for disk "
                               "space?); your unsaved work is kept", self.path)
        return self._h5

    def _dataset(self, group: str, name: str):
        """`/group/name`, for a name that is one plain component (never a path elsewhere)."""
        names.check_name(name, "dataset name")
        try:
            return self._file[group][name]
        except KeyError as exc:  # the metadata names it, so the file must have it
            raise OSError(f"{group}/{name} is missing") from exc

    # -- classes, settings, models ------------------------------------------------------
    @property
    def classes(self) -> list[ClassDef]:
        self._refresh()
        return list(self._meta.classes)

    def set_classes(self, classes: list[ClassDef]) -> None:
        indices = [c.index for c in classes]
        if len(set(indices)) != len(indices):
            raise ValueError(f"class indices must be unique, got {indices}")
        self._meta.classes = sorted(classes, key=lambda c: c.index)
        self._changes.meta = True

    @property
    def settings(self) -> dict:
        """A copy of the view state; assign a new dict to change it."""
        self._refresh()
        return json.loads(json.dumps(self._meta.settings))

    @settings.setter
    def settings(self, value: dict) -> None:
        self._meta.settings = json.loads(json.dumps(value))
        self._changes.meta = True

    @property
    def current_model(self) -> str | None:
        self._refresh()
        return self._meta.current_model

    @current_model.setter
    def current_model(self, name: str | None) -> None:
        if name is not None and name not in self.model_names():
            raise ProjectError(f"no model named {name!r} in the project", self.path)
        self._meta.current_model = name
        self._changes.meta = True

    def model_names(self) -> list[str]:
        self._refresh()
        return list(self._meta.models)

    def store_model(self, name: str, folder: str | Path) -> None:
        """Keep a trained model folder (its files' bytes) inside the project."""
        folder = Path(folder)
        names.check_name(name, "model name")
        if not folder.is_dir():
            raise ProjectError("model folder not found", folder)
        files = {
            names.check_name(p.name, "model file name"): p.read_bytes()
            for p in sorted(folder.iterdir()) if p.is_file()
        }
        if not files:
            raise ProjectError("model folder has no files", folder)
        self._changes.models[name] = files
        self._meta.models[name] = list(files)
        self._changes.meta = True

    @_reads
    def model_files(self, name: str) -> dict[str, bytes]:
        """A stored model's files: name -> bytes."""
        if name in self._changes.models:
            return dict(self._changes.models[name])
        if name not in self._meta.models:
            raise ProjectError(f"no model named {name!r} in the project", self.path)
        group = self._dataset(schema.MODELS, name)
        files = {}
        for file_name in self._meta.models[name]:
            names.check_name(file_name, "model file name")
            if file_name not in group:
                raise OSError(f"model {name!r} has no file {file_name!r}")
            files[file_name] = group[file_name][()].tobytes()
        return files

    def export_model(self, name: str, dest_folder: str | Path) -> Path:
        """Write a stored model's files into `dest_folder` (created) and return that folder;
        every file lands inside it, whatever names the project holds."""
        dest = Path(dest_folder)
        files = self.model_files(name)
        dest.mkdir(parents=True, exist_ok=True)
        targets = {names.inside(dest, file_name, "model file name"): data
                   for file_name, data in files.items()}
        for target, data in targets.items():
            target.write_bytes(data)
        return dest

    # -- images ---------------------------------------------------------------------------
    @property
    def image_ids(self) -> list[str]:
        self._refresh()
        return list(self._meta.records)

    def record(self, image_id: str) -> ImageRecord:
        self._refresh()
        try:
            return self._meta.records[image_id]
        except KeyError:
            raise KeyError(f"no image {image_id!r} in project {self.path}") from None

    def _update(self, image_id: str, **changes) -> None:
        self._meta.records[image_id] = replace(self.record(image_id), **changes)
        self._changes.meta = True
        self._changes.described.add(image_id)

    def add_image(
        self,
        source_path: str | Path,
        embed: bool = True,
        data: np.ndarray | None = None,
        pixel_size_m: float | None = None,
    ) -> str:
        """Add an image, embedded (copied into the project) or referenced by path + sha256."""
        source = Path(source_path)
        if data is None:
            from matlab_gui.imaging import read_image

            micrograph = read_image(source)
            data = micrograph.data
            if pixel_size_m is None:
                pixel_size_m = micrograph.meta.pixel_size_m
        data = np.asarray(data)
        sha = _sha256(source) if source.is_file() else None
        if not embed and sha is None:
            raise ProjectError("a referenced image must be an existing file", source)
        image_id = uuid.uuid4().hex[:12]
        self._meta.records[image_id] = ImageRecord(
            id=image_id,
            name=source.name,
            source_path=str(source.resolve()),
            sha256=sha,
            embedded=embed,
            shape=tuple(int(s) for s in data.shape),
            dtype=str(data.dtype),
            pixel_size_m=None if pixel_size_m is None else float(pixel_size_m),
            label=None,
            has_mask=False,
            has_prediction=False,
        )
        if embed:
            self._changes.images[image_id] = data
        else:
            self._verified.add(image_id)  # just hashed: showing it need not read 1.8 GB again
        self._changes.meta = True
        self.log("add image", id=image_id, name=source.name, embedded=embed)
        return image_id

    def find_file(self, source_path: str | Path) -> str | None:
        """The id of an image already added from this file, else None: the same bytes under
        the same name (the same path, or a copy of that file elsewhere)."""
        source = Path(source_path)
        if not source.is_file():
            return None
        self._refresh()
        candidates = [r for r in self._meta.records.values()
                      if r.sha256 is not None and r.name == source.name]
        if not candidates:
            return None
        sha = _sha256(source)
        return next((r.id for r in candidates if r.sha256 == sha), None)

    def missing_images(self) -> list[str]:
        """Referenced images whose file is no longer where the project says."""
        self._refresh()
        return [r.id for r in self._meta.records.values()
                if not r.embedded and not (r.source_path and Path(r.source_path).is_file())]

    def relink(self, folder: str | Path) -> list[str]:
        """Point missing referenced images at files of the same name and bytes in `folder` (or
        its subfolders): after the images were moved or the disk was mounted elsewhere.
        Returns the ids relinked; a same-named file with other bytes is not taken."""
        missing = {self.record(i).name: i for i in self.missing_images()}
        relinked = []
        for path in sorted(Path(folder).rglob("*")):
            image_id = missing.get(path.name)
            if image_id is None or not path.is_file():
                continue
            if _sha256(path) == self.record(image_id).sha256:
                self._update(image_id, source_path=str(path.resolve()))
                self._verified.discard(image_id)
                relinked.append(image_id)
                del missing[path.name]
        if relinked:
            self.log("relink images", folder=str(folder), ids=relinked)
        return relinked

    def remove_image(self, image_id: str) -> None:
        record = self.record(image_id)
        del self._meta.records[image_id]
        self._changes.forget_image(image_id)
        self.log("remove image", id=image_id, name=record.name)

    @_reads
    def read_image(self, image_id: str) -> np.ndarray:
        """The pixels in their native dtype; embedded ones come from the project file."""
        record = self.record(image_id)
        if image_id in self._changes.images:
            return self._changes.images[image_id]
        if record.embedded:
            from matlab_gui.imaging.read import SUPPORTED_DTYPES

            data = self._dataset(schema.IMAGES, image_id)[()]
            if data.dtype.name not in SUPPORTED_DTYPES or data.ndim not in (2, 3):
                raise ProjectError(f"the image {record.name!r} is damaged ({data.dtype}, shape "
                                   f"{data.shape})", self.path)
            return data
        source = Path(record.source_path)
        if not source.is_file():
            raise ProjectError(f"referenced image {record.name!r} is missing (moved? Image > "
                               "Relink missing images… finds it in a folder)", source)
        if image_id not in self._verified:
            if _sha256(source) != record.sha256:
                raise ProjectError(
                    f"referenced image {record.name!r} changed since it was added", source
                )
            self._verified.add(image_id)
        from matlab_gui.imaging import read_image

        return read_image(source).data

    def set_pixel_size(self, image_id: str, metres: float | None) -> None:
        self._update(image_id, pixel_size_m=None if metres is None else float(metres))

    # -- labels and masks -----------------------------------------------------------------
    def get_label(self, image_id: str) -> int | None:
        return self.record(image_id).label

    def set_label(self, image_id: str, class_index: int | None) -> None:
        self._update(image_id, label=None if class_index is None else int(class_index))

    @_reads
    def get_mask(self, image_id: str) -> np.ndarray:
        """The label mask (0 = unlabelled); zeros when the image has none yet."""
        record = self.record(image_id)
        if image_id in self._changes.masks:
            return self._changes.masks[image_id].copy()
        if record.has_mask:
            mask = self._dataset(schema.MASKS, image_id)[()]
            if mask.dtype not in (np.uint8, np.uint16) or mask.shape != tuple(record.shape[:2]):
                raise ProjectError(f"the mask of {record.name!r} is damaged ({mask.dtype}, shape "
                                   f"{mask.shape}; masks are 8/16-bit class numbers)", self.path)
            return mask
        return np.zeros(record.shape[:2], dtype=_mask_dtype(self._meta.classes))

    def set_mask(self, image_id: str, mask: np.ndarray) -> None:
        """Replace the mask (uint8 or uint16, the image's height x width); written at save."""
        record = self.record(image_id)
        mask = np.asarray(mask)
        if mask.shape != tuple(record.shape[:2]):
            raise ValueError(f"mask shape {mask.shape} != image shape {record.shape[:2]}")
        if mask.dtype == bool:
            mask = mask.astype(np.uint8)
        if mask.dtype not in (np.uint8, np.uint16):
            if not np.issubdtype(mask.dtype, np.integer) or mask.min(initial=0) < 0:
                raise ValueError(f"mask must hold non-negative integers, got {mask.dtype}")
            mask = mask.astype(np.uint8 if mask.max(initial=0) <= 255 else np.uint16)
        self._changes.masks[image_id] = mask.copy()
        self._update(image_id, has_mask=True)

    # -- predictions ----------------------------------------------------------------------
    def set_prediction(
        self,
        image_id: str,
        labels: np.ndarray,
        confidence: np.ndarray | None = None,
        model_name: str | None = None,
    ) -> None:
        """Keep a model's output: labels (argmax) and optionally float32 confidences or
        probabilities (the float type Fiji and MATLAB read; older projects hold float16)."""
        self.record(image_id)
        conf = None if confidence is None else np.asarray(confidence, dtype=np.float32)
        self._changes.predictions[image_id] = (np.asarray(labels).copy(), conf, model_name)
        self._update(image_id, has_prediction=True)

    @_reads
    def get_prediction(self, image_id: str) -> tuple[np.ndarray, np.ndarray | None] | None:
        if image_id in self._changes.predictions:
            labels, conf, _ = self._changes.predictions[image_id]
            return labels, conf
        if not self.record(image_id).has_prediction:
            return None
        group = self._dataset(schema.PREDICTIONS, image_id)
        if "labels" not in group:
            raise OSError(f"prediction of {image_id} has no labels")
        conf = group["confidence"][()] if "confidence" in group else None
        return group["labels"][()], conf

    # -- history --------------------------------------------------------------------------
    def log(self, action: str, **details) -> None:
        """Append one entry to the project's history (kept at the next save)."""
        entry = {"time": _now(), "action": action, "details": details}
        self._changes.history.append(json.loads(json.dumps(entry, default=str)))

    @property
    @_reads
    def history(self) -> list[dict]:
        try:
            found = self._file[schema.HISTORY] if schema.HISTORY in self._file else None
            lines = [] if found is None else schema.history_lines(found)
        except (TypeError, ValueError, AttributeError, KeyError, OSError):  # damaged
            lines = None
        stored = []
        for line in [None] if lines is None else lines:  # None: an entry that cannot be read
            try:
                stored.append(json.loads(line))
            except (TypeError, ValueError):  # one damaged entry loses that entry, not the history
                stored.append({"time": "", "action": "unreadable history entry", "details": {}})
        return stored + [dict(e) for e in self._changes.history]

    # -- saving ---------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return bool(self._changes)

    @_locked
    def save(self, prefer_ours: bool = False) -> None:
        """Write what changed; a crash at any moment leaves the old or the new project, and a
        failure (disk full, I/O error, a conflicting save elsewhere) keeps the unsaved work."""
        if not self.dirty:
            return
        if self.readonly:
            raise ProjectError("opened read-only: use Save As to keep your changes", self.path)
        self._close_handle()
        overlay = meta = None
        try:
            with journaled(self.path) as overlay:
                f = h5py.File(overlay, "r+")
                try:
                    meta = self._merged_meta(f, prefer_ours)
                    self._changes.write(f, meta, overlay.check)
                finally:
                    f.close()  # h5py may only print an error raised here: the overlay keeps it
        except BaseException as exc:
            self._close_handle()  # the next read reopens, keeping the unsaved work
            # its journal may be finished later (by recovery): then that is not a conflict
            self._attempted, self._attempted_history = meta, len(self._changes.history)
            if meta is not None and self._finish_pending_save():
                self._meta, self._base, self._attempted = meta, meta.copy(), None
                self._changes = Changes()
                return
            cause = getattr(overlay, "failure", None) or exc
            if isinstance(exc, OSError) or isinstance(cause, OSError):
                raise ProjectError(_save_failed(cause), self.path) from exc
            raise
        self._meta, self._base, self._attempted = meta, meta.copy(), None
        self._changes = Changes()
        self._close_handle()  # reopened by the next read, from the file as saved

    def _log_edits(self, meta: Meta) -> None:
        """One history entry per save naming what it changes (masks, labels, predictions,
        models, classes, pixel sizes), added once even when a failed save is retried."""
        history = self._changes.history
        if history and history[-1].get("action") == "save":
            history.pop()  # a retry: summarised afresh below
        summary = self._changes.summary(self._base, meta)
        if summary:
            history.append({"time": _now(), "action": "save", "details": summary})

    def _merged_meta(self, f: h5py.File, prefer_ours: bool = False) -> Meta:
        """The metadata to write: ours, merged onto another process's save since we read the
        file (MergeConflict where both changed the same thing, unless `prefer_ours`), with the
        next generation."""
        theirs = self._read_meta(f)
        landed = self._attempted is not None and theirs == self._attempted
        if landed:  # a save that failed got applied after all: its history entries are in
            del self._changes.history[: self._attempted_history]
        else:
            self._log_edits(self._meta)
        if theirs == self._base or landed:
            meta = self._meta.copy()
        else:
            meta = merge(self._base, self._meta, theirs, self.path, prefer_ours)
            changed = (*self._changes.images, *self._changes.masks, *self._changes.predictions)
            clashes = [f"image {i}: removed by the other program"
                       for i in changed if i not in meta.records]
            if theirs.generation > self._base.generation:
                record_names = {i: r.name for i, r in self._meta.records.items()}
                clashes += self._changes.overwrites(f, self._base.generation, record_names)
            if prefer_ours:  # keep what can be kept: not an image whose pixels are gone
                for image_id, record in list(meta.records.items()):
                    gone = record.embedded and image_id not in f[schema.IMAGES]
                    if gone and image_id not in self._changes.images:
                        del meta.records[image_id]
            elif clashes:
                raise MergeConflict(clashes, self.path)
        meta.generation = max(theirs.generation, self._base.generation) + 1
        return meta

    @_locked
    def save_as(self, new_path: str | Path) -> None:
        """Copy the project to `new_path` (atomically), save the changes there and keep it open."""
        new_path = Path(new_path)
        if new_path.resolve() == self.path.resolve():
            self.save()
            return
        temp = new_path.with_name(new_path.name + ".new")
        try:
            shutil.copyfile(self.path, temp)
            with temp.open("rb") as fh:
                os.fsync(fh.fileno())
            forget(new_path)
            os.replace(temp, new_path)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise ProjectError(f"cannot save as: {exc.strerror or exc}", new_path) from exc
        self._close_handle()
        exclusive = self._edit_lock is not None
        self._release_edit_lock()
        self.path = new_path
        if exclusive:  # the window keeps the project it now edits to itself
            self._edit_lock = EditLock.take(new_path)
        self.readonly = False  # the copy is the old file; the changes are saved onto it
        self._changes.meta = True
        self.save(prefer_ours=True)
