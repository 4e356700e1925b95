"""Segment an image of any size with bounded memory: overlapping tiles, blended without seams.

The image is cut into overlapping tiles, the fewest of the tile size that overlap by at least
`overlap` and lie inside the image (the last row and column flush with its end, no tiles over
mirrored borders: a border pixel has the context it has in a whole-image pass), which go
through the model in batches; only an image smaller than a tile along one side is mirrored
along that side (as an index, no copy), and each tile's
probabilities are added into a band of rows with a smooth weight that falls towards the tile
edges but is never 0. A band is finished, divided by its weights and written out as soon as no
later tile touches it, so only `tile` rows of float32 accumulators ever exist besides the output.

Normalisation is the caller's `normalise(pixels) -> float32 (C, h, w)`, built once per whole
image, so every tile sees the statistics of the whole image, as in training.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from matlab_gui.errors import ModelError
from matlab_gui.ml.threads import rebalance
from matlab_gui.progress import CancelToken, Progress, ProgressCallback, report

Normalise = Callable[[np.ndarray], np.ndarray]


@dataclass
class TileOptions:
    tile: int = 512
    overlap: int = 64
    batch: int = 4
    tta: bool = False  # flip test-time augmentation; uncertainty becomes the flips' disagreement
    # "probabilities" (float16 C x H x W), "labels" (argmax + max-prob), "auto" (probabilities
    # when memory allows), "mask" (argmax alone: no confidence, uncertainty or probabilities)
    output: str = "auto"
    amp: bool = True  # float16 autocast on CUDA
    multiple: int = 32  # tile sizes are rounded up to this (encoder stride)


@dataclass
class TiledPrediction:
    """`labels` (H, W) argmax, `confidence` its probability, `uncertainty` in [0, 1], and the
    full float16 `probabilities` (C, H, W) unless memory was short; with output "mask" only
    `labels` (the others None)."""

    labels: np.ndarray
    confidence: np.ndarray | None
    uncertainty: np.ndarray | None
    probabilities: np.ndarray | None
    tiles: int
    batch: int  # the tile batch in use at the end (smaller after a CUDA out-of-memory)


def tile_starts(length: int, tile: int, stride: int) -> list[int]:
    """Tile origins covering [0, length): evenly strided, the last one flush with the end."""
    last = max(length - tile, 0)
    starts = list(range(0, last, stride)) + [last]
    return starts


def reflect_index(index: np.ndarray, length: int) -> np.ndarray:
    """Indices mirrored into [0, length) without repeating the edge pixel, for any distance."""
    if length == 1:
        return np.zeros_like(index)
    period = 2 * length - 2
    index = np.abs(index) % period
    return np.where(index >= length, period - index, index)


def blend_window(tile: int, overlap: int) -> np.ndarray:
    """(tile, tile) float32 weight: 1 in the middle, a sin² ramp over `overlap` at each edge."""
    ramp = np.ones(tile, dtype=np.float64)
    if overlap > 0:
        t = (np.arange(overlap) + 0.5) / overlap
        ramp[:overlap] = np.sin(0.5 * np.pi * t) ** 2
        ramp[tile - overlap:] = np.minimum(ramp[tile - overlap:], ramp[:overlap][::-1])
    return np.outer(ramp, ramp).astype(np.float32)


def available_memory() -> int | None:
    """Bytes of memory free for new allocations (Linux), None where the OS does not say."""
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def keep_probabilities(option: str, classes: int, height: int, width: int) -> bool:
    """Whether to return float16 probabilities: asked for, or `auto` with room for them."""
    if option in ("probabilities", "labels", "mask"):
        return option == "probabilities"
    free = available_memory()
    return free is None or classes * height * width * 2 < free // 3


def class_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over classes; a one-channel binary model becomes two classes (1 - p, p)."""
    logits = logits.float()
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=1)
    return logits.softmax(1)


