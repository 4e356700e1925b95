"""What a project file holds, and where: the one place that knows the HDF5 layout.

Layout (schema 1):
  attrs   format, schema_version, classes (json), images (json: per-image metadata in order),
          models (json: name -> file names), current_model, settings (json), generation (int:
          the number of saves, so a save notices another process's save since it last read),
          class_values / class_names / class_colors (the classes as plain arrays)
  /images/<id>            embedded pixel data (native dtype)
  /masks/<id>             label mask, chunked + compressed, 0 = unlabelled
  /predictions/<id>/labels, /predictions/<id>/confidence
  /models/<name>/<file>   bytes of a trained model folder's files
  /history/<000001, ...>  append-only JSON entries (time, action, details), one per dataset
  /by_name/<image name>/{image,mask,prediction}  soft links to the datasets above
Every dataset of an image also carries its name, pixel size and element_size_um (`describe`).
All metadata sits in root attributes so opening reads no dataset at all. Every dataset a save
writes carries that save's `generation` attribute. Names read from the file (image ids, model
names and file names) are checked to be plain names before anything uses them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import h5py
import numpy as np

from matlab_gui.file_kinds import PROJECT_SUFFIX  # noqa: F401 (re-exported)
from matlab_gui.project.names import check_image_name, check_name

SCHEMA_VERSION = 1
FORMAT_NAME = "matlab_gui project"

IMAGES = "images"
MASKS = "masks"
PREDICTIONS = "predictions"
MODELS = "models"
HISTORY = "history"
GROUPS = (IMAGES, MASKS, PREDICTIONS, MODELS)

# HDF5 >= 1.10 file format: dense attribute storage (large JSON attributes) and persistent
# free-space tracking, so space freed by a replaced mask is reused instead of growing the file.
FILE_OPTIONS = {"libver": ("v110", "v110"), "fs_strategy": "fsm", "fs_persist": True}
MASK_CHUNK = 512


@dataclass(frozen=True)
class ClassDef:
    """One class of the label masks: its index in the mask (>= 1), name and display colour."""

    index: int
    name: str
    color: tuple[int, int, int]

    def __post_init__(self):
        if int(self.index) < 1:
            raise ValueError(f"class index must be >= 1, got {self.index}")
        object.__setattr__(self, "index", int(self.index))
        object.__setattr__(self, "color", tuple(int(c) for c in self.color))

    def to_json(self) -> dict:
        return {"index": self.index, "name": self.name, "color": list(self.color)}

    @classmethod
    def from_json(cls, data: dict) -> ClassDef:
        return cls(data["index"], data["name"], tuple(data["color"]))


@dataclass(frozen=True)
class ImageRecord:
    """What the project knows about one image, without reading its pixels."""

    id: str
    name: str
    source_path: str | None
    sha256: str | None
    embedded: bool
    shape: tuple[int, ...]
    dtype: str
    pixel_size_m: float | None
    label: int | None
    has_mask: bool
    has_prediction: bool

    def to_json(self) -> dict:
        return {**self.__dict__, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, data: dict) -> ImageRecord:
        return cls(**{**data, "shape": tuple(data["shape"])})


def _json_attr(attrs, key: str):
    """One JSON metadata attribute. h5py hands bytes that are not UTF-8 over as lone
    surrogates; such text is damage (a flipped bit), refused here rather than carried into
    class names and model cards where it fails far from the file."""
    text = attrs[key]
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{key!r} holds bytes that are not UTF-8 text") from None
    return json.loads(text)


def _view_settings(value) -> dict:
    """The saved view state; anything but a JSON object is forgotten (it only sets the view)."""
    return value if isinstance(value, dict) else {}


@dataclass
class Meta:
    """All of a project's metadata: small, kept in root attributes, read whole at open."""

    classes: list[ClassDef] = field(default_factory=list)
    records: dict[str, ImageRecord] = field(default_factory=dict)
    models: dict[str, list[str]] = field(default_factory=dict)  # name -> its file names
    current_model: str | None = None
    settings: dict = field(default_factory=dict)
    generation: int = 0

    @classmethod
    def read(cls, attrs) -> Meta:
        """From an h5py attribute mapping; KeyError/ValueError/TypeError when malformed or when
        a name in it is not a plain name."""
        records = [ImageRecord.from_json(r) for r in _json_attr(attrs, "images")]
        for r in records:
            check_name(r.id, "image id")
            check_image_name(r.name)
        models = _json_attr(attrs, "models")
        if not isinstance(models, dict):
            raise TypeError("models must be a mapping")
        for name, files in models.items():
            check_name(name, "model name")
            if not isinstance(files, list) or not files:
                raise TypeError(f"model {name!r} lists no files")
            for file_name in files:
                check_name(file_name, "model file name")
        current = attrs.get("current_model") or None
        if current is not None and current not in models:
            raise ValueError(f"current model {current!r} is not in the project")
        return cls(
            classes=[ClassDef.from_json(c) for c in _json_attr(attrs, "classes")],
            records={r.id: r for r in records},
            models=models,
            current_model=current,
            settings=_view_settings(_json_attr(attrs, "settings")),
            generation=int(attrs.get("generation", 0)),
        )

    def copy(self) -> Meta:
        """An independent copy (records and classes are immutable, the containers are not)."""
        return Meta(
            classes=list(self.classes),
            records=dict(self.records),
            models={name: list(files) for name, files in self.models.items()},
            current_model=self.current_model,
            settings=json.loads(json.dumps(self.settings)),
            generation=self.generation,
        )

    def write(self, attrs) -> None:
        attrs["classes"] = json.dumps([c.to_json() for c in self.classes])
        # the class table again as plain arrays, for readers without a JSON parser (MATLAB)
        attrs["class_values"] = np.array([c.index for c in self.classes], np.int32)
        attrs["class_names"] = np.array([c.name.replace("\x00", "") for c in self.classes],
                                        dtype=h5py.string_dtype())
        attrs["class_colors"] = np.array([c.color for c in self.classes], np.uint8).reshape(-1, 3)
        attrs["images"] = json.dumps([r.to_json() for r in self.records.values()])
        attrs["models"] = json.dumps(self.models)
        attrs["current_model"] = self.current_model or ""
        attrs["settings"] = json.dumps(self.settings)
        attrs["generation"] = self.generation


