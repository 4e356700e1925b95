"""`Project`: one `.mgp` file (HDF5) with images, masks, labels, predictions, models and history.

Reads go through a plain read-only h5py handle and touch a dataset only when asked for it, so a
project of hundreds of 4k images opens at once. Changes wait in memory until `save()`, which
writes only what changed, through the crash-safe journal (see `journal.py`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path

import h5py
import numpy as np

from matlab_gui.errors import ProjectError, SchemaTooNewError
from matlab_gui.project import schema
from matlab_gui.project.changes import Changes
from matlab_gui.project.journal import forget, journaled, recover
from matlab_gui.project.schema import ClassDef, ImageRecord, Meta

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


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


class Project:
    """An open project. Create with `Project.create`, open with `Project.open`.

    One thread edits and saves (the GUI); other threads (a training job) may read meanwhile.
    """

    def __init__(self, path: Path):
        """Use `Project.open` / `Project.create`."""
        self.path = Path(path)
        self._h5: h5py.File | None = None
        self._raw = None
        self._stamp: tuple[int, int, int] | None = None
        self._meta = Meta()
        self._changes = Changes()
        self._verified: set[str] = set()  # referenced images whose sha256 was checked
        self._lock = threading.RLock()

    # -- create / open / close ----------------------------------------------------------
    @classmethod
    def create(
        cls, path: str | Path, classes: list[ClassDef] = (), overwrite: bool = False
    ) -> Project:
        """A new, empty project written to disk at once (atomically, via a temp file)."""
        path = Path(path)
        if path.is_dir():
            raise ProjectError("is a folder, not a project file", path)
        if path.exists() and not overwrite:
            raise ProjectError("already exists", path)
        temp = path.with_name(path.name + ".new")
        try:
            with h5py.File(temp, "w", locking=False, **schema.FILE_OPTIONS) as f:
                f.attrs["format"] = schema.FORMAT_NAME
                f.attrs["schema_version"] = schema.SCHEMA_VERSION
                for group in schema.GROUPS:
                    f.create_group(group)
                entry = {"time": _now(), "action": "create project", "details": {}}
                f.create_dataset(
                    schema.HISTORY,
                    data=[json.dumps(entry)],
                    maxshape=(None,),
                    chunks=(256,),
                    dtype=h5py.string_dtype(),
                )
                Meta(classes=sorted(classes, key=lambda c: c.index)).write(f.attrs)
            with temp.open("rb") as fh:
                os.fsync(fh.fileno())
            forget(path)  # a stale journal of an overwritten project must not touch this one
            os.replace(temp, path)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise ProjectError(f"cannot create project: {exc.strerror or exc}", path) from exc
        return cls.open(path)

    @classmethod
    def open(cls, path: str | Path) -> Project:
        """Open an existing project; finishes a save that a killed process left half-done."""
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
        if signature != _HDF5_SIGNATURE:
            raise ProjectError("not a matlab_gui project (not an HDF5 file)", path)
        project = cls(path)
        try:
            recover(path)
            project._open_handle()
        except OSError as exc:
            raise ProjectError(f"corrupt or unreadable project file: {exc}", path) from exc
        return project

    def _open_handle(self) -> None:
        """Open the read handle and load the metadata (root attributes only, no dataset).

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
            self._read_meta(f)
        except BaseException:
            f.close()
            raw.close()
            raise
        self._h5, self._raw, self._stamp = f, raw, stamp

    def _read_meta(self, f: h5py.File) -> None:
        if f.attrs.get("format") != schema.FORMAT_NAME:
            raise ProjectError("not a matlab_gui project (HDF5 without project data)", self.path)
        version = int(f.attrs.get("schema_version", 0))
        if version > schema.SCHEMA_VERSION:
            raise SchemaTooNewError(
                f"written by a newer matlab_gui (schema {version}, this version reads up to "
                f"{schema.SCHEMA_VERSION}); update the app",
                self.path,
            )
        try:
            self._meta = Meta.read(f.attrs)
        except (KeyError, ValueError, TypeError) as exc:
            raise ProjectError(f"corrupt project metadata: {exc}", self.path) from exc

    def _open_handle_keeping_state(self) -> None:
        """Reopen at the current path while keeping the in-memory (unsaved) state."""
        meta = self._meta
        self._open_handle()
        self._meta = meta

    def _close_handle(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._raw.close()
            self._h5 = self._raw = None

    @_locked
    def close(self) -> None:
        """Close the file; unsaved changes are dropped (ask the user before)."""
        self._close_handle()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @_locked
    def _refresh(self) -> None:
        """Reopen when another `Project` or process saved the file since we read it."""
        if self._h5 is None:
            return
        try:
            changed = _stamp(os.stat(self.path)) != self._stamp
        except OSError as exc:
            raise ProjectError(f"project file is gone: {exc.strerror}", self.path) from exc
        if changed:
            self._close_handle()
            if self.dirty:
                self._open_handle_keeping_state()
            else:
                self._open_handle()

    @property
    def _file(self) -> h5py.File:
        """The read handle, fresh."""
        if self._h5 is None:
            raise ProjectError("project is closed", self.path)
        self._refresh()
        return self._h5

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
        if "/" in name or not name or name in (".", ".."):
            raise ValueError(f"invalid model name {name!r}")
        if not folder.is_dir():
            raise ProjectError("model folder not found", folder)
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
        if not files:
            raise ProjectError("model folder has no files", folder)
        self._changes.models[name] = files
        self._meta.models[name] = list(files)
        self._changes.meta = True

    @_locked
    def export_model(self, name: str, dest_folder: str | Path) -> Path:
        """Write a stored model's files into `dest_folder` (created) and return that folder."""
        dest = Path(dest_folder)
        if name in self._changes.models:
            files = self._changes.models[name]
        elif name in self._meta.models:
            group = self._file[schema.MODELS][name]
            files = {f: group[f][()].tobytes() for f in self._meta.models[name]}
        else:
            raise ProjectError(f"no model named {name!r} in the project", self.path)
        dest.mkdir(parents=True, exist_ok=True)
        for file_name, data in files.items():
            (dest / file_name).write_bytes(data)
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
        self._changes.meta = True
        self.log("add image", id=image_id, name=source.name, embedded=embed)
        return image_id

    def remove_image(self, image_id: str) -> None:
        record = self.record(image_id)
        del self._meta.records[image_id]
        self._changes.forget_image(image_id)
        self.log("remove image", id=image_id, name=record.name)

    @_locked
    def read_image(self, image_id: str) -> np.ndarray:
        """The pixels in their native dtype; embedded ones come from the project file."""
        record = self.record(image_id)
        if image_id in self._changes.images:
            return self._changes.images[image_id]
        if record.embedded:
            return self._file[schema.IMAGES][image_id][()]
        source = Path(record.source_path)
        if not source.is_file():
            raise ProjectError(f"referenced image {record.name!r} is missing", source)
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

    @_locked
    def get_mask(self, image_id: str) -> np.ndarray:
        """The label mask (0 = unlabelled); zeros when the image has none yet."""
        record = self.record(image_id)
        if image_id in self._changes.masks:
            return self._changes.masks[image_id].copy()
        if record.has_mask:
            return self._file[schema.MASKS][image_id][()]
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
        """Keep a model's output: labels (argmax) and optionally float16 confidences/probabilities."""
        self.record(image_id)
        conf = None if confidence is None else np.asarray(confidence, dtype=np.float16)
        self._changes.predictions[image_id] = (np.asarray(labels).copy(), conf, model_name)
        self._update(image_id, has_prediction=True)

    @_locked
    def get_prediction(self, image_id: str) -> tuple[np.ndarray, np.ndarray | None] | None:
        if image_id in self._changes.predictions:
            labels, conf, _ = self._changes.predictions[image_id]
            return labels, conf
        if not self.record(image_id).has_prediction:
            return None
        group = self._file[schema.PREDICTIONS][image_id]
        conf = group["confidence"][()] if "confidence" in group else None
        return group["labels"][()], conf

    # -- history --------------------------------------------------------------------------
    def log(self, action: str, **details) -> None:
        """Append one entry to the project's history (kept at the next save)."""
        entry = {"time": _now(), "action": action, "details": details}
        self._changes.history.append(json.loads(json.dumps(entry, default=str)))

    @property
    @_locked
    def history(self) -> list[dict]:
        stored = [json.loads(s) for s in self._file[schema.HISTORY].asstr()[()]]
        return stored + [dict(e) for e in self._changes.history]

    # -- saving ---------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return bool(self._changes)

    @_locked
    def save(self) -> None:
        """Write what changed; a crash at any moment leaves the old or the new project."""
        if not self.dirty:
            return
        self._close_handle()
        try:
            with journaled(self.path) as overlay, h5py.File(overlay, "r+") as f:
                self._changes.write(f, self._meta)
        except BaseException as exc:
            recover(self.path)  # finish a commit that failed while applying, else no-op
            self._open_handle_keeping_state()  # keep the unsaved work for another try
            if isinstance(exc, OSError):
                raise ProjectError(f"cannot save: {exc}", self.path) from exc
            raise
        self._open_handle()
        self._changes = Changes()

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
        self.path = new_path
        self._open_handle_keeping_state()
        self._changes.meta = True
        self.save()
