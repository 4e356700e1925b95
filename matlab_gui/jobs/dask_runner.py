"""classify and segment over the workers of a Dask cluster; the client alone writes the CSVs.

Files are sent to workers in small chunks and come back as they finish (`as_completed`). Each
worker process loads a model once (`_cached`, keyed by everything that changes the loaded
engine) and runs the same per-file functions the single-process loops run (`classify_items`,
`segment_one`), so results match. Segment workers write an image's mask / map files into the
(shared) output folder themselves; the phase-fraction and measurement CSVs, and classify's
CSV, are written by the client only, atomically, as in a single-process run.

An image with more than `HUGE_TILE_ROWS` rows of tiles is not one task: its batches of tiles
(`TiledSegmenter.tile_batches`) are computed by the workers, rows of tiles per task, and the
client blends them into its band accumulator in the single-process order, so the stitched
result is the single-process one by construction. A worker that dies is reported and the
scheduler reruns its tasks on another worker; a file whose task killed workers repeatedly
becomes an error row.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from matlab_gui.errors import UserError

HUGE_TILE_ROWS = 4  # images with more rows of tiles than this are split over the workers
LOCAL_PREFIX = "local:"

_cache: dict[tuple, object] = {}  # per worker process: loaded engines and segmenters


@contextmanager
def connect(spec: str) -> Iterator[object]:
    """A Client to `spec`: "local:N" starts N worker processes here (one thread each), any
    other value is a scheduler address (tcp://host:8786)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UserError("--dask needs the dask[distributed] package") from None
    if spec.startswith(LOCAL_PREFIX):
        try:
            n = int(spec[len(LOCAL_PREFIX):])
        except ValueError:
            n = 0
        if n < 1:
            raise UserError("--dask local:N needs a number of workers N >= 1", spec)
        with LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                          dashboard_address=None, env={"OMP_NUM_THREADS": "1"}) as cluster, \
                Client(cluster) as client:
            yield client
        return
    try:
        client = Client(spec, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise UserError(f"cannot reach the Dask scheduler ({exc})", spec) from None
    with client:
        yield client


class _Workers:
    """Workers seen during a run; those that disappeared are the lost ones.

    The worker list is asked of the scheduler each time (`Client.nthreads`), not read from
    `Client.scheduler_info()`: that returns a cached identity which the client's periodic
    refresh overwrites with a worker-less summary, so now and then every worker looked lost."""

    def __init__(self, client):
        self.client, self.seen, self.lost = client, set(), []

    def check(self) -> None:
        now = set(self.client.nthreads())
        for gone in sorted(self.seen - now - set(self.lost)):
            self.lost.append(gone)
        self.seen |= now


def _worker_threads() -> None:
    """Torch threads per worker process: OMP_NUM_THREADS if set (Dask sets 1 for its workers)."""
    import torch

    threads = os.environ.get("OMP_NUM_THREADS")
    if threads and threads.isdigit() and int(threads) > 0:
        torch.set_num_threads(int(threads))


def _cached(key: tuple, load):
    if key not in _cache:
        _worker_threads()
        _cache[key] = load()
    return _cache[key]


def _killed(exc: BaseException) -> bool:
    from distributed.scheduler import KilledWorker

    return isinstance(exc, KilledWorker)


# -- classify -------------------------------------------------------------------------------


def _classify_chunk(model_dir: Path, device_name: str, engine_name: str, paths: list[Path]):
    """On a worker: (probabilities or None, error) per file, and the engine's description."""
    from matlab_gui.jobs.classify import classify_items, load_item
    from matlab_gui.ml.device import pick_device

    def load():
        from matlab_gui.ml.engines import load_engine
        from matlab_gui.ml.inference import check_model

        device = pick_device(device_name)
        engine, card = load_engine(model_dir, device, engine_name)
        check_model(engine.module, card, device)
        return engine, card, device

    engine, card, device = _cached(("classify", str(model_dir), device_name, engine_name), load)
    items = [load_item(p, card) for p in paths]
    return classify_items(engine.module, items, device), engine.description, engine.note


def classify_on_dask(request, plan, info: dict):
    """Per chunk of `plan`'s files, as workers finish them: (todo index, probabilities or
    None, error) of each."""
    from distributed import as_completed

    with connect(request.dask) as client:
        workers = _Workers(client)
        workers.check()
        n_workers = max(1, len(workers.seen))
        per_task = max(1, min(request.batch, math.ceil(len(plan.todo) / (4 * n_workers))))
        indices = list(range(len(plan.todo)))
        chunks = [indices[i:i + per_task] for i in range(0, len(indices), per_task)]
        futures = {}
        for chunk in chunks:
            future = client.submit(_classify_chunk, plan.model_dir, request.device,
                                   request.engine, [plan.todo[i][1] for i in chunk], pure=False)
            futures[future] = chunk
        try:
            for future in as_completed(futures):
                chunk = futures[future]
                try:
                    results, info["engine"], info["note"] = future.result()
                except Exception as exc:
                    if not _killed(exc):
                        raise
                    results = [(None, "the Dask worker died on this file every time it ran")
                               ] * len(chunk)
                workers.check()
                yield [(i, probs, err) for i, (probs, err) in zip(chunk, results, strict=True)]
        finally:
            workers.check()
            info["lost"] = workers.lost
            client.cancel(list(futures))


# -- segment --------------------------------------------------------------------------------


def _segmenter(request, model_dir: Path):
    from matlab_gui.jobs.segment import load_segmenter

    key = ("segment", str(model_dir), request.device, request.engine, request.tile,
           request.overlap, request.batch, request.tta, request.tile_output)
    return _cached(key, lambda: load_segmenter(request, model_dir))


def _segment_file(request, model_dir: Path, path: Path, base: Path, huge_rows: int):
    """On a worker: the image's outcome (its files written), or None when it is huge."""
    from matlab_gui.imaging import read_image
    from matlab_gui.jobs.segment import ImageOutcome, output_meaning, segment_one
    from matlab_gui.ml.inference import segment_image

    engine, card, segmenter = _segmenter(request, model_dir)
    names = [c.name for c in card.classes]
    try:
        micrograph = read_image(path)
    except UserError as exc:
        return ImageOutcome(path, error=exc.problem), engine.description, engine.note
    if len(segmenter.grid(*micrograph.data.shape[:2])[0]) > huge_rows:
        return None, engine.description, engine.note
    outcome = segment_one(request, lambda m: segment_image(segmenter, card, m.data, path),
                          names, output_meaning(model_dir, card), path, base, micrograph)
    return outcome, engine.description, engine.note


def _tile_group(request, model_dir: Path, path: Path, chunks: list):
    """On a worker: `(chunk, probabilities, disagreement)` of some tile batches of a huge image."""
    from matlab_gui.imaging import read_image
    from matlab_gui.ml.inference import check_channels, normaliser

    _, card, segmenter = _segmenter(request, model_dir)
    image = _cached(("image", str(path), os.stat(path).st_mtime_ns),
                    lambda: read_image(path).data)
    if len(_cache) > 8:  # one huge image at a time stays decoded
        for key in [k for k in _cache if k[0] == "image" and k[1] != str(path)]:
            del _cache[key]
    check_channels(image, card, path)
    normalise = normaliser(image, card)
    return [(chunk, *segmenter.batch_probabilities(image, normalise, chunk)) for chunk in chunks]


def _segment_huge(client, request, model_dir: Path, card, path: Path, base: Path, progress,
                  cancel):
    """One huge image: tile batches on the workers, blended here in order, files written here."""
    from matlab_gui.imaging import read_image
    from matlab_gui.jobs.segment import output_meaning, segment_one
    from matlab_gui.ml.device import pick_device
    from matlab_gui.ml.inference import check_channels, tile_options
    from matlab_gui.ml.tiling import TiledSegmenter

    options = tile_options(card, tile=request.tile, overlap=request.overlap, batch=request.batch,
                           tta=request.tta, output=request.tile_output)
    blender = TiledSegmenter(None, pick_device(request.device), options)  # no model: blends only

    def predict(micrograph):
        check_channels(micrograph.data, card, path)
        height, width = micrograph.data.shape[:2]
        batches = blender.tile_batches(height, width)
        per_row = math.ceil(len(blender.grid(height, width)[1]) / blender.batch)
        futures = [client.submit(_tile_group, request, model_dir, path,
                                 batches[i:i + per_row], pure=False)
                   for i in range(0, len(batches), per_row)]
        try:
            results = (item for future in futures for item in future.result())
            return blender.blend(height, width, results, progress, cancel)
        finally:
            client.cancel(futures)

    names = [c.name for c in card.classes]
    return segment_one(request, predict, names, output_meaning(model_dir, card), path, base,
                       read_image(path))


def segment_on_dask(request, model_dir: Path, paths: list[Path], bases: list[Path], info: dict,
                    progress=None, cancel=None):
    """The ImageOutcome of every image, as workers finish them (huge images split)."""
    from distributed import as_completed

    from matlab_gui.jobs.segment import ImageOutcome
    from matlab_gui.ml.model_folder import read_card

    card = read_card(model_dir)
    with connect(request.dask) as client:
        workers = _Workers(client)
        workers.check()
        futures = {client.submit(_segment_file, request, model_dir, path, base, HUGE_TILE_ROWS,
                                 pure=False): (path, base)
                   for path, base in zip(paths, bases, strict=True)}
        try:
            for future in as_completed(futures):
                path, base = futures[future]
                try:
                    outcome, info["engine"], info["note"] = future.result()
                except Exception as exc:
                    if not _killed(exc):
                        raise
                    outcome = ImageOutcome(path, error="the Dask worker died on this image "
                                                       "every time it ran")
                if outcome is None:
                    outcome = _segment_huge(client, request, model_dir, card, path, base,
                                            progress, cancel)
                workers.check()
                yield outcome
        finally:
            workers.check()
            info["lost"] = workers.lost
            client.cancel(list(futures))
