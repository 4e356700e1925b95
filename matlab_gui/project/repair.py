"""Repair mode for a damaged project: what is missing or inconsistent, and a repaired copy.

`diagnose` lists the problems (`survey.Problem`: what is wrong, which image, what the copy does
about it). By default it reads attributes and the shapes and types of datasets only, so the
window runs it on every project it opens: a healthy project of hundreds of 4k images pays a few
header reads per image, never its pixels. Mask values (classes the project lacks, negative or NaN pixels) take one
pass over every mask, which is no price to pay on the GUI thread for each open: `read_masks`
adds that pass (the `repair` command asks for it), `save_repaired_copy` makes it anyway as it
copies the masks, and training refuses such a mask with a message naming its image.

`save_repaired_copy` never touches the damaged file: it writes a new project beside a temporary
name through the same code a save uses (`Changes.write`), checks that it opens, and only then
moves it into place.
"""

from __future__ import annotations

import colorsys
import os
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np

from matlab_gui.errors import ProjectError
from matlab_gui.progress import CancelToken, Progress, ProgressCallback, report
from matlab_gui.project import schema
from matlab_gui.project.changes import Changes
from matlab_gui.project.edit_lock import EditLock
from matlab_gui.project.journal import forget, journal_path, pending
from matlab_gui.project.schema import ClassDef, ImageRecord, Meta
from matlab_gui.project.store import Project
from matlab_gui.project.survey import MASK_TYPES, Problem, Survey, child, reading, survey

__all__ = ["Problem", "RepairReport", "diagnose", "save_repaired_copy"]

_READ_ERRORS = (KeyError, OSError, ValueError, TypeError, RuntimeError)
MAX_FOUND_VALUES = 64  # more values that are no class than this in one mask: noise, not labels
_BATCH_BYTES = 256 << 20  # pixels held in memory between writes of the copy
TEMP_SUFFIX = ".repairing"


@dataclass(frozen=True)
class RepairReport:
    """What `save_repaired_copy` did: every problem found (mask values included) and resolved
    as it says, how many images the copy holds and leaves out, the classes it added."""

    path: Path
    copy: Path
    problems: tuple[Problem, ...]
    images: int
    left_out: int
    classes_added: tuple[str, ...]

    def to_json(self) -> dict:
        return {"path": str(self.path), "copy": str(self.copy), "images": self.images,
                "left_out": self.left_out, "classes_added": list(self.classes_added),
                "problems": [p.to_json() for p in self.problems]}


# -- mask values -----------------------------------------------------------------------------
def _class_numbers(mask: np.ndarray) -> tuple[np.ndarray, str]:
    """The mask as 8/16-bit class numbers, and which pixels became unlabelled (0) because they
    cannot be a class number: NaN, negative, fractional, above 65535."""
    if mask.dtype in MASK_TYPES:
        return mask, ""
    if mask.dtype.kind == "b":
        return mask.astype(np.uint8), ""
    values = mask.astype(np.float64)
    bad = np.zeros(mask.shape, bool)
    notes = []
    with np.errstate(invalid="ignore"):
        for what, where in (("NaN", ~np.isfinite(values)), ("negative", values < 0),
                            ("fractional", values != np.floor(values)),
                            ("above 65535", values > 65535)):
            where &= ~bad  # each pixel counted once
            if where.any():
                notes.append(f"{int(where.sum())} {what}")
                bad |= where
    values[bad] = 0
    top = values.max(initial=0)
    return values.astype(np.uint8 if top <= 255 else np.uint16), ", ".join(notes)


def _checked_mask(record: ImageRecord, mask: np.ndarray, classes: set[int], found: set[int],
                  s: Survey) -> np.ndarray | None:
    """The mask the copy keeps (8/16-bit, every value a class once the values in `found` get
    placeholder classes), or None; what was wrong goes to the survey's problems."""
    mask, unlabelled = _class_numbers(mask)
    if unlabelled:
        s.problem("mask-values", f"its mask has {unlabelled} pixels",
                  "the copy makes them unlabelled", record)
    present = np.flatnonzero(np.bincount(mask.ravel()))
    unknown = [int(v) for v in present if v and v not in classes]
    if len(unknown) > MAX_FOUND_VALUES:
        s.problem("mask-values", f"its mask holds {len(unknown)} values that are no class: noise, "
                  "not class numbers", "the copy keeps the image without a mask", record)
        return None
    if unknown:
        shown = ", ".join(map(str, unknown[:8])) + (", …" if len(unknown) > 8 else "")
        top = max(classes, default=0)
        one = len(unknown) == 1
        s.problem("mask-values", f"its mask holds {'value' if one else 'values'} {shown}, "
                  f"{'which is' if one else 'which are'} no class (highest class {top})",
                  f"the copy adds {'a placeholder class' if one else 'placeholder classes'} "
                  "so no painted pixel is lost", record)
        found.update(unknown)
    return mask


