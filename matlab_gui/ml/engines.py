"""Which runtime runs a model's forward pass: torch, ONNX Runtime or OpenVINO.

On a CPU, eager torch spends much of its time allocating; the same network converted to ONNX
and run by OpenVINO or ONNX Runtime in float32 gives the same probabilities (within 1e-4) about
twice as fast (`benchmarks/engines.py`). Only the forward pass changes: the engine is wrapped
as an `nn.Module` (`EngineModule`) and handed to the one tiled inference path, so reading,
normalisation, tiling, blending and writing are the app's own whatever the engine.

A model is converted once and cached under `cache_dir()`, keyed by the hash of its weights,
card and the converter's versions, so a model stored again with other weights is converted
again and never served stale. Each conversion is checked against torch on a tile before it is
used; a conversion that fails or disagrees by more than `AGREEMENT` falls back to torch with a
note the CLI prints and the window shows: never silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from matlab_gui.errors import UserError
from matlab_gui.ml import engine_choice
from matlab_gui.ml.engine_choice import CPU_ENGINES, LABELS, LOSSY, check_engine
from matlab_gui.ml.export import OPSET, trace_onnx
from matlab_gui.ml.model_readme import MULTIPLE
from matlab_gui.ml.tiling import class_probabilities

AGREEMENT = 1e-3  # largest probability difference to torch accepted for a conversion
FORMAT_VERSION = 1  # bump when the cached files change meaning


@dataclass
class Engine:
    """The module inference runs and what to tell the user about it."""

    module: nn.Module
    name: str  # the engine that runs: "torch", "onnxruntime" or "openvino"
    note: str = ""  # for the user: a fallback's reason, or how much a lossy engine agrees

    @property
    def description(self) -> str:
        precision = "" if self.name == "torch" else " (lossy)" if self.name in LOSSY else " (float32)"
        return f"{LABELS[self.name]}{precision}"


def cache_dir() -> Path:
    """Where converted models are kept: $MATLAB_GUI_CACHE, else the user's cache folder."""
    explicit = os.environ.get("MATLAB_GUI_CACHE")
    if explicit:
        return Path(explicit) / "engines"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "matlab_gui" / "engines"


