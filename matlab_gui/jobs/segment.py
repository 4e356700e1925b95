"""The segment job: images of any size through a segmentation model, results written per image.

Per image: a class-index mask (`<stem>_mask.png|.tif`, or inside `<stem>.mat`), optionally a
colour overlay and the probability / uncertainty maps (float32 TIFF, or the same .mat), and one
row of phase fractions in `phase_fractions.csv`; .mat files are MATLAB v7.3 (`imaging.matfile`).
Masks number the model's classes from 1 (0 would be unlabelled), as every mask the app writes;
`classes.csv` beside them says so, and every file carries the image's pixel size.
Outputs keep the image's folder below the inputs' common folder, so no image's files overwrite
another's; the CSV keeps the rows earlier runs wrote for other images.
Every file is written atomically; an unreadable image gets its error in the CSV and the run goes on.
"""

from __future__ import annotations

import csv
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from matlab_gui.errors import ImageReadError, UserError
from matlab_gui.imaging import IMAGE_SUFFIXES, list_images, read_image, write_image, write_mask
from matlab_gui.imaging.class_table import MaskClass, numbered, write_class_table
from matlab_gui.imaging.matfile import class_fields, write_mat
from matlab_gui.imaging.measure import phase_fractions
from matlab_gui.imaging.overlays import blend, class_colours
from matlab_gui.imaging.write import check_output, write_csv, write_maps
from matlab_gui.ml.threads import shares_the_cores
from matlab_gui.progress import CancelToken, Progress, ProgressCallback, report

if TYPE_CHECKING:
    from matlab_gui.jobs.measure import MeasureSpec

FORMATS = ("png", "tiff", "mat")


@dataclass
class SegmentRequest:
    model: str | Path  # a model folder or a shipped model's name
    inputs: list[Path]  # image files and/or folders
    out: Path
    format: str = "png"
    overlay: bool = False
    maps: bool = False  # probability and uncertainty maps
    recursive: bool = False
    device: str = "auto"
    tile: int | None = None  # default: the card's input size
    overlap: int | None = None  # default: the card's tile overlap
    batch: int = 4
    tta: bool = False
    output: str = "auto"  # "probabilities" | "labels" | "auto" (labels when memory is short)
    engine: str = "auto"  # the forward pass's runtime (`ml.engines`)
    measure: MeasureSpec | None = None  # particles (and grains) per image: measurements.csv
    dask: str | None = None  # a scheduler address or "local:N": images sharded over its workers

    @property
    def tile_output(self) -> str:
        """What inference keeps: the class of each pixel alone unless the maps are written."""
        return self.output if self.maps else "mask"


@dataclass
class ImageOutcome:
    path: Path
    files: list[Path] = field(default_factory=list)
    fractions: list[float] = field(default_factory=list)
    measurements: list[list] = field(default_factory=list)  # rows of measurements.csv
    error: str = ""


@dataclass
class SegmentResult:
    class_names: list[str]
    images: list[ImageOutcome]
    fractions_csv: Path
    wall_s: float
    measurements_csv: Path | None = None
    engine: str = "torch"  # what ran the network
    engine_note: str = ""  # why it is not the engine asked for
    lost_workers: list[str] = field(default_factory=list)  # Dask workers that died mid-run

    @property
    def segmented(self) -> int:
        return sum(1 for i in self.images if not i.error)


# -- writing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputMeaning:
    """What every file of a run means: the model, its classes as mask values, their names."""

    model: str
    classes: list[MaskClass]  # the mask numbering: 0 unlabelled, model class i -> value i + 1

    @property
    def labels(self) -> list[str]:
        return [c.name for c in self.classes[1:]]


def mask_values(labels: np.ndarray) -> np.ndarray:
    """The model's class indices (0-based) as mask values on disk (class i -> i + 1)."""
    top = int(labels.max(initial=0)) + 1
    return (labels + 1).astype(np.uint8 if top <= 255 else np.uint16, copy=False)


def model_labels(mask: np.ndarray) -> np.ndarray:
    """A mask written by `segment` back as the model's class indices (value k -> k - 1)."""
    mask = np.asarray(mask)
    if mask.size and not mask.min():
        raise ValueError("holds unlabelled pixels (0): not a mask written by segment")
    return mask - mask.dtype.type(1)


