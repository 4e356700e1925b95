"""Models that leave the app: ONNX and TorchScript files that compute what the app computes.

The exported graph (float32, whatever the folder's weights are) takes `image`, an NCHW float32
batch already scaled to [0, 1] by the card's scale rule (per-image percentiles or the dtype's
range: image-dependent, so it stays outside the graph and `model_readme` spells it out), and
gives `probabilities`: softmax over classes, (N, C, H, W) for segmentation and (N, C) for
classification; a one-channel network's sigmoid p becomes the two classes (1 - p, p), as in the
app. Inside the graph: the card's `(x - mean) / std`, and for segmentation the app's one-pass
padding (reflection at the bottom and right up to a multiple of 32, cropped off the output), so
N, H and W are dynamic. A classifier's H and W are the card's input size (resizing stays out).

Exporters: `torch.onnx.export(dynamo=False)`, the TorchScript-based exporter torch 2.14 still
has (5 s for a shipped U-Net on 2 cores, where the torch.export-based one took over 10 minutes
and needs onnxscript), opset 17; TorchScript by `torch.jit.trace`. Both trace on sizes that are
multiples of 32, so the padding branches inside the networks (`padding.PaddedSegmentation`, FCN)
stay the no-op they are behind the graph's own padding.

Every export is checked before it is kept: the file written is run (onnxruntime, or
`torch.jit.load`) on test images and compared with the app's own probabilities on the same
images: for segmentation `inference.predict_image` with the card's tiles, on images that fit in
one tile (one of them not a multiple of 32, two of them as a batch), i.e. what `segment` and
Predict run; for classification `classification_input` + `classify_batch`. Above 1e-3 (the
app's float16 probabilities alone differ by up to 5e-4) nothing is written. Files go through
`atomic_write_bytes`: model file, then a copy of card.json and the generated README.md.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from matlab_gui.errors import UserError
from matlab_gui.imaging.write import atomic_write_bytes
from matlab_gui.ml.model_readme import INPUT_NAME, MODEL_FILES, MULTIPLE, OUTPUT_NAME, model_readme
from matlab_gui.progress import CancelToken, Progress, ProgressCallback, report

FORMATS = tuple(MODEL_FILES)  # "onnx", "torchscript"
TOLERANCE = 1e-3
OPSET = 17
CARD, README = "card.json", "README.md"
STEPS = 4  # load, export, check, card + README


class ExportError(UserError):
    """An export that cannot be made or kept (format, output folder, failed check)."""


@dataclass
class ExportRequest:
    model: str | Path  # a model folder, a shipped model's name or PROJECT.mgp:NAME
    format: str  # "onnx" | "torchscript"
    out: Path  # the folder the model file, card.json and README.md go into
    images: list[np.ndarray] | None = None  # test images for the check (default: synthetic)


@dataclass
class ExportResult:
    model: str
    task: str
    format: str
    folder: Path
    model_file: Path
    files: list[Path]
    max_abs_diff: float
    inputs: list[tuple[int, ...]] = field(default_factory=list)  # graph input shapes checked
    wall_s: float = 0.0

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out.update(folder=str(self.folder), model_file=str(self.model_file),
                   files=[str(f) for f in self.files], inputs=[list(s) for s in self.inputs],
                   tolerance=TOLERANCE)
        return out


# -- the graph ----------------------------------------------------------------------------


def probabilities(logits: torch.Tensor, channels: int) -> torch.Tensor:
    """The app's probabilities (`tiling.class_probabilities`, `inference.classify_batch`), with the
    network's channel count fixed at export so the graph has no branch."""
    if channels == 1:
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=1)
    return logits.softmax(1)


class PortableModel(nn.Module):
    """`net` behind the card's mean/std (and, for segmentation, the one-pass padding), with
    probabilities out: what the exported files hold."""

    def __init__(self, net: nn.Module, mean, std, segmentation: bool, channels: int):
        super().__init__()
        self.net, self.segmentation, self.channels = net, segmentation, int(channels)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = (image - self.mean) / self.std
        if not self.segmentation:
            return probabilities(self.net(x), self.channels)
        h, w = x.shape[-2], x.shape[-1]
        ph, pw = (MULTIPLE - h % MULTIPLE) % MULTIPLE, (MULTIPLE - w % MULTIPLE) % MULTIPLE
        logits = self.net(F.pad(x, (0, pw, 0, ph), mode="reflect"))[..., :h, :w]
        return probabilities(logits, self.channels)


def portable(loaded) -> PortableModel:
    """The float32 graph of a loaded model (`model_folder.LoadedModel`), on the CPU."""
    from matlab_gui.ml.inference import check_model

    card, net = loaded.card, loaded.module.float().cpu().eval()
    check_model(net, card, torch.device("cpu"))
    with torch.inference_mode():
        channels = int(net(torch.zeros(1, int(card.in_channels), *_trace_hw(card))).shape[1])
    norm = card.normalisation
    return PortableModel(net, norm.mean, norm.std, card.task == "segmentation", channels).eval()