def model_key(weights: Path, card) -> str:
    """The cache key: the weights' bytes, the network the card builds, the converter."""
    digest = hashlib.sha256()
    with open(weights, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    network = {"task": card.task, "arch": card.arch, "encoder": getattr(card, "encoder", None),
               "in_channels": card.in_channels, "classes": len(card.classes),
               "head": getattr(card, "head", None), "torch": torch.__version__,
               "opset": OPSET, "format": FORMAT_VERSION}
    digest.update(json.dumps(network, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


class EngineModule(nn.Module):
    """An ONNX model run by a CPU runtime behind the `nn.Module` call the tiler makes: float32
    NCHW in, the network's logits out (as torch tensors on the CPU). A segmentation graph is
    traced at a multiple of 32, where the network's own padding is a no-op and so absent from
    the graph: `convert` wraps it in the same `padding.PaddedSegmentation`, so any size works."""

    def __init__(self, run, name: str):
        super().__init__()
        self._run, self.engine = run, name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        return torch.from_numpy(np.asarray(self._run(batch), dtype=np.float32))


# -- conversion ------------------------------------------------------------------------------


def sample_input(card) -> torch.Tensor:
    """A deterministic input of the card's size in the range the network sees."""
    from matlab_gui.ml.data import input_hw

    h, w = input_hw(card)
    if card.task == "segmentation":  # traced where the network's padding is a no-op
        h, w = (max(2 * MULTIPLE, -(-n // MULTIPLE) * MULTIPLE) for n in (h, w))
    g = torch.Generator().manual_seed(0)
    return torch.randn(1, int(card.in_channels), h, w, generator=g)


def export_onnx(module: nn.Module, card, path: Path) -> None:
    """The bare network (logits, float32) with dynamic batch (and, for segmentation, height and
    width), written atomically."""
    net = module.float().cpu().eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".convert-", suffix=".onnx")
    os.close(fd)
    try:
        trace_onnx(net, sample_input(card), tmp, card.task == "segmentation", "x", "logits")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _threads() -> int:
    return max(1, torch.get_num_threads())


def onnxruntime_runner(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = _threads()
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"x": x})[0]


def openvino_runner(path: Path, precision: str = "f32"):
    """OpenVINO in `precision` (float32 unless bf16 is asked for: its CPU default is lossy bf16
    where the CPU has it), compiled once per input shape (a run's tiles share one), compiled
    blobs cached beside the ONNX file."""
    import openvino as ov

    core = ov.Core()
    if "CPU" not in core.available_devices:  # else the first tile fails, past every fallback
        raise RuntimeError("OpenVINO finds no CPU device here (its CPU plugin is missing)")
    if precision == "bf16" and "BF16" not in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        raise RuntimeError("this CPU has no bfloat16 instructions")
    model = core.read_model(str(path))
    config = {"INFERENCE_PRECISION_HINT": precision, "INFERENCE_NUM_THREADS": _threads(),
              "PERFORMANCE_HINT": "LATENCY", "CACHE_DIR": str(path.parent / f"openvino-{precision}")}
    compiled: dict[tuple, object] = {}

    def run(x: np.ndarray) -> np.ndarray:
        shape = tuple(x.shape)
        if shape not in compiled:
            if len(compiled) >= 4:
                compiled.clear()
            shaped = model.clone()
            shaped.reshape({0: ov.PartialShape(list(shape))})
            compiled[shape] = core.compile_model(shaped, "CPU", config).create_infer_request()
        request = compiled[shape]
        request.infer({0: x})
        return request.get_output_tensor(0).data.copy()

    return run


RUNNERS = {"onnxruntime": onnxruntime_runner, "openvino": openvino_runner,
           "openvino-bf16": lambda path: openvino_runner(path, "bf16")}


def agreement(reference: nn.Module, engine: nn.Module, card) -> tuple[float, float]:
    """Largest probability difference between the two, and the fraction of pixels (images, for
    a classifier) whose class they agree on, over the sample input (and, for segmentation, one
    whose size is not a multiple of 32 as well)."""
    x = sample_input(card)
    inputs = [x, x[..., 5:, 3:]] if card.task == "segmentation" else [x]
    worst, same, total = 0.0, 0, 0
    with torch.inference_mode():
        for sample in inputs:
            a = class_probabilities(reference(sample).float())
            b = class_probabilities(engine(sample).float())
            if a.shape != b.shape:
                return float("inf"), 0.0
            worst = max(worst, float((a - b).abs().max()))
            same += int((a.argmax(1) == b.argmax(1)).sum())
            total += a.argmax(1).numel()
    return worst, same / total


def lossy_note(name: str, diff: float, agrees: float) -> str:
    return (f"{LABELS[name]} is lossy: on a random test input its class agrees with torch "
            f"float32 at {100 * agrees:.2f} % of the pixels, probabilities differ by up to "
            f"{diff:.2g} (use the default engine for results identical to float32)")


def _paths(weights: Path, card, name: str) -> tuple[Path, Path]:
    """The cached ONNX file of this model and the record of its check with runtime `name`."""
    key, folder = model_key(weights, card), cache_dir()
    return folder / f"{key}.onnx", folder / f"{key}.{name}.json"


def _runtime_module(onnx_path: Path, card, name: str) -> nn.Module:
    from matlab_gui.ml.padding import PaddedSegmentation

    engine = EngineModule(RUNNERS[name](onnx_path), name)
    return PaddedSegmentation(engine, MULTIPLE) if card.task == "segmentation" else engine


def _note(name: str, checked: Path) -> str:
    if name not in LOSSY:
        return ""
    check = json.loads(checked.read_text())
    return lossy_note(name, check["max_abs_diff"], check.get("argmax_agreement", float("nan")))


def convert(module: nn.Module, card, weights: Path, name: str) -> tuple[nn.Module, str]:
    """`module` as the CPU runtime `name` runs it, converted (and checked) once per key, and a
    note for a lossy engine (how much it agrees with torch); a failure raises with the
    runtime's reason. A float32 engine must agree within AGREEMENT."""
    onnx_path, checked = _paths(weights, card, name)
    if not onnx_path.is_file():
        export_onnx(module, card, onnx_path)
    engine = _runtime_module(onnx_path, card, name)
    if not checked.is_file():
        diff, agrees = agreement(module, engine, card)
        if name not in LOSSY and not diff <= AGREEMENT:
            raise RuntimeError(f"its probabilities differ from torch's by {diff:.2g}")
        checked.write_text(json.dumps({"max_abs_diff": diff, "argmax_agreement": agrees}))
    return engine, _note(name, checked)


def cached_engine(folder: Path, card, device: torch.device, engine: str = "auto") -> Engine | None:
    """The model in `folder` run from a checked conversion of exactly its weights and card
    already in the cache, without building the torch network (that imports
    segmentation-models-pytorch and timm: seconds per process); None when there is none."""
    from matlab_gui.ml.model_folder import WEIGHTS

    check_engine(engine)
    if device.type != "cpu" or engine == "torch":
        return None
    name = engine if engine != "auto" else next(
        (e for e in CPU_ENGINES if engine_choice.available(e)), None)
    weights = Path(folder) / WEIGHTS
    if name is None or not engine_choice.available(name) or not weights.is_file():
        return None
    onnx_path, checked = _paths(weights, card, name)
    if not (onnx_path.is_file() and checked.is_file()):
        return None
    try:
        return Engine(_runtime_module(onnx_path, card, name), name, _note(name, checked))
    except Exception:  # a damaged cache file: convert again from the weights
        return None


def load_engine(folder: Path, device: torch.device, engine: str = "auto"):
    """(Engine, card) of the model in `folder` for inference with `engine` on `device`: from
    the cache when this model was converted before, else loaded (checked tensor by tensor)
    and chosen as `choose_engine` does."""
    from matlab_gui.ml.model_folder import load_model, read_card

    card = read_card(folder)
    fast = cached_engine(folder, card, device, engine)
    if fast is not None:
        return fast, card
    loaded = load_model(folder, device)
    return choose_engine(loaded, device, engine), loaded.card


def choose_engine(loaded, device: torch.device, engine: str = "auto") -> Engine:
    """The module to run `loaded` (`model_folder.LoadedModel`) with `engine` on `device`.
    "auto": torch on a GPU, else the fastest CPU runtime installed. A conversion that fails
    falls back to torch with a note."""
    from matlab_gui.ml.model_folder import WEIGHTS

    check_engine(engine)
    module, card = loaded.module, loaded.card
    if engine == "torch" or (engine == "auto" and device.type != "cpu"):
        return Engine(module, "torch")
    if loaded.folder is None:  # built in memory: no weights file to key a conversion by
        return Engine(module, "torch", "a model not read from a folder runs with torch")
    weights = Path(loaded.folder) / WEIGHTS
    if device.type != "cpu":
        raise UserError(f"the {LABELS[engine]} engine runs on the CPU; choose the CPU device or "
                        "the torch engine")
    wanted = [engine] if engine != "auto" else [e for e in CPU_ENGINES if engine_choice.available(e)]
    notes = []
    for name in wanted:
        if not engine_choice.available(name):
            notes.append(f"{LABELS[name]} is not installed")
            continue
        try:
            converted, note = convert(module, card, weights, name)
            return Engine(converted, name, note)
        except Exception as exc:  # any converter or runtime failure: torch still works
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            notes.append(f"{LABELS[name]} could not run this model ({reason})")
    if not wanted:
        return Engine(module, "torch")
    return Engine(module, "torch", "; ".join(notes) + ": running it with torch instead")
