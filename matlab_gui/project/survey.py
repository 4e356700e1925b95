"""What a possibly damaged project file still holds, read defensively: the input of `repair`.

`Project.open` refuses a file whose metadata it cannot trust, and reads a dataset only when
asked, so damage shows one piece at a time. A survey instead looks at everything once, each
attribute and dataset on its own (one that is missing, unreadable or of the wrong kind is a
`Problem`, never a KeyError), and works out what a repaired copy keeps. It reads attributes and
the shapes and types of datasets only, never pixels: a few HDF5 object headers per image, well
under a second for a project of hundreds of 4k images, however large they are.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import h5py
import numpy as np

from matlab_gui.errors import ProjectError, SchemaTooNewError
from matlab_gui.file_kinds import HDF5_SIGNATURE
from matlab_gui.project import schema
from matlab_gui.project.journal import journal_path, pending, shared
from matlab_gui.project.names import check_image_name, check_name
from matlab_gui.project.schema import ClassDef, ImageRecord, Meta

# what h5py raises for a missing, dangling or unreadable object or attribute
_READ_ERRORS = (KeyError, OSError, ValueError, TypeError, RuntimeError)
_NUMERIC = "biuf"  # numpy kinds a mask may have (converted to class numbers by the copy)
MASK_TYPES = (np.dtype(np.uint8), np.dtype(np.uint16))


@dataclass(frozen=True)
class Problem:
    """One thing missing or inconsistent: `kind` (a stable word: schema, journal, metadata,
    classes, images, group, image, mask, mask-values, label, prediction, model, history, orphans),
    what is wrong, the image it concerns (name and id) when it is one image's, and what a
    repaired copy does about it."""

    kind: str
    what: str
    fix: str
    image: str | None = None
    image_id: str | None = None

    def line(self) -> str:
        where = f"{self.image} ({self.image_id}): " if self.image_id else ""
        return f"{where}{self.what} -> {self.fix}"

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Survey:
    """What a repaired copy holds: `meta` (classes, the records it keeps, corrected; models,
    settings), the masks it copies (their values are checked as they are read), the predictions
    (with or without confidence), the readable history; and every problem found."""

    meta: Meta = field(default_factory=Meta)
    masks: set[str] = field(default_factory=set)
    predictions: dict[str, bool] = field(default_factory=dict)  # id -> keeps its confidence
    history: list[dict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    left_out: int = 0  # images the copy cannot keep (their pixels or their record are gone)

    def problem(self, kind: str, what: str, fix: str, record: ImageRecord | None = None) -> None:
        self.problems.append(Problem(kind, what, fix, record and record.name, record and record.id))


@contextmanager
def reading(path: Path) -> Iterator[h5py.File]:
    """The project file open for reading, as `Project` reads it (its own file object, the
    readers' lock held); ProjectError when it is no file or no HDF5 file at all."""
    if not path.exists():
        raise ProjectError("no such file", path)
    if not path.is_file():
        raise ProjectError("is a folder, not a project file", path)
    with ExitStack() as stack:
        try:
            stack.enter_context(shared(path))
            raw = stack.enter_context(path.open("rb", buffering=0))
            if raw.read(8) != HDF5_SIGNATURE:
                raise ProjectError("not a matlab_gui project (not an HDF5 file)", path)
            raw.seek(0)
            f = stack.enter_context(h5py.File(raw, "r"))
        except OSError as exc:
            raise ProjectError(f"corrupt or unreadable project file: {exc}", path) from exc
        yield f


def child(group, name: str):
    """`group[name]` (one plain name), or None when it is missing, dangling or unreadable."""
    if group is None:
        return None
    try:
        check_name(name, "name")
        if not group.id.links.exists(name.encode()):
            return None
        return group[name]
    except _READ_ERRORS:
        return None


def _object_id(parent, name: str):
    """The low-level id of `parent[name]` (`parent` a group or a group's id), or None: half the
    cost of h5py's objects, and a survey opens several per image."""
    if parent is None:
        return None
    parent = parent.id if isinstance(parent, h5py.Group) else parent
    try:
        check_name(name, "name")
        if not parent.links.exists(name.encode()):
            return None
        return h5py.h5o.open(parent, name.encode())
    except _READ_ERRORS:
        return None


def _dataset(group, name: str) -> h5py.h5d.DatasetID | None:
    """The shape and dtype of `group[name]` (a DatasetID), or None when it is no dataset."""
    found = _object_id(group, name)
    return found if isinstance(found, h5py.h5d.DatasetID) else None


def _group(f: h5py.File, name: str) -> h5py.Group | None:
    found = child(f, name)
    return found if isinstance(found, h5py.Group) else None


def _attr(attrs, key: str):
    """(value, None), or (None, why not): 'missing' or 'unreadable (…)'."""
    try:
        if key not in attrs:
            return None, "missing"
        return attrs[key], None
    except _READ_ERRORS as exc:
        return None, f"unreadable ({exc})"


def _json_attr(attrs, key: str, kind: type):
    """A JSON root attribute of the given kind (list, dict), or (None, why not)."""
    value, why = _attr(attrs, key)
    if why:
        return None, why
    try:
        data = json.loads(value)
    except (TypeError, ValueError) as exc:
        return None, f"not JSON ({exc})"
    if not isinstance(data, kind):
        return None, f"not a JSON {kind.__name__}"
    return data, None


def _size(shape) -> str:
    return " x ".join(str(s) for s in shape) or "a scalar"


# -- the file as a whole ---------------------------------------------------------------------
def _check_schema(f: h5py.File, path: Path, s: Survey) -> None:
    fmt, _ = _attr(f.attrs, "format")
    if fmt != schema.FORMAT_NAME:
        if _attr(f.attrs, "images")[1] and _group(f, schema.IMAGES) is None:
            raise ProjectError("not a matlab_gui project (HDF5 without project data)", path)
        s.problem("schema", f"the format attribute is {'missing' if fmt is None else repr(fmt)}",
                  "the copy is marked as a matlab_gui project")
    raw, why = _attr(f.attrs, "schema_version")
    try:
        version = None if why else int(raw)
    except (TypeError, ValueError, OverflowError):
        version = None
    if version is not None and version > schema.SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"written by a newer matlab_gui (schema {version}, this version reads up to "
            f"{schema.SCHEMA_VERSION}); update the app", path)
    if version is None or version < 1:
        s.problem("schema", f"the schema version is {why or repr(raw)}",
                  f"the copy has schema version {schema.SCHEMA_VERSION}")
    if pending(path):
        s.problem("journal", f"an interrupted save waits in {journal_path(path).name}",
                  "open the project once to finish that save, then repair what is left")


