"""Predict project images with one model: per-pixel classes, confidence and (for the image on
screen) probability and uncertainty maps, or class probabilities and Grad-CAM for classifiers.

The GUI runs `run_predict` in a worker thread; a failed image gets its error and the others go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from matlab_gui.ml.threads import shares_the_cores
from matlab_gui.progress import CancelToken, Progress, report


@dataclass
class PredictRequest:
    model_dir: Path
    project: object  # read only, from the worker thread
    image_ids: list[str]
    maps_for: str | None = None  # keep probability/uncertainty maps for this image
    device: str = "auto"
    engine: str = "auto"  # the forward pass's runtime (`ml.engines`)


@dataclass
class Outcome:
    image_id: str
    labels: np.ndarray | None = None  # segmentation: 0..C-1 per pixel
    confidence: np.ndarray | None = None
    uncertainty: np.ndarray | None = None
    probabilities: np.ndarray | None = None  # (C, H, W) segmentation, (C,) classification
    error: str = ""
    project_indices: bool = False  # labels renumbered to the project's class indices
    cam: np.ndarray | None = None  # classification: Grad-CAM of the predicted class, 0..1


@dataclass
class PredictResult:
    task: str
    class_names: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    engine: str = "torch"
    engine_note: str = ""


@shares_the_cores
def run_predict(request: PredictRequest, progress=None, cancel=None) -> PredictResult:
    """Load the model once and predict each image; a failed image gets its error, the rest go on."""
    import torch

    from matlab_gui.errors import ModelError, UserError
    from matlab_gui.ml.device import pick_device
    from matlab_gui.ml.engines import choose_engine
    from matlab_gui.ml.explain import explain_image
    from matlab_gui.ml.inference import (
        check_channels,
        classification_input,
        classify_batch,
        predict_image,
        tile_options,
    )
    from matlab_gui.ml.model_folder import load_model

    cancel = cancel or CancelToken()
    device = pick_device(request.device)
    loaded = load_model(request.model_dir, device)
    card = loaded.card
    engine = choose_engine(loaded, device, request.engine)
    model = engine.module
    result = PredictResult(card.task, [c.name for c in card.classes], engine=engine.description,
                           engine_note=engine.note)
    for i, image_id in enumerate(request.image_ids):
        cancel.raise_if_cancelled()
        report(progress, Progress("predict", i, len(request.image_ids)))
        out = Outcome(image_id)
        try:
            image = request.project.read_image(image_id)
            if card.task == "classification":
                check_channels(image, card)  # as segmentation does: an error for this image only
                x = torch.from_numpy(classification_input(image, card)[None])
                out.probabilities = classify_batch(model, x, device)[0]
                if image_id == request.maps_for:
                    try:
                        out.cam = explain_image(loaded.module, card, image)[0]
                    except ModelError:  # nothing to explain (no convolution): no heat map,
                        pass  # the class probabilities still count
            else:
                keep = image_id == request.maps_for
                options = tile_options(card, output="probabilities" if keep else "labels")
                p = predict_image(model, card, image, device, options, cancel=cancel)
                out.labels, out.confidence = p.labels, p.confidence
                if keep:
                    out.uncertainty, out.probabilities = p.uncertainty, p.probabilities
        except UserError as exc:
            out.error = str(exc)
        result.outcomes.append(out)
    report(progress, Progress("predict", len(request.image_ids), len(request.image_ids)))
    return result
