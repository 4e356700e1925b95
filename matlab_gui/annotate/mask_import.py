"""Planning a mask import, so that no mask lands on the wrong image, changes class or vanishes.

`plan_import` looks at a folder before anything changes. Candidates are the class-index
PNG/TIFF/BMP files and the arrays of .mat files in it and in every `PixelLabelData*` subfolder
(Image Labeler writes one per export session). Each is matched to a project image by the
strongest rule that applies:

1. an Image Labeler mapping beside the masks (`labels.csv`, or a readable ground-truth
   MAT-file: annotate.labeler);
2. the image name a .mat file stores beside its arrays (Export masks, `segment`);
3. the image's file stem (Export masks' `<stem>.png`, `<stem>_<id>.png` for images that share
   a name);
4. the stem + `_mask` (`segment`'s `<stem>_mask.png`);
5. only when nothing else can say: Image Labeler's `Label_<n>` = the n-th image, a guess the
   plan flags.

Every file that matches no image is listed with the reason, and so is every image that more
than one file matches (the strongest match is used). The pixels of each value are counted
over the matched files. What a value means (`ImportPlan.mapping`) comes from the class table
(`classes.csv` beside the masks, or a .mat file's class fields: rows matched to project classes
by name, `unlabelled` rows to 0), else from the user's answer to "is 0 a class?". A value the
project has no class for is left unlabelled or added as a new class, and listed either way.
`apply_plan` then writes the masks through the caller's import function (one undo step each).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matlab_gui.annotate.labeler import (
    MATLAB_COMMAND,
    LabelerMapping,
    path_parts,
    read_mapping_csv,
    read_mapping_mat,
)
from matlab_gui.errors import UserError
from matlab_gui.imaging.class_table import (
    FILE_NAME as CLASS_TABLE,
)
from matlab_gui.imaging.class_table import (
    MaskClass,
    find_class_table,
    read_class_table,
)
from matlab_gui.imaging.matfile import matlab_name
from matlab_gui.project.names import unique_output_stems
from matlab_gui.project.schema import ClassDef

MASK_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".bmp"})
LOSSY_SUFFIXES = frozenset({".jpg", ".jpeg"})
LABELER_FOLDER = "pixellabeldata"
MAX_UNNAMED_VALUES = 64  # more distinct values than this, with no table naming them: a picture
_LABEL_N = re.compile(r"^label_(\d+)$", re.IGNORECASE)
_SEGMENT_MAPS = ("probabilities", "uncertainty", "confidence", "overlay")
_PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
            (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (0, 128, 128)]

# match rules, strongest first
MAPPING, MAT_NAME, SAME_NAME, MASK_NAME, GUESS = range(5)


def _key(name: str) -> str:
    return " ".join(str(name).casefold().split())


@dataclass(frozen=True)
class Source:
    """One mask: an image file, or one array (`variable`) of a .mat file; `label` is how the
    preview names it (its path below the chosen folder)."""

    path: Path
    variable: str = ""
    label: str = ""

    def __str__(self) -> str:
        return self.label or self.path.name


@dataclass(frozen=True)
class Match:
    image_id: str
    source: Source
    rule: int
    how: str  # the rule in words, as the preview shows it

    @property
    def guess(self) -> bool:
        return self.rule == GUESS


@dataclass(frozen=True)
class Skipped:
    """A file (or .mat array) that is not imported, and why."""

    source: Source
    reason: str


@dataclass(frozen=True)
class ValueRow:
    """What one mask value becomes: project class `target` (0 = unlabelled)."""

    value: int
    pixels: int
    name: str  # what the class table calls it ("" without a table)
    target: int
    meaning: str  # in words: "class 2 “pore”", "unlabelled", "left unlabelled: ..."
    new: bool = False  # `target` is a class the import adds
    lost: bool = False  # a class the project lacks: its pixels are left unlabelled


@dataclass
class ValueMapping:
    rows: list[ValueRow]
    new_classes: list[ClassDef]

    def __post_init__(self) -> None:
        top = max((r.value for r in self.rows), default=0)
        self._lut = np.zeros(top + 1, np.uint16)
        self._known = np.zeros(top + 1, bool)
        for r in self.rows:
            self._lut[r.value], self._known[r.value] = r.target, True
        self._dtype = np.uint8 if int(self._lut.max(initial=0)) <= 255 else np.uint16

    def convert(self, mask: np.ndarray) -> np.ndarray:
        """The mask in project class indices; ValueError for a value the plan did not count
        (the file changed since)."""
        top = int(mask.max(initial=0))
        if top >= self._known.size or not self._known[mask].all():
            seen = np.unique(mask)
            extra = [int(v) for v in seen if v >= self._known.size or not self._known[v]]
            raise ValueError(f"holds values {extra[:5]} the preview did not list (the file "
                             "changed?): import again")
        return self._lut[mask].astype(self._dtype, copy=False)


@dataclass
class ImportPlan:
    """Everything an import would do, decided before any mask changes (see the module
    docstring). `twice`: image id -> every source that matched it, the imported one first."""

    folder: Path
    images: dict[str, str]
    classes: list[ClassDef]
    matches: list[Match] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    twice: dict[str, list[Source]] = field(default_factory=dict)
    table: list[MaskClass] | None = None
    table_source: str = ""
    counts: dict[int, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def needs_zero_choice(self) -> bool:
        """No class table says what the values mean: the user says whether 0 is a class."""
        return self.table is None

    @property
    def guessed(self) -> bool:
        return any(m.guess for m in self.matches)

    def summary(self) -> str:
        def count(n: int, word: str) -> str:
            return f"{n} {word}{'' if n == 1 else 's'}"

        text = f"{count(len(self.matches), 'mask')} for {count(len(self.images), 'image')}"
        if self.skipped:
            text += f"; {count(len(self.skipped), 'file')} not imported"
        return text

    def mapping(self, zero_is_class: bool | None = None, add_missing: bool = False,
                colour: Callable[[int], tuple[int, int, int]] | None = None) -> ValueMapping:
        """Value -> project class for every counted value. Without a class table,
        `zero_is_class` must be given: True numbers classes from 0 (value v = class v + 1),
        False reads 0 as unlabelled (value v = class v). `add_missing` adds a class for each
        value whose class the project lacks (named as the table names it, else "value v";
        `colour(index)` when the table gives none); otherwise those pixels stay unlabelled."""
        if self.table is None and zero_is_class is None:
            raise ValueError("no class table: say whether 0 is a class or means unlabelled")
        colour = colour or (lambda i: _PALETTE[(i - 1) % len(_PALETTE)])
        by_index = {c.index: c for c in self.classes}
        by_name: dict[str, ClassDef] = {}
        for c in sorted(self.classes, key=lambda c: c.index):
            by_name.setdefault(_key(c.name), c)
        table = {r.value: r for r in self.table or []}
        next_index = max(by_index, default=0) + 1
        rows, new = [], []
        for value in sorted(self.counts):
            pixels = self.counts[value]
            row = table.get(value)
            name = row.name if row else ""
            if row is not None and row.unlabelled:
                rows.append(ValueRow(value, pixels, name, 0, "unlabelled"))
                continue
            if self.table is not None:
                found = by_name.get(_key(name)) if row else None
                missing = (f"the project has no class “{name}”" if row
                           else f"{self.table_source} does not name value {value}")
            else:
                index = value + 1 if zero_is_class else value
                found = by_index.get(index)
                if index == 0:
                    rows.append(ValueRow(value, pixels, name, 0, "unlabelled"))
                    continue
                missing = f"the project has no class {index}"
            if found is not None:
                rows.append(ValueRow(value, pixels, name, found.index,
                                     f"class {found.index} “{found.name}”"))
            elif add_missing:
                rgb = tuple(row.color) if row and any(row.color) else colour(next_index)
                c = ClassDef(next_index, name or f"value {value}", rgb)
                new.append(c)
                by_name[_key(c.name)] = c
                rows.append(ValueRow(value, pixels, name, c.index,
                                     f"new class {c.index} “{c.name}”", new=True))
                next_index += 1
            else:
                rows.append(ValueRow(value, pixels, name, 0, f"left unlabelled: {missing}",
                                     lost=True))
        return ValueMapping(rows, new)


@dataclass
class ImportOutcome:
    changed: list[str] = field(default_factory=list)  # image ids whose mask changed
    unchanged: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # "file: problem"


# -- reading --------------------------------------------------------------------------------


def _labels(data: np.ndarray, what: str) -> np.ndarray:
    """A 2-D array of class values 0..65535 as uint8/uint16 (MATLAB saves masks as double)."""
    a = np.asarray(data)
    if a.ndim != 2:
        raise ValueError(f"{what} is a {a.ndim}-D array, not a 2-D mask")
    if a.dtype == bool:
        return a.astype(np.uint8)
    if a.dtype.kind not in "uif":
        raise ValueError(f"{what} holds {a.dtype} data, not class indices")
    if a.dtype.kind == "f" and not np.array_equal(a, np.round(a)):
        raise ValueError(f"{what} holds fractional values (probabilities?), not class indices")
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if lo < 0 or hi > 65535:
        raise ValueError(f"{what} holds values outside 0..65535, not class indices")
    if a.dtype in (np.uint8, np.uint16):
        return a
    return a.astype(np.uint8 if hi <= 255 else np.uint16)


def read_source(source: Source, mats: dict | None = None) -> np.ndarray:
    """The class values of one source; `mats` caches the .mat files read (path -> MatFile)."""
    if not source.variable:
        from matlab_gui.imaging import read_mask

        return _labels(read_mask(source.path), source.path.name)
    mats = {} if mats is None else mats
    if source.path not in mats:
        from matlab_gui.imaging.matfile import read_mat

        mats.clear()  # one .mat file in memory at a time
        mats[source.path] = read_mat(source.path)
    return _labels(mats[source.path].arrays[source.variable], f"variable {source.variable}")


# -- planning -------------------------------------------------------------------------------


def _is_labeler_folder(path: Path) -> bool:
    return path.name.casefold().startswith(LABELER_FOLDER)


def _mapping_files(folder: Path) -> list[LabelerMapping]:
    places = [folder] + ([folder.parent] if _is_labeler_folder(folder) else [])
    found = []
    for place in places:
        for f in sorted(place.iterdir(), key=lambda p: p.name.casefold()):
            suffix = f.suffix.lower()
            if not f.is_file() or f.name.casefold() == CLASS_TABLE:
                continue
            m = (read_mapping_csv(f) if suffix == ".csv"
                 else read_mapping_mat(f) if suffix == ".mat" else None)
            if m is not None:
                found.append(m)
    return found


class _Planner:
    def __init__(self, folder: Path, images: dict[str, str], classes: list[ClassDef],
                 shapes: dict[str, tuple[int, int]] | None):
        self.plan = ImportPlan(folder, dict(images), list(classes))
        self.shapes = shapes or {}
        self.by_name: dict[str, list[str]] = {}  # file name -> image ids
        self.by_stem: dict[str, list[str]] = {}  # file stem, or Export's output stem
        self.by_var: dict[str, list[str]] = {}  # MATLAB variable name of Export's masks.mat
        outputs = unique_output_stems(images)
        for image_id, name in images.items():
            self.by_name.setdefault(name.casefold(), []).append(image_id)
            stems = {Path(name).stem, outputs[image_id]}
            for stem in {s.casefold() for s in stems}:
                self.by_stem.setdefault(stem, []).append(image_id)
            for var in {matlab_name(s).casefold() for s in stems}:
                self.by_var.setdefault(var, []).append(image_id)
        self.claims: dict[Source, tuple[str, int, str]] = {}  # source -> (image id, rule, how)
        self.reasons: dict[Source, str] = {}  # why a source matched nothing
        self.mats: dict = {}

    def skip(self, source: Source, reason: str) -> None:
        self.plan.skipped.append(Skipped(source, reason))

    def label(self, path: Path, variable: str = "") -> str:
        try:
            text = path.relative_to(self.plan.folder).as_posix()
        except ValueError:
            text = path.name
        return f"{text}:{variable}" if variable else text

    # -- candidates -----------------------------------------------------------------------
    def candidates(self, exclude: set[Path]) -> list[Source]:
        folder = self.plan.folder
        subs = sorted((d for d in folder.iterdir() if d.is_dir() and _is_labeler_folder(d)),
                      key=lambda d: d.name.casefold())
        sources = []
        for d in [folder, *subs]:
            for f in sorted(d.iterdir(), key=lambda p: p.name.casefold()):
                suffix = f.suffix.lower()
                if not f.is_file() or f in exclude:
                    continue
                if suffix in LOSSY_SUFFIXES:
                    self.skip(Source(f, label=self.label(f)),
                              "JPEG is lossy: class values do not survive it")
                elif suffix in MASK_SUFFIXES:
                    sources.append(Source(f, label=self.label(f)))
                elif suffix == ".mat":
                    sources += self.mat_sources(f)
        return sources

    def mat_sources(self, path: Path) -> list[Source]:
        from matlab_gui.imaging.matfile import read_mat

        try:
            mat = read_mat(path)
        except (UserError, OSError, ValueError) as exc:
            self.skip(Source(path, label=self.label(path)),
                      getattr(exc, "problem", None) or str(exc))
            return []
        self.mats[path] = mat
        if not mat.arrays:
            self.skip(Source(path, label=self.label(path)), "holds no 2-D array to import")
        return [Source(path, v, self.label(path, v)) for v in mat.arrays]

    # -- class table ----------------------------------------------------------------------
    def class_table(self) -> None:
        plan = self.plan
        path = find_class_table(plan.folder)
        if path is not None and path.parent != plan.folder and not _is_labeler_folder(plan.folder):
            plan.notes.append(f"{path} is beside the folder, not in it: not used")
            path = None
        mat_tables = {p: list(m.classes) for p, m in self.mats.items() if m.classes}
        if path is not None:
            plan.table, plan.table_source = read_class_table(path), self.label(path)
            if path.parent != plan.folder:
                plan.table_source = f"{path.parent.name}/{path.name}"
        elif mat_tables:
            first = next(iter(mat_tables))
            plan.table, plan.table_source = mat_tables[first], first.name
        for p, rows in mat_tables.items():
            if plan.table is not None and _names(rows) != _names(plan.table):
                plan.notes.append(f"{p.name} names its classes differently from "
                                  f"{plan.table_source}; {plan.table_source} is used")

    # -- matching -------------------------------------------------------------------------
    def claim(self, source: Source, ids: list[str], rule: int, how: str, what: str) -> bool:
        """Match `source` to the one image in `ids`; several is ambiguous (said)."""
        if len(ids) == 1:
            self.claims[source] = (ids[0], rule, how)
            return True
        if ids:
            names = ", ".join(sorted({self.plan.images[i] for i in ids})[:3])
            self.reasons[source] = f"{what} matches {len(ids)} images ({names})"
        return False

    def by_mapping(self, sources: list[Source], mappings: list[LabelerMapping]) -> None:
        files = [s for s in sources if not s.variable]
        exact = {(s.path.parent.name.casefold(), s.path.name.casefold()): s for s in files}
        by_file: dict[str, list[Source]] = {}
        for s in files:
            by_file.setdefault(s.path.name.casefold(), []).append(s)
        for m in mappings:
            missing = []
            for pair in m.pairs:
                parts = path_parts(pair.label)
                if not parts:
                    continue  # an image without pixel labels
                key = (parts[-2].casefold() if len(parts) > 1 else "", parts[-1].casefold())
                # by file name alone only when its folder was renamed: another
                # PixelLabelData_<k> is another export session, whose Label_1 is another image
                same_name = [s for s in by_file.get(key[1], [])
                             if not (_is_labeler_folder(s.path.parent)
                                     and _is_labeler_folder(Path(key[0])))]
                source = exact.get(key) or (same_name[0] if len(same_name) == 1 else None)
                if source is None:
                    missing.append("/".join(parts[-2:]))
                    continue
                image = path_parts(pair.image)[-1] if path_parts(pair.image) else pair.image
                ids = self.by_name.get(image.casefold(), [])
                where = f"{m.path.name} line {pair.line}"
                if source in self.claims or source in self.reasons:
                    if self.claims.get(source, ("",))[0] not in ids:
                        self.plan.notes.append(f"{where} names {source} for {image} too; "
                                               "the first line naming it is used")
                    continue
                if not self.claim(source, ids, MAPPING, m.path.name, f"{where}: {image}"):
                    self.reasons.setdefault(
                        source, f"{where} maps it to {image}, which is not in the project")
            if missing:
                self.plan.notes.append(
                    f"{m.path.name} names {len(missing)} label files that are not in the "
                    f"folder (first: {missing[0]})")

    def by_names(self, sources: list[Source]) -> None:
        for s in sources:
            if s in self.claims or s in self.reasons:
                continue
            if s.variable and self.by_mat_name(s):
                continue
            stem = s.path.stem.casefold()
            if s.variable and len(self.mats[s.path].arrays) > 1 and s.variable != "mask":
                # one array of several (Export masks' masks.mat): its name is the image's
                ids = self.by_var.get(s.variable.casefold(), [])
                self.claim(s, ids, SAME_NAME, "variable name", s.variable)
                continue
            if self.claim(s, self.by_stem.get(stem, []), SAME_NAME, "same name", stem):
                continue
            if s not in self.reasons and stem.endswith("_mask"):
                self.claim(s, self.by_stem.get(stem[:-5], []), MASK_NAME, "name + _mask",
                           stem)

    def by_mat_name(self, s: Source) -> bool:
        """The image name a .mat file stores for this array; True when that settled it."""
        mat = self.mats[s.path]
        if "mask" in mat.arrays and s.variable.casefold() in _SEGMENT_MAPS:
            self.reasons[s] = f"segment's {s.variable} map, not a mask"
            return True
        image = (getattr(mat, "image_names", None) or {}).get(s.variable, "")
        if not image:
            return False
        name = path_parts(image)[-1] if path_parts(image) else image
        ids = self.by_name.get(name.casefold(), [])
        same = [v for v, n in mat.image_names.items() if n.casefold() == image.casefold()]
        if len(ids) > 1 and len(same) == len(ids):
            # images that share a file name: the file lists them in the exporting project's
            # order, so they go to this project's images of that name in order
            self.claims[s] = (ids[same.index(s.variable)], MAT_NAME,
                              f"named in {s.path.name}, in order")
            note = (f"{s.path.name} names {len(ids)} images {name}: they go to the project's "
                    "images of that name in order (right for the project they came from)")
            if note not in self.plan.notes:
                self.plan.notes.append(note)
            return True
        if not self.claim(s, ids, MAT_NAME, f"named in {s.path.name}", name):
            self.reasons.setdefault(s, f"{s.path.name} names its image {name}, which is not "
                                       "in the project")
        return True

    def by_order(self, sources: list[Source], mappings: list[LabelerMapping]) -> None:
        """Label_<n> = n-th image: the last resort, and only where it can be one guess."""
        left = [s for s in sources if not s.variable and s not in self.claims
                and s not in self.reasons and _LABEL_N.match(s.path.stem)]
        if not left:
            return
        readable = [m for m in mappings if m.pairs]
        if readable:
            names = ", ".join(m.path.name for m in readable)
            for s in left:
                self.reasons[s] = f"not in {names}"
            return
        folders = sorted({s.path.parent for s in left}, key=lambda p: p.name.casefold())
        if len(folders) > 1:
            names = ", ".join(self.label(f) for f in folders)
            for s in left:
                self.reasons[s] = (f"Label_<n> files in several folders ({names}): which image "
                                   "each is for is only in the Image Labeler's gTruth")
            self.plan.notes.append(
                f"Several export sessions ({names}): write labels.csv from gTruth in MATLAB "
                f"with {MATLAB_COMMAND}, in this folder, and import again")
            return
        ids = list(self.plan.images)
        numbers = sorted(int(_LABEL_N.match(s.path.stem).group(1)) for s in left)
        for s in left:
            n = int(_LABEL_N.match(s.path.stem).group(1))
            if 1 <= n <= len(ids):
                self.claims[s] = (ids[n - 1], GUESS, "Label_<n> = image n (a guess)")
            else:
                self.reasons[s] = f"there is no image {n}: the project has {len(ids)} images"
        gaps = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
        text = (f"{len(left)} Label_<n> files are matched to the n-th image of the project: a "
                "GUESS, right only if the project holds the images in the order they were "
                "labelled")
        if gaps:
            text += f" (the numbering has gaps: no Label_{gaps[0]})"
        self.plan.notes.append(
            text + f". For a sure match, write labels.csv from gTruth in MATLAB with "
                   f"{MATLAB_COMMAND}, in this folder, and import again")

    def resolve(self, sources: list[Source]) -> None:
        """One readable source per image (the strongest rule, then file order); every other
        one is listed with its reason. The winners' values are counted."""
        per_image: dict[str, list[tuple[int, int, Source, str]]] = {}
        counts: dict[Source, np.ndarray] = {}
        for order, s in sorted(enumerate(sources), key=lambda o: (str(o[1].path), o[1].variable)):
            if s not in self.claims:
                self.skip(s, self.reasons.get(s) or self.why_not(s))
                continue
            image_id, rule, how = self.claims[s]
            try:
                counts[s] = self.values(s, image_id)
            except (UserError, ValueError, OSError, KeyError) as exc:
                self.skip(s, getattr(exc, "problem", None) or str(exc))
                continue
            per_image.setdefault(image_id, []).append((rule, order, s, how))
        total = np.zeros(1, np.int64)
        for image_id in self.plan.images:
            ranked = sorted(per_image.get(image_id, []), key=lambda c: c[:2])
            if not ranked:
                continue
            rule, _, source, how = ranked[0]
            self.plan.matches.append(Match(image_id, source, rule, how))
            n = counts[source]
            total = np.pad(total, (0, max(0, n.size - total.size)))
            total[: n.size] += n
            if len(ranked) > 1:
                self.plan.twice[image_id] = [c[2] for c in ranked]
                for c in ranked[1:]:
                    self.skip(c[2], f"{self.plan.images[image_id]} matched twice: it gets "
                                    f"{source}")
        self.plan.counts = {int(v): int(total[v]) for v in np.flatnonzero(total)}

    @staticmethod
    def why_not(s: Source) -> str:
        stem = (s.variable or s.path.stem).casefold()
        for kind in _SEGMENT_MAPS:
            if stem.endswith("_" + kind):
                return f"segment's {kind} {'image' if kind == 'overlay' else 'map'}, not a mask"
        return "no project image has this name"

    def values(self, source: Source, image_id: str) -> np.ndarray:
        """The pixel count of each value of one source; ValueError when it is no mask for
        that image (the wrong size, a picture)."""
        data = read_source(source, self.mats)
        shape = self.shapes.get(image_id)
        if shape is not None and tuple(data.shape) != tuple(shape[:2]):
            raise ValueError(f"is {data.shape[1]} x {data.shape[0]} px, "
                             f"{self.plan.images[image_id]} is {shape[1]} x {shape[0]} px")
        n = np.bincount(data.ravel(), minlength=1)
        named = {r.value for r in self.plan.table or []}
        present = set(np.flatnonzero(n).tolist())
        if len(present - named) > MAX_UNNAMED_VALUES:
            raise ValueError(f"has {len(present - named)} different values: a picture, not a "
                             "class-index mask")
        return n