def write_outputs(request: SegmentRequest, base: Path, micrograph, prediction,
                  meaning: OutputMeaning) -> list[Path]:
    """Every file asked for one image, named `base` + what it holds, each with the pixel size
    and the class table, and `classes.csv` in its folder; returns their paths."""
    pixel_size_m = micrograph.meta.pixel_size_m
    folder, name, files = request.out / base.parent, base.name, []
    folder.mkdir(parents=True, exist_ok=True)
    mask = mask_values(prediction.labels)
    maps = {}
    if request.maps:
        maps["uncertainty"] = prediction.uncertainty
        if prediction.probabilities is not None:
            maps["probabilities"] = prediction.probabilities
        else:
            maps["confidence"] = prediction.confidence
    if request.format == "mat":
        size_um = pixel_size_m * 1e6 if pixel_size_m else float("nan")
        fields = {**class_fields(meaning.classes), "pixel_size_um": size_um,
                  "model": meaning.model, "source": micrograph.meta.path.name}
        files.append(folder / f"{name}.mat")
        write_mat(files[-1], {"mask": mask, **maps}, fields)
    else:
        files.append(folder / f"{name}_mask.{'png' if request.format == 'png' else 'tif'}")
        write_mask(files[-1], mask, pixel_size_m, meaning.classes)
        for kind, data in maps.items():
            files.append(folder / f"{name}_{kind}.tif")
            write_maps(files[-1], data, pixel_size_m,
                       meaning.labels if kind == "probabilities" else [kind])
    if request.overlay:
        files.append(folder / f"{name}_overlay.png")
        colours = [c.color for c in meaning.classes[1:]]
        write_image(files[-1], blend(micrograph.data, class_colours(prediction.labels, colours)),
                    pixel_size_m)
    write_class_table(folder, meaning.classes)
    return files


def _header(class_names: list[str]) -> list[str]:
    return ["path", *class_names, "error"]


def _key(path: str | Path) -> str:
    """One image however its path was written (relative, through a link)."""
    return str(Path(path).resolve())


def read_other_rows(path: Path, header: list[str], images: list[Path],
                    what: str = "a phase-fraction CSV") -> list[list[str]]:
    """Rows an earlier run wrote for images not in this run (path in the first column), kept
    as they are."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        if next(reader, None) != header:
            raise UserError(f"exists but is not {what} of this model's classes and options; "
                            "choose another --out", path)
        mine, rows = {_key(p) for p in images}, []
        for rec in reader:
            if len(rec) != len(header):
                raise UserError(f"line {reader.line_num} is damaged; fix or delete the file", path)
            if _key(rec[0]) not in mine:
                rows.append(rec)
        return rows


def write_fractions(path: Path, others: list[list[str]], images: list[ImageOutcome],
                    class_names: list[str]) -> None:
    rows = [*others]
    for item in images:
        values = [f"{f:.6f}" for f in item.fractions] or [""] * len(class_names)
        rows.append([str(item.path), *values, item.error])
    write_csv(path, _header(class_names), rows)


def write_measurements(path: Path, header: list[str], others: list[list[str]],
                       images: list[ImageOutcome]) -> None:
    """One row per image and class (an image that failed: one row with its error)."""
    rows = [*others]
    for item in images:
        rows += item.measurements or [[str(item.path), *[""] * (len(header) - 2), item.error]]
    write_csv(path, header, rows)


# -- the job --------------------------------------------------------------------------------


def _absolute(path: Path) -> Path:
    """Absolute and without `..`, so one file given twice, or from another folder, is one path."""
    return Path(os.path.abspath(path))


def collect_images(inputs: list[Path], recursive: bool) -> list[Path]:
    """Image files given directly plus those in given folders, each once, as absolute paths;
    UserError when there are none."""
    found: list[Path] = []
    for item in map(_absolute, inputs):
        found += list_images(item, recursive) if item.is_dir() else [item]
    if not found:
        kinds = ", ".join(sorted(IMAGE_SUFFIXES))
        raise ImageReadError(f"no images ({kinds}) found", ", ".join(map(str, inputs)))
    return list(dict.fromkeys(found))


def common_folder(inputs: list[Path]) -> Path:
    """The deepest folder holding every input (a file counts as the folder it is in)."""
    folders = [p if p.is_dir() else p.parent for p in map(_absolute, inputs)]
    try:
        return Path(os.path.commonpath(folders))
    except ValueError:  # Windows: no folder holds two drives
        raise UserError("the inputs are on different drives; segment each drive on its own",
                        ", ".join(map(str, inputs))) from None


def output_bases(root: Path, images: list[Path]) -> list[Path]:
    """Per image, its outputs' path below the output folder, without what each file holds.

    The image's folder below `root` and its stem, or its whole name where images of that folder
    share a stem (x.png, x.tif). Compared ignoring case, as Windows and macOS disks do."""
    names = [p.relative_to(root) for p in images]
    bases = [n.parent / n.stem for n in names]
    while True:
        count = Counter(str(b).casefold() for b in bases)
        clash = [i for i, b in enumerate(bases) if count[str(b).casefold()] > 1 and b != names[i]]
        if not clash:
            return bases
        for i in clash:  # a whole name is unique in its folder, so this ends
            bases[i] = names[i]


def segment_one(request: SegmentRequest, predict, names: list[str], meaning: OutputMeaning,
                path: Path, base: Path, micrograph=None) -> ImageOutcome:
    """One image read, predicted by `predict(micrograph)`, and its files written; a UserError
    becomes the outcome's error. The single-process loop and Dask workers both call it."""
    outcome = ImageOutcome(path)
    try:
        micrograph = micrograph or read_image(path)
        prediction = predict(micrograph)
        outcome.fractions = phase_fractions(prediction.labels, range(len(names))).tolist()
        outcome.files = write_outputs(request, base, micrograph, prediction, meaning)
        if request.measure is not None:
            from matlab_gui.jobs.measure import measure_image  # scikit-image: only to measure

            outcome.measurements, table = measure_image(
                request.measure, prediction.labels, names, micrograph.data,
                micrograph.meta.pixel_size_m, path)
            outcome.files.append(request.out / base.parent / f"{base.name}_particles.csv")
            write_csv(outcome.files[-1], *table)
    except UserError as exc:
        outcome.error = exc.problem
    return outcome


