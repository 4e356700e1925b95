"""Paper 001 (X-ray images of aluminium alloys): the classifier comparison, on `neu_det_cls`.

Six architectures, each trained with and without histogram equalisation (`hist_eq`), every one
with the paper's own optimiser / learning rate / weight decay (efficientnet_lite0 is not in the
paper: it gets EfficientNetB0's recipe). Single-phase training of all layers, the app's default
augmentation (flips, rot90, mild photometry), best-on-validation (balanced accuracy) checkpoint,
then `evaluate --curves` on the test split (60 images): accuracy, balanced accuracy, macro
precision / recall / F1, one-vs-rest ROC-AUC, per-class ROC and PR points, confusion matrix.

Data: `neu_det_cls` (NEU steel surface defects, 6 classes, folder split train 180 / val 60 /
test 60). ImageNet weights exist offline only for efficientnet_lite0; every other architecture
starts from random initialisation (recorded per run as `weight_source`).

Modes (seed --seed, default 0):
  --smoke   efficientnet_lite0 and resnet18, each +/- hist_eq (4 runs); input 64, 1 epoch,
            batch 16. Checks the script in about a minute or two.
  default   all 6 archs +/- hist_eq (12 runs); input 96, 10 epochs, batch 16, no early stopping.
            About 12 minutes on an idle 2-core CPU (with another training running,
            OMP_NUM_THREADS=1 avoids thread thrashing); vgg16 is about half of it. Far fewer
            epochs than the paper, so the randomly initialised networks are heavily under-trained.
  --full    the paper's protocol, for a GPU: input 224, batch 64, up to 100 epochs with early
            stopping (patience 10).
`--archs a,b` restricts any mode to some architectures.

Writes results.json, roc.png, pr.png, confusion.png and summary.md to
benchmarks/papers/out/p001_classifiers/ (or --out).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
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

PAPER = "p001_classifiers"
ARCHS = ["resnet18", "resnet50", "vgg16", "efficientnet_b0", "efficientnet_lite0", "fnn"]
# Paper 001's hyper-parameters per model (SEEDS.md section 001). SGD uses momentum 0.9.
RECIPES = {
    "resnet18": {"optimizer": "adam", "lr": 1e-3, "weight_decay": 1e-4},
    "resnet50": {"optimizer": "rmsprop", "lr": 5e-4, "weight_decay": 5e-4},
    "vgg16": {"optimizer": "sgd", "lr": 1e-2, "weight_decay": 0.0},
    "efficientnet_b0": {"optimizer": "adam", "lr": 2e-3, "weight_decay": 0.0},
    "efficientnet_lite0": {"optimizer": "adam", "lr": 2e-3, "weight_decay": 0.0},  # as B0
    "fnn": {"optimizer": "sgd", "lr": 1e-2, "weight_decay": 1e-3},
}
# Test accuracy the paper reports (binary Al 1050 vs Al 2017 X-ray task).
PUBLISHED = {"resnet50": 0.997, "resnet18": 0.994, "efficientnet_b0": 0.989, "vgg16": 0.840,
             "fnn": 0.840}
MODES = {
    "smoke": {"archs": ["efficientnet_lite0", "resnet18"], "input_size": 64, "epochs": 1,
              "batch": 16, "patience": 0},
    "default": {"archs": ARCHS, "input_size": 96, "epochs": 10, "batch": 16, "patience": 0},
    "full": {"archs": ARCHS, "input_size": 224, "epochs": 100, "batch": 64, "patience": 10},
}
KEYS = ["accuracy", "balanced_accuracy", "precision", "recall", "f1", "auc", "kappa"]


def run_one(data: Path, arch: str, hist_eq: bool, mode: dict, args) -> dict:
    """Train one (arch, hist_eq) model, score it on the test split, delete the model folder."""
    print(f"--- {arch} hist_eq={hist_eq}", flush=True)
    with tempfile.TemporaryDirectory(prefix="p001-") as tmp:
        result, train_s = train(
            task="classification", data=data, out=Path(tmp) / "model", arch=arch,
            epochs=mode["epochs"], batch=mode["batch"], patience=mode["patience"],
            input_size=mode["input_size"], hist_eq=hist_eq, device=args.device, seed=args.seed,
            pretrained=True, name=f"p001-{arch}{'-histeq' if hist_eq else ''}", **RECIPES[arch])
        t0 = time.perf_counter()
        metrics = evaluate(result.model_dir, data, device=args.device, curves=True)
        eval_s = time.perf_counter() - t0
    epoch_s = [h["time_s"] for h in result.history if "time_s" in h]
    run = {"arch": arch, "hist_eq": hist_eq, "weight_source": result.card.weight_source,
           **RECIPES[arch], "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
           "train_s": round(train_s, 1), "eval_s": round(eval_s, 1),
           "epoch_s": [round(s, 1) for s in epoch_s],
           "metrics": headline(metrics, KEYS), "class_names": metrics["class_names"],
           "confusion_matrix": metrics["confusion_matrix"], "curves": metrics.get("curves", {})}
    print(f"    {run['metrics']}  train {train_s:.0f} s, epochs {run['epoch_s']}", flush=True)
    return run


def macro_curve(curves: dict, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Macro average of the per-class one-vs-rest curves on a common grid: ROC as (fpr, tpr),
    PR as (recall, precision)."""
    grid = np.linspace(0, 1, 201)
    ys = []
    for c in curves.values():
        if kind == "roc":
            x, y = np.asarray(c["roc"]["fpr"]), np.asarray(c["roc"]["tpr"])
        else:  # sklearn gives recall decreasing; interpolate on increasing recall
            x, y = np.asarray(c["pr"]["recall"])[::-1], np.asarray(c["pr"]["precision"])[::-1]
        ys.append(np.interp(grid, x, y))
    return grid, np.mean(ys, axis=0)


