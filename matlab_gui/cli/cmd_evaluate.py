"""`matlab-gui evaluate`: score a model folder on labelled data; a table or one JSON object."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matlab_gui.cli.output import add_engine_option, engine_note

NAME = "evaluate"
HELP = ("Score a trained model on labelled images (segmentation through the same tiled "
        "inference as `segment`).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--model", required=True,
      help="model folder (card.json + model.safetensors), the name of a shipped model, "
           "or PROJECT.mgp:NAME (a project's model)")
    a("--data", required=True, type=Path, help="folder or project file with labels")
    a("--splits", type=Path, nargs="+", metavar="FILE",
      help="a CSV with stem and split columns, or train*/val*/test* stem-list files")
    a("--split", default="test",
      help="which split to score (default test); `all` scores every labelled image")
    a("--sparse-masks", action="store_true", help="folder masks use 0 = unlabelled")
    a("--device", default="auto")
    add_engine_option(parser)
    a("--batch", type=int, default=16)
    a("--curves", action="store_true", help="classification: add ROC and PR curve points")
    a("--whole-image", action="store_true",
      help="segmentation: predict each image in one pass instead of the tiles `segment` uses")
    a("--tile", type=int, help="segmentation tile size (default: the card's)")
    a("--overlap", type=int, help="segmentation tile overlap (default: the card's)")
    a("--json", action="store_true", help="print one JSON object")


def summary(result) -> dict:
    """The headline numbers first, then everything else the job measured."""
    m = result.metrics
    keys = (("mean_iou", "per_class_iou", "pixel_accuracy", "mean_dice", "mean_precision",
             "mean_recall") if result.task == "segmentation"
            else ("accuracy", "balanced_accuracy", "kappa", "auc", "precision", "recall", "f1"))
    head = {k: m.get(k) for k in keys}
    return {"task": result.task, **head, **{k: v for k, v in m.items() if k not in head},
            "model": str(result.model_dir), "images": result.stems,
            "images_from": result.stem_source, "device": result.device,
            **({"inference": result.inference} if result.inference else {}),
            "wall_s": round(result.wall_s, 2)}


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.4f}"


def _print_table(out: dict) -> None:
    names = out["class_names"]
    how = f" · {out['inference']}" if out.get("inference") else ""
    print(f"{out['task']} · {len(out['images'])} images ({out['images_from']}) · "
          f"{out['device']}{how}")
    if out["task"] == "segmentation":
        for k in ("mean_iou", "mean_dice", "pixel_accuracy", "mean_precision", "mean_recall"):
            print(f"{k:>16}: {_fmt(out[k])}")
        print(f"{'class':>16}  {'IoU':>7} {'Dice':>7} {'prec':>7} {'recall':>7}")
        for i, name in enumerate(names):
            row = [out[f"per_class_{k}"][i] for k in ("iou", "dice", "precision", "recall")]
            print(f"{name:>16}  " + " ".join(f"{_fmt(v):>7}" for v in row))
    else:
        for k in ("accuracy", "balanced_accuracy", "kappa", "auc", "precision", "recall", "f1"):
            print(f"{k:>18}: {_fmt(out[k])}")
        print(f"{'class':>18}  {'prec':>7} {'recall':>7} {'F1':>7} {'n':>5}")
        for name in names:
            c = out["per_class"][name]
            print(f"{name:>18}  {_fmt(c['precision']):>7} {_fmt(c['recall']):>7} "
                  f"{_fmt(c['f1']):>7} {c['support']:>5}")
    print("confusion matrix (rows = truth):")
    for name, row in zip(names, out["confusion_matrix"], strict=True):
        print(f"{name:>18}  " + " ".join(f"{v:>9}" for v in row))


def run(args: argparse.Namespace) -> int:
    from matlab_gui.jobs.evaluate import EvaluateRequest, run_evaluation
    from matlab_gui.ml.model_lookup import model_folder, split_project_model

    with model_folder(args.model) as model:
        request = EvaluateRequest(
            model=model, data=args.data, splits=args.splits,
            split=None if args.split == "all" else args.split, sparse_masks=args.sparse_masks,
            device=args.device, batch=args.batch, curves=args.curves,
            whole_image=args.whole_image, tile=args.tile, overlap=args.overlap,
            engine=args.engine,
        )
        evaluation = run_evaluation(request)
        engine_note(args, evaluation.engine_note)
        out = summary(evaluation)
    if split_project_model(args.model):
        out["model"] = args.model  # the temporary copy it ran from is gone
    if args.json:
        print(json.dumps(out))
    else:
        _print_table(out)
    return 0
