"""Paper 002 (Micro-KTNet): U-Net + scSE decoder attention vs eight other decoders, loss
ablation, few-shot curve and a TP/FN/FP/TN overlay, all through the app's train/evaluate jobs.

Parts
  (a) `micro-ktnet` vs fpn, pspnet, unet, linknet, manet, unetplusplus, deeplabv3, deeplabv3plus,
      all on the same encoder: test IoU, F1 (= Dice), precision, recall (class means), wall time.
  (b) loss ablation with micro-ktnet: ce, dice, 0.7 ce + 0.3 dice (the paper's "BCE + Dice";
      with three classes the BCE term is multi-class cross-entropy).
  (c) few-shot: test mIoU with 1, 2, 5 and all 10 nasa_super training images, several seeds
      (the subset and the training seed both change), with and without the ImageNet encoder.
  (d) overlay of one test image, one foreground class (secondary gamma-prime) vs the rest:
      TP yellow, FN green, FP red, TN blue as in the paper's figures.

Modes (settings in MODES below; all use Adam, no schedule, and the paper's augmentation: hflip
0.3, brightness/contrast/gamma, blur/sharpen, no vertical flip or rotation). Every run validates on
the 4 val images each epoch and keeps the best epoch (the app's trainer does this).
  --smoke    ~1 min on the idle 2-core CPU (~3 min under load): micro-ktnet and unet, 1 step of 4 64-px
             patches, dice loss only, few-shot 1 image x 1 seed; only checks that the script works.
  (default)  sized for the 2-core CPU: 35 runs, ~16 min when the CPU is idle (steps measured
             at 0.07 s (pspnet) to 0.53 s (deeplabv3) for 4 128-px patches, 0.27 s micro-ktnet;
             several times longer while another training shares the CPU).
             tu-tf_efficientnet_lite0 encoder with ImageNet weights (the only encoder with
             weights offline), 128-px patches, batch 4, 4 epochs of 80 patches (80 steps),
             lr 1e-3 instead of the paper's 2e-4 because the budget is so short,
             part (a) on nasa_super and uhcs, the rest on nasa_super, few-shot 2 seeds. Absolute IoU is far below a converged model's
             (the shipped U-Net/Lite0 reaches 0.892); read the comparisons, not the levels.
  --full     the paper's protocol, for a GPU: resnext50_32x4d encoder as in the paper (no
             ImageNet/MicroNet weights offline, so it starts random unless weights are installed;
             each run's `weights` says which), Adam 2e-4, batch 14, 256-px patches (the images
             are 512 px, the paper's patch size, so 256 keeps random crops), up to 60 epochs of
             280 patches with early stopping (patience 15), nasa_super and uhcs for part (a),
             few-shot 5 seeds: 59 runs.

Outputs (benchmarks/papers/out/p002_micro_ktnet/ or --out): results.json, summary.md,
archs.png, fewshot.png, overlay.png.
"""

from __future__ import annotations

import csv
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import common
import numpy as np

PAPER = "p002_micro_ktnet"
ARCHS = ["micro-ktnet", "fpn", "pspnet", "unet", "linknet", "manet", "unetplusplus", "deeplabv3",
         "deeplabv3plus"]