def _read(dataset) -> np.ndarray:
    if not isinstance(dataset, h5py.Dataset):
        raise KeyError("missing")
    return dataset[()]


def _read_mask(f: h5py.File, record: ImageRecord, s: Survey) -> np.ndarray | None:
    try:
        return _read(child(child(f, schema.MASKS), record.id))
    except _READ_ERRORS as exc:
        s.problem("mask", f"its mask cannot be read ({exc})",
                  "the copy keeps the image without a mask", record)
        return None


def diagnose(path: str | Path, read_masks: bool = False) -> list[Problem]:
    """Every problem of the project at `path`, [] when it is healthy. `read_masks` also reads
    each mask's values (one pass over the masks). ProjectError when `path` is no project at
    all (missing, not HDF5, unreadable), SchemaTooNewError when a newer app wrote it."""
    path = Path(path)
    with reading(path) as f:
        s = survey(f, path)
        if read_masks:
            classes, found = {c.index for c in s.meta.classes}, set()
            for record in (r for r in s.meta.records.values() if r.id in s.masks):
                mask = _read_mask(f, record, s)
                if mask is not None:
                    _checked_mask(record, mask, classes, found, s)
    return s.problems


# -- the repaired copy -----------------------------------------------------------------------
def _colour(index: int) -> tuple[int, int, int]:
    """Golden-angle hues: placeholder classes with neighbouring numbers look different."""
    rgb = colorsys.hsv_to_rgb((index * 0.618034) % 1.0, 0.75, 0.95)
    return tuple(int(round(c * 255)) for c in rgb)


def _placeholders(classes: list[ClassDef], found: set[int], labels: set[int]) -> list[ClassDef]:
    known = {c.index for c in classes}
    return [ClassDef(v, f"class {v} (found in {'masks' if v in found else 'image labels'})",
                     _colour(v)) for v in sorted((found | labels) - known)]


def _check_destination(path: Path, dest: Path, overwrite: bool) -> None:
    if dest.exists() and dest.resolve() == path.resolve():
        raise ProjectError("the repaired copy must be a new file, not the damaged project", dest)
    if dest.is_dir():
        raise ProjectError("is a folder; the repaired copy needs a file name", dest)
    if dest.exists() and not overwrite:
        raise ProjectError("already exists; choose another name for the repaired copy", dest)
    if not dest.parent.is_dir():
        raise ProjectError("its folder does not exist", dest)
    if pending(path):
        raise ProjectError(f"an interrupted save waits in {journal_path(path).name}: open the "
                           "project once to finish it, then repair it", path)


