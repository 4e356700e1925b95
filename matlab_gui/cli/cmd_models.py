"""`matlab-gui models [--shipped] [--json]`: the architectures the app can train and which have
ImageNet weights here, or (--shipped) the ready-trained models that `--model NAME` finds."""

from __future__ import annotations

import argparse
import json

NAME = "models"
HELP = "List the model architectures (segmentation and classification) and their offline ImageNet weights."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument("--shipped", action="store_true",
                        help="list the trained models shipped with the app (use as --model NAME)")


def _shipped_rows() -> list[dict]:
    from matlab_gui.ml.model_folder import read_card
    from matlab_gui.ml.model_lookup import resolve_model, shipped_models

    rows = []
    for name in shipped_models():
        card = read_card(resolve_model(name))
        test = (card.metrics or {}).get("test") or {}
        metric = (card.data or {}).get("evaluate", {}).get("metric")
        rows.append({"name": name, "task": card.task, "arch": card.arch,
                     "classes": [c.name for c in card.classes], "test_metric": metric,
                     "test_value": test.get(metric) if metric else None})
    return rows


def _print_shipped(rows: list[dict]) -> None:
    print(f"{'name':<15} {'task':<15} {'test score':<18} classes")
    for r in rows:
        score = f"{r['test_metric']} {r['test_value']:.3f}" if r["test_value"] is not None else "-"
        print(f"{r['name']:<15} {r['task']:<15} {score:<18} {', '.join(r['classes'])}")


def run(args: argparse.Namespace) -> int:
    from matlab_gui.ml.weights import available_offline
    from matlab_gui.ml.zoo import architectures, weights_name

    if args.shipped:
        rows = _shipped_rows()
        if args.json:
            print(json.dumps(rows, indent=2))
        else:
            _print_shipped(rows)
        return 0
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