def _check_counter(f: h5py.File, s: Survey) -> None:
    raw, why = _attr(f.attrs, "generation")
    try:
        int(raw if not why else 0)
    except (TypeError, ValueError, OverflowError):
        s.problem("metadata", f"the save counter (generation) is {raw!r}",
                  "the copy counts its saves afresh")


# -- classes ---------------------------------------------------------------------------------
def _class_def(entry) -> ClassDef:
    index, name, colour = entry["index"], entry["name"], entry["color"]
    if not isinstance(index, int) or not 1 <= index <= 65535 or not isinstance(name, str):
        raise ValueError(f"class {entry!r}")
    if len(colour) != 3 or not all(isinstance(c, int) and 0 <= c <= 255 for c in colour):
        raise ValueError(f"colour {colour!r}")
    return ClassDef(index, name, tuple(colour))


def _classes_from_arrays(attrs) -> list[ClassDef]:
    """The classes from class_values / class_names / class_colors (the JSON's twin), or []."""
    try:
        values, names = attrs["class_values"], attrs["class_names"]
        colours = attrs["class_colors"]
        return [_class_def({"index": int(v), "name": n.decode() if isinstance(n, bytes) else str(n),
                            "color": [int(c) for c in rgb]})
                for v, n, rgb in zip(values, names, colours, strict=True)]
    except (*_READ_ERRORS, AttributeError):
        return []