def normalised_entropy(p: np.ndarray) -> np.ndarray:
    """Entropy of class probabilities over axis 0 scaled by log(C) into [0, 1]: 0 sure of one
    class, 1 all classes equally likely. The uncertainty of every prediction the app makes."""
    p = np.clip(p, 1e-7, 1.0)
    return -(p * np.log(p)).sum(0) / math.log(p.shape[0])


class _Output:
    """The image-sized results, filled band by band; without `maps`, the labels alone (the
    maps cost a sixth of an 8192 x 8192 `segment` that writes only the mask)."""

    def __init__(self, classes: int, height: int, width: int, option: str):
        self.labels = np.zeros((height, width), dtype=np.uint8 if classes <= 256 else np.uint16)
        maps = option != "mask"
        self.confidence = np.zeros((height, width), dtype=np.float16) if maps else None
        self.uncertainty = np.zeros((height, width), dtype=np.float16) if maps else None
        keep = keep_probabilities(option, classes, height, width)
        self.probabilities = np.zeros((classes, height, width), dtype=np.float16) if keep else None

    def write(self, y: int, x: int, probs: np.ndarray, disagreement: np.ndarray | None) -> None:
        h, w = probs.shape[1:]
        rows, cols = slice(y, y + h), slice(x, x + w)
        self.labels[rows, cols] = probs.argmax(0)
        if self.confidence is None:
            return
        self.confidence[rows, cols] = probs.max(0)
        self.uncertainty[rows, cols] = normalised_entropy(probs) if disagreement is None else disagreement
        if self.probabilities is not None:
            self.probabilities[:, rows, cols] = probs


class _BandAccumulator:
    """Weighted sums over `tile` rows of the image, finished and flushed top-down."""

    def __init__(self, out: _Output, classes: int, width_p: int, tile: int, tta: bool):
        self.out, self.tile = out, tile
        self.sums = np.zeros((classes, tile, width_p), dtype=np.float32)
        self.weights = np.zeros((tile, width_p), dtype=np.float32)
        self.disagreement = np.zeros((tile, width_p), dtype=np.float32) if tta else None
        self.top = 0  # image row of sums[:, 0]

    def add(self, y: int, x: int, probs: np.ndarray, weight: np.ndarray,
            disagreement: np.ndarray | None) -> None:
        if y > self.top:
            self._flush(y - self.top)
        t, r = self.tile, y - self.top
        self.sums[:, r:r + t, x:x + t] += probs * weight
        self.weights[r:r + t, x:x + t] += weight
        if self.disagreement is not None:
            self.disagreement[r:r + t, x:x + t] += disagreement * weight

    def _flush(self, rows: int) -> None:
        """Write the first `rows` finished rows (inside the image) and shift the band up."""
        height, width = self.out.labels.shape
        lo, hi = self.top, min(self.top + rows, height)
        if hi > lo:
            band = slice(lo - self.top, hi - self.top)
            cols = slice(0, width)
            w = self.weights[band, cols]
            dis = None if self.disagreement is None else self.disagreement[band, cols] / w
            self.out.write(lo, 0, self.sums[:, band, cols] / w, dis)
        for a in (self.sums, self.weights, self.disagreement):
            if a is not None:
                a[..., : self.tile - rows, :] = a[..., rows:, :]
                a[..., self.tile - rows:, :] = 0
        self.top += rows

    def finish(self) -> None:
        self._flush(self.tile)


