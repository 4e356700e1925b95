"""Which image each of MATLAB Image Labeler's label files belongs to.

Image Labeler (and `groundTruth` exports) writes pixel labels as `PixelLabelData/Label_<n>.png`
(`PixelLabelData_1`, `_2`, ... for later export sessions), and the numbering is not the order of
the images: it has gaps, and the true image -> label file pairs are only in the exported
`groundTruth` object, `gTruth.DataSource.Source` (image paths) beside
`gTruth.LabelData.PixelLabelData` (label file paths, '' for an image without labels).

That object is a MATLAB class instance (MCOS). In a MAT-file it is stored as an opaque
reference into an undocumented subsystem block, which neither scipy (v5 files) nor h5py (v7.3)
decode, so a `gTruth.mat` straight from the app is recognised and said to be unreadable here.
What can be read:

* a CSV with columns `image,label`, written in MATLAB with
  `writetable(table(gTruth.DataSource.Source, gTruth.LabelData.PixelLabelData,
  'VariableNames', {'image','label'}), 'labels.csv')`;
* a MAT-file holding the same two lists as plain cell arrays (`image = gTruth.DataSource.Source;
  label = gTruth.LabelData.PixelLabelData; save('labels.mat', 'image', 'label')`), v5 or v7.3,
  or a plain struct with the groundTruth's field names (`DataSource.Source`, `LabelData.<col>`).

Paths in either are the labelling machine's (often Windows) paths: only their last parts are
used to find the files here.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

import numpy as np

IMAGE_COLUMNS = ("image", "source", "imagefilename", "images")
LABEL_COLUMNS = ("label", "pixellabeldata", "labels", "labelfile")
MATLAB_COMMAND = ("writetable(table(gTruth.DataSource.Source, gTruth.LabelData.PixelLabelData, "
                  "'VariableNames', {'image','label'}), 'labels.csv')")


@dataclass(frozen=True)
class Pair:
    """One image -> label file pair as the labelling machine wrote it; `line` for messages."""

    image: str
    label: str
    line: int


@dataclass
class LabelerMapping:
    """The pairs one mapping file holds, or why it holds none that can be read (`problem`)."""

    path: Path
    pairs: list[Pair] = field(default_factory=list)
    problem: str = ""


def path_parts(text: str) -> tuple[str, ...]:
    """The components of a path written on any system ('C:\\a\\b.png' and 'a/b.png' alike)."""
    return tuple(p for p in PureWindowsPath(str(text).strip()).parts if p not in ("\\", "/"))


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    keys = [h.strip().casefold() for h in header]
    return next((keys.index(n) for n in names if n in keys), None)


def read_mapping_csv(path: Path) -> LabelerMapping | None:
    """The pairs of a CSV whose header names an image and a label column; None for any other
    CSV (a class table, phase fractions); a `problem` when the file cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return LabelerMapping(path, problem=f"{path.name} cannot be read: {exc.strerror or exc}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:  # older MATLAB on Windows writes the system's code page
        text = data.decode("cp1252", "replace")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    image, label = _column(header, IMAGE_COLUMNS), _column(header, LABEL_COLUMNS)
    if image is None or label is None:
        return None
    out = LabelerMapping(path)
    for rec in reader:
        if len(rec) > max(image, label) and rec[image].strip():
            out.pairs.append(Pair(rec[image].strip(), rec[label].strip(), reader.line_num))
    return out


# -- MAT-files ------------------------------------------------------------------------------


def _strings(value) -> list[str] | None:
    """A cell array / list of char vectors as Python strings (None when it is not one)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, np.ndarray) and value.dtype.kind in "OUS":
        items = [v for v in value.ravel()]
        out = []
        for v in items:
            if isinstance(v, np.ndarray):
                v = "" if v.size == 0 else (v.item() if v.size == 1 else None)
            if isinstance(v, bytes):
                v = v.decode("utf-8", "replace")
            if not isinstance(v, str):
                return None
            out.append(v)
        return out
    return None


def _field(obj, name: str):
    return getattr(obj, name, None) if not isinstance(obj, dict) else obj.get(name)


def _fields(obj) -> list[str]:
    if isinstance(obj, dict):
        return list(obj)
    return list(getattr(obj, "_fieldnames", []) or [])


def _pairs_from(variables: dict) -> tuple[list[str], list[str]] | None:
    """(images, labels) from `image`/`label` lists, or a struct shaped like a groundTruth."""
    lower = {k.casefold(): v for k, v in variables.items()}
    image = next((lower[n] for n in IMAGE_COLUMNS if n in lower), None)
    label = next((lower[n] for n in LABEL_COLUMNS if n in lower), None)
    if image is not None and label is not None:
        images, labels = _strings(image), _strings(label)
        if images is not None and labels is not None:
            return images, labels
    for value in variables.values():
        source, data = _field(_field(value, "DataSource"), "Source"), _field(value, "LabelData")
        images = _strings(source) if source is not None else None
        if images is None or data is None:
            continue
        names = _fields(data)
        for name in sorted(names, key=lambda n: n != "PixelLabelData"):
            labels = _strings(_field(data, name))
            if labels is not None and len(labels) == len(images):
                return images, labels
    return None


def _opaque_classes(value) -> list[str]:
    """The MATLAB class names of a scipy MatlabOpaque value (its record's string fields)."""
    names = []
    for rec in np.atleast_1d(value):
        for item in (rec.tolist() if hasattr(rec, "tolist") else rec):
            if isinstance(item, bytes | str):
                names.append(item.decode("latin-1") if isinstance(item, bytes) else item)
    return names


def _unreadable(path: Path, what: str) -> LabelerMapping:
    return LabelerMapping(path, problem=(
        f"{path.name} holds a MATLAB {what} object, which cannot be read outside MATLAB; "
        f"in MATLAB, load it and run {MATLAB_COMMAND} in this folder"))


def _read_v5(path: Path) -> LabelerMapping | None:
    import scipy.io
    from scipy.io.matlab import MatlabOpaque

    data = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    variables = {k: v for k, v in data.items() if not k.startswith("__")}
    found = _pairs_from(variables)
    if found is not None:
        return _mapping(path, *found)
    for value in variables.values():
        if isinstance(value, MatlabOpaque):
            classes = _opaque_classes(value)
            if any(c.casefold().startswith("groundtruth") for c in classes):
                return _unreadable(path, "groundTruth")
    return None


def _h5_strings(f, dataset) -> list[str] | None:
    """A v7.3 cell array of char (object references to uint16 arrays) as strings."""
    import h5py

    if dataset.dtype != h5py.ref_dtype:
        return None
    out = []
    for ref in np.asarray(dataset[()]).ravel(order="F"):
        item = f[ref]
        if not isinstance(item, h5py.Dataset) or _matlab_class(item) != "char":
            return None
        attrs = item.attrs
        codes = np.asarray(item[()]).ravel(order="F")
        empty = "MATLAB_empty" in attrs and bool(np.asarray(attrs["MATLAB_empty"]).any())
        out.append("" if empty else "".join(map(chr, codes.astype(np.uint32))))
    return out


def _matlab_class(node) -> str:
    c = node.attrs.get("MATLAB_class", b"")
    return c.decode("latin-1") if isinstance(c, bytes) else str(c)


def _read_v73(path: Path) -> LabelerMapping | None:
    import h5py

    with h5py.File(path, "r") as f:
        variables = {}
        for name, node in f.items():
            if name.startswith("#"):
                continue
            if _matlab_class(node).casefold().startswith("groundtruth"):
                return _unreadable(path, _matlab_class(node))
            if isinstance(node, h5py.Dataset):
                variables[name] = _h5_strings(f, node)
            elif isinstance(node, h5py.Group):  # a struct: one level of fields, then cells
                variables[name] = {
                    k: ({kk: _h5_strings(f, vv) for kk, vv in v.items() if isinstance(vv, h5py.Dataset)}
                        if isinstance(v, h5py.Group) else _h5_strings(f, v))
                    for k, v in node.items()}
    lists = {k: np.array(v, dtype=object) for k, v in variables.items() if isinstance(v, list)}
    structs = {k: _as_struct(v) for k, v in variables.items() if isinstance(v, dict)}
    found = _pairs_from({**lists, **structs})
    return None if found is None else _mapping(path, *found)


def _as_struct(fields: dict) -> dict:
    return {k: (_as_struct(v) if isinstance(v, dict) else
                None if v is None else np.array(v, dtype=object)) for k, v in fields.items()}


def _mapping(path: Path, images: list[str], labels: list[str]) -> LabelerMapping:
    if len(images) != len(labels):
        return LabelerMapping(path, problem=f"{path.name} lists {len(images)} images but "
                                            f"{len(labels)} label files")
    return LabelerMapping(path, [Pair(i, la, n) for n, (i, la) in enumerate(zip(images, labels, strict=True), 1)
                                 if i.strip()])


def read_mapping_mat(path: Path) -> LabelerMapping | None:
    """The pairs of a MAT-file that holds a ground truth (see the module docstring); a
    `problem` when it holds a groundTruth object that cannot be read; None when the file holds
    no ground truth at all (masks, anything else)."""
    with open(path, "rb") as fh:
        head = fh.read(128)
    try:
        if head[124:128] in (b"\x00\x02IM", b"\x02\x00MI") or head.startswith(b"\x89HDF"):
            return _read_v73(path)
        return _read_v5(path)
    except (OSError, ValueError, TypeError, KeyError, NotImplementedError):
        return None
