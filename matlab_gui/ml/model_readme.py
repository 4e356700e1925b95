"""A model card a person reads: `README.md` beside `card.json`, generated from the card alone.

bioimage.io-style: what the model does, its classes and their mask values, where its data came
from, and the exact contract of the exported ONNX / TorchScript graph (`ml/export.py`): the
input axes and dtype, each normalisation step outside the graph spelled out in numpy, what the
graph itself does, and a short onnxruntime example. Torch-free (the card module needs no torch),
so `models/ship.py` and the window can write it anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from matlab_gui.ml.card import ModelCard

INPUT_NAME, OUTPUT_NAME = "image", "probabilities"
MULTIPLE = 32  # segmentation graphs pad H and W up to this (the encoders' stride), as the app does
SUBSAMPLE_PIXELS = 1 << 20  # imaging.display._sample: percentiles of huge images on a subsample
LUMA = (0.299, 0.587, 0.114)  # preprocess._LUMA
# The weight and model files an export writes (ml/export.py names them from here).
MODEL_FILES = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}


def as_card(card: ModelCard | Mapping[str, Any]) -> ModelCard:
    return card if isinstance(card, ModelCard) else ModelCard.from_dict(dict(card))


def _hex(rgb) -> str:
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, list):
        return " / ".join(_fmt(v) for v in value)
    return str(value)


def _numbers(values) -> str:
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"


def _facts(card: ModelCard) -> list[tuple[str, str]]:
    data, training = card.data or {}, card.training or {}
    task = ("segmentation: per-pixel class probabilities" if card.task == "segmentation"
            else "classification: per-image class probabilities")
    arch = f"`{card.arch}`" + (f", encoder `{card.encoder}`" if card.encoder else "")
    size = int(card.input_size)
    fed = (f"tiles of {size} px, overlap {card.tile_overlap} px" if card.task == "segmentation"
           else f"resized to {size} x {size} px")
    channels = f"{card.in_channels} channel{'s' if card.in_channels != 1 else ''}"
    rows = [("task", task), ("architecture", arch), ("input", f"{channels}, {fed}"),
            ("initial weights", card.weight_source)]
    if training.get("weights_dtype"):
        rows.append(("weights in the model folder", f"{training['weights_dtype']} safetensors "
                                                    "(exports are float32)"))
    evaluate = data.get("evaluate") or {}
    dataset = evaluate.get("dataset") or data.get("path")
    if dataset:
        rows.append(("data set", f"`{dataset}` ({data.get('source', 'folder')})"))
    for key, label in (("licence", "data licence"), ("authors", "authors"),
                       ("citation", "citation"), ("url", "data source")):
        if data.get(key):
            rows.append((label, _fmt(data[key])))
    test, metric = (card.metrics or {}).get("test") or {}, evaluate.get("metric")
    if metric and metric in test:
        split = evaluate.get("split", "test")
        rows.append(("score", f"{metric} **{_fmt(test[metric])}** on the {split} split"))
    versions = ", ".join(f"{k} {v}" for k, v in (card.software or {}).items() if k != "python")
    rows.append(("created", f"{card.created}" + (f" ({versions})" if versions else "")))
    return rows


def _classes(card: ModelCard) -> list[str]:
    number = "mask value" if card.task == "segmentation" else "class number"
    lines = [f"| output channel | {number} | class | colour |", "|---|---|---|---|"]
    lines += [f"| {i} | {i + 1} | {c.name} | `{_hex(c.color)}` |" for i, c in enumerate(card.classes)]
    where = "pixel" if card.task == "segmentation" else "image"
    lines += ["", f"Channel i of the output is the probability that the {where} is class i + 1 of the "
              "list. In the masks the app writes (and reads), value 0 means unlabelled and value k is "
              "class k counted from 1, so a mask is `probabilities.argmax(axis=1) + 1`; the "
              "`classes.csv` written beside masks states the same per value."]
    if card.task != "segmentation":
        lines[-1] = (f"Channel i of the output is the probability that the {where} shows class "
                     "i + 1 of the list (the app's image labels and class lists count from 1; "
                     "0 is unlabelled).")
    own = (card.data or {}).get("mask_values")
    if own and card.task == "segmentation" and list(own) != list(range(1, len(card.classes) + 1)):
        lines[-1] += (f" (The training data's own masks numbered these classes "
                      f"{', '.join(str(v) for v in own)}, in this order.)")
    return lines


def _scale_steps(card: ModelCard) -> list[str]:
    norm = card.normalisation
    if norm.scale == "dtype":
        return ["   - **Intensity range**: `lo = 0.0` and `hi = float(np.iinfo(img.dtype).max)` for "
                "integer images (255 for uint8, 65535 for uint16), `lo, hi = 0.0, 1.0` for float "
                "images."]
    return [
        f"   - **Intensity range** from this very image (all channels together): with "
        f"`step = max(1, int(np.sqrt(H * W / {SUBSAMPLE_PIXELS})))`, `sample = img[::step, ::step]` "
        "(float images: its finite values only), "
        f"`lo, hi = np.percentile(sample, [{norm.low_pct}, {norm.high_pct}]).tolist()`; if "
        "`hi <= lo`, `lo, hi = float(sample.min()), float(sample.max())`; if still `hi <= lo`, "
        "`hi = lo + 1` (Python floats, so the arithmetic below stays float32).",
    ]


def _steps(card: ModelCard) -> list[str]:
    c, size = int(card.in_channels), int(card.input_size)
    norm = card.normalisation
    steps = ["1. Read the micrograph in its native dtype (uint8, uint16 or float32) as `img`, "
             "(H, W) greyscale or (H, W, 3) RGB; drop an alpha channel."]
    if card.task == "classification":
        if (card.training or {}).get("hist_eq"):
            steps.append("   - **Histogram equalisation** per channel: for each channel, "
                         "`values, inverse, counts = np.unique(ch, return_inverse=True, "
                         "return_counts=True)`, `ch = (np.cumsum(counts) / counts.sum())[inverse] "
                         "* top` cast back to the dtype (`top` = the dtype's maximum, 1.0 for floats).")
        steps.append(f"   - **Resize** to {size} x {size}: `img = cv2.resize(img, ({size}, {size}), "
                     "interpolation=cv2.INTER_AREA)` (the range below is then taken on the resized image).")
    steps.append("2. Scale to [0, 1] (image-dependent, so outside the graph):")
    steps += _scale_steps(card)
    channel = ("grey `(H, W)` becomes `(H, W, 3)` by `np.repeat(img[..., None], 3, axis=2)`"
               if c == 3 else
               f"RGB becomes grey by `img[..., :3].astype(np.float32) @ np.float32({list(LUMA)})`")
    steps += [f"   - **Channels** (after taking lo, hi): the model takes {c}; {channel}.",
              "   - `x = np.clip((img.astype(np.float32) - lo) / max(hi - lo, 1e-6), 0.0, 1.0)`.",
              "3. Axes: `x = x.transpose(2, 0, 1)[None]`"
              + (" (from a 2-D grey `x`: `x[None, None]`)" if c == 1 else "")
              + f", float32 (1, {c}, H, W); stack images of one size for a batch.",
              f"4. Inside the graph (do not repeat it): `(x - mean) / std` with mean "
              f"`{_numbers(norm.mean)}` and std `{_numbers(norm.std)}` per channel, the network, "
              "then softmax over the class axis (a one-channel network's sigmoid p becomes the "
              "two classes 1 - p, p)."]
    if card.task == "segmentation":
        steps[-1] = steps[-1].replace(
            "the network,", f"reflection padding at the bottom and right up to a multiple of "
            f"{MULTIPLE} px (cropped off the output), the network,")
    return steps


def _axes(card: ModelCard) -> list[str]:
    c, k, size = int(card.in_channels), len(card.classes), int(card.input_size)
    if card.task == "segmentation":
        shape_in, shape_out = f"(N, {c}, H, W)", f"(N, {k}, H, W)"
        dims = ("N, H and W are dynamic: any batch, any image size of at least 32 px a side "
                "(memory allowing).")
    else:
        shape_in, shape_out = f"(N, {c}, {size}, {size})", f"(N, {k})"
        dims = "N is dynamic; H and W are fixed at the card's input size."
    return [
        "| | name | dtype | axes | shape |", "|---|---|---|---|---|",
        f"| input | `{INPUT_NAME}` | float32 | batch, channel, y, x (NCHW) | {shape_in}, values in [0, 1] |",
        f"| output | `{OUTPUT_NAME}` | float32 | batch, class{', y, x' if card.task == 'segmentation' else ''} | "
        f"{shape_out}, sums to 1 over the class axis |",
        "", dims,
    ]


def _tiling(card: ModelCard) -> list[str]:
    if card.task != "segmentation":
        return []
    size, overlap = int(card.input_size), int(card.tile_overlap)
    tiling = (card.metrics or {}).get("tiling") or {}
    score = ""
    if "whole_image" in tiling and "tiled" in tiling:
        score = (f" On the test split the two score {_fmt(tiling['whole_image'])} (whole image) and "
                 f"{_fmt(tiling['tiled'])} (tiled) {tiling.get('metric', '')}.")
    return ["", f"An image of up to {size} x {size} px goes through the app in one pass, exactly as "
            "through this graph. The app cuts larger images into overlapping tiles of "
            f"{size} px ({overlap} px overlap) blended with smooth weights, normalised with the "
            "range of the whole image; one pass of the graph over a large image is the app's "
            f"whole-image prediction instead.{score}"]


def _example(card: ModelCard, model_file: str) -> list[str]:
    c, norm = int(card.in_channels), card.normalisation
    cls = card.task == "classification"
    size = int(card.input_size)
    read = ["img = tifffile.imread(\"micrograph.tif\")  # (H, W) or (H, W, 3), native dtype"]
    if cls and (card.training or {}).get("hist_eq"):
        read.append("img = equalise(img)  # histogram equalisation, step 1")
    if cls:
        read.append(f"img = cv2.resize(img, ({size}, {size}), interpolation=cv2.INTER_AREA)")
    if norm.scale == "dtype":
        scale = ["lo, hi = 0.0, (float(np.iinfo(img.dtype).max) if img.dtype.kind in 'ui' else 1.0)"]
    else:
        scale = [f"lo, hi = np.percentile(img, [{norm.low_pct}, {norm.high_pct}]).tolist()  # > 1 Mpx: step 2"]
    if c == 3:
        chan = ["img = img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)"]
    else:
        chan = [f"img = img if img.ndim == 2 else img[..., :3].astype(np.float32) @ np.float32({list(LUMA)})",
                "img = img[..., None]"]
    out = ("label = probs.argmax(1) + 1  # class number, 1 = " + card.classes[0].name if cls else
           "mask = probs[0].argmax(0) + 1  # mask values, 1 = " + card.classes[0].name)
    imports = "import cv2, numpy as np, onnxruntime as ort, tifffile" if cls else \
        "import numpy as np, onnxruntime as ort, tifffile"
    return ["```python", imports, *read, *scale, *chan,
            "x = np.clip((img.astype(np.float32) - lo) / max(hi - lo, 1e-6), 0, 1)",
            "x = x.transpose(2, 0, 1)[None]  # float32 NCHW",
            f"session = ort.InferenceSession(\"{model_file}\")",
            f"probs = session.run(None, {{\"{INPUT_NAME}\": x}})[0]  # {_axes_note(card)}",
            out, "```"]


def _axes_note(card: ModelCard) -> str:
    k = len(card.classes)
    return f"(1, {k}, H, W)" if card.task == "segmentation" else f"(1, {k})"


def _provenance(card: ModelCard) -> list[str]:
    training, lines = card.training or {}, []
    if training.get("command"):
        lines += ["Trained with:", "", "```sh", str(training["command"]), "```", ""]
    if training.get("wall_time"):
        lines.append(f"Training time: {training['wall_time']}.")
    elif training.get("wall_s"):
        lines.append(f"Training time: {training['wall_s']:.0f} s on {training.get('device', '?')}.")
    return lines


def model_readme(card: ModelCard | Mapping[str, Any], export: Mapping[str, Any] | None = None) -> str:
    """The README.md text for a model folder, or for an export folder when `export` says what
    was written (`format`, `file`, `max_abs_diff`, `inputs`, `torch`, `opset`)."""
    card = as_card(card)
    name = card.name or card.arch
    model_file = (export or {}).get("file") or MODEL_FILES["onnx"]
    lines = [f"# {name}", ""]
    if card.notes:
        lines += [card.notes, ""]
    lines += ["| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in _facts(card)], ""]
    lines += ["## Classes", "", *_classes(card), ""]
    lines += ["## Input and output of the exported graph", ""]
    if export:
        lines += _export_lines(export)
    else:
        lines += [f"This folder holds the app's model (`model.safetensors` + `card.json`). For "
                  "ONNX or TorchScript: `matlab-gui export-model "
                  f"{name} --format onnx --out {name}-onnx` (or `--format torchscript`), which "
                  f"writes `{MODEL_FILES['onnx']}` / `{MODEL_FILES['torchscript']}` beside card.json "
                  "and a README like this one, after checking it against the app's own "
                  "prediction.", ""]
    lines += [*_axes(card), "", "## Normalisation, step by step", "", *_steps(card), *_tiling(card), ""]
    lines += ["## Python example (onnxruntime)", "", *_example(card, model_file), ""]
    if export and export.get("format") == "torchscript":
        lines += ["With TorchScript: `net = torch.jit.load(\"" + model_file + "\")`, "
                  "`probs = net(torch.from_numpy(x)).numpy()`, the same input and output.", ""]
    provenance = _provenance(card)
    if provenance:
        lines += ["## Training", "", *provenance, ""]
    lines += ["The full record (training settings, per-class metrics, history) is in `card.json`.", ""]
    return "\n".join(lines)


def _export_lines(export: Mapping[str, Any]) -> list[str]:
    fmt = "ONNX" if export.get("format") == "onnx" else "TorchScript"
    how = f"opset {export['opset']}" if export.get("opset") else ""
    torch_v = f"torch {export['torch']}" if export.get("torch") else ""
    made = ", ".join(v for v in (how, torch_v) if v)
    lines = [f"`{export.get('file')}` is the model as {fmt}, float32" + (f" ({made})" if made else "")
             + "."]
    if export.get("max_abs_diff") is not None:
        inputs = export.get("inputs") or []
        shapes = ", ".join(json.dumps(list(s)) for s in inputs)
        lines[-1] += (f" Checked at export against the app's own prediction on the CPU: largest "
                      f"difference in any probability {export['max_abs_diff']:.1e} (limit "
                      f"{export.get('tolerance', 1e-3):.0e})" + (f", inputs {shapes}" if shapes else "")
                      + ".")
    return [*lines, ""]
