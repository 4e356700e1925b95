"""The train job: data source + model choice in, a saved model folder out.

`run_training(request, progress=cb, cancel=token)` is what the CLI runs inline and the GUI runs
in a worker thread. The output folder is written once, at the very end, by `save_model`'s
atomic write: a cancelled or failed run leaves any earlier model there byte-identical.
Started by torchrun, every rank runs this job; rank 0 alone reports progress and writes, and the
others wait for its save at a barrier (`ml.distributed`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matlab_gui.errors import DataError, UserError
from matlab_gui.imaging.write import check_output
from matlab_gui.ml.threads import shares_the_cores
from matlab_gui.progress import CancelToken, Progress, ProgressCallback, report

SEGMENTATION, CLASSIFICATION = "segmentation", "classification"
HPTL_CHAIN = ("fcn32s", "fcn16s", "fcn8s")
CLASS_CENTRED = 0.5


def class_weight_rule(task: str, asked: str | None) -> str | None:
    """The loss's class weighting: "auto" is sqrt-balanced for segmentation, where a phase of
    a few painted dabs or 1 % of the pixels otherwise drowns in the matrix (measured in
    benchmarks/fewshot.py and by the rare-phase runs noted in the README), none for
    classification."""
    if asked == "auto":
        return "sqrt" if task == SEGMENTATION else None
    return None if asked in (None, "none") else asked


def default_lr(task: str, from_model) -> float:
    """The learning rate when none is asked: 2e-4 (paper 002's) to fine-tune a trained
    segmentation model further, whose small steps keep what it learnt; 1e-3 for a network
    with a new decoder and for classifiers. On 5 scribbled images in 10 CPU minutes a new
    U-Net reached a clearly better test mean IoU at 1e-3 than at 2e-4 (benchmarks/fewshot.py);
    the shipped models were trained at 1e-3 too."""
    return 2e-4 if task == SEGMENTATION and from_model is not None else 1e-3


@dataclass
class TrainRequest:
    """Everything one training run needs. `data` is a folder, a project path or an open Project."""

    task: str
    data: Any
    out: Path
    arch: str | None = None  # None when fine-tuning: the starting model's
    encoder: str | None = None
    from_model: Path | None = None  # fine-tune from this model folder (or shipped model name)
    class_names: list[str] | None = None  # folder data; a project brings its own
    epochs: int = 20
    batch: int = 8
    lr: float | None = None  # default: `default_lr`
    optimizer: str = "adam"
    schedule: str = "none"
    weight_decay: float = 0.0
    finetune_top: float | None = None  # percent; two-phase transfer (papers 000/004)
    head_epochs: int | None = None
    finetune_lr_factor: float = 0.1  # phase-2 learning rate = lr x this (paper 000: 1e-5 / 1e-3)
    patience: int = 10
    weight_average: float | None = None  # per-step EMA decay of the kept weights (ml.trainer)
    time_budget_s: float | None = None  # stop after the epoch that passes this (best kept)
    patch: int = 256  # segmentation patch size
    patches_per_epoch: int | None = None  # default: the images' area once, at least 4 batches
    input_size: int = 224  # classification input size
    head: dict | None = None  # classification head, e.g. {"type": "sepconv", "pooling": "max"}
    in_channels: int = 3
    splits: list[Path] | None = None  # one CSV (stem, split) or stem-list files
    # None: 70/15/15 for a folder; for a project's few painted images no test split (see
    # ml.splits.labelled_set_split)
    split_fractions: tuple[float, float, float] | None = None
    sparse_masks: bool = False  # folder masks with 0 = unlabelled (projects always are)
    loss: dict | None = None  # see ml.losses.build_loss
    augment: dict | None = None  # see ml.augment.DEFAULT_AUGMENT
    # "auto" (sqrt for segmentation, none for classification), "none", "balanced" (paper 000),
    # "sqrt" or "effective"; see ml.losses
    class_weights: str | None = "auto"
    class_centred: float = CLASS_CENTRED  # share of patches centred on a uniformly drawn class
    hist_eq: bool = False  # classification: histogram equalisation (paper 001)
    pixel_sum_band: tuple[float, float] | None = None  # drop train images with mean in band
    hptl: bool = False  # FCN-32s -> 16s -> 8s hierarchical transfer (paper 003)
    device: str = "auto"
    seed: int = 0
    pretrained: bool = True
    weights_dir: Path | None = None
    checkpoint_dir: Path | None = None  # resumable state; a run continues what it finds there
    name: str = ""
    notes: str = ""
    half: bool = False  # save float16 weights (half the file; check the cost with evaluate)


@dataclass
class TrainResult:
    model_dir: Path
    card: Any
    history: list[dict]
    best_metrics: dict
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    wall_s: float
    device: str
    splits: dict[str, list[str]] = field(default_factory=dict)


def resolve_splits(source, split_files: Sequence[Path] | None, task: str,
                   fractions: Sequence[float] | None, seed: int,
                   averaged: bool = False) -> tuple[dict[str, list[str]], str]:
    """train/val/test stems and the validation rule in words: from files, else the folder's own
    split, else (a project's few labelled images) no test split, else a seeded draw. Without
    validation images the training loss picks the kept epoch, or, with a weight average
    (`averaged`), nothing does: the average at the end is the model."""
    from matlab_gui.ml import splits

    rule = ""
    if split_files:
        assignment = splits.assign_from_files(split_files, list(source.stems))
    elif getattr(source, "given_splits", None):
        assignment = source.given_splits
    elif fractions is None and source.describe().get("source") == "project":
        painted = getattr(source, "painted_fraction", lambda: 1.0)()  # image labels: whole
        assignment, rule = splits.labelled_set_split(source.stems, seed, painted)
    elif task == CLASSIFICATION:
        labels = {k: source.label(k) for k in source.stems}
        assignment = splits.stratified_split(labels, fractions or splits.DEFAULT_FRACTIONS, seed)
    else:
        assignment = splits.random_split(source.stems, fractions or splits.DEFAULT_FRACTIONS, seed)
    out = {name: splits.stems_in(assignment, name) for name in splits.SPLITS}
    if not out["train"]:
        if split_files:
            raise DataError("names no training image of the data (a 'train' split is needed)",
                            ", ".join(Path(p).name for p in split_files))
        raise DataError("no training images after splitting", source.describe()["path"])
    if out["val"]:
        rule = rule or f"validation split ({len(out['val'])} images)"
    else:
        judge = "the running weight average at the end" if averaged else "training loss"
        rule = f"{judge} ({rule or 'no validation images'})"
    return out, rule


def _class_infos(source, start_card):
    from matlab_gui.ml.card import ClassInfo

    if start_card is not None and source.class_colours is None:
        return list(start_card.classes)
    colors = source.class_colours or [None] * len(source.class_names)
    return [ClassInfo(name=n, color=c) if c is not None else ClassInfo(name=n, color=_palette(i))
            for i, (n, c) in enumerate(zip(source.class_names, colors, strict=True))]


def _same_classes(card, source) -> bool:
    """Whether a model's output layer already means the data's classes: the same names in the
    same order, or folder masks that name no classes (values 0..N-1) and as many of them."""
    if source.class_colours is None:
        return len(card.classes) == len(source.class_names)
    return [c.name for c in card.classes] == list(source.class_names)


def with_new_head(module, card):
    """`module`'s network for the classes of `card`: every layer keeps its trained weights where
    name and shape agree, so only the class output (whose shape changed) starts afresh."""
    from matlab_gui.ml.zoo import build_model

    fresh = build_model(card, pretrained=False)
    target = fresh.state_dict()
    kept = {k: v for k, v in module.state_dict().items()
            if k in target and target[k].shape == v.shape}
    fresh.load_state_dict({**target, **kept})
    return fresh


def _palette(i: int) -> tuple[int, int, int]:
    """Distinct default colours for classes that come without one (folder data)."""
    base = [(0, 0, 0), (0, 114, 178), (213, 94, 0), (0, 158, 115), (240, 228, 66),
            (204, 121, 167), (86, 180, 233), (230, 159, 0)]
    return base[i % len(base)]


class _Run:
    """One run's state while it is being set up and trained (split out to keep steps short)."""

    def __init__(self, request: TrainRequest, progress, cancel):
        self.request, self.progress, self.cancel = request, progress, cancel or CancelToken()

    # -- model --------------------------------------------------------------------------------
    def start_model(self, source, arch: str | None):
        """The model and card to train: a fresh zoo model or a copy of `from_model`."""
        from matlab_gui.ml.archs import AUTO, automatic_arch
        from matlab_gui.ml.model_folder import load_model
        from matlab_gui.ml.model_lookup import resolve_model
        from matlab_gui.ml.zoo import build_model, default_card

        r = self.request
        if r.from_model is not None and arch is None:
            loaded = load_model(resolve_model(r.from_model), self.device)
            card = loaded.card
            if card.task != r.task:
                raise DataError(f"the model in {r.from_model} is a {card.task} model, not {r.task}")
            parent = f"{card.name or Path(r.from_model).name} (created {card.created[:10]})"
            if _same_classes(card, source):
                module, classes, start = loaded.module, _class_infos(source, card), "fine-tuned from"
            else:
                classes = _class_infos(source, None)
                module = with_new_head(loaded.module, dataclasses.replace(card, classes=classes))
                start = f"a new output layer for {len(classes)} classes on"
            card = dataclasses.replace(  # its own date and notes, and where it came from
                card, classes=classes, created="", notes="", weight_source=f"{start} {parent}")
            return module.to(self.device), card
        arch = arch or r.arch
        if not arch:
            raise DataError("choose an architecture (--arch) or a model to start from (--from)")
        if arch == AUTO:
            arch = automatic_arch(r.task)
        size = r.patch if r.task == SEGMENTATION else r.input_size
        head = {"head": r.head} if r.head and r.task != SEGMENTATION else {}
        card = default_card(r.task, arch, _class_infos(source, None), encoder=r.encoder,
                            in_channels=r.in_channels, input_size=size, **head)
        return build_model(card, pretrained=r.pretrained, weights_dir=r.weights_dir), card

    # -- data ---------------------------------------------------------------------------------
    def datasets(self, source, card, split: dict[str, list[str]]):
        """(train dataset, validate(model) function or None, label counts, data summary)."""
        from matlab_gui.ml import data as mdata
        from matlab_gui.ml.augment import Augmenter
        from matlab_gui.ml.evaluation import evaluate_classification, evaluate_segmentation

        r = self.request
        names = [c.name for c in card.classes]
        # The request's augmentation, else the starting model's (fine-tune), else the defaults.
        start = (card.training or {}).get("augment") if r.from_model else None
        self.augment = augmenter = Augmenter(r.augment if r.augment is not None else start)
        summary: dict[str, Any] = {**source.describe(), "splits": split}
        if r.task == SEGMENTATION:
            train = mdata.prepare_segmentation(source, split["train"], card)
            val = mdata.prepare_segmentation(source, split["val"], card)
            area = sum(p.target.size for p in train)
            # one or two small painted images still get a few steps between validations
            # patches per epoch are global: the ranks share them, each a batch per step
            steps = 4 * r.batch * self.world.size
            length = r.patches_per_epoch or max(steps, math.ceil(area / r.patch**2))
            dataset = mdata.PatchDataset(train, r.patch, length, augmenter, r.seed,
                                         class_centred=r.class_centred)
            counts = mdata.label_counts(train, len(names))

            def validate(model):
                return evaluate_segmentation(model, val, names, self.device, cancel=self.cancel)

            summary.update(patches_per_epoch=length, labelled_pixels=counts.tolist())
        else:
            keys, images = mdata.prepare_classification(
                source, split["train"], card, r.hist_eq, r.pixel_sum_band)
            summary["pixel_sum_dropped"] = sorted(set(split["train"]) - set(keys))
            labels = [source.label(k) for k in keys]
            dataset = mdata.ClassificationDataset(images, labels, card, augmenter, r.seed)
            val_keys, val_images = mdata.prepare_classification(source, split["val"], card, r.hist_eq)
            val_set = mdata.ClassificationDataset(
                val_images, [source.label(k) for k in val_keys], card)
            counts = [labels.count(c) for c in range(len(names))]

            def validate(model):
                return evaluate_classification(model, val_set, names, self.device, r.batch,
                                               cancel=self.cancel)

            summary.update(images_per_class=dict(zip(names, counts, strict=True)))
        return dataset, (validate if split["val"] else None), counts, summary

    # -- training -----------------------------------------------------------------------------
    def config(self, lr_default: float):
        from matlab_gui.ml.trainer import TrainConfig

        r = self.request
        return TrainConfig(
            epochs=r.epochs, batch_size=r.batch, lr=r.lr or lr_default, optimizer=r.optimizer,
            weight_decay=r.weight_decay, schedule=r.schedule, finetune_top=r.finetune_top,
            head_epochs=r.head_epochs, finetune_lr_factor=r.finetune_lr_factor, patience=r.patience,
            time_budget_s=r.time_budget_s, weight_average=r.weight_average,
            monitor="mean_iou" if r.task == SEGMENTATION else "balanced_accuracy", seed=r.seed,
        )

    def train_one(self, model, dataset, validate, loss_fn, stage: str, checkpoint_dir):
        from matlab_gui.ml.trainer import Trainer
        from matlab_gui.ml.zoo import set_trainable_fraction

        config = self.config(default_lr(self.request.task, self.request.from_model))
        trainer = Trainer(
            model, loss_fn, dataset, config, self.device, validate=validate,
            set_trainable_fraction=set_trainable_fraction, checkpoint_dir=checkpoint_dir,
            progress=self.progress, cancel=self.cancel, stage=stage,
        )
        return trainer.fit(), config

    def run(self) -> TrainResult:
        from matlab_gui.ml import distributed
        from matlab_gui.ml.device import pick_device

        r = self.request
        t0 = time.perf_counter()
        check_output(Path(r.out).parent, folder=True)  # now, not after an hour of training
        if Path(r.out).is_file():
            raise UserError("is a file; the model is saved as a folder", r.out)
        if r.checkpoint_dir is not None:
            check_output(Path(r.checkpoint_dir), folder=True)
        with distributed.session(pick_device(r.device)) as (self.world, self.device):
            if not self.world.is_main:
                self.progress = None
            return self._train_and_save(t0)

    def _train_and_save(self, t0: float) -> TrainResult:
        from matlab_gui.ml import distributed
        from matlab_gui.ml.card import check_card
        from matlab_gui.ml.data import open_source
        from matlab_gui.ml.device import describe_device
        from matlab_gui.ml.losses import DEFAULT_CLS_LOSS, DEFAULT_SEG_LOSS, build_loss
        from matlab_gui.ml.model_folder import save_model

        r = self.request
        report(self.progress, Progress("prepare", 0, 1, message="reading data"))
        with open_source(r.task, r.data, r.sparse_masks, r.class_names) as source:
            split, validation_rule = resolve_splits(source, r.splits, r.task, r.split_fractions,
                                                    r.seed, averaged=bool(r.weight_average))
            stages = HPTL_CHAIN if r.hptl else (None,)
            model, card = self.start_model(source, stages[0])
            check_card(json.loads(card.to_json()))  # a card save_model would refuse: say so now
            report(self.progress, Progress("start", 0, 1, message=card.weight_source))
            dataset, validate, counts, summary = self.datasets(source, card, split)
        default_terms = DEFAULT_SEG_LOSS if r.task == SEGMENTATION else DEFAULT_CLS_LOSS
        loss_spec = {"terms": default_terms,
                     "class_weights": class_weight_rule(r.task, r.class_weights), **(r.loss or {})}
        loss_fn = build_loss(loss_spec, counts)
        history: list[dict] = []
        for i, arch in enumerate(stages):
            self.cancel.raise_if_cancelled()
            if i and self.cancel.finish_requested:
                break  # "stop and keep": the stages trained so far are the model
            if i:
                model, card = self._next_fcn(model, card, arch)
            ckpt = None if r.checkpoint_dir is None else Path(r.checkpoint_dir) / (arch or "run")
            outcome, config = self.train_one(model, dataset, validate, loss_fn, arch or "train", ckpt)
            history += [{**h, "stage": arch} if arch else h for h in outcome.history]
        training = {
            **config.to_json(), "loss": loss_spec, "augment": self.augment.spec,
            "patch": r.patch if r.task == SEGMENTATION else None, "hist_eq": r.hist_eq,
            "class_centred": r.class_centred if r.task == SEGMENTATION else None,
            "pixel_sum_band": r.pixel_sum_band,
            "from_model": None if r.from_model is None else str(r.from_model),
            "hptl_chain": list(HPTL_CHAIN) if r.hptl else None, "best_epoch": outcome.best_epoch,
            "epochs_run": len(history), "stopped_early": outcome.stopped_early,
            "device": describe_device(self.device), "wall_s": round(time.perf_counter() - t0, 1),
            "validation": validation_rule,
            "world_size": self.world.size, "global_batch": r.batch * self.world.size,
        }
        metrics = {k: v for k, v in outcome.best_metrics.items() if k not in ("phase", "lr", "time_s")}
        card = dataclasses.replace(card, training=training, data=summary, metrics=metrics,
                                   history=history, name=r.name or card.name,
                                   notes=r.notes or card.notes)
        self.cancel.raise_if_cancelled()
        report(self.progress, Progress("save", 0, 1, message=f"writing {r.out}"))
        try:
            if self.world.is_main:
                save_model(Path(r.out), model, card, half=r.half)
        except OSError as exc:  # e.g. the disk filled up while it trained
            raise UserError(f"cannot save the model: {exc.strerror or exc}", r.out) from exc
        distributed.barrier(self.world)  # no rank ends before the folder is there
        return TrainResult(
            model_dir=Path(r.out), card=card, history=history, best_metrics=outcome.best_metrics,
            best_epoch=outcome.best_epoch, epochs_run=len(history),
            stopped_early=outcome.stopped_early, wall_s=time.perf_counter() - t0,
            device=describe_device(self.device), splits=split,
        )

    def _next_fcn(self, model, card, arch: str):
        """The next HPTL stage, initialised from the shared layers of the previous one."""
        from matlab_gui.ml.fcn import transfer_fcn
        from matlab_gui.ml.zoo import build_model

        next_card = dataclasses.replace(card, arch=arch)
        next_model = build_model(next_card, pretrained=False)
        transfer_fcn(model, next_model)
        return next_model, next_card


@shares_the_cores
def run_training(request: TrainRequest, progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> TrainResult:
    """Train as `request` says and save the model folder; raises `Cancelled` when cancelled."""
    return _Run(request, progress, cancel).run()