def _read_classes(f: h5py.File, s: Survey) -> list[ClassDef]:
    entries, why = _json_attr(f.attrs, "classes", list)
    if why:
        classes = _classes_from_arrays(f.attrs)
        s.problem("classes", f"the class list is {why}",
                  "the copy takes the classes from class_values and class_names" if classes else
                  "the copy starts with no classes; values painted in masks get placeholder classes")
        return classes
    classes, bad = {}, []
    for entry in entries:
        try:
            c = _class_def(entry)
        except (KeyError, TypeError, ValueError):
            bad.append(entry)
            continue
        if c.index in classes:
            bad.append(entry)
        else:
            classes[c.index] = c
    if bad:
        s.problem("classes", f"{len(bad)} of the {len(entries)} classes are unreadable or repeat "
                  "an index", "the copy leaves them out; values painted with them get placeholder "
                  "classes")
    return sorted(classes.values(), key=lambda c: c.index)


# -- image records ---------------------------------------------------------------------------
def _is_pixel_size(v) -> bool:
    return v is None or isinstance(v, int | float) and not isinstance(v, bool) \
        and math.isfinite(v) and v > 0


# fields a record can do without: a bad value is cleared, the rest of the record kept
_CLEARABLE = {
    "pixel_size_m": _is_pixel_size,
    "label": lambda v: v is None or isinstance(v, int) and not isinstance(v, bool),
    "source_path": lambda v: v is None or isinstance(v, str),
    "sha256": lambda v: v is None or isinstance(v, str),
}


def _record(entry) -> tuple[ImageRecord, list[str]]:
    """A record from its JSON, every field checked, and the names of the fields cleared (bad
    values of fields it can do without); ValueError naming the first other bad field."""
    if not isinstance(entry, dict):
        raise ValueError("not a JSON object")
    cleared = [k for k, ok in _CLEARABLE.items() if not ok(entry.get(k))]
    try:
        r = ImageRecord.from_json({**entry, **dict.fromkeys(cleared)})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"fields ({exc})") from None
    check_name(r.id, "image id")
    check_image_name(r.name)
    checks = {
        "shape": isinstance(r.shape, tuple) and len(r.shape) in (2, 3)
        and all(isinstance(n, int) and n > 0 for n in r.shape),
        "flags": all(isinstance(v, bool) for v in (r.embedded, r.has_mask, r.has_prediction)),
    }
    try:
        checks["dtype"] = isinstance(r.dtype, str) and np.dtype(r.dtype).kind in _NUMERIC
    except TypeError:
        checks["dtype"] = False
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        raise ValueError(f"its {bad[0]}")
    if not r.embedded and not r.source_path:
        raise ValueError("a referenced image without a path")
    return r, cleared


def _text(attrs, key: str) -> str | None:
    value, why = _attr(attrs, key)
    if why or value is None:
        return None
    value = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    return value or None


def _from_dataset(image_id: str, pixels: h5py.Dataset, masks, predictions) -> ImageRecord:
    """A record rebuilt from an embedded image's own dataset attributes (`schema.describe`)."""
    name = _text(pixels.attrs, "name") or image_id
    try:
        check_image_name(name)
    except ValueError:
        name = image_id
    size, _ = _attr(pixels.attrs, "pixel_size_um")
    try:
        metres = float(size) * 1e-6 if size is not None and math.isfinite(float(size)) else None
    except (TypeError, ValueError):
        metres = None
    return ImageRecord(
        id=image_id, name=name, source_path=_text(pixels.attrs, "source_path"),
        sha256=_text(pixels.attrs, "sha256"), embedded=True,
        shape=tuple(int(n) for n in pixels.shape), dtype=str(pixels.dtype),
        pixel_size_m=metres if metres and metres > 0 else None, label=None,
        has_mask=_dataset(masks, image_id) is not None,
        has_prediction=isinstance(_object_id(predictions, image_id), h5py.h5g.GroupID),
    )