LOSSES = {"ce": {"ce": 1.0}, "dice": {"dice": 1.0}, "ce+dice": {"ce": 0.7, "dice": 0.3}}
AUGMENT = {"hflip": 0.3, "vflip": 0.0, "rot90": 0.0, "noise": 0.0}  # paper 002's list
LITE = "tu-tf_efficientnet_lite0"
MODES = {
    "smoke": dict(encoder=LITE, patch=64, batch=4, epochs=1, patches=4, lr=1e-3, patience=0,
                  archs=["micro-ktnet", "unet"], arch_data=["nasa_super"], losses=["dice"],
                  shots=[1], seeds=1),
    "default": dict(encoder=LITE, patch=128, batch=4, epochs=4, patches=80, lr=1e-3, patience=0,
                    archs=ARCHS, arch_data=["nasa_super", "uhcs"], losses=list(LOSSES),
                    shots=[1, 2, 5, None], seeds=2),
    "full": dict(encoder="resnext50_32x4d", patch=256, batch=14, epochs=60, patches=280, lr=2e-4,
                 patience=15, archs=ARCHS, arch_data=["nasa_super", "uhcs"], losses=list(LOSSES),
                 shots=[1, 2, 5, None], seeds=5),
}
DATA = {
    "nasa_super": dict(classes=["matrix", "secondary", "tertiary"], splits=["files.csv"]),
    "uhcs": dict(classes=["matrix", "network", "spheroidite", "widmanstatten"],
                 splits=["train16A.txt", "validate4A.txt", "test4A.txt"]),
}
METRICS = ["mean_iou", "mean_dice", "mean_precision", "mean_recall", "pixel_accuracy"]
# Published (SEM-DHU-150, binary agglomerate masks; ResNeXt50 encoder, MicroNet weights, batch 14).
PUBLISHED = {"mean_iou": 0.8665, "mean_dice": 0.9450, "mean_precision": 0.9185, "mean_recall": 0.9721}
PUBLISHED_FEWSHOT = {1: 0.2374, 5: 0.4632, 10: 0.6859, 20: 0.7561, 40: 0.7955}
OVERLAY_CLASS = 1  # secondary gamma-prime vs rest
OVERLAY_COLOURS = {"TP": (1, 1, 0), "FN": (0, 0.8, 0), "FP": (1, 0, 0), "TN": (0, 0, 1)}


@dataclass(frozen=True)
class Run:
    data: str = "nasa_super"
    arch: str = "micro-ktnet"
    loss: str = "ce+dice"
    shots: int | None = None  # training images; None = all
    seed: int = 0
    pretrained: bool = True


def plan(mode: dict, seed: int) -> list[Run]:
    """Every distinct training run of parts (a)-(c); shared configurations run once."""
    base = Run(seed=seed)
    runs = [replace(base, data=d, arch=a) for d in mode["arch_data"] for a in mode["archs"]]
    runs += [replace(base, loss=name) for name in mode["losses"]]
    runs += [replace(base, shots=n, seed=seed + s, pretrained=p) for p in (True, False)
             for n in mode["shots"] for s in range(mode["seeds"])]
    return list(dict.fromkeys(runs))


def split_files(root: Path, run: Run, tmp: Path) -> list[Path]:
    """The data set's split files, or a CSV whose train split is `run.shots` images drawn by seed."""
    files = [root / run.data / f for f in DATA[run.data]["splits"]]
    if run.shots is None:
        return files
    with files[0].open(newline="") as fh:
        rows = [(r["stem"], r["split"]) for r in csv.DictReader(fh)]
    train = sorted(s for s, split in rows if split == "train")
    keep = set(np.random.default_rng(run.seed).choice(train, run.shots, replace=False))
    path = tmp / f"{run.data}_{run.shots}shot_seed{run.seed}.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["stem", "split"])
        writer.writerows((s, split) for s, split in rows if split != "train" or s in keep)
    return [path]


def train_and_test(run: Run, mode: dict, root: Path, device: str, tmp: Path, model: Path) -> dict:
    splits = split_files(root, run, tmp)
    result, wall = common.train(
        task="segmentation", data=root / run.data, out=model,
        arch=run.arch, encoder=mode["encoder"], class_names=DATA[run.data]["classes"],
        epochs=mode["epochs"], batch=mode["batch"], lr=mode["lr"], patience=mode["patience"],
        patch=mode["patch"], patches_per_epoch=mode["patches"], splits=splits,
        loss={"terms": LOSSES[run.loss]}, augment=AUGMENT, device=device, seed=run.seed,
        pretrained=run.pretrained, name=f"{run.arch}-{run.data}")
    t0 = time.perf_counter()
    metrics = common.evaluate(result.model_dir, root / run.data, splits, device=device)
    per_class = np.asarray(metrics["per_class_iou"], float)
    return {**asdict(run), "train_images": len(result.splits["train"]), "train_s": round(wall, 1),
            "test_s": round(time.perf_counter() - t0, 1),
            "epoch_s": [round(h["time_s"], 1) for h in result.history],
            "weights": result.card.weight_source, "best_epoch": result.best_epoch,
            **common.headline(metrics, METRICS),
            "fg_iou": round(float(np.nanmean(per_class[1:])), 4),  # matrix left out
            "per_class_iou": dict(zip(DATA[run.data]["classes"], np.round(per_class, 4).tolist(),
                                      strict=True)),
            "model_dir": str(result.model_dir)}


