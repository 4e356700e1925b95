"""Which image goes to train, val or test: from a CSV, from stem lists, or a seeded random draw.

A split is a plain `dict[stem, split_name]`, so it can be written into the model card as is and
rebuilt exactly for evaluation. Stems are file names without their image extension; they may
contain `#`, `(`, `)`, dots or spaces, so only a known image extension is ever stripped.
"""

from __future__ import annotations

import csv
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from matlab_gui.errors import DataError
from matlab_gui.imaging import IMAGE_SUFFIXES

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.7, 0.15, 0.15)
_ALIASES = {"validation": "val", "validate": "val", "valid": "val"}


def stem_of(name: str) -> str:
    """`name` without an image extension (`a.b (1).tif` -> `a.b (1)`; `a.b` stays `a.b`);
    folders are kept (`train/CRACK/7.jpg` -> `train/CRACK/7`), separators as `/`."""
    path = PurePosixPath(name.strip().replace("\\", "/"))
    return str(path.with_suffix("")) if path.suffix.lower() in IMAGE_SUFFIXES else str(path)


def match_to_keys(assignment: Mapping[str, str], keys: Sequence[str]) -> dict[str, str]:
    """Split-file entries as the data's own keys: by relative path first (classification folders
    key images as `<split>/<CLASS>/<file>`), else by bare stem where that names one image only.
    Entries that match nothing (or several images) are left out."""
    by_path = {stem_of(k): k for k in keys}
    by_name: dict[str, list[str]] = {}
    for key in keys:
        by_name.setdefault(PurePosixPath(stem_of(key)).name, []).append(key)
    out: dict[str, str] = {}
    for entry, split in assignment.items():
        if entry in by_path:
            out[by_path[entry]] = split
        elif len(named := by_name.get(PurePosixPath(entry).name, [])) == 1:
            out[named[0]] = split
    return out


def normalise_split_name(name: str) -> str:
    """`validation`/`validate` -> `val`; other names (e.g. `different_test`) are kept."""
    name = name.strip().lower()
    return _ALIASES.get(name, name)


def _read_text(path: Path, what: str) -> str:
    """A split file's text: UTF-8 (with or without Excel's BOM), else Windows-1252 (what Excel's
    plain "CSV" saves); anything else is not a text file."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {what}: {exc.strerror}", path) from exc
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise DataError(f"{what} is not a text file", path)


def read_split_csv(path: Path) -> dict[str, str]:
    """A CSV with `stem` and `split` columns (other columns are ignored)."""
    path = Path(path)
    try:
        rows = list(csv.DictReader(_read_text(path, "split file").splitlines()))
    except csv.Error as exc:
        raise DataError(f"split file is not a valid CSV ({exc})", path) from exc
    if not rows or not {"stem", "split"} <= set(rows[0]):
        raise DataError("split CSV needs `stem` and `split` columns", path)
    return {stem_of(r["stem"]): normalise_split_name(r["split"]) for r in rows if r["stem"]}


def split_name_from_list_file(path: Path) -> str:
    """`train16A.txt` -> train, `validate4A.txt` -> val, `test4A.txt` -> test."""
    name = Path(path).stem.lower()
    for prefix, split in (("train", "train"), ("val", "val"), ("test", "test")):
        if name.startswith(prefix):
            return split
    raise DataError("stem-list file name must start with train, val or test", path)


def read_stem_lists(paths: Sequence[Path]) -> dict[str, str]:
    """Stem-list files (one file name or stem a line), the split named by each file's name."""
    assignment: dict[str, str] = {}
    for path in paths:
        split = split_name_from_list_file(path)
        lines = _read_text(path, "stem list").splitlines()
        assignment.update({stem_of(line): split for line in lines if line.strip()})
    return assignment


def read_splits(paths: Sequence[Path]) -> dict[str, str]:
    """One CSV, or stem-list files: what `--splits` accepts."""
    paths = [Path(p) for p in paths]
    if len(paths) == 1 and paths[0].suffix.lower() == ".csv":
        return read_split_csv(paths[0])
    return read_stem_lists(paths)


