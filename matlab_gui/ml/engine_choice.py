"""The inference engines a user can choose, without importing torch (the window's settings and
the CLI's options read this; `ml.engines` runs them)."""

from __future__ import annotations

import importlib.util

from matlab_gui.errors import UserError

ENGINES = ("auto", "torch", "onnxruntime", "openvino", "openvino-bf16")
CPU_ENGINES = ("openvino", "onnxruntime")  # the faster first (benchmarks/engines.py); float32
LOSSY = ("openvino-bf16",)  # only on request, never chosen by "auto"; agreement printed
LABELS = {"torch": "torch", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO",
          "openvino-bf16": "OpenVINO bfloat16"}
HELP = ("what runs the network: auto = torch on a GPU, on a CPU OpenVINO (else ONNX Runtime) in "
        "float32: the same results about twice as fast, converted once per model and cached; a "
        "model that cannot be converted runs with torch, with a note. openvino-bf16: faster "
        "again on CPUs with bfloat16 instructions, but lossy (a few pixels change class): only "
        "when asked, and how much it agrees with float32 is printed")


def runtime(name: str) -> str:
    """The Python package that runs engine `name`."""
    return name.split("-")[0]


def available(name: str) -> bool:
    """Whether the runtime of engine `name` can be imported here."""
    return name == "torch" or importlib.util.find_spec(runtime(name)) is not None


def check_engine(name: str) -> str:
    if name not in ENGINES:
        raise UserError(f"unknown inference engine {name!r} (use {', '.join(ENGINES)})")
    return name
