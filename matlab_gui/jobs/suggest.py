"""Where to label next: a project's (or a folder's) images ranked by the model's uncertainty.

Labelling the images a model is least sure of teaches it most per stroke. Each image goes
through the same inference as Predict and `segment` (`ml.inference`, the engine `choose_engine`
picks), and its score is the mean of the per-pixel uncertainty that path returns: the class
probabilities' entropy scaled into [0, 1] (`ml.tiling.normalised_entropy`). A classifier's score
is that entropy of its class probabilities. An image larger than one grid cell (`grid` pixels)
also gets the cell it is least sure of, so the window can frame the part worth painting.
An image that cannot be read or predicted is reported with its error and the others go on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from matlab_gui.errors import UserError
from matlab_gui.ml.threads import shares_the_cores
from matlab_gui.progress import CancelToken, Progress, ProgressCallback, report

GRID = 512  # pixels: the cells the most uncertain part of a large image is picked from


@dataclass
class SuggestRequest:
    model: str | Path  # a model folder or a shipped model's name
    source: Any  # a folder of images, a project file (.mgp) or an open Project (read only)
    image_ids: list[str] | None = None  # a project's images to rank (default: all)
    recursive: bool = False  # a folder's subfolders too
    grid: int = GRID
    device: str = "auto"
    engine: str = "auto"  # the forward pass's runtime (`ml.engines`)


@dataclass
class ImageScore:
    image: str  # a project's image id, or a file's path
    name: str  # what the user knows it by
    score: float | None = None  # mean uncertainty, 0 (sure) .. 1
    tile: tuple[int, int, int, int] | None = None  # (x, y, w, h) of the most uncertain cell
    tile_score: float | None = None
    error: str = ""

    def to_json(self, rank: int | None = None) -> dict:
        out = {"rank": rank} if rank is not None else {}
        tile = None if self.tile is None else dict(zip("xywh", self.tile, strict=True))
        return {**out, "image": self.image, "name": self.name, "score": self.score,
                "tile": tile, "tile_score": self.tile_score}


@dataclass
class SuggestResult:
    task: str
    ranking: list[ImageScore]  # most uncertain first
    failed: list[ImageScore] = field(default_factory=list)
    wall_s: float = 0.0
    engine: str = "torch"
    engine_note: str = ""


# -- scores ---------------------------------------------------------------------------------


def most_uncertain_cell(uncertainty: np.ndarray, grid: int) -> tuple[tuple[int, int, int, int],
                                                                      float]:
    """((x, y, w, h), mean) of the grid cell with the highest mean uncertainty. Cells are
    `grid` pixels (the image's side where it is shorter), the last row and column flush with
    the image's edge, so every cell is the same size and their means compare fairly."""
    from matlab_gui.ml.tiling import tile_starts

    height, width = uncertainty.shape
    h, w = min(grid, height), min(grid, width)
    best, best_cell = -1.0, (0, 0, w, h)
    for y in tile_starts(height, h, h):
        for x in tile_starts(width, w, w):
            mean = float(uncertainty[y:y + h, x:x + w].mean(dtype=np.float64))
            if mean > best:
                best, best_cell = mean, (x, y, w, h)
    return best_cell, best


def score_map(uncertainty: np.ndarray, grid: int, item: ImageScore) -> None:
    """The image's mean uncertainty and, when it is larger than one cell, its worst cell."""
    item.score = float(np.asarray(uncertainty).mean(dtype=np.float64))
    if uncertainty.shape[0] > grid or uncertainty.shape[1] > grid:
        item.tile, item.tile_score = most_uncertain_cell(uncertainty, grid)


def ranked(items: list[ImageScore]) -> list[ImageScore]:
    """Most uncertain first; equal scores by name, so a run always lists them alike."""
    return sorted(items, key=lambda i: (-i.score, i.name))


# -- images ---------------------------------------------------------------------------------

Reader = Callable[[], np.ndarray]


@contextmanager
def images_of(request: SuggestRequest) -> Iterator[list[tuple[str, str, Reader]]]:
    """(key, name, read pixels) for every image to rank; a project file stays open read-only
    while the run lasts."""
    from matlab_gui.project import PROJECT_SUFFIX, Project

    source = request.source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.suffix.lower() == PROJECT_SUFFIX and path.is_file():
            with Project.open(path, readonly=True) as project:
                yield _project_images(project, request.image_ids)
            return
        if not path.is_dir():
            raise UserError("is neither a folder of images nor a project (.mgp) file", path)
        yield _folder_images(path, request.recursive)
        return
    yield _project_images(source, request.image_ids)


def _project_images(project, image_ids: list[str] | None) -> list[tuple[str, str, Reader]]:
    ids = list(project.image_ids if image_ids is None else image_ids)
    if not ids:
        raise UserError("the project has no images to rank", getattr(project, "path", None))
    return [(i, project.record(i).name, lambda i=i: project.read_image(i)) for i in ids]


def _folder_images(folder: Path, recursive: bool) -> list[tuple[str, str, Reader]]:
    from matlab_gui.imaging import read_image
    from matlab_gui.jobs.segment import collect_images

    root = Path(os.path.abspath(folder))  # as `collect_images` makes the paths absolute
    return [(str(p), str(p.relative_to(root)), lambda p=p: read_image(p).data)
            for p in collect_images([folder], recursive)]


# -- the job --------------------------------------------------------------------------------


@shares_the_cores
def run_suggest(request: SuggestRequest, progress: ProgressCallback | None = None,
                cancel: CancelToken | None = None) -> SuggestResult:
    """Predict every image once, score it, rank: most uncertain first."""
    import torch

    from matlab_gui.ml.device import pick_device
    from matlab_gui.ml.engines import choose_engine
    from matlab_gui.ml.inference import (
        check_channels,
        check_model,
        classification_input,
        classify_batch,
        make_segmenter,
        segment_image,
    )
    from matlab_gui.ml.model_folder import load_model
    from matlab_gui.ml.model_lookup import resolve_model
    from matlab_gui.ml.tiling import normalised_entropy

    t0 = time.perf_counter()
    cancel = cancel or CancelToken()
    if request.grid < 1:
        raise UserError(f"the grid must be at least 1 pixel, not {request.grid}")
    model_dir = resolve_model(request.model)
    with images_of(request) as images:
        device = pick_device(request.device)
        loaded = load_model(model_dir, device)
        card = loaded.card
        check_model(loaded.module, card, device)
        engine = choose_engine(loaded, device, request.engine)
        segmenter = None
        if card.task == "segmentation":  # labels only: the uncertainty is kept either way
            segmenter = make_segmenter(engine.module, card, device, output="labels")
        scores: list[ImageScore] = []
        for n, (key, name, read) in enumerate(images):
            cancel.raise_if_cancelled()
            report(progress, Progress("suggest", n, len(images), message=name))
            item = ImageScore(key, name)
            scores.append(item)
            try:
                pixels = read()
                if segmenter is not None:
                    prediction = segment_image(segmenter, card, pixels, key, progress, cancel)
                    score_map(prediction.uncertainty, request.grid, item)
                else:
                    check_channels(pixels, card, key)
                    x = torch.from_numpy(classification_input(pixels, card)[None])
                    item.score = float(normalised_entropy(classify_batch(engine.module, x,
                                                                         device)[0]))
            except UserError as exc:
                item.error = exc.problem
        report(progress, Progress("suggest", len(images), len(images)))
    return SuggestResult(card.task, ranked([s for s in scores if not s.error]),
                         [s for s in scores if s.error], time.perf_counter() - t0,
                         engine.description, engine.note)