def select(results: list[dict], **fields) -> list[dict]:
    return [r for r in results if all(r[k] == v for k, v in fields.items())]


def fewshot_table(results: list[dict], shots_list: list) -> list[dict]:
    rows = []
    for pretrained in (True, False):
        for shots in shots_list:
            group = select(results, data="nasa_super", arch="micro-ktnet", loss="ce+dice",
                           shots=shots, pretrained=pretrained)
            ious = [r["mean_iou"] for r in group]
            rows.append({"pretrained": pretrained, "train_images": group[0]["train_images"],
                         "n": len(ious), "mean_iou": round(float(np.mean(ious)), 4),
                         "sd": round(float(np.std(ious, ddof=1)) if len(ious) > 1 else 0.0, 4)})
    return rows


def plot_archs(plt, results: list[dict], datasets: list[str], archs: list[str], path: Path):
    fig, axes = plt.subplots(1, len(datasets), figsize=(7 * len(datasets), 4), squeeze=False)
    x = np.arange(len(archs))
    for ax, data in zip(axes[0], datasets, strict=True):
        rows = [select(results, data=data, arch=a, loss="ce+dice", shots=None, pretrained=True)[0]
                for a in archs]
        for i, (key, label) in enumerate([("mean_iou", "mIoU"), ("mean_dice", "mean F1 (Dice)")]):
            ax.bar(x + (i - 0.5) * 0.4, [r[key] for r in rows], 0.4, label=label)
        ax.set_xticks(x, archs, rotation=40, ha="right")
        ax.set_ylim(0, 1)
        ax.set_title(f"{data}: test set")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_fewshot(plt, rows: list[dict], path: Path):
    fig, ax = plt.subplots(figsize=(6, 4))
    for pretrained, label in ((True, "ImageNet encoder"), (False, "random encoder")):
        part = [r for r in rows if r["pretrained"] == pretrained]
        ax.errorbar([r["train_images"] for r in part], [r["mean_iou"] for r in part],
                    yerr=[r["sd"] for r in part], marker="o", capsize=4, label=f"ours, {label}")
    ax.plot(list(PUBLISHED_FEWSHOT), list(PUBLISHED_FEWSHOT.values()), "k--", marker="s",
            alpha=0.5, label="paper (binary, MicroNet encoder)")
    ax.set_xscale("log")
    ax.set_xticks(sorted({*PUBLISHED_FEWSHOT, *(r["train_images"] for r in rows)}))
    ax.xaxis.set_major_formatter("{x:.0f}")
    ax.set_xlabel("training images")
    ax.set_ylabel("test mIoU (mean ± sd over seeds)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax.set_title("Micro-KTNet few-shot, nasa_super")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_overlay(plt, model_dir: str, root: Path, device: str, path: Path) -> dict:
    """TP/FN/FP/TN of class OVERLAY_CLASS vs rest on the first nasa_super test image."""
    from matplotlib.patches import Patch

    from matlab_gui.imaging import read_image, read_mask
    from matlab_gui.ml.device import pick_device
    from matlab_gui.ml.inference import predict_image
    from matlab_gui.ml.model_folder import load_model

    with (root / "nasa_super" / "files.csv").open(newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["split"] == "test")
    image = read_image(root / "nasa_super" / row["image"]).data
    truth = read_mask(root / "nasa_super" / row["mask"]) == OVERLAY_CLASS
    loaded = load_model(model_dir, pick_device(device))
    pred = predict_image(loaded.module, loaded.card, image, pick_device(device)).labels == OVERLAY_CLASS
    masks = {"TP": pred & truth, "FN": ~pred & truth, "FP": pred & ~truth, "TN": ~pred & ~truth}
    colour = np.zeros((*truth.shape, 3))
    for name, m in masks.items():
        colour[m] = OVERLAY_COLOURS[name]
    grey = image if image.ndim == 2 else image[..., 0]
    grey = (grey - grey.min()) / max(float(np.ptp(grey)), 1e-9)
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    axes[0].imshow(grey, cmap="gray")
    axes[0].set_title(f"{row['stem']} (test)")
    axes[1].imshow(0.4 * grey[..., None] + 0.6 * colour)
    name = DATA["nasa_super"]["classes"][OVERLAY_CLASS]
    axes[1].set_title(f"micro-ktnet, {name} γ′ vs rest")
    axes[1].legend(handles=[Patch(color=c, label=k) for k, c in OVERLAY_COLOURS.items()],
                   loc="lower right", fontsize=8)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    counts = {k: int(m.sum()) for k, m in masks.items()}
    tp, fp, fn = counts["TP"], counts["FP"], counts["FN"]
    return {"stem": row["stem"], "class": name, "pixels": counts,
            "iou": round(tp / max(tp + fp + fn, 1), 4)}


def table(rows: list[dict], cols: list[str]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def summary(payload: dict) -> str:
    res, mode = payload["runs"], payload["settings"]
    main = select(res, data="nasa_super", arch="micro-ktnet", loss="ce+dice", shots=None,
                  seed=payload["seed"], pretrained=True)[0]
    versus = [{"": "paper (SEM-DHU-150, binary)", **PUBLISHED, "fg_iou": PUBLISHED["mean_iou"]},
              {"": f"ours (nasa_super, 3 classes, {payload['mode']})",
               **{k: main[k] for k in [*PUBLISHED, "fg_iou"]}}]
    cols = ["data", "arch", "mean_iou", "fg_iou", "mean_dice", "mean_precision", "mean_recall",
            "train_s"]
    ov = payload["overlay"]
    archs = [r for r in res if r["loss"] == "ce+dice" and r["shots"] is None and r["pretrained"]
             and r["seed"] == payload["seed"]]
    losses = select(res, data="nasa_super", arch="micro-ktnet", shots=None, seed=payload["seed"],
                    pretrained=True)
    return "\n\n".join([
        f"# Paper 002 (Micro-KTNet) reproduction, {payload['mode']} run",
        f"Hardware: {payload['hardware']['device']}, {payload['hardware']['cpu_count']} CPUs, "
        f"torch {payload['hardware']['torch']}. Total wall time {payload['wall_s']:.0f} s. "
        f"Encoder {mode['encoder']}, patch {mode['patch']}, batch {mode['batch']}, "
        f"{mode['epochs']} epochs x {mode['patches']} patches, Adam lr {mode['lr']}.",
        "## Published vs ours (Micro-KTNet, test set)",
        table(versus, ["", *PUBLISHED, "fg_iou"]),
        "mean_* are class means over all classes; fg_iou is the mean IoU of the foreground "
        "classes (matrix left out), the closer analogue of the paper's agglomerate IoU.",
        "## (a) Architectures, same encoder, 0.7 CE + 0.3 Dice", table(archs, cols),
        "## (b) Loss ablation, micro-ktnet", table(losses, ["loss", *cols[2:]]),
        "## (c) Few-shot, micro-ktnet (test mIoU, mean ± sd over seeds)",
        table(payload["fewshot"], ["pretrained", "train_images", "n", "mean_iou", "sd"]),
        f"Paper (binary IoU vs training images): {PUBLISHED_FEWSHOT}.",
        f"## (d) Overlay (overlay.png)\n\nTest image {ov['stem']}, {ov['class']} γ′ vs rest, "
        f"micro-ktnet: pixels {ov['pixels']}, IoU {ov['iou']}. TP yellow, FN green, FP red, "
        "TN blue, as in the paper.",
        "## Differences from the paper",
        "- Data: the paper segments agglomerates in fibre-masterbatch SEM images (SEM-DHU-150, "
        "~90 train / 40 test 512-px patches, binary). Here: nasa_super Ni-superalloy SEM "
        "(10 train / 4 val / 4 test 512-px images, 3 classes: matrix, secondary and tertiary "
        "γ′), and uhcs steel for part (a). Metrics are class means (matrix included), not the "
        "paper's foreground-only binary scores, so the levels are not comparable.",
        "- Encoder: the paper uses ResNeXt50_32x4d (SE) pre-trained on ImageNet then MicroNet. "
        "No ResNeXt50 or MicroNet weights exist offline, so the default run uses "
        "tf_efficientnet_lite0 with ImageNet weights for every architecture; --full uses "
        "resnext50_32x4d (random start unless weights are installed; see `weights` per run).",
        f"- Budget: this {payload['mode']} run trains each model for only "
        f"{mode['epochs'] * -(-mode['patches'] // mode['batch'])} steps on "
        f"{mode['patch']}-px patches; on the CPU runs absolute IoU is low and only the relative "
        "order says anything, with one seed per architecture (the few-shot spread shows the "
        "seed noise).",
        "- Loss: with 3 classes the paper's BCE term is multi-class cross-entropy.",
        f"- Optimiser: Adam lr {mode['lr']} (paper 2e-4; the CPU run uses 1e-3 to learn anything "
        "in its few steps); paper batch 14, here " + str(mode["batch"]) + ".",
    ]) + "\n"


def main() -> None:
    args = common.parser(__doc__.splitlines()[0]).parse_args()
    name = "smoke" if args.smoke else "full" if args.full else "default"
    mode, root = MODES[name], common.shared_data()
    out = common.out_dir(args, PAPER)
    runs, results, t0 = plan(mode, args.seed), [], time.perf_counter()
    plt = common.pyplot()
    with tempfile.TemporaryDirectory(prefix="p002-") as tmp_name:  # models are not kept
        tmp = Path(tmp_name)
        for i, run in enumerate(runs, 1):
            r = train_and_test(run, mode, root, args.device, tmp, tmp / f"{i:02d}-{run.arch}")
            results.append(r)
            print(f"[{i}/{len(runs)}] {run}: mIoU {r.get('mean_iou')} train {r['train_s']} s "
                  f"(epochs {r['epoch_s']} s) test {r['test_s']} s", flush=True)
        main_run = select(results, data="nasa_super", arch="micro-ktnet", loss="ce+dice",
                          shots=None, seed=args.seed, pretrained=True)[0]
        overlay = plot_overlay(plt, main_run["model_dir"], root, args.device, out / "overlay.png")
    plot_archs(plt, results, mode["arch_data"], mode["archs"], out / "archs.png")
    fewshot = fewshot_table(results, mode["shots"])
    plot_fewshot(plt, fewshot, out / "fewshot.png")
    for r in results:
        del r["model_dir"]
    payload = {"paper": "002 Micro-KTNet", "mode": name, "seed": args.seed, "settings": mode,
               "augment": AUGMENT, "hardware": common.hardware(args.device),
               "wall_s": round(time.perf_counter() - t0, 1), "published": PUBLISHED,
               "published_fewshot": PUBLISHED_FEWSHOT, "runs": results, "fewshot": fewshot,
               "overlay": overlay}
    common.write_json(out, "results.json", payload)
    (out / "summary.md").write_text(summary(payload))
    print(f"wrote {out / 'summary.md'}; total {payload['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
