"""`matlab-gui train`: the GUI's training job from a terminal, with a tqdm progress bar."""

from __future__ import annotations

import argparse
from pathlib import Path

from matlab_gui.cli.output import add_output_options, bars_wanted, result

NAME = "train"
HELP = "Train or fine-tune a segmentation or classification model and save it as a model folder."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--task", required=True, choices=["segmentation", "classification"])
    a("--data", required=True, type=Path,
      help="folder (images/ + masks/, or <split>/<CLASS>/) or project file (.mgp)")
    a("--arch", help="architecture from `matlab-gui models` (default with --from: that model's)")
    a("--encoder", help="encoder of smp architectures, e.g. tu-tf_efficientnet_lite0")
    a("--from", dest="from_model", type=Path, metavar="MODEL_DIR",
      help="fine-tune from this model folder")
    a("--out", required=True, type=Path, help="model folder to write (replaced only at the end)")
    a("--epochs", type=int, default=20)
    a("--patch", type=int, default=256, help="segmentation patch size (px)")
    a("--patches-per-epoch", type=int,
      help="default: the training images' area once, at least 4 batches")
    a("--input-size", type=int, default=224, help="classification input size (px)")
    a("--head", choices=["linear", "sepconv"], help="classification head (sepconv: paper 000)")
    a("--pooling", choices=["avg", "max"], help="classification global pooling (GAP or GMP)")
    a("--batch", type=int, default=8)
    a("--lr", type=float,
      help="learning rate (default 1e-3; 2e-4 to fine-tune a segmentation model --from)")
    a("--optimizer", default="adam", choices=["adam", "adamw", "adamax", "sgd", "rmsprop"])
    a("--schedule", default="none", choices=["none", "cosine", "step", "cyclic", "plateau"])
    a("--weight-decay", type=float, default=0.0)
    a("--finetune-top", type=float, metavar="PCT",
      help="two-phase transfer: head only, then the top PCT%% of layers at lr/10")
    a("--head-epochs", type=int, help="phase-1 epochs with --finetune-top (default half)")
    a("--finetune-lr-factor", type=float, default=0.1,
      help="phase-2 learning rate as a fraction of --lr (default 0.1)")
    a("--patience", type=int, default=10, help="early-stopping patience in epochs (0 = off)")
    a("--time-limit", type=float, metavar="MIN",
      help="start no epoch after this many minutes; the best epoch so far is kept")
    a("--weight-average", type=float, metavar="DECAY",
      help="keep a moving average of the weights (per step, e.g. 0.99) and validate and save it "
           "instead of the raw weights; without validation images the last average is saved")
    a("--splits", type=Path, nargs="+", metavar="FILE",
      help="a CSV with stem and split columns, or train*/val*/test* stem-list files")
    a("--split-fractions", type=float, nargs=3, default=None, metavar=("TRAIN", "VAL", "TEST"),
      help="seeded random split when no split is given (default 0.7 0.15 0.15 for a folder; a "
           "project's painted images get no test split: 1 in 6 validates, all train below 10)")
    a("--classes", help="comma-separated class names of a folder's mask values 0, 1, ...")
    a("--sparse-masks", action="store_true",
      help="folder masks use 0 = unlabelled and 1..N = classes (as projects do)")
    a("--loss", help="weighted terms, e.g. ce=0.7,dice=0.3 (default) or focal=1")
    a("--class-weights", choices=["auto", "none", "balanced", "sqrt", "effective"],
      help="loss weights per class from its labelled pixels (default auto: sqrt for "
           "segmentation, none for classification)")
    a("--class-centred", type=float, default=None, metavar="FRACTION",
      help="segmentation: share of patches centred on a class drawn uniformly, so rare phases "
           "are seen (default 0.5; 0 = uniform crops)")
    a("--hist-eq", action="store_true", help="histogram equalisation (classification)")
    a("--pixel-sum-band", type=float, nargs=2, metavar=("LO", "HI"),
      help="drop training images whose mean intensity (0..1) lies in [LO, HI] (paper 000)")
    a("--no-augment", action="store_true")
    a("--hptl", action="store_true", help="FCN-32s -> 16s -> 8s hierarchical transfer chain")
    a("--no-pretrained", action="store_true", help="random initialisation")
    a("--weights-dir", type=Path, help="folder with pretrained weight files")
    a("--checkpoint", type=Path, metavar="DIR", help="save a resumable state here; resume from it")
    a("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    a("--seed", type=int, default=0)
    a("--name", default="")
    a("--half", action="store_true", help="save float16 weights (half the size)")
    add_output_options(parser)


def _loss(text: str | None) -> dict | None:
    if not text:
        return None
    from matlab_gui.errors import UserError

    try:
        terms = {k.strip(): float(v) for k, v in (item.split("=") for item in text.split(","))}
    except ValueError:
        raise UserError(f"--loss {text!r}: use name=weight pairs, e.g. ce=0.7,dice=0.3") from None
    return {"terms": terms}


def request_from_args(args: argparse.Namespace):
    from matlab_gui.jobs.train import TrainRequest
    from matlab_gui.ml.augment import DEFAULT_AUGMENT

    loss = _loss(args.loss)
    return TrainRequest(
        task=args.task, data=args.data, out=args.out, arch=args.arch, encoder=args.encoder,
        from_model=args.from_model,
        class_names=[c.strip() for c in args.classes.split(",")] if args.classes else None,
        epochs=args.epochs, batch=args.batch, lr=args.lr, optimizer=args.optimizer,
        schedule=args.schedule, weight_decay=args.weight_decay, finetune_top=args.finetune_top,
        head_epochs=args.head_epochs, finetune_lr_factor=args.finetune_lr_factor,
        patience=args.patience, patch=args.patch, weight_average=args.weight_average,
        time_budget_s=None if args.time_limit is None else 60.0 * args.time_limit,
        patches_per_epoch=args.patches_per_epoch, input_size=args.input_size, splits=args.splits,
        split_fractions=None if args.split_fractions is None else tuple(args.split_fractions),
        pixel_sum_band=None if args.pixel_sum_band is None else tuple(args.pixel_sum_band),
        sparse_masks=args.sparse_masks, loss=loss,
        **({} if args.class_weights is None else {"class_weights": args.class_weights}),
        **({} if args.class_centred is None else {"class_centred": args.class_centred}),
        augment=dict.fromkeys(DEFAULT_AUGMENT, 0.0) if args.no_augment else None,
        hist_eq=args.hist_eq, hptl=args.hptl, device=args.device, seed=args.seed,
        pretrained=not args.no_pretrained, weights_dir=args.weights_dir,
        checkpoint_dir=args.checkpoint, name=args.name, half=args.half,
        head={k: v for k, v in (("type", args.head), ("pooling", args.pooling)) if v} or None,
    )


class TrainProgress:
    """Turns job `Progress` events into a tqdm bar per training stage on a terminal, plus a line
    per epoch (also in a log file, where bars would add a line per redraw); nothing with quiet.

    The bar appears with the first step, so an error while reading data prints just its line.
    The time left is the job's own estimate (it knows `--time-limit`), not tqdm's, which would
    count every one of `--epochs`.
    """

    BAR = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"

    def __init__(self, quiet: bool = False):
        self.quiet, self.bars, self.bar, self.epoch = quiet, bars_wanted(quiet), None, None

    def _line(self, text: str) -> None:
        import sys

        from tqdm import tqdm

        if not self.quiet:
            tqdm.write(text, file=sys.stderr)

    def __call__(self, event) -> None:
        from tqdm import tqdm

        m = event.metrics
        if event.stage == "validate":
            scores = {k: m[k] for k in ("mean_iou", "balanced_accuracy", "accuracy") if m.get(k) is not None}
            text = " ".join(f"{k}={v:.4f}" for k, v in scores.items())
            self._line(f"epoch {m['epoch']}: loss={m['loss']:.4f} {text}")
        elif "loss" in m:
            if not self.bars:  # a log: a line as each epoch starts, not a bar
                if m["epoch"] != self.epoch:
                    self.epoch = m["epoch"]
                    self._line(f"{event.stage} {m['epoch']}/{m['epochs']}")
                return
            if self.bar is None or self.bar.total != event.total:
                self.close()
                self.bar = tqdm(total=event.total, initial=event.done - 1, unit="step",
                                dynamic_ncols=True, bar_format=self.BAR)
            self.bar.set_description(f"{event.stage} {m['epoch']}/{m['epochs']}")
            left = {} if m.get("eta_s") is None else {"left": tqdm.format_interval(m["eta_s"])}
            self.bar.set_postfix(loss=f"{m['loss']:.4f}", **left, refresh=False)
            self.bar.update(event.done - self.bar.n)
        elif event.message:
            self._line(event.message)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run(args: argparse.Namespace) -> int:
    from matlab_gui.jobs.train import run_training
    from matlab_gui.ml.distributed import from_env

    request = request_from_args(args)
    progress = TrainProgress(args.quiet)
    try:
        trained = run_training(request, progress=progress, cancel=args.cancel)
    finally:
        progress.close()
    if not from_env().is_main:
        return 0  # rank 0 says what was saved
    best = {k: v for k, v in trained.best_metrics.items()
            if isinstance(v, float) and k not in ("lr", "time_s")}
    summary = {"model_dir": str(trained.model_dir), "epochs_run": trained.epochs_run,
               "best_epoch": trained.best_epoch, "stopped_early": trained.stopped_early,
               "wall_s": round(trained.wall_s, 3), "device": trained.device,
               "world_size": trained.card.training["world_size"],
               "best_metrics": best, "splits": {k: len(v) for k, v in trained.splits.items()}}
    result(args, summary, [
        f"saved {trained.model_dir} ({trained.epochs_run} epochs, best epoch "
        f"{trained.best_epoch}, {trained.wall_s:.0f} s on {trained.device})",
        "  " + " ".join(f"{k}={v:.4f}" for k, v in best.items())])
    return 0