def _trace_hw(card) -> tuple[int, int]:
    from matlab_gui.ml.data import input_hw

    if card.task == "segmentation":
        return 2 * MULTIPLE, 2 * MULTIPLE
    return input_hw(card)


@contextmanager
def _quiet() -> Iterator[None]:
    """Without the exporters' deprecation and tracer notes: the check judges the trace."""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, FutureWarning, torch.jit.TracerWarning, UserWarning):
            warnings.simplefilter("ignore", category)
        yield


def trace_onnx(module: torch.nn.Module, sample: torch.Tensor, path: str | Path, segmentation: bool,
               input_name: str, output_name: str) -> None:
    """`module` traced on `sample` into an ONNX file at OPSET, batch dynamic (and height and
    width for segmentation): the one exporter behind Model > Export and the inference engines."""
    axes = {0: "batch", 2: "height", 3: "width"} if segmentation else {0: "batch"}
    with _quiet():
        torch.onnx.export(module, (sample,), str(path), dynamo=False, opset_version=OPSET,
                          input_names=[input_name], output_names=[output_name],
                          dynamic_axes={input_name: axes, output_name: axes})


def _write_onnx(graph: PortableModel, sample: torch.Tensor, path: Path, meta: dict) -> None:
    import onnx

    trace_onnx(graph, sample, path, graph.segmentation, INPUT_NAME, OUTPUT_NAME)
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, meta)
    model.doc_string = "matlab_gui model; see README.md beside this file for its input contract"
    onnx.save(model, str(path))


def _write_torchscript(graph: PortableModel, sample: torch.Tensor, path: Path, meta: dict) -> None:
    with _quiet():
        traced = torch.jit.trace(graph, (sample,), check_trace=False)
        traced.save(str(path), _extra_files={CARD: meta["card.json"]})


def _runner(path: Path, fmt: str):
    """`run(x: float32 NCHW) -> float32 probabilities` of an exported file."""
    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise ExportError("checking an ONNX export needs onnxruntime: "
                              "pip install onnxruntime", path) from None
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return lambda x: session.run(None, {INPUT_NAME: x})[0]
    with _quiet():
        net = torch.jit.load(str(path), map_location="cpu").eval()

    def run(x):
        with torch.inference_mode():
            return net(torch.from_numpy(x)).numpy()
    return run


# -- what the app computes on the same images ----------------------------------------------


def unit_card(card):
    """The card with mean 0 and std 1: its `to_model_input` is the graph's input, computed by
    the app's own code."""
    zeros, ones = [0.0] * int(card.in_channels), [1.0] * int(card.in_channels)
    return dataclasses.replace(card, normalisation=dataclasses.replace(
        card.normalisation, mean=zeros, std=ones))


def graph_input(image: np.ndarray, card) -> np.ndarray:
    """float32 (C, h, w): an image as the exported graph takes it (the README's steps)."""
    from matlab_gui.ml.inference import classification_input
    from matlab_gui.ml.preprocess import to_model_input

    unit = unit_card(card)
    if card.task == "classification":
        return classification_input(image, unit)
    return np.asarray(to_model_input(image, unit), dtype=np.float32)


def app_probabilities(loaded, images: list[np.ndarray]) -> list[np.ndarray]:
    """The app's float32 view of its own probabilities for each image, on the CPU."""
    from matlab_gui.ml import inference

    card, model, cpu = loaded.card, loaded.module, torch.device("cpu")
    if card.task == "classification":
        batch = torch.from_numpy(np.stack([inference.classification_input(i, card) for i in images]))
        return list(inference.classify_batch(model, batch, cpu, amp=False))
    options = inference.tile_options(card, output="probabilities", amp=False)
    out = []
    for image in images:
        prediction = inference.predict_image(model, card, image, cpu, options)
        out.append(prediction.probabilities.astype(np.float32))
    return out