def label(run: dict) -> str:
    return f"{run['arch']}{' +HE' if run['hist_eq'] else ''}"


def plot_curves(runs: list[dict], folder: Path) -> None:
    plt = pyplot()
    colours = {a: plt.cm.tab10(i) for i, a in enumerate(ARCHS)}
    for kind, xlab, ylab in (("roc", "false positive rate", "true positive rate"),
                             ("pr", "recall", "precision")):
        fig, ax = plt.subplots(figsize=(7, 6))
        for run in runs:
            if not run.get("curves"):
                continue
            x, y = macro_curve(run["curves"], kind)
            score = (f"AUC {run['metrics'].get('auc', float('nan')):.3f}" if kind == "roc" else
                     f"mAP {np.mean([c['average_precision'] for c in run['curves'].values()]):.3f}")
            ax.plot(x, y, color=colours[run["arch"]], ls="--" if run["hist_eq"] else "-",
                    label=f"{label(run)} ({score})")
        if kind == "roc":
            ax.plot([0, 1], [0, 1], color="grey", lw=0.5)
        ax.set(xlabel=xlab, ylabel=ylab, xlim=(0, 1), ylim=(0, 1.02),
               title=f"{kind.upper()} on neu_det_cls test (macro average of one-vs-rest classes)")
        ax.legend(fontsize=7, loc="lower right" if kind == "roc" else "lower left")
        fig.tight_layout()
        fig.savefig(folder / f"{kind}.png", dpi=120)
        plt.close(fig)


def plot_confusion(runs: list[dict], folder: Path) -> None:
    plt = pyplot()
    runs = [r for r in runs if "confusion_matrix" in r]
    cols = 4 if len(runs) > 4 else max(len(runs), 1)
    rows = -(-len(runs) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, run in zip(axes.flat, runs, strict=False):
        cm = np.asarray(run["confusion_matrix"])
        ax.axis("on")
        ax.imshow(cm, cmap="Blues")
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, v, ha="center", va="center", fontsize=7,
                    color="white" if v > cm.max() / 2 else "black")
        ticks = range(len(run["class_names"]))
        short = [n[:6] for n in run["class_names"]]
        ax.set_xticks(ticks, short, rotation=90, fontsize=6)
        ax.set_yticks(ticks, short, fontsize=6)
        ax.set_title(f"{label(run)}: acc {run['metrics']['accuracy']:.2f}", fontsize=8)
    fig.supxlabel("predicted")
    fig.supylabel("true")
    fig.tight_layout()
    fig.savefig(folder / "confusion.png", dpi=120)
    plt.close(fig)


