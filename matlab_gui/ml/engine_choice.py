"""The inference engines a user can choose, without importing torch (the window's settings and
the CLI's options read this; `ml.engines` runs them)."""

from __future__ import annotations

import importlib.util

from matlab_gui.errors import UserError

ENGINES = ("auto", "torch", "onnxruntime", "openvino")
CPU_ENGINES = ("openvino", "onnxruntime")  # the faster first (benchmarks/engines.py)
LABELS = {"torch": "torch", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO"}
HELP = ("what runs the network: auto = torch on a GPU, on a CPU OpenVINO (else ONNX Runtime) in "
        "float32: the same results about twice as fast, converted once per model and cached; a "
        "model that cannot be converted runs with torch, with a note")


def available(name: str) -> bool:
    """Whether the runtime `name` can be imported here."""
    return name == "torch" or importlib.util.find_spec(name) is not None


def check_engine(name: str) -> str:
    if name not in ENGINES:
        raise UserError(f"unknown inference engine {name!r} (use {', '.join(ENGINES)})")
    return name