class TiledSegmenter:
    """Runs `model` over images tile by tile; a batch halved after an out-of-memory stays so."""

    def __init__(self, model: nn.Module, device: torch.device, options: TileOptions):
        self.model, self.device, self.options = model, device, options
        m = max(1, options.multiple)
        self.tile = math.ceil(max(options.tile, m) / m) * m
        self.overlap = min(max(options.overlap, 0), self.tile // 2)
        self.batch = max(1, options.batch)
        self.window = blend_window(self.tile, self.overlap)

    # -- tiles -------------------------------------------------------------------------------

    def grid(self, height: int, width: int) -> tuple[list[int], list[int]]:
        """Row and column starts of the tiles."""
        stride = self.tile - self.overlap
        return tile_starts(height, self.tile, stride), tile_starts(width, self.tile, stride)

    def cut_tile(self, image: np.ndarray, normalise: Normalise, y: int, x: int) -> np.ndarray:
        """The normalised tile at (y, x), mirrored where it reaches past the image (only
        along a side shorter than a tile)."""
        rows = reflect_index(np.arange(y, y + self.tile), image.shape[0])
        cols = reflect_index(np.arange(x, x + self.tile), image.shape[1])
        return np.asarray(normalise(image[np.ix_(rows, cols)]), dtype=np.float32)

    def _batches(self, image, normalise, origins) -> Iterator[tuple[list, np.ndarray]]:
        """Normalised tile batches, the next one prepared in a thread while the model runs."""
        def make(chunk):
            return chunk, np.stack([self.cut_tile(image, normalise, y, x) for y, x in chunk])

        chunks = [origins[i:i + self.batch] for i in range(0, len(origins), self.batch)]
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(make, chunks[0])
            for nxt in [*chunks[1:], None]:
                ready = pending.result()
                if nxt is not None:
                    pending = pool.submit(make, nxt)
                yield ready

    # -- model -------------------------------------------------------------------------------

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        on_cuda = self.device.type == "cuda"
        with torch.autocast("cuda", dtype=torch.float16, enabled=on_cuda and self.options.amp):
            logits = self.model(x)
        if logits.shape[-2:] != x.shape[-2:]:
            raise ModelError(f"the model returned {tuple(logits.shape[-2:])} pixels for a "
                             f"{tuple(x.shape[-2:])} tile: not a segmentation model")
        return class_probabilities(logits)

    def _predict(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Mean probabilities (N, C, h, w) and, with TTA, the flips' disagreement (N, h, w)."""
        if not self.options.tta:
            return self._forward(x), None
        flips = ((), (-1,), (-2,), (-2, -1))
        runs = [self._forward(x.flip(f) if f else x) for f in flips]
        runs = [r.flip(f) if f else r for r, f in zip(runs, flips, strict=True)]
        stack = torch.stack(runs)
        mean = stack.mean(0)
        return mean, 0.5 * (stack - mean).abs().sum(2).mean(0)

    def _run_batch(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities of a tile batch; a CUDA out-of-memory halves the batch and retries."""
        rebalance()
        x = torch.from_numpy(batch)
        while True:
            try:
                parts = [self._predict(x[i:i + self.batch].to(self.device))
                         for i in range(0, len(x), self.batch)]
                break
            except torch.OutOfMemoryError:
                if self.batch == 1:
                    raise ModelError(f"out of GPU memory with a single {self.tile}-pixel tile: "
                                     "use a smaller tile or the CPU") from None
                self.batch //= 2
                parts = None
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
        probs = torch.cat([p for p, _ in parts]).cpu().numpy()
        dis = None if parts[0][1] is None else torch.cat([d for _, d in parts]).cpu().numpy()
        return probs, dis

    # -- whole image -------------------------------------------------------------------------

    def _one_pass(self, image: np.ndarray, normalise: Normalise) -> TiledPrediction:
        """An image within one tile goes through in one piece, mirrored only up to the
        encoder's multiple at the bottom and right, as a whole-image pass does: mirrored context
        all round changes the prediction (a melt-pool model lost 0.013 mean IoU with it)."""
        height, width = image.shape[:2]
        m = max(1, self.options.multiple)
        rows = reflect_index(np.arange(math.ceil(height / m) * m), height)
        cols = reflect_index(np.arange(math.ceil(width / m) * m), width)
        probs, dis = self._run_batch(np.asarray(normalise(image[np.ix_(rows, cols)]),
                                                dtype=np.float32)[None])
        classes = probs.shape[1]
        out = _Output(classes, height, width, self.options.output)
        out.write(0, 0, probs[0][:, :height, :width], None if dis is None else dis[0][:height, :width])
        return TiledPrediction(out.labels, out.confidence, out.uncertainty, out.probabilities,
                               1, self.batch)

    @torch.inference_mode()
    def run(self, image: np.ndarray, normalise: Normalise, progress: ProgressCallback | None = None,
            cancel: CancelToken | None = None) -> TiledPrediction:
        was_training = self.model.training
        self.model.eval()
        try:
            if image.shape[0] <= self.tile and image.shape[1] <= self.tile:
                report(progress, Progress("segment", 0, 1, message="1 tile"))
                if cancel is not None:
                    cancel.raise_if_cancelled()
                prediction = self._one_pass(image, normalise)
                report(progress, Progress("segment", 1, 1, {"tile_batch": self.batch}))
                return prediction
            return self._tiles(image, normalise, progress, cancel)
        finally:
            self.model.train(was_training)

    def tile_batches(self, height: int, width: int) -> list[list[tuple[int, int]]]:
        """The tile origins in the order they are blended, cut into model batches: the unit
        that can be computed anywhere (another process) and blended here unchanged."""
        ys, xs = self.grid(height, width)
        origins = [(y, x) for y in ys for x in xs]
        return [origins[i:i + self.batch] for i in range(0, len(origins), self.batch)]

    @torch.inference_mode()
    def batch_probabilities(self, image: np.ndarray, normalise: Normalise,
                            chunk: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities (and TTA disagreement) of one batch of `tile_batches`."""
        self.model.eval()
        return self._run_batch(np.stack([self.cut_tile(image, normalise, y, x) for y, x in chunk]))

    def blend(self, height: int, width: int, results, progress: ProgressCallback | None = None,
              cancel: CancelToken | None = None) -> TiledPrediction:
        """The prediction of a (height, width) image from `(chunk, probs, disagreement)` of
        every tile batch, in `tile_batches` order."""
        total = sum(map(len, self.tile_batches(height, width)))
        acc, out, done = None, None, 0
        report(progress, Progress("segment", 0, total, message=f"{total} tiles"))
        for chunk, probs, dis in results:
            if cancel is not None:
                cancel.raise_if_cancelled()
            if acc is None:
                classes = probs.shape[1]
                out = _Output(classes, height, width, self.options.output)
                acc = _BandAccumulator(out, classes, max(width, self.tile), self.tile,
                                       self.options.tta)
            for k, (y, x) in enumerate(chunk):
                acc.add(y, x, probs[k], self.window, None if dis is None else dis[k])
            done += len(chunk)
            report(progress, Progress("segment", done, total, {"tile_batch": self.batch}))
        acc.finish()
        return TiledPrediction(out.labels, out.confidence, out.uncertainty, out.probabilities,
                               total, self.batch)

    def _tiles(self, image: np.ndarray, normalise: Normalise, progress: ProgressCallback | None,
               cancel: CancelToken | None) -> TiledPrediction:
        """Overlapping tiles blended band by band (see the module's docstring)."""
        height, width = image.shape[:2]
        origins = [o for chunk in self.tile_batches(height, width) for o in chunk]
        results = ((chunk, *self._run_batch(batch))
                   for chunk, batch in self._batches(image, normalise, origins))
        return self.blend(height, width, results, progress, cancel)


def segment_tiled(model: nn.Module, image: np.ndarray, normalise: Normalise,
                  device: torch.device | str = "cpu", options: TileOptions | None = None,
                  progress: ProgressCallback | None = None,
                  cancel: CancelToken | None = None) -> TiledPrediction:
    """Probabilities, labels and uncertainty of a whole (H, W[, C]) image, any size."""
    segmenter = TiledSegmenter(model, torch.device(device), options or TileOptions())
    return segmenter.run(image, normalise, progress, cancel)
