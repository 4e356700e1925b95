"""Paper 000 (microscopy material-surface classification): its separable-conv head, on `neu_det_cls`.

Two models on the same ImageNet efficientnet_lite0 backbone and the same two-phase transfer
recipe (Adamax, class weights "balanced", phase 1 head only, phase 2 all layers at lr/100,
fixed epochs, best-on-validation balanced accuracy kept):
  sepconv-gmp  the paper-000 head: depthwise-separable convs (BN before ReLU), spatial dropout,
               Gaussian noise (training only), global max pooling, linear classifier;
  linear-gap   the plain head: global average pooling, dropout, linear classifier.
Scored with `evaluate` on the test split (60 images): balanced accuracy, kappa, AUC, accuracy,
macro precision / recall / F1.

Modes (seed --seed, default 0; Adamax lr 1e-3 then 1e-5, finetune_top 100, patience off):
  --smoke   input 64, batch 16, 2 epochs (1 head + 1 all layers). About a minute.
  default   the paper's schedule on the CPU: input 224, batch 16, 20 epochs (10 head + 10 all
            layers). About 6 minutes on an idle 2-core CPU.
  --full    the same with the paper's batch 64 (for a GPU).

Writes results.json, metrics.png and summary.md to benchmarks/papers/out/p000_sepconv_head/
(or --out).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from common import (
    evaluate,
    hardware,
    headline,
    out_dir,
    parser,
    pyplot,
    shared_data,
    train,
    write_json,
)

PAPER = "p000_sepconv_head"
HEADS = {
    "sepconv-gmp": {"type": "sepconv", "pooling": "max"},
    "linear-gap": {"type": "linear", "pooling": "avg"},
}
RECIPE = {"arch": "efficientnet_lite0", "pretrained": True, "optimizer": "adamax", "lr": 1e-3,
          "finetune_top": 100, "finetune_lr_factor": 0.01, "class_weights": "balanced", "patience": 0}
MODES = {
    "smoke": {"input_size": 64, "batch": 16, "epochs": 2, "head_epochs": 1},
    "default": {"input_size": 224, "batch": 16, "epochs": 20, "head_epochs": 10},
    "full": {"input_size": 224, "batch": 64, "epochs": 20, "head_epochs": 10},
}
KEYS = ["balanced_accuracy", "kappa", "auc", "accuracy", "precision", "recall", "f1"]
# Paper 000's final model (ResNet50V2 + sepconv head, 15 material classes, ~306k images).
PUBLISHED = {"accuracy": 0.8602, "balanced_accuracy": 0.9154, "kappa": 0.8411,
             "precision": 0.9207, "auc": 0.9911}


def run_one(data: Path, name: str, head: dict, mode: dict, args) -> dict:
    print(f"--- {name}", flush=True)
    with tempfile.TemporaryDirectory(prefix="p000-") as tmp:
        result, train_s = train(task="classification", data=data, out=Path(tmp) / "model",
                                head=head, device=args.device, seed=args.seed, name=f"p000-{name}",
                                **RECIPE, **mode)
        t0 = time.perf_counter()
        metrics = evaluate(result.model_dir, data, device=args.device)
        eval_s = time.perf_counter() - t0
    run = {"head": name, "head_spec": result.card.head, "weight_source": result.card.weight_source,
           "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
           "train_s": round(train_s, 1), "eval_s": round(eval_s, 1),
           "epoch_s": [round(h["time_s"], 1) for h in result.history if "time_s" in h],
           "metrics": headline(metrics, KEYS), "confusion_matrix": metrics["confusion_matrix"],
           "class_names": metrics["class_names"]}
    print(f"    {run['metrics']}  train {train_s:.0f} s, epochs {run['epoch_s']}", flush=True)
    return run


def plot(runs: list[dict], folder: Path) -> None:
    plt = pyplot()
    keys = ["balanced_accuracy", "kappa", "auc", "accuracy"]
    bars = [(r["head"], r["metrics"]) for r in runs if "metrics" in r]
    bars.append(("paper 000 (ResNet50V2, 15 classes)", PUBLISHED))
    width = 0.8 / len(bars)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (name, values) in enumerate(bars):
        xs = [k + (i - (len(bars) - 1) / 2) * width for k in range(len(keys))]
        heights = [values.get(k, 0.0) for k in keys]
        ax.bar(xs, heights, width, label=name, hatch="//" if name.startswith("paper") else None)
        for x, h in zip(xs, heights, strict=True):
            ax.text(x, h + 0.01, f"{h:.2f}", ha="center", fontsize=7)
    ax.set_xticks(range(len(keys)), [k.replace("_", " ") for k in keys])
    ax.set(ylim=(0, 1.25), ylabel="test score", title="Paper-000 head vs linear head, neu_det_cls")
    ax.legend(fontsize=8, loc="upper center", ncol=len(bars))
    fig.tight_layout()
    fig.savefig(folder / "metrics.png", dpi=120)
    plt.close(fig)


def summary(payload: dict) -> str:
    hw, mode = payload["hardware"], payload["settings"]
    cols = ["balanced_accuracy", "kappa", "auc", "accuracy", "precision", "f1"]
    lines = [
        "# Paper 000 separable-conv head on neu_det_cls", "",
        f"Mode `{payload['mode']}`: efficientnet_lite0 (ImageNet), input {mode['input_size']}, "
        f"batch {mode['batch']}, {mode['epochs']} epochs ({mode['head_epochs']} head only + "
        f"{mode['epochs'] - mode['head_epochs']} all layers), Adamax lr 1e-3 then 1e-5 (as the paper), "
        f"class weights balanced, seed {payload['seed']}; test split 60 images (10 per class).",
        f"Hardware: {hw['device']}, {hw['cpu_count']} CPUs, {hw['torch_threads']} torch threads, "
        f"torch {hw['torch']}. Total wall {payload['wall_s']:.0f} s.", "",
        "| model | " + " | ".join(c.replace("_", " ") for c in cols) + " | train s |",
        "|---|" + "---|" * (len(cols) + 1),
        "| paper 000 (ResNet50V2 + sepconv head, 15 classes) | "
        + " | ".join(f"{PUBLISHED[c]:.3f}" if c in PUBLISHED else "—" for c in cols) + " | — |",
    ]
    for r in payload["runs"]:
        if "error" in r:
            lines.append(f"| {r['head']} | failed: {r['error']} |" + " |" * len(cols))
            continue
        m = r["metrics"]
        lines.append(f"| {r['head']} | " + " | ".join(f"{m[c]:.3f}" if c in m else "—" for c in cols)
                     + f" | {r['train_s']:.0f} |")
    lines += [
        "", "## Differences from the paper", "",
        "- Data: the paper has ~306k 300x300 RGB micrographs of 15 material classes; here 300 "
        "NEU steel-defect images (6 classes, 180 train), so its numbers are a reference point, "
        "not a target; NEU is balanced, so `balanced` class weights are all equal.",
        "- Backbone: the paper's ResNet50V2 has no ImageNet weights offline; both heads sit on "
        "the ImageNet efficientnet_lite0, the only pretrained backbone available.",
        "- Data handling: no down/up-sampling and no pixel-sum filter (not needed on NEU); the "
        "app's default augmentation instead of the paper's rotation/translation/zoom/contrast.",
    ]
    if payload["mode"] != "full":
        lines.append(f"- Budget: {mode['head_epochs']} + {mode['epochs'] - mode['head_epochs']} "
                     f"epochs at input {mode['input_size']}, batch {mode['batch']} (the paper: "
                     "10 + 10 at 224, batch 64; `--full`).")
    lines += ["", "Figure: metrics.png."]
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    mode_name = "full" if args.full else "smoke" if args.smoke else "default"
    mode = MODES[mode_name]
    data = shared_data() / "neu_det_cls"
    folder = out_dir(args, PAPER)
    t0 = time.perf_counter()
    runs = []
    for name, head in HEADS.items():
        try:
            runs.append(run_one(data, name, head, mode, args))
        except Exception as exc:  # keep the other head's result
            print(f"    FAILED: {exc!r}", flush=True)
            runs.append({"head": name, "error": repr(exc)})
    payload = {"paper": "000", "mode": mode_name, "seed": args.seed, "data": str(data),
               "settings": {**RECIPE, **mode}, "hardware": hardware(args.device),
               "wall_s": round(time.perf_counter() - t0, 1), "published": PUBLISHED, "runs": runs}
    write_json(folder, "results.json", payload)
    plot(runs, folder)
    (folder / "summary.md").write_text(summary(payload))
    print(f"wrote metrics.png and summary.md to {folder} ({payload['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