def _read_records(f: h5py.File, groups: dict, s: Survey) -> tuple[list[ImageRecord], set[str]]:
    """The readable records, in order (rebuilt from the stored images where the list or an
    entry is unreadable), and every id the list names (datasets of other ids are orphans)."""
    images, masks, predictions = (groups[g] for g in (schema.IMAGES, schema.MASKS, schema.PREDICTIONS))
    entries, why = _json_attr(f.attrs, "images", list)
    if why:
        stored = [n for n in (images.keys() if images is not None else ())
                  if _dataset(images, n) is not None]
        records = [_from_dataset(n, images[n], masks, predictions) for n in sorted(stored)]
        s.problem("images", f"the image list is {why}",
                  f"the copy rebuilds it from the {len(records)} images stored in the file (names, "
                  "pixel sizes, masks and predictions kept; image labels and images referenced by "
                  "path are lost)")
        return records, {r.id for r in records}
    records: dict[str, ImageRecord] = {}
    named = set()
    for entry in entries:
        image_id, name = (entry.get(k) if isinstance(entry, dict) else None for k in ("id", "name"))
        image_id = image_id if isinstance(image_id, str) else None
        if image_id is not None:
            named.add(image_id)
        try:
            record, cleared = _record(entry)
            if cleared:
                s.problem("metadata", f"its record's {', '.join(cleared)} is unreadable",
                          "the copy clears it", record)
        except ValueError as exc:
            pixels = _dataset(images, image_id) if image_id is not None else None
            fix = ("the copy rebuilds it from its stored image" if pixels is not None
                   else "the copy leaves this image out")
            s.problems.append(Problem("metadata", f"its record is unreadable: {exc}", fix,
                                      name if isinstance(name, str) else None, image_id))
            if pixels is None:
                s.left_out += 1
                continue
            if image_id in records:
                continue
            record = _from_dataset(image_id, images[image_id], masks, predictions)
        if record.id in records:
            s.problem("metadata", "a second record with the same id",
                      "the copy keeps the first", record)
            continue
        records[record.id] = record
    return list(records.values()), named


def _check_pixels(record: ImageRecord, images, s: Survey) -> ImageRecord | None:
    """The record as the copy keeps it (its shape and type those of its stored pixels), or
    None when its pixels are gone."""
    from matlab_gui.imaging.read import SUPPORTED_DTYPES  # the pixel types the app reads

    if not record.embedded:
        return record
    lost = " with its mask" if record.has_mask else ""
    pixels = _dataset(images, record.id)
    if pixels is None:
        s.left_out += 1
        if images is not None:
            s.problem("image", f"its pixels (/images/{record.id}) are missing",
                      f"the copy leaves this image out{lost}", record)
        return None
    shape, dtype = tuple(int(n) for n in pixels.shape), pixels.dtype
    if dtype.name not in SUPPORTED_DTYPES or len(shape) not in (2, 3) or 0 in shape:
        s.left_out += 1
        s.problem("image", f"its pixels are not an image ({dtype}, {_size(shape)})",
                  f"the copy leaves this image out{lost}", record)
        return None
    if shape != record.shape or str(dtype) != record.dtype:
        s.problem("image", f"listed as {_size(record.shape)} {record.dtype}, its pixels are "
                  f"{_size(shape)} {dtype}", "the copy lists it as its pixels are", record)
        record = replace(record, shape=shape, dtype=str(dtype))
    return record