def _axes(ndim: int, planes_first: bool) -> str:
    return {2: "yx", 3: "cyx" if planes_first else "yxc"}.get(ndim, "")


def linked(group: h5py.Group, path: str) -> bool:
    """Whether `path` (names joined by '/') exists below `group`, asked link by link (H5Lexists):
    `path in group` also reads each object's header, which HDF5 refuses for objects written
    moments ago in the same open file ("Read only entry modified")."""
    for part in path.split("/"):
        if not group.id.links.exists(part.encode()):
            return False
        group = group[part]
    return True


def describe(f: h5py.File, record: ImageRecord) -> None:
    """Name an image's datasets for readers that know only HDF5: the image's name, source,
    checksum and pixel size on each, and `element_size_um` (one value per axis, 1 for
    channels) from which Fiji's HDF5 reader takes the scale."""
    size_um = record.pixel_size_m * 1e6 if record.pixel_size_m else math.nan
    targets = [(IMAGES, record.id, False), (MASKS, record.id, False),
               (PREDICTIONS, f"{record.id}/labels", True),
               (PREDICTIONS, f"{record.id}/confidence", True)]
    for group, name, planes_first in targets:
        if not linked(f[group], name):
            continue
        ds = f[group][name]
        axes = _axes(ds.ndim, planes_first)
        ds.attrs["name"] = record.name
        ds.attrs["source_path"] = record.source_path or ""
        ds.attrs["sha256"] = record.sha256 or ""
        ds.attrs["pixel_size_um"] = size_um
        ds.attrs["axes"] = axes
        if record.pixel_size_m and axes:
            ds.attrs["element_size_um"] = np.array(
                [size_um if a in "yx" else 1.0 for a in axes], np.float64)
        elif "element_size_um" in ds.attrs:
            del ds.attrs["element_size_um"]
        if group == MASKS:
            ds.attrs["values"] = "0 = unlabelled, k = class k (root attributes class_values, class_names)"


