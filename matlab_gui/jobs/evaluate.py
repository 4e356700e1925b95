"""The evaluate job: a model folder scored on labelled data.

Segmentation predicts through the same tiled inference as `segment` and the window's Predict,
with the card's tile size and overlap, so the score is what a user gets; `whole_image` runs
each image in one pass instead, for comparison.

Which images: those of `split` in the given split files; else the folder's own split
(`<split>/<CLASS>/` folders); else the stems the model's card recorded for that split; with
`split=None`, every labelled image.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matlab_gui.errors import DataError
from matlab_gui.ml.threads import shares_the_cores
from matlab_gui.progress import CancelToken, Progress, ProgressCallback, report


@dataclass
class EvaluateRequest:
    model: Path  # a model folder or the name of a shipped model
    data: Any  # a folder, a project path or an open Project
    splits: list[Path] | None = None
    split: str | None = "test"
    sparse_masks: bool = False  # folder masks with 0 = unlabelled
    device: str = "auto"
    batch: int = 16
    curves: bool = False  # classification: ROC and PR curve points
    whole_image: bool = False  # segmentation: one pass per image instead of the tiled path
    tile: int | None = None  # default: the card's
    overlap: int | None = None
    engine: str = "auto"  # the forward pass's runtime (`ml.engines`)


@dataclass
class EvaluateResult:
    task: str
    metrics: dict
    stems: list[str]
    model_dir: Path
    device: str
    wall_s: float
    stem_source: str = ""
    inference: str = ""  # how segmentation predicted: "whole image" or the tiles, and engine
    engine_note: str = ""  # why the engine is not the one asked for
    extra: dict = field(default_factory=dict)


def select_stems(source, card, split_files, split: str | None) -> tuple[list[str], str]:
    """The stems to score and where that choice came from."""
    from matlab_gui.ml import splits

    if split is None:
        return list(source.stems), "all"
    split = splits.normalise_split_name(split)
    known = set(source.stems)
    if split_files:
        assignment = splits.assign_from_files(split_files, list(source.stems))
        chosen, origin = splits.stems_in(assignment, split), "split file"
    elif getattr(source, "given_splits", None):
        chosen, origin = splits.stems_in(source.given_splits, split), "folder"
    else:
        recorded = ((card.data or {}).get("splits") or {}).get(split, [])
        chosen, origin = recorded, "model card"
    chosen = [s for s in chosen if s in known]
    if not chosen:
        raise DataError(f"no labelled image of split {split!r} found in {source.describe()['path']}"
                        " (give --splits, or --split all)")
    return chosen, origin


def _check_classes(source, names: list[str]) -> None:
    if source.class_names != names:
        raise DataError(f"the data's classes {source.class_names} differ from the model's {names}",
                        source.describe()["path"])


@shares_the_cores
def run_evaluation(request: EvaluateRequest, progress: ProgressCallback | None = None,
                   cancel: CancelToken | None = None) -> EvaluateResult:
    from matlab_gui.ml import data as mdata
    from matlab_gui.ml.device import describe_device, pick_device
    from matlab_gui.ml.engines import load_engine
    from matlab_gui.ml.evaluation import evaluate_classification, evaluate_segmentation
    from matlab_gui.ml.inference import make_segmenter, segment_image
    from matlab_gui.ml.model_lookup import resolve_model

    t0 = time.perf_counter()
    cancel = cancel or CancelToken()
    device = pick_device(request.device)
    model_dir = resolve_model(request.model)
    engine, card = load_engine(model_dir, device, request.engine)
    model = engine.module
    names = [c.name for c in card.classes]
    hist_eq = bool((card.training or {}).get("hist_eq"))
    inference = ""
    report(progress, Progress("prepare", 0, 1, message="reading data"))
    with mdata.open_source(card.task, request.data, request.sparse_masks, names) as source:
        _check_classes(source, names)
        stems, origin = select_stems(source, card, request.splits, request.split)
        report(progress, Progress("evaluate", 0, len(stems), message=f"{len(stems)} images"))
        if card.task == "segmentation":
            images = mdata.prepare_segmentation(source, stems, card)
            predict, inference = None, "whole image"
            if not request.whole_image:
                segmenter = make_segmenter(model, card, device, tile=request.tile,
                                           overlap=request.overlap, output="mask")

                def predict(image):  # exactly what `segment` does with one image
                    return segment_image(segmenter, card, image.image, image.stem, None,
                                         cancel).labels

                o = segmenter.options
                inference = f"tiled (tile {o.tile}, overlap {o.overlap})"
            inference += f", {engine.description}"
            metrics = evaluate_segmentation(model, images, names, device, cancel=cancel,
                                            predict=predict)
        else:
            _, images = mdata.prepare_classification(source, stems, card, hist_eq)
            dataset = mdata.ClassificationDataset(images, [source.label(k) for k in stems], card)
            metrics = evaluate_classification(model, dataset, names, device, request.batch,
                                              cancel=cancel, curves=request.curves)
    report(progress, Progress("evaluate", len(stems), len(stems)))
    return EvaluateResult(
        task=card.task, metrics=metrics, stems=stems, model_dir=model_dir,
        device=describe_device(device), wall_s=time.perf_counter() - t0, stem_source=origin,
        inference=inference, engine_note=engine.note,
    )
