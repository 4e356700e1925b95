"""Live predictions while the user paints: a light classifier fitted on the painted pixels over
frozen CNN features of the image.

The features are computed once per image (`image_features`, the slow part, run in a worker):
the multi-scale maps of a segmentation encoder (the current model's, fine-tuned on micrographs,
or the ImageNet EfficientNet-Lite0 encoder when there is none), each resized onto one grid of
at most `MAX_GRID` cells a side, beside ilastik's classic filters of the image (intensity,
gradient, Hessian at Gaussian scales), every channel standardised over the image. Each stroke then refits a scikit-learn classifier on the grid
cells under the painted pixels and predicts every cell (`predict_live`, well under a second);
the class probabilities are resized back to the image and shown like any prediction. This is
the idea of ilastik's live update and napari-convpaint (filters or frozen CNN features + a
pixel classifier), on the encoder the user's own fine-tuning improves.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from matlab_gui.errors import UserError
from matlab_gui.progress import CancelToken, Progress, ProgressCallback, report

MAX_GRID = 512  # cells along the longer side: the live prediction's resolution
SAMPLES_PER_CLASS = 4000  # painted cells a refit uses at most per class (seeded subsample)
METHODS = ("logistic", "forest")
DEFAULT_METHOD = "logistic"
DEFAULT_ENCODER = "tu-tf_efficientnet_lite0"  # the one ImageNet encoder available offline
_SIGMAS = (0.5, 8.0, 5)  # filter features: smallest and largest Gaussian sigma (grid cells), count


@dataclass
class LiveFeatures:
    """Per-cell features of one image: `grid` (gh, gw, C) float32, one cell = `cell` pixels."""

    grid: np.ndarray
    image_shape: tuple[int, int]
    source: str  # which encoder made them, for the status line

    @property
    def cell(self) -> tuple[float, float]:
        return (self.image_shape[0] / self.grid.shape[0], self.image_shape[1] / self.grid.shape[1])


@dataclass
class LivePrediction:
    """Full-size results in project class values (`values[k]` is class k of `probabilities`)."""

    labels: np.ndarray  # (H, W) uint8 project class values
    probabilities: np.ndarray  # (K, H, W) float32
    uncertainty: np.ndarray  # (H, W) normalised entropy, 0..1
    confidence: np.ndarray  # (H, W) probability of the winning class
    values: list[int]


def grid_shape(height: int, width: int, max_grid: int = MAX_GRID) -> tuple[int, int]:
    """The feature grid of an image: one cell per pixel up to `max_grid` pixels a side, coarser
    beyond (the prediction's resolution)."""
    scale = min(1.0, max_grid / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _feature_model(model_dir: Path | None):
    """A segmentation model's encoder that makes the features, its card and what it is called;
    kept for the next image (building one takes seconds), renewed when the folder changes."""
    stamp = None
    if model_dir is not None:
        files = [Path(model_dir) / n for n in ("card.json", "model.safetensors")]
        stamp = tuple(f.stat().st_mtime_ns if f.is_file() else 0 for f in files)
    return _cached_feature_model(None if model_dir is None else str(model_dir), stamp)


@functools.lru_cache(maxsize=2)
def _cached_feature_model(model_dir: str | None, _stamp):
    import torch

    from matlab_gui.ml.model_folder import load_model
    from matlab_gui.ml.padding import PaddedSegmentation
    from matlab_gui.ml.zoo import build_model, default_card

    if model_dir is not None:
        try:
            loaded = load_model(Path(model_dir), torch.device("cpu"))
        except UserError:
            loaded = None
        if loaded is not None and isinstance(loaded.module, PaddedSegmentation) \
                and hasattr(loaded.module.net, "encoder"):
            return loaded.module.net.encoder.eval(), loaded.card, f"the encoder of {loaded.card.name}"
    card = default_card("segmentation", "unet", ["a", "b"], encoder=DEFAULT_ENCODER, in_channels=3)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a random start is said in `source` instead
        model = build_model(card, pretrained=True)
    source = ("ImageNet EfficientNet-Lite0" if not card.weight_source.startswith("random")
              else "a random EfficientNet-Lite0 (no ImageNet weights found)")
    return model.net.encoder.eval(), card, source


def filter_features(grey: np.ndarray) -> np.ndarray:
    """Classic pixel features of the grid-sized image (ilastik's kind): intensity, gradient
    magnitude and Hessian eigenvalues at Gaussian scales; they keep the edges the encoder's
    coarser maps blur."""
    from skimage.feature import multiscale_basic_features

    return multiscale_basic_features(grey, intensity=True, edges=True, texture=True,
                                     sigma_min=_SIGMAS[0], sigma_max=_SIGMAS[1],
                                     num_sigma=_SIGMAS[2]).astype(np.float32)


def _standardise(channels: np.ndarray) -> np.ndarray:
    """(gh, gw, C): each channel to mean 0, standard deviation 1 over the image."""
    flat = channels.reshape(-1, channels.shape[-1])
    mean, std = flat.mean(0), flat.std(0)
    return ((channels - mean) / np.maximum(std, 1e-6)).astype(np.float32)


def image_features(image: np.ndarray, model_dir: Path | None = None,
                   progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                   max_grid: int = MAX_GRID) -> LiveFeatures:
    """The features of `image` (H, W) or (H, W, C), any pixel type: see the module docstring."""
    import torch
    import torch.nn.functional as F

    from matlab_gui.ml.padding import pad_to_multiple
    from matlab_gui.ml.preprocess import resize_image, to_model_input
    from matlab_gui.ml.threads import compute_job

    cancel = cancel or CancelToken()
    height, width = image.shape[:2]
    gh, gw = grid_shape(height, width, max_grid)
    with compute_job():
        report(progress, Progress("features", 0, 2, message="loading the encoder"))
        encoder, card, source = _feature_model(model_dir)
        cancel.raise_if_cancelled()
        # the encoder sees the image at up to twice the grid's resolution (its stride-2 stage is
        # then the grid), never above the image's own
        wh, ww = min(height, 2 * gh), min(width, 2 * gw)
        working = resize_image(image, wh, ww) if (wh, ww) != (height, width) else image
        x = pad_to_multiple(torch.from_numpy(to_model_input(working, card))[None], 32)
        report(progress, Progress("features", 1, 2, message=f"features from {source}"))
        with torch.inference_mode():
            maps = [m for m in encoder(x)[1:] if m.shape[2] < x.shape[2]][:4]  # strides 2-16
            valid = []  # without the padding
            for m in maps:
                stride = x.shape[2] // m.shape[2]
                valid.append(m[..., : math.ceil(wh / stride), : math.ceil(ww / stride)])
            stacked = torch.cat([F.interpolate(m, size=(gh, gw), mode="bilinear",
                                               align_corners=False) for m in valid], 1)
        cancel.raise_if_cancelled()
    deep = stacked[0].permute(1, 2, 0).numpy()
    grey = to_model_input(working, card).mean(0)
    small = cv2.resize(grey, (gw, gh), interpolation=cv2.INTER_AREA)
    grid = _standardise(np.concatenate([deep, filter_features(small)], -1))
    import sklearn.ensemble  # noqa: F401  the first refit must not pay for these imports (1 s)
    import sklearn.linear_model  # noqa: F401

    report(progress, Progress("features", 2, 2))
    return LiveFeatures(grid, (height, width), source)


def painted_cells(mask: np.ndarray, features: LiveFeatures, values: list[int],
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Feature rows and class positions of the grid cells under painted pixels, at most
    SAMPLES_PER_CLASS per class (a long stroke must not make a refit slow)."""
    rng = np.random.default_rng(seed)
    ch, cw = features.cell
    gh, gw = features.grid.shape[:2]
    rows, targets = [], []
    for k, value in enumerate(values):
        r, c = np.nonzero(mask == value)
        if r.size == 0:
            continue
        cells = np.unique(np.minimum((r / ch).astype(np.int64), gh - 1) * gw
                          + np.minimum((c / cw).astype(np.int64), gw - 1))
        if cells.size > SAMPLES_PER_CLASS:
            cells = rng.choice(cells, SAMPLES_PER_CLASS, replace=False)
        rows.append(cells)
        targets.append(np.full(cells.size, k))
    if not rows:
        return np.zeros((0, features.grid.shape[2]), np.float32), np.zeros(0, int)
    cells = np.concatenate(rows)
    return features.grid.reshape(-1, features.grid.shape[2])[cells], np.concatenate(targets)


def _classifier(method: str):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    if method == "logistic":
        return LogisticRegression(C=0.1, max_iter=300)
    if method == "forest":
        return RandomForestClassifier(n_estimators=50, max_depth=16, min_samples_leaf=2,
                                      n_jobs=2, random_state=0)
    raise UserError(f"unknown live classifier {method!r} (use {', '.join(METHODS)})")


def painted_values(mask: np.ndarray, values: list[int]) -> list[int]:
    """The class values of `values` that have painted pixels in `mask`."""
    present = set(np.unique(mask).tolist())
    return [v for v in values if v in present]


@dataclass
class LiveClassifier:
    """A classifier fitted on painted cells; `classes_[k]` indexes `painted`."""

    model: object
    painted: list[int]  # the project class values it was fitted on


def fit_live(samples: list[tuple[LiveFeatures, np.ndarray]], values: list[int],
             method: str = DEFAULT_METHOD) -> LiveClassifier:
    """Fit on the painted pixels of one or more (features, mask) pairs (masks in project class
    values `values`). Needs two painted classes."""
    painted = sorted({v for _, mask in samples for v in painted_values(mask, values)},
                     key=values.index)
    if len(painted) < 2:
        raise UserError("paint at least two classes for a live prediction")
    for features, mask in samples:
        if mask.shape != features.image_shape:
            raise UserError(f"the mask is {mask.shape}, the features are of a "
                            f"{features.image_shape} image")
    rows = [painted_cells(mask, features, painted) for features, mask in samples]
    x = np.concatenate([r[0] for r in rows])
    y = np.concatenate([r[1] for r in rows])
    return LiveClassifier(_classifier(method).fit(x, y), painted)


def predict_with(classifier: LiveClassifier, features: LiveFeatures, values: list[int],
                 cancel: CancelToken | None = None) -> LivePrediction:
    """Every cell predicted, the probabilities resized onto the image; a class of `values` the
    classifier was not fitted on gets probability 0."""
    from matlab_gui.ml.tiling import normalised_entropy  # torch: in the worker only

    cancel = cancel or CancelToken()
    gh, gw, depth = features.grid.shape
    cell_probs = classifier.model.predict_proba(features.grid.reshape(-1, depth))
    cancel.raise_if_cancelled()
    height, width = features.image_shape
    painted = classifier.painted
    probs = np.zeros((len(values), height, width), np.float32)
    for column, k in enumerate(classifier.model.classes_):
        plane = cell_probs[:, column].reshape(gh, gw).astype(np.float32)
        probs[values.index(painted[k])] = cv2.resize(plane, (width, height),
                                                     interpolation=cv2.INTER_LINEAR)
    probs /= np.maximum(probs.sum(0, keepdims=True), 1e-6)
    best = probs.argmax(0)
    labels = np.asarray(values, np.uint8)[best]
    confidence = np.take_along_axis(probs, best[None], 0)[0]
    uncertainty = normalised_entropy(probs[[values.index(v) for v in painted]])
    return LivePrediction(labels, probs, np.clip(uncertainty, 0, 1).astype(np.float32),
                          confidence, list(values))


def predict_live(features: LiveFeatures, mask: np.ndarray, values: list[int],
                 method: str = DEFAULT_METHOD, cancel: CancelToken | None = None) -> LivePrediction:
    """Fit on the painted pixels of `mask` (project class values `values`), predict the image:
    what live mode does after a stroke."""
    from threadpoolctl import threadpool_limits

    cancel = cancel or CancelToken()
    # one BLAS thread: a refit is a small problem, and with the cores busy (a Fine-tune in the
    # window) two threads made it 8x slower, spinning against each other
    with threadpool_limits(1):
        classifier = fit_live([(features, mask)], values, method)
        cancel.raise_if_cancelled()
        return predict_with(classifier, features, values, cancel)