class _Copy:
    """Writes the intact parts of a surveyed file into a new, empty project file, in batches of
    about `_BATCH_BYTES` (a project of hundreds of 4k images never sits in memory whole)."""

    def __init__(self, source: h5py.File, s: Survey, out: h5py.File):
        self.source, self.s, self.out = source, s, out
        self.meta = Meta(classes=list(s.meta.classes), settings=s.meta.settings, generation=1)
        self.classes = {c.index for c in s.meta.classes}
        self.found: set[int] = set()
        self.batch, self.size = Changes(), 0

    def image(self, record: ImageRecord) -> None:
        """Copy one image with its mask and prediction (none of it when its pixels are
        unreadable)."""
        s, pixels = self.s, None
        if record.embedded:
            try:
                pixels = _read(child(child(self.source, schema.IMAGES), record.id))
            except _READ_ERRORS as exc:
                s.left_out += 1
                s.problem("image", f"its pixels cannot be read ({exc})",
                          "the copy leaves this image out", record)
                return
            self.batch.images[record.id] = pixels
        mask = _read_mask(self.source, record, s) if record.id in s.masks else None
        if mask is not None:
            mask = _checked_mask(record, mask, self.classes, self.found, s)
        if mask is not None:
            self.batch.masks[record.id] = mask
        prediction = self._prediction(record) if record.id in s.predictions else None
        if prediction is not None:
            self.batch.predictions[record.id] = prediction
        self.meta.records[record.id] = replace(record, has_mask=mask is not None,
                                               has_prediction=prediction is not None)
        self.size += sum(a.nbytes for a in (pixels, mask) if a is not None)
        if self.size > _BATCH_BYTES:
            self.flush()

    def _prediction(self, record: ImageRecord):
        group = child(child(self.source, schema.PREDICTIONS), record.id)
        try:
            labels = _read(child(group, "labels"))
            confidence = _read(child(group, "confidence")) if self.s.predictions[record.id] else None
            model = group.attrs.get("model", "")
        except _READ_ERRORS as exc:
            self.s.problem("prediction", f"its prediction cannot be read ({exc})",
                           "the copy keeps the image without a prediction", record)
            return None
        model = model.decode(errors="replace") if isinstance(model, bytes) else str(model)
        return labels, confidence, model or None

    def models(self) -> None:
        for name, files in self.s.meta.models.items():
            group = child(child(self.source, schema.MODELS), name)
            try:
                self.batch.models[name] = {n: _read(child(group, n)).tobytes() for n in files}
            except _READ_ERRORS as exc:
                self.s.problem("model", f"model {name!r} cannot be read ({exc})",
                               "the copy leaves this model out")
                continue
            self.meta.models[name] = list(files)
        current = self.s.meta.current_model
        self.meta.current_model = current if current in self.meta.models else None

    def flush(self) -> None:
        self.batch.write(self.out, self.meta)
        self.batch, self.size = Changes(), 0

    def finish(self, source_path: Path) -> list[ClassDef]:
        """Write the rest with the metadata and the history; the placeholder classes added."""
        labels = {r.label for r in self.meta.records.values() if r.label is not None}
        added = _placeholders(self.meta.classes, self.found, labels)
        self.meta.classes = sorted(self.meta.classes + added, key=lambda c: c.index)
        entry = {"time": datetime.now(UTC).isoformat(timespec="milliseconds"),
                 "action": "repair project",
                 "details": {"from": str(source_path),
                             "problems": [p.line() for p in self.s.problems]}}
        self.batch.meta = True
        self.batch.described = set(self.meta.records)
        self.batch.history = [*self.s.history, entry]
        self.flush()
        schema.link_by_name(self.out, self.meta)  # whole: batches linked only their own images
        return added


def _write_copy(path: Path, temp: Path, progress: ProgressCallback | None,
                cancel: CancelToken) -> RepairReport:
    with reading(path) as source:
        s = survey(source, path)
        Project.create(temp, overwrite=True).close()
        with h5py.File(temp, "r+", locking=False) as out:
            del out[schema.HISTORY]  # the copy carries on the damaged project's history
            copy = _Copy(source, s, out)
            records = list(s.meta.records.values())
            for done, record in enumerate(records):
                cancel.raise_if_cancelled()
                report(progress, Progress("repair", done, len(records), message=record.name))
                copy.image(record)
            copy.models()
            added = copy.finish(path)
    report(progress, Progress("repair", len(records), len(records)))
    return RepairReport(path, temp, tuple(s.problems), len(copy.meta.records), s.left_out,
                        tuple(c.name for c in added))


def save_repaired_copy(
    path: str | Path,
    dest: str | Path,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> RepairReport:
    """Write a new project at `dest` holding everything intact in the project at `path`, each
    problem resolved as its diagnosis says; `path` is only read. Atomic: `dest` appears whole
    or not at all (also when cancelled). ProjectError naming the file when it cannot be done."""
    path, dest = Path(path), Path(dest)
    cancel = cancel or CancelToken()
    _check_destination(path, dest, overwrite)
    lock = EditLock.take(dest)  # never replace a project a window is editing
    temp = dest.with_name(dest.name + TEMP_SUFFIX)
    try:
        done = _write_copy(path, temp, progress, cancel)
        Project.open(temp, readonly=True).close()  # the copy is a normal project
        with temp.open("rb") as fh:
            os.fsync(fh.fileno())
        forget(dest)  # a journal of a project replaced by the copy must not touch it
        os.replace(temp, dest)
    except OSError as exc:
        raise ProjectError(f"cannot write the repaired copy: {exc.strerror or exc}", dest) from exc
    finally:
        temp.unlink(missing_ok=True)
        if lock is not None:
            lock.release()
    return replace(done, copy=dest)

