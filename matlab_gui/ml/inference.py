"""A loaded model applied to whole images: checks that model and image fit, then predicts.

Segmentation goes through the tiled engine with normalisation statistics taken once from the
whole image; classification resizes to the card's input size exactly as training did.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import torch

from matlab_gui.errors import ModelError, UserError
from matlab_gui.imaging.display import equalise_histogram
from matlab_gui.ml.data import input_hw
from matlab_gui.ml.tiling import TiledPrediction, TiledSegmenter, TileOptions
from matlab_gui.progress import CancelToken, ProgressCallback

_CONVERTIBLE = (1, 3)  # grey <-> RGB is converted by the card's rule, anything else is refused


def channels_of(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else int(image.shape[2])


def check_channels(image: np.ndarray, card, path: str | Path | None = None) -> None:
    """UserError naming both when the image's channels cannot become the model's."""
    have, want = channels_of(image), int(card.in_channels)
    if have != want and not (have in _CONVERTIBLE and want in _CONVERTIBLE):
        raise UserError(f"the image has {have} channels but the model takes {want}", path)


def output_classes(logits_channels: int) -> int:
    """Classes a model's output stands for: one sigmoid channel is a two-class model."""
    return 2 if logits_channels == 1 else logits_channels


@torch.inference_mode()
def check_model(model: torch.nn.Module, card, device: torch.device) -> None:
    """ModelError naming both when the network's outputs do not match the card's classes."""
    size = 64 if card.task == "segmentation" else input_hw(card)[0]
    was_training = model.training
    model.eval()
    try:
        out = model(torch.zeros(1, int(card.in_channels), size, size, device=device))
    finally:
        model.train(was_training)
    found, named = output_classes(int(out.shape[1])), len(card.classes)
    if found != named:
        raise ModelError(f"the network predicts {found} classes but its card names {named} "
                         f"({', '.join(c.name for c in card.classes)})")


def normaliser(image: np.ndarray, card):
    """`pixels -> float32 (C, h, w)` with statistics of the whole `image` (computed once)."""
    from matlab_gui.ml.preprocess import input_stats, to_model_input

    return partial(to_model_input, card=card, stats=input_stats(image, card))


def tile_options(card, **overrides) -> TileOptions:
    """Tile size and overlap from the card unless given; other options as passed."""
    given = {k: v for k, v in overrides.items() if v is not None}
    tile = given.pop("tile", None) or input_hw(card)[0]
    overlap = given.pop("overlap", getattr(card, "tile_overlap", None))
    if overlap is None:
        overlap = tile // 8
    return TileOptions(tile=int(tile), overlap=int(overlap), **given)


def make_segmenter(model: torch.nn.Module, card, device: torch.device,
                   **overrides) -> TiledSegmenter:
    """One tiled segmenter for a run over many images (a batch halved on OOM stays halved)."""
    return TiledSegmenter(model, device, tile_options(card, **overrides))


def segment_image(segmenter: TiledSegmenter, card, image: np.ndarray,
                  path: str | Path | None = None, progress: ProgressCallback | None = None,
                  cancel: CancelToken | None = None) -> TiledPrediction:
    """Tiled segmentation of one whole image of any size."""
    check_channels(image, card, path)
    return segmenter.run(image, normaliser(image, card), progress, cancel)


def predict_image(model: torch.nn.Module, card, image: np.ndarray, device: torch.device,
                  options: TileOptions | None = None, path: str | Path | None = None,
                  progress: ProgressCallback | None = None,
                  cancel: CancelToken | None = None) -> TiledPrediction:
    """`segment_image` for a single image, tiles as `options` (default: the card's) say."""
    segmenter = TiledSegmenter(model, device, options or tile_options(card))
    return segment_image(segmenter, card, image, path, progress, cancel)


def classification_input(image: np.ndarray, card) -> np.ndarray:
    """float32 (C, h, w): resized to the card's input size and normalised, as in training."""
    from matlab_gui.ml.preprocess import resize_image, to_model_input

    if (getattr(card, "training", None) or {}).get("hist_eq"):
        image = equalise_histogram(image)
    h, w = input_hw(card)
    resized = resize_image(image, h, w)
    return np.asarray(to_model_input(resized, card), dtype=np.float32)


@torch.inference_mode()
def classify_batch(model: torch.nn.Module, batch: torch.Tensor, device: torch.device,
                   amp: bool = True) -> np.ndarray:
    """Softmax probabilities (N, C) of a normalised batch; one sigmoid output gives two classes."""
    on_cuda = device.type == "cuda"
    with torch.autocast("cuda", dtype=torch.float16, enabled=on_cuda and amp):
        logits = model(batch.to(device, non_blocking=on_cuda)).float()
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], 1).cpu().numpy()
    return logits.softmax(1).cpu().numpy()
