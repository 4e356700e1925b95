"""The classify job: every image of a folder through a classifier, one CSV row per file.

Images are decoded and normalised in DataLoader workers so the model never waits. A file that
cannot be read gets its error in its row and the run goes on. The CSV is rewritten atomically
every few seconds, so an interrupted run leaves a valid file, and a second run with the same
CSV skips files already classified (same path, size and modification time). Rows are keyed by
absolute path: those of files not in this run (another folder) stay in the CSV.
"""

from __future__ import annotations

import csv
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from matlab_gui.errors import ImageReadError, UserError
from matlab_gui.imaging import IMAGE_SUFFIXES, list_images, read_image
from matlab_gui.imaging.write import check_output, write_csv
from matlab_gui.ml.threads import rebalance, shares_the_cores
from matlab_gui.progress import CancelToken, Progress, ProgressCallback, report

SAVE_EVERY_S = 5.0


@dataclass
class ClassifyRequest:
    model: str | Path  # a model folder or a shipped model's name
    folder: Path
    recursive: bool = False
    out: Path | None = None  # CSV; an existing one is resumed
    device: str = "auto"
    batch: int = 32
    workers: int = 2
    engine: str = "auto"  # the forward pass's runtime (`ml.engines`)
    dask: str | None = None  # a scheduler address or "local:N": files sharded over its workers


@dataclass
class Row:
    path: str
    size: int
    mtime_ns: int
    predicted: str = ""
    probabilities: list[float] = field(default_factory=list)
    error: str = ""


@dataclass
class ClassifyResult:
    class_names: list[str]
    rows: list[Row]
    classified: int  # in this run
    skipped: int  # done by an earlier run
    failed: int
    out: Path | None
    wall_s: float
    engine: str = "torch"
    engine_note: str = ""
    lost_workers: list[str] = field(default_factory=list)  # Dask workers that died mid-run

    @property
    def any_classified(self) -> bool:
        return any(not r.error for r in self.rows)


# -- CSV ------------------------------------------------------------------------------------


def _header(class_names: list[str]) -> list[str]:
    return ["path", "predicted", *(f"p_{n}" for n in class_names), "error", "size", "mtime_ns"]


def write_results(path: Path, rows: list[Row], class_names: list[str]) -> None:
    table = [[r.path, r.predicted, *([f"{p:.6f}" for p in r.probabilities]
                                     or [""] * len(class_names)), r.error, r.size, r.mtime_ns]
             for r in rows]
    write_csv(path, _header(class_names), table)


def _key(path: str | Path) -> str:
    """One file however its path was written (relative, through a link)."""
    return str(Path(path).resolve())


def read_rows(path: Path | None, class_names: list[str]) -> dict[str, Row]:
    """Every row of an earlier run with the same classes, by resolved path."""
    if path is None or not path.is_file():
        return {}
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return _rows(csv.reader(fh), class_names, path)
    except (UnicodeDecodeError, csv.Error):
        raise UserError("exists but is not a classify CSV (not CSV text); choose another --out",
                        path) from None


def _rows(reader, class_names: list[str], path: Path) -> dict[str, Row]:
    header = next(reader, None)
    if header != _header(class_names):
        raise UserError("exists but is not a classify CSV of this model's classes; "
                        "choose another --out", path)
    rows = {}
    for rec in reader:
        try:
            row = Row(rec[0], int(rec[-2]), int(rec[-1]), rec[1],
                      [float(v) for v in rec[2:-3] if v], rec[-3])
        except (ValueError, IndexError):
            raise UserError(f"line {reader.line_num} is damaged; fix or delete the file",
                            path) from None
        rows[_key(row.path)] = row
    return rows


# -- loading --------------------------------------------------------------------------------


class _FileDataset:
    """Index -> (index, normalised image tensor or an empty one, error); runs in loader workers.

    Tensors (not arrays) so that workers hand images over in shared memory, not through a pipe."""

    def __init__(self, paths: list[Path], card):
        self.paths, self.card = paths, card

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        return index, *load_item(self.paths[index], self.card)


def load_item(path: Path, card):
    """(normalised image tensor or an empty one, error) of one file: what every runner feeds
    `classify_items`."""
    import torch

    from matlab_gui.ml.inference import check_channels, classification_input

    try:
        image = read_image(path).data
        check_channels(image, card, path)
        return torch.from_numpy(classification_input(image, card)), ""
    except UserError as exc:
        return torch.empty(0), exc.problem
    except Exception as exc:  # a decoder crash on one file must not stop the folder
        return torch.empty(0), f"{type(exc).__name__}: {exc}"


def classify_items(model, items, device) -> list[tuple[list[float] | None, str]]:
    """Per loaded item (tensor, error): (probabilities, "") or (None, its error); the good ones
    go through the model as one batch. The single-process loop and Dask workers both call it."""
    import torch

    from matlab_gui.ml.inference import classify_batch

    good = [k for k, (_, err) in enumerate(items) if not err]
    out: list[tuple[list[float] | None, str]] = [(None, err) for _, err in items]
    if good:
        rebalance()
        batch = torch.stack([items[k][0] for k in good])
        for k, p in zip(good, classify_batch(model, batch, device), strict=True):
            out[k] = (p.tolist(), "")
    return out


