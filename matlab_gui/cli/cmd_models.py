"""`matlab-gui models [--json]`: the architectures the app can train, and which have weights here."""

from __future__ import annotations

import argparse
import json

NAME = "models"
HELP = "List the model architectures (segmentation and classification) and their offline ImageNet weights."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list")


def run(args: argparse.Namespace) -> int:
    from matlab_gui.ml.weights import available_offline
    from matlab_gui.ml.zoo import architectures, weights_name

    rows = []
    for info in architectures():
        weights = weights_name(info.name, info.default_encoder)
        rows.append({
            "name": info.name, "task": info.task, "description": info.description,
            "default_encoder": info.default_encoder,
            "imagenet_weights_offline": bool(weights and available_offline(weights)),
        })
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<18} {'task':<15} {'default encoder':<26} {'ImageNet':<9} description")
    for r in rows:
        print(f"{r['name']:<18} {r['task']:<15} {r['default_encoder'] or '-':<26} "
              f"{'yes' if r['imagenet_weights_offline'] else 'no':<9} {r['description']}")
    return 0