def check_images(card, seed: int = 0) -> list[np.ndarray]:
    """Synthetic micrographs that fit in one tile: two of the card's size (a batch) and one whose
    sides are no multiple of 32 (the padding); 16-bit grey or 8-bit RGB with unequal channels."""
    from matlab_gui.ml.data import input_hw

    h, w = input_hw(card)
    if card.task == "segmentation":
        sizes = [(h, w), (h, w), (min(h, max(17, h * 3 // 4 + 1)), min(w, max(17, w // 2 + 7)))]
    else:
        sizes = [(h * 3 // 2 + 1, w + 10), (h - 7, w * 2 + 3)]  # the app resizes them
    rng = np.random.default_rng(seed)
    out = []
    for size in sizes:
        planes = []
        for _ in range(int(card.in_channels)):
            field_ = rng.normal(size=size)
            for _ in range(3):  # smooth grains at a few scales, as a micrograph has
                field_ = field_ + np.roll(field_, 1, 0) + np.roll(field_, 1, 1)
            planes.append((field_ - field_.min()) / max(np.ptp(field_), 1e-9))
        if len(planes) == 1:
            out.append((planes[0] * 4000 + 300).astype(np.uint16))  # 12 bits used of 16
        else:
            out.append((np.stack(planes, -1) * 255).astype(np.uint8))
    return out


def check(path: Path, fmt: str, loaded, images: list[np.ndarray]
          ) -> tuple[float, list[tuple[int, ...]]]:
    """Largest difference between the file's probabilities and the app's over `images`, and
    the input shapes run; images of one size go through the file as one batch."""
    run, card = _runner(path, fmt), loaded.card
    expected = app_probabilities(loaded, images)
    inputs = [graph_input(i, card) for i in images]
    groups: dict[tuple, list[int]] = {}
    for k, x in enumerate(inputs):
        groups.setdefault(x.shape, []).append(k)
    worst, shapes = 0.0, []
    for members in groups.values():
        batch = np.stack([inputs[k] for k in members])
        got = np.asarray(run(batch), dtype=np.float32)
        shapes.append(tuple(batch.shape))
        for row, k in enumerate(members):
            if got.shape[1:] != expected[k].shape:
                raise ExportError(f"the exported model gives shape {got.shape[1:]} where the app "
                                  f"gives {expected[k].shape}", path)
            diff = float(np.max(np.abs(got[row] - expected[k])))
            worst = max(worst, diff if math.isfinite(diff) else math.inf)
    return worst, shapes


# -- the job ---------------------------------------------------------------------------------


def _out_folder(out: Path, source: Path) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ExportError("exists and is not a folder: give a folder for the exported files", out)
    if out.exists() and out.resolve() == source.resolve():
        raise ExportError("is the model's own folder: export into another folder", out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create the folder ({exc.strerror or exc})", out) from None
    return out


def _write(path: Path, write) -> None:
    try:
        atomic_write_bytes(path, write)
    except UserError:
        raise
    except OSError as exc:
        raise ExportError(f"cannot write the file ({exc.strerror or exc})", path) from None


def run_export(request: ExportRequest, progress: ProgressCallback | None = None,
               cancel: CancelToken | None = None) -> ExportResult:
    """Export, check and write (see the module's docstring); UserError on bad input."""
    from matlab_gui.ml.model_folder import load_model
    from matlab_gui.ml.model_lookup import model_folder

    t0 = time.perf_counter()
    cancel = cancel or CancelToken()
    fmt = str(request.format).lower()
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {request.format!r} (use {' or '.join(FORMATS)})")
    with model_folder(request.model) as source:
        out = _out_folder(request.out, source)
        card_bytes = (source / CARD).read_bytes()
        report(progress, Progress("export", 0, STEPS, message=f"loading {source.name}"))
        loaded = load_model(source, "cpu")
    card = loaded.card
    cancel.raise_if_cancelled()
    graph = portable(loaded)
    sample = torch.rand(2, int(card.in_channels), *_trace_hw(card),
                        generator=torch.Generator().manual_seed(0))
    target = out / MODEL_FILES[fmt]
    images = request.images or check_images(card)
    meta = {"name": card.name or source.name, "task": card.task, "card.json": card_bytes.decode(),
            "classes": json.dumps(card.class_names), "input": INPUT_NAME, "output": OUTPUT_NAME}
    found: dict = {}

    def write(tmp: Path) -> None:  # export, then check the very file that will be kept
        report(progress, Progress("export", 1, STEPS, message=f"writing {target.name}"))
        with torch.no_grad():
            (_write_onnx if fmt == "onnx" else _write_torchscript)(graph, sample, tmp, meta)
        cancel.raise_if_cancelled()
        report(progress, Progress("export", 2, STEPS, message="checking against the app"))
        found["diff"], found["inputs"] = check(tmp, fmt, loaded, images)
        if not found["diff"] <= TOLERANCE:
            raise ExportError(f"the exported model's probabilities differ from the app's by "
                              f"{found['diff']:.2e} (limit {TOLERANCE:.0e}): not written", target)
        cancel.raise_if_cancelled()

    _write(target, write)
    report(progress, Progress("export", 3, STEPS, message="card.json and README.md"))
    export = {"format": fmt, "file": target.name, "max_abs_diff": found["diff"],
              "inputs": found["inputs"], "tolerance": TOLERANCE, "torch": torch.__version__,
              "opset": OPSET if fmt == "onnx" else None}
    readme = model_readme(card, export).encode("utf-8")
    _write(out / CARD, lambda tmp: tmp.write_bytes(card_bytes))
    _write(out / README, lambda tmp: tmp.write_bytes(readme))
    report(progress, Progress("export", STEPS, STEPS))
    return ExportResult(model=card.name or source.name, task=card.task, format=fmt, folder=out,
                        model_file=target, files=[target, out / CARD, out / README],
                        max_abs_diff=found["diff"], inputs=found["inputs"],
                        wall_s=time.perf_counter() - t0)


def export_model(model: str | Path, fmt: str, out: str | Path, **kwargs) -> ExportResult:
    """`run_export` for a script: `export_model("nasa-super", "onnx", "nasa-super-onnx")`."""
    return run_export(ExportRequest(model, fmt, Path(out), **kwargs))