def summary(payload: dict) -> str:
    hw, mode = payload["hardware"], payload["settings"]
    lines = [
        "# Paper 001 classifier comparison on neu_det_cls", "",
        f"Mode `{payload['mode']}`: input {mode['input_size']}, {mode['epochs']} epochs max, "
        f"batch {mode['batch']}, patience {mode['patience']}, seed {payload['seed']}; "
        "per-arch optimiser/lr/wd from the paper; test split 60 images (10 per class).",
        f"Hardware: {hw['device']}, {hw['cpu_count']} CPUs, {hw['torch_threads']} torch threads, "
        f"torch {hw['torch']}. Total wall {payload['wall_s']:.0f} s.", "",
        "| arch | hist eq | weights | optimiser | paper acc | acc | bal acc | macro P | macro R "
        "| macro F1 | AUC | train s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in payload["runs"]:
        if "error" in r:
            lines.append(f"| {r['arch']} | {r['hist_eq']} | | | | failed: {r['error']} |"
                         " | | | | | |")
            continue
        m = r["metrics"]
        weights = "ImageNet" if r["weight_source"].startswith("ImageNet") else "random"
        paper = PUBLISHED.get(r["arch"])
        cells = [r["arch"], "yes" if r["hist_eq"] else "no", weights,
                 f"{r['optimizer']} {r['lr']:g}", "—" if paper is None else f"{paper:.3f}",
                 *(f"{m[k]:.3f}" if k in m else "—"
                   for k in ("accuracy", "balanced_accuracy", "precision", "recall", "f1", "auc")),
                 f"{r['train_s']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "", "Paper figures: binary accuracy on its own X-ray data (ResNet50 0.997, ResNet18 0.994, "
        "EfficientNetB0 0.989, VGG16 0.840, FNN 0.840; AP/AUC about 0.93-0.97).", "",
        "## Differences from the paper", "",
        "- Data: the paper classifies 50 keV X-ray transmission images of two aluminium alloys "
        "(Al 1050 vs Al 2017, binary, 70/15/15 split); here 6 classes of NEU hot-rolled steel "
        "surface defects, only 300 images (upscaled 416x416 RGB JPEGs). The numbers are not "
        "comparable one to one; the comparison is of the ranking and the hist-eq effect.",
        "- Weights: the paper fine-tunes ImageNet ResNet/VGG/EfficientNet; offline only "
        "efficientnet_lite0 has ImageNet weights, so resnet18/50, vgg16 and efficientnet_b0 are "
        "trained from random initialisation on 180 images (see the weights column).",
        "- efficientnet_lite0 is not in the paper (it is the app's pretrained stand-in, trained "
        "with B0's recipe). ResNet34 and the paper's appendix variants (CyclicLR, MLP head) are "
        "not run; the head is the app's linear GAP head.",
        "- Preprocessing: the app's percentile scaling to [-1, 1] instead of ImageNet / data-set "
        "mean-std normalisation; the app's default augmentation instead of flip+rotation only.",
        "- Early stopping: the app's patience counts from epoch 1 (the paper's code waits until "
        "epoch 30); the checkpoint kept is the best validation balanced accuracy, not accuracy.",
    ]
    if payload["mode"] != "full":
        lines.append(f"- Budget: {mode['epochs']} epochs at input {mode['input_size']} instead of "
                     "up to 100 epochs at 224 (run `--full` on a GPU for the paper's protocol).")
    lines += ["", "Figures: roc.png, pr.png (macro average of the per-class one-vs-rest curves "
              "that `evaluate --curves` gives), confusion.png."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--archs", help="comma-separated subset of " + ",".join(ARCHS))
    args = ap.parse_args()
    mode_name = "full" if args.full else "smoke" if args.smoke else "default"
    mode = dict(MODES[mode_name])
    if args.archs:
        mode["archs"] = args.archs.split(",")
    data = shared_data() / "neu_det_cls"
    folder = out_dir(args, PAPER)
    t0 = time.perf_counter()
    runs = []
    for arch in mode["archs"]:
        for hist_eq in (False, True):
            try:
                runs.append(run_one(data, arch, hist_eq, mode, args))
            except Exception as exc:  # one failing model must not lose the others' results
                print(f"    FAILED: {exc!r}", flush=True)
                runs.append({"arch": arch, "hist_eq": hist_eq, "error": repr(exc)})
    payload = {"paper": "001", "mode": mode_name, "seed": args.seed, "data": str(data),
               "settings": mode, "hardware": hardware(args.device),
               "wall_s": round(time.perf_counter() - t0, 1), "published_accuracy": PUBLISHED,
               "runs": runs}
    write_json(folder, "results.json", payload)
    plot_curves(runs, folder)
    plot_confusion(runs, folder)
    (folder / "summary.md").write_text(summary(payload))
    print(f"wrote figures and summary.md to {folder} ({payload['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