BY_NAME = "by_name"


def name_index(meta: Meta) -> dict[str, str]:
    """Image id -> the readable name of its entry in /by_name: its file name, with the id added
    where two images share a name (HDF5 names cannot hold '/'; image names never do)."""
    count: dict[str, int] = {}
    for r in meta.records.values():
        count[r.name] = count.get(r.name, 0) + 1
    return {i: r.name if count[r.name] == 1 and r.name not in (".", "..") else f"{r.name} ({i})"
            for i, r in meta.records.items()}


def link_by_name(f: h5py.File, meta: Meta, ids=None) -> None:
    """/by_name/<image name>/{image,mask,prediction}: soft links to the id-named datasets, so
    h5dump, HDFView and h5read find an image by its name. Rebuilt whole when `ids` is None
    (images added or removed), else made for those images' new datasets."""
    if ids is None and linked(f, BY_NAME):
        del f[BY_NAME]
    index = f.require_group(BY_NAME)
    names = name_index(meta)
    for image_id in meta.records if ids is None else ids:
        if image_id not in names:
            continue
        entry = index.require_group(names[image_id])
        entry.attrs["id"] = image_id
        for link, target in (("image", f"/{IMAGES}/{image_id}"), ("mask", f"/{MASKS}/{image_id}"),
                             ("prediction", f"/{PREDICTIONS}/{image_id}")):
            if linked(f, target.lstrip("/")) and not linked(entry, link):
                entry[link] = h5py.SoftLink(target)


# -- history --------------------------------------------------------------------------------
# /history is a group of entries, one scalar ASCII string (JSON) per dataset named by its
# number from 000001, the count in its `entries` attribute: h5dump and Octave's `load` read
# fixed-length strings (Octave stops a whole `load` at a variable-length one). Projects written before kept the entries in one variable-length string
# dataset; it is read as it is and turned into the group at the next save.


def history_lines(found) -> list[str | None] | None:
    """The history's entries as JSON text in order (None for an entry that cannot be read), or
    None when `found` is not a history at all."""
    if isinstance(found, h5py.Dataset):  # the earlier layout
        if found.ndim != 1 or h5py.check_string_dtype(found.dtype) is None:
            return None
        return list(found.asstr()[()])
    if not isinstance(found, h5py.Group):
        return None
    numbered = {int(n): n for n in found if n.isdigit()}
    lines: list[str | None] = []
    for n in range(1, _history_count(found, numbered) + 1):  # a number missing: a lost entry
        try:
            lines.append(found[numbered[n]][()].decode("utf-8"))
        except (KeyError, OSError, ValueError, TypeError, AttributeError, RuntimeError):
            lines.append(None)
    return lines


HISTORY_GAP_LIMIT = 1000  # lost entries counted at most (a damaged count must not run away)


def _history_count(group: h5py.Group, numbered: dict[int, str]) -> int:
    try:
        recorded = int(group.attrs.get("entries", 0))
    except (TypeError, ValueError, OverflowError):
        recorded = 0
    return min(max([len(group), *numbered, recorded]), len(group) + HISTORY_GAP_LIMIT)


def append_history(f: h5py.File, lines: list[str]) -> None:
    """Add entries (JSON text) to the history, starting it again when another tool removed it
    and turning the earlier single-dataset layout into the group first."""
    group = f.get(HISTORY)
    if not isinstance(group, h5py.Group):
        earlier = [line for line in (history_lines(group) or []) if line is not None]
        if HISTORY in f:
            del f[HISTORY]
        group = f.create_group(HISTORY)
        lines = [*earlier, *lines]
    start = _history_count(group, {int(n): n for n in group if n.isdigit()})
    for n, line in enumerate(lines, start + 1):
        group.create_dataset(f"{n:06d}", data=np.bytes_(line.encode("ascii", "backslashreplace")))
    group.attrs["entries"] = start + len(lines)  # so that a lost last entry shows too