def _names(rows: list[MaskClass]) -> dict[int, str]:
    return {r.value: _key(r.name) for r in rows}


def plan_import(folder: str | Path, images: dict[str, str], classes: list[ClassDef],
                shapes: dict[str, tuple[int, int]] | None = None) -> ImportPlan:
    """What importing the masks in `folder` would do (see the module docstring). `images`:
    the project's image id -> file name, in project order; `shapes`: id -> (height, width),
    to list masks of the wrong size. Reads every matched mask once to count its values.
    UserError when the folder or its class table cannot be read."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError("is not a folder", folder)
    planner = _Planner(folder, images, classes, shapes)
    plan = planner.plan
    mappings = _mapping_files(folder)
    plan.notes += [m.problem for m in mappings if m.problem]
    sources = planner.candidates({m.path for m in mappings})
    planner.class_table()
    planner.by_mapping(sources, [m for m in mappings if m.pairs])
    planner.by_names(sources)
    planner.by_order(sources, mappings)
    planner.resolve(sources)
    plan.skipped.sort(key=lambda s: s.source.label.casefold())
    return plan


def apply_plan(plan: ImportPlan, mapping: ValueMapping,
               import_mask: Callable[[str, np.ndarray], bool]) -> ImportOutcome:
    """Read each matched mask, renumber it with `mapping` and hand it to `import_mask(image_id,
    mask)` (the workbench's undoable edit; True when the mask changed). A mask that cannot be
    read or does not fit is listed in `failures`; the others still import."""
    out, mats = ImportOutcome(), {}
    for m in sorted(plan.matches, key=lambda m: (str(m.source.path), m.source.variable)):
        try:
            mask = mapping.convert(read_source(m.source, mats))
            changed = import_mask(m.image_id, mask)
        except (UserError, ValueError, OSError, KeyError) as exc:
            out.failures.append(f"{m.source}: {getattr(exc, 'problem', None) or exc}")
            continue
        (out.changed if changed else out.unchanged).append(m.image_id)
    return out
