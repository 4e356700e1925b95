"""`matlab-gui export-model MODEL --format onnx|torchscript --out DIR [--json]`: a model that runs
without the app, checked against the app's own prediction before it is written."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

NAME = "export-model"
HELP = ("Export a model as ONNX or TorchScript (float32, normalisation and softmax inside), with "
        "card.json and a README model card; checked against the app's prediction (max 1e-3).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("model", metavar="MODEL",
      help="model folder, the name of a shipped model, or PROJECT.mgp:NAME (a project's model)")
    a("--format", required=True, choices=("onnx", "torchscript"),
      help="onnx: model.onnx (onnxruntime, any ONNX runtime); torchscript: model.torchscript.pt "
           "(torch.jit.load, no matlab_gui needed)")
    a("--out", required=True, type=Path, metavar="DIR",
      help="folder for the model file, card.json and README.md (created if missing)")
    a("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    from matlab_gui.ml.export import TOLERANCE, ExportRequest, run_export

    result = run_export(ExportRequest(args.model, args.format, args.out), cancel=args.cancel)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    shapes = ", ".join("x".join(str(n) for n in s) for s in result.inputs)
    print(f"exported {result.model} ({result.task}) as {args.format} to {result.model_file}, "
          f"with {', '.join(f.name for f in result.files[1:])} beside it")
    print(f"checked against the app's prediction on inputs {shapes}: max abs difference "
          f"{result.max_abs_diff:.2e} (limit {TOLERANCE:.0e})")
    return 0