def _check_mask(record: ImageRecord, masks, s: Survey) -> bool:
    """Whether the copy keeps this image's mask (its values are checked as it is copied)."""
    if not record.has_mask or masks is None:
        return False
    mask = _dataset(masks, record.id)
    without = "the copy keeps the image without a mask"
    if mask is None:
        s.problem("mask", f"it has a mask, but /masks/{record.id} is missing", without, record)
        return False
    shape, dtype = tuple(int(n) for n in mask.shape), mask.dtype
    if len(shape) != 2:
        s.problem("mask", f"its mask is {len(shape)}-D ({_size(shape)}), not one class number per "
                  "pixel", f"{without} (it does not fit the image)", record)
        return False
    if shape != record.shape[:2]:
        s.problem("mask", f"its mask is {_size(shape)}, the image {_size(record.shape[:2])}",
                  f"{without} (it does not fit the image)", record)
        return False
    if dtype.kind not in _NUMERIC:
        s.problem("mask", f"its mask holds {dtype}, not class numbers", without, record)
        return False
    if dtype not in MASK_TYPES:
        s.problem("mask", f"its mask holds {dtype} numbers, not 8/16-bit class numbers",
                  "the copy keeps its whole class numbers as 8/16-bit; negative, fractional and "
                  "NaN pixels become unlabelled", record)
    s.masks.add(record.id)
    return True


def _check_prediction(record: ImageRecord, predictions, s: Survey) -> bool:
    if not record.has_prediction or predictions is None:
        return False
    group = _object_id(predictions, record.id)
    labels = _dataset(group, "labels") if isinstance(group, h5py.h5g.GroupID) else None
    hw = record.shape[:2]
    if labels is None or labels.dtype.kind not in "iu" or labels.shape != hw:
        what = ("its prediction is missing" if labels is None else
                f"its prediction is {_size(labels.shape)} {labels.dtype}, the image {_size(hw)}")
        s.problem("prediction", what, "the copy keeps the image without a prediction", record)
        return False
    confidence = _dataset(group, "confidence")
    keeps = (confidence is not None and confidence.dtype.kind == "f"
             and len(confidence.shape) in (2, 3) and confidence.shape[-2:] == hw)
    if confidence is not None and not keeps:
        s.problem("prediction", f"its prediction's confidence is {_size(confidence.shape)} "
                  f"{confidence.dtype}", "the copy keeps the predicted labels without it", record)
    s.predictions[record.id] = keeps
    return True


def _check_label(record: ImageRecord, classes: list[ClassDef], s: Survey) -> ImageRecord:
    """The record with a label the copy can keep: one that is no class gets a placeholder
    class (see `repair`), one that cannot be a class number is dropped."""
    if record.label is None or record.label in {c.index for c in classes}:
        return record
    keeps = 1 <= record.label <= 65535
    s.problem("label", f"its image label {record.label} is no class",
              f"the copy adds a placeholder class {record.label}" if keeps else
              "the copy leaves the image unlabelled", record)
    return record if keeps else replace(record, label=None)


# -- models, settings, history ---------------------------------------------------------------
def _model_files(models_group, name: str, files) -> list[str]:
    """The model's file names when all its files are stored; ValueError saying what is not."""
    check_name(name, "model name")
    if not isinstance(files, list) or not files:
        raise ValueError("it lists no files")
    group = child(models_group, name)
    if not isinstance(group, h5py.Group):
        raise ValueError("its files are missing")
    for file_name in files:
        check_name(file_name, "model file name")
        data = _dataset(group, file_name)
        if data is None or data.dtype != np.uint8 or len(data.shape) != 1:
            raise ValueError(f"its file {file_name!r} is missing or not bytes")
    return list(files)


def _read_models(f: h5py.File, models_group, s: Survey) -> None:
    listed, why = _json_attr(f.attrs, "models", dict)
    if why:
        listed = {} if models_group is None else {
            n: list(g.keys()) for n in models_group.keys()
            if isinstance(g := child(models_group, n), h5py.Group)}
        s.problem("metadata", f"the model list is {why}",
                  f"the copy lists the {len(listed)} models stored in the file")
    for name, files in listed.items():
        try:
            s.meta.models[name] = _model_files(models_group, name, files)
        except ValueError as exc:
            s.problem("model", f"model {name!r}: {exc}", "the copy leaves this model out")
    current = _text(f.attrs, "current_model")
    if current in s.meta.models:
        s.meta.current_model = current
    elif current is not None:
        s.problem("model", f"the current model {current!r} is not in the project",
                  "the copy has no current model")