def assign_from_files(paths: Sequence[Path], keys: Sequence[str]) -> dict[str, str]:
    """`--splits` files matched to the data's keys (see `match_to_keys`); a file none of whose
    entries names an image of the data is an error naming the file, not an empty split."""
    entries = read_splits(paths)
    assignment = match_to_keys(entries, keys)
    if not assignment:
        names = ", ".join(Path(p).name for p in paths)
        raise DataError(f"none of the {len(entries)} entries of the split file(s) names an image "
                        f"of the data ({len(keys)} images)", names)
    return assignment


def _counts(n: int, fractions: Sequence[float]) -> list[int]:
    """Split `n` items by `fractions`; with enough items every non-zero share gets at least one.

    "Enough" is two per share, so a handful of labelled images all go on training rather than
    being spread one per split.
    """
    total = sum(fractions)
    counts = [int(round(n * f / total)) for f in fractions]
    shares = sum(1 for f in fractions if f > 0)
    if n >= 2 * shares:
        counts = [max(c, 1) if f > 0 else c for c, f in zip(counts, fractions, strict=True)]
    counts[0] = n - sum(counts[1:])
    return counts


def random_split(
    stems: Sequence[str], fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0
) -> dict[str, str]:
    """A seeded random train/val/test assignment (the same seed gives the same split)."""
    order = np.random.default_rng(seed).permutation(sorted(stems)).tolist()
    assignment: dict[str, str] = {}
    start = 0
    for split, count in zip(SPLITS, _counts(len(order), fractions), strict=True):
        assignment.update({s: split for s in order[start : start + count]})
        start += count
    return assignment


# Fewer labelled images than this: train on all, watch the training loss. One held-out image's
# scribbles are too noisy a judge: on uhcs (5 painted images, benchmarks/fewshot.py) the same
# recipe and seed scored 0.51 test mean IoU when a 3-minute limit stopped it, and 0.38 when the
# held-out image's score picked epoch 21 and stopped it at 31.
FEW_FOR_VALIDATION = 10
# Held-out images judge only when they are painted densely (at least this share of their pixels,
# as imported masks are): scribbles cover the easy inner pixels of each phase, whose score stops
# rising long before the boundaries are learnt. On nasa_super (10 images, 1.7 % painted) the
# held-out images' score stopped Fine-tune at epoch 23 of a 10-minute run: test mean IoU 0.64;
# with all 10 training for the 10 minutes, 0.86 (benchmarks/results/fewshot.json).
DENSE_LABELS = 0.5


def labelled_set_split(stems: Sequence[str], seed: int = 0,
                       painted: float = 1.0) -> tuple[dict[str, str], str]:
    """The split for a project's painted images, and the validation rule it implies, in words.

    A project holds the few images a user labelled: none is spent on a test split that nothing
    scores. From `FEW_FOR_VALIDATION` images painted densely (`painted`: the share of their
    pixels that is) about a sixth is held out to pick the best epoch; otherwise every image
    trains (the rule then says why, and the train job what decides instead)."""
    order = np.random.default_rng(seed).permutation(sorted(stems)).tolist()
    n = len(order)
    if n < FEW_FOR_VALIDATION or painted < DENSE_LABELS:
        why = (f"only {n} labelled image{'s' if n != 1 else ''}" if n < FEW_FOR_VALIDATION else
               f"{n} images painted sparsely ({100 * painted:.1f} % of their pixels)")
        return dict.fromkeys(order, "train"), f"{why}: all train"
    held = max(1, round(n / 6))
    assignment = {s: "val" if k < held else "train" for k, s in enumerate(order)}
    return assignment, f"{held} held-out image{'s' if held > 1 else ''} of {n} (mean score)"


def stratified_split(
    labels: Mapping[str, Hashable], fractions: Sequence[float] = DEFAULT_FRACTIONS, seed: int = 0
) -> dict[str, str]:
    """A seeded split that keeps each class's share the same in train, val and test."""
    by_class: dict[Hashable, list[str]] = {}
    for key, label in labels.items():
        by_class.setdefault(label, []).append(key)
    assignment: dict[str, str] = {}
    for i, label in enumerate(sorted(by_class, key=str)):
        assignment.update(random_split(by_class[label], fractions, seed + i))
    return assignment


def stems_in(assignment: Mapping[str, str], split: str) -> list[str]:
    """The stems assigned to `split`, sorted."""
    return sorted(s for s, name in assignment.items() if name == split)