def _collate(items):
    return items


def _worker_init(_worker_id: int) -> None:
    """Workers are the parallelism: OpenCV's own thread pool (which spins while idle) would
    take cores from the model."""
    import cv2

    cv2.setNumThreads(0)


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


# -- the job --------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What a run has to do: the model, every row in folder order, the rows still to fill."""

    model_dir: Path
    card: object
    names: list[str]
    rows: list[Row]
    todo: list[tuple[int, Path]]  # (row index, file)
    others: list[Row]  # rows of files not in this run, kept in the CSV as they are


def _plan(request: ClassifyRequest) -> _Plan:
    from matlab_gui.ml.model_folder import read_card
    from matlab_gui.ml.model_lookup import resolve_model

    if request.out is not None:
        check_output(request.out)
    model_dir = resolve_model(request.model)
    paths = list_images(Path(os.path.abspath(request.folder)), request.recursive)
    if not paths:
        kinds = ", ".join(sorted(IMAGE_SUFFIXES))
        raise ImageReadError(f"no images ({kinds}) in this folder"
                             + ("" if request.recursive else " (add --recursive for subfolders)"),
                             request.folder)
    card = read_card(model_dir)
    if card.task != "classification":
        raise UserError(f"the model is a {card.task} model; classify needs a classifier",
                        request.model)
    names = [c.name for c in card.classes]
    earlier = read_rows(request.out, names)
    rows: list[Row] = []
    todo: list[tuple[int, Path]] = []
    for path in paths:
        size, mtime = _stat(path)
        previous = earlier.pop(_key(path), None)
        unchanged = previous is not None and (previous.size, previous.mtime_ns) == (size, mtime)
        if unchanged and not previous.error:
            rows.append(replace(previous, path=str(path)))
        else:
            rows.append(Row(str(path), size, mtime))
            todo.append((len(rows) - 1, path))
    return _Plan(model_dir, card, names, rows, todo, list(earlier.values()))


def _local_results(request: ClassifyRequest, plan: _Plan, engine_info: dict):
    """Per batch, (todo index, probabilities or None, error) of its files, decoded in
    DataLoader workers while the model runs in this process."""
    from torch.utils.data import DataLoader

    from matlab_gui.ml.device import pick_device
    from matlab_gui.ml.engines import load_engine
    from matlab_gui.ml.inference import check_model

    device = pick_device(request.device)
    loader = DataLoader(_FileDataset([p for _, p in plan.todo], plan.card),
                        batch_size=request.batch,
                        num_workers=request.workers if plan.todo else 0, collate_fn=_collate,
                        worker_init_fn=_worker_init, pin_memory=device.type == "cuda")
    batches = iter(loader)  # the workers start decoding while the model loads
    engine, card = load_engine(plan.model_dir, device, request.engine)
    check_model(engine.module, card, device)
    engine_info.update(engine=engine.description, note=engine.note)
    for items in batches:
        results = classify_items(engine.module, [(x, err) for _, x, err in items], device)
        yield [(i, probs, err) for (i, _, _), (probs, err) in zip(items, results, strict=True)]


@shares_the_cores
def run_classify(request: ClassifyRequest, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> ClassifyResult:
    t0 = time.perf_counter()
    cancel = cancel or CancelToken()
    plan = _plan(request)
    rows, todo, names, others = plan.rows, plan.todo, plan.names, plan.others
    skipped = len(rows) - len(todo)
    classified = failed = 0
    report(progress, Progress("classify", 0, len(todo), message=f"{skipped} already done"))
    info: dict = {"engine": "torch", "note": "", "lost": []}
    if request.dask:
        from matlab_gui.jobs.dask_runner import classify_on_dask

        results = classify_on_dask(request, plan, info)
    else:
        results = _local_results(request, plan, info)
    last_save = time.perf_counter()

    def save() -> None:  # the earlier rows of other files, then every row done so far
        write_results(request.out, others + [r for r in rows if r.predicted or r.error], names)

    try:
        for batch in results:
            cancel.raise_if_cancelled()
            for i, probs, err in batch:
                row = rows[todo[i][0]]
                if err:
                    row.error = err
                    failed += 1
                else:
                    row.probabilities = probs
                    row.predicted = names[max(range(len(probs)), key=probs.__getitem__)]
                    classified += 1
            report(progress, Progress("classify", classified + failed, len(todo),
                                      {"failed": failed}))
            if request.out is not None and time.perf_counter() - last_save > SAVE_EVERY_S:
                save()
                last_save = time.perf_counter()
    finally:
        results.close()
        if request.out is not None:
            save()
    return ClassifyResult(names, rows, classified, skipped, failed, request.out,
                          time.perf_counter() - t0, info["engine"], info["note"], info["lost"])