def load_segmenter(request: SegmentRequest, model_dir: Path):
    """(engine, card, segmenter) of the request's model, checked against its card."""
    from matlab_gui.ml.device import pick_device
    from matlab_gui.ml.engines import load_engine
    from matlab_gui.ml.inference import check_model, make_segmenter

    device = pick_device(request.device)
    engine, card = load_engine(model_dir, device, request.engine)
    check_model(engine.module, card, device)
    segmenter = make_segmenter(engine.module, card, device, tile=request.tile,
                               overlap=request.overlap, batch=request.batch, tta=request.tta,
                               output=request.tile_output)
    return engine, card, segmenter


def output_meaning(model_dir: Path, card) -> OutputMeaning:
    names = [c.name for c in card.classes]
    return OutputMeaning(Path(model_dir).name, numbered(names, [c.color for c in card.classes]))


@shares_the_cores
def run_segment(request: SegmentRequest, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> SegmentResult:
    from matlab_gui.ml.inference import segment_image
    from matlab_gui.ml.model_folder import read_card
    from matlab_gui.ml.model_lookup import resolve_model

    t0 = time.perf_counter()
    cancel = cancel or CancelToken()
    if request.format not in FORMATS:
        raise UserError(f"unknown output format {request.format!r} (use {', '.join(FORMATS)})")
    model_dir = resolve_model(request.model)
    paths = collect_images(request.inputs, request.recursive)
    bases = output_bases(common_folder(request.inputs), paths)
    check_output(request.out, folder=True)
    card = read_card(model_dir)
    if card.task != "segmentation":
        raise UserError(f"the model is a {card.task} model; segment needs a "
                        "segmentation model", request.model)
    names = [c.name for c in card.classes]
    meaning = output_meaning(model_dir, card)
    outcomes: list[ImageOutcome] = []
    fractions_csv = request.out / "phase_fractions.csv"
    others = read_other_rows(fractions_csv, _header(names), paths)
    measured = None
    if request.measure is not None:
        from matlab_gui.jobs.measure import image_header

        request.measure.check(names)
        measured = request.out / "measurements.csv"
        measure_header = image_header(bool(request.measure.grain_boundary))
        others_measured = read_other_rows(measured, measure_header, paths, "a measurements CSV")
    info: dict = {"engine": "torch", "note": "", "lost": []}
    if request.dask:
        from matlab_gui.jobs.dask_runner import segment_on_dask

        results = segment_on_dask(request, model_dir, paths, bases, info, progress, cancel)
    else:
        engine, card, segmenter = load_segmenter(request, model_dir)
        info.update(engine=engine.description, note=engine.note)

        def predict(micrograph, path):
            return segment_image(segmenter, card, micrograph.data, path, progress, cancel)

        results = (segment_one(request, lambda m, p=path: predict(m, p), names, meaning, path,
                               base) for path, base in zip(paths, bases, strict=True))
    by_path = {}
    for n, outcome in enumerate(results):
        cancel.raise_if_cancelled()
        report(progress, Progress("image", n, len(paths), message=outcome.path.name))
        by_path[outcome.path] = outcome
        outcomes = [by_path[p] for p in paths if p in by_path]  # input order, as single-process
        write_fractions(fractions_csv, others, outcomes, names)
        if measured is not None:
            write_measurements(measured, measure_header, others_measured, outcomes)
    report(progress, Progress("image", len(paths), len(paths)))
    return SegmentResult(names, outcomes, fractions_csv, time.perf_counter() - t0,
                         measured, info["engine"], info["note"], info["lost"])