def _read_settings(f: h5py.File, s: Survey) -> None:
    settings, why = _json_attr(f.attrs, "settings", dict)
    if why:
        s.problem("metadata", f"the view settings are {why}", "the copy starts with default "
                  "view settings")
    s.meta.settings = settings or {}


def _read_history(f: h5py.File, s: Survey) -> None:
    found = child(f, schema.HISTORY)
    if found is None:
        s.problem("history", "the history is missing", "the copy starts a new history")
        return
    try:
        lines = schema.history_lines(found)
    except _READ_ERRORS:
        lines = None
    if lines is None:
        s.problem("history", "the history is unreadable", "the copy starts a new history")
        return
    bad = 0
    for line in lines:
        try:
            entry = json.loads(line)
        except (TypeError, ValueError):
            entry = None
        if isinstance(entry, dict) and isinstance(entry.get("action"), str):
            s.history.append(entry)
        else:
            bad += 1
    if bad:
        s.problem("history", f"{bad} of the {len(lines)} history entries are unreadable",
                  "the copy keeps the others")


# -- all of it -------------------------------------------------------------------------------
_LOSES = {schema.IMAGES: ("embedded images lose their pixels", lambda r: r.embedded),
          schema.MASKS: ("images lose their masks", lambda r: r.has_mask),
          schema.PREDICTIONS: ("images lose their predictions", lambda r: r.has_prediction),
          schema.MODELS: ("", lambda r: False)}


def _orphans(groups: dict, named: set[str], s: Survey) -> None:
    """Datasets no record names: not part of the project as the app sees it."""
    for name in (schema.IMAGES, schema.MASKS, schema.PREDICTIONS):
        try:
            extra = sorted(set(groups[name].keys()) - named) if groups[name] is not None else []
        except _READ_ERRORS:
            extra = []
        if extra:
            s.problem("orphans", f"/{name} holds {len(extra)} entries no image record names "
                      f"({', '.join(extra[:3])}{', …' if len(extra) > 3 else ''})",
                      "the copy leaves them out")


def survey(f: h5py.File, path: Path) -> Survey:
    """Everything wrong with the open project file `f`, and what its repaired copy keeps.
    ProjectError for HDF5 that holds no project, SchemaTooNewError for a newer one."""
    s = Survey()
    try:
        f.attrs.keys()  # the root's own header: nothing is reachable without it
    except _READ_ERRORS as exc:
        raise ProjectError(f"corrupt project file: its root cannot be read ({exc})", path) from None
    _check_schema(f, path, s)
    _check_counter(f, s)
    groups = {g: _group(f, g) for g in schema.GROUPS}
    classes = _read_classes(f, s)
    records, named = _read_records(f, groups, s)
    for group, (loses, has) in _LOSES.items():
        if groups[group] is None:
            n = sum(map(has, records))
            found = "is missing" if child(f, group) is None else "is not a group"
            s.problem("group", f"the group /{group} {found}",
                      "the copy has an empty one" + (f"; {n} {loses}" if n else ""))
    for record in records:
        kept = _check_pixels(record, groups[schema.IMAGES], s)
        if kept is None:
            continue
        kept = _check_label(kept, classes, s)
        kept = replace(kept, has_mask=_check_mask(kept, groups[schema.MASKS], s),
                       has_prediction=_check_prediction(kept, groups[schema.PREDICTIONS], s))
        s.meta.records[kept.id] = kept
    _orphans(groups, named, s)
    s.meta.classes = classes
    _read_models(f, groups[schema.MODELS], s)
    _read_settings(f, s)
    _read_history(f, s)
    return s
