"""One training loop for segmentation and classification.

The loop is deliberately plain (forward, loss, backward, step) so it costs no more per step than
a hand-written one (see benchmarks/train_overhead.py). Around it: optimisers and schedules by
name, two-phase transfer learning (papers 000/004: head only, then the top k% of layers at a
lower rate), early stopping on a validation score with the best weights kept, AMP on CUDA,
fixed seeds, a resumable state after every epoch, `Progress` events and cancellation that takes
effect before the next step.

Under torchrun the same loop runs on every rank (`ml.distributed`): each rank trains its share
of every global batch through DistributedDataParallel, rank 0 alone validates, reports and
writes the checkpoint, and its epoch verdict (scores, stop) is broadcast so all ranks agree.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from matlab_gui.errors import ModelError
from matlab_gui.ml import checkpoint, distributed
from matlab_gui.ml.threads import rebalance
from matlab_gui.progress import CancelToken, Progress, ProgressCallback, report

OPTIMIZERS = ("adam", "adamw", "adamax", "sgd", "rmsprop")
SCHEDULES = ("none", "cosine", "step", "cyclic", "plateau")


@dataclass
class TrainConfig:
    """Hyper-parameters of one run; stored as `card.training`."""

    epochs: int = 20
    batch_size: int = 8
    lr: float = 2e-4
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9  # SGD and RMSprop
    schedule: str = "none"
    step_size: int = 10  # StepLR epochs
    step_gamma: float = 0.1
    finetune_top: float | None = None  # percent of layers unfrozen in phase 2; None = one phase
    head_epochs: int | None = None  # phase 1 (head only) length; default half the epochs
    finetune_lr_factor: float = 0.1  # phase 2 learning rate = lr x this
    patience: int = 10  # epochs without improvement before stopping; 0 = never
    time_budget_s: float | None = None  # no new epoch starts after this long (best one kept)
    monitor: str = "mean_iou"  # validation score to maximise (or "-loss")
    amp: bool = True  # mixed precision, used only on CUDA
    grad_clip: float | None = None
    # Exponential moving average of the weights per step (e.g. 0.99), validated and kept instead
    # of the raw weights: on a few scribbled images the raw weights' test score swings by
    # +-0.05 mean IoU from one epoch to the next; the average does not. None = off.
    weight_average: float | None = None
    seed: int = 0

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class TrainOutcome:
    history: list[dict]
    best_metrics: dict
    best_epoch: int
    epochs_run: int
    stopped_early: bool
    wall_s: float = 0.0
    extra: dict = field(default_factory=dict)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_optimizer(name: str, params, lr: float, weight_decay: float, momentum: float):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "adamax": torch.optim.Adamax}[name]
    return cls(params, lr=lr, weight_decay=weight_decay)


def make_scheduler(config: TrainConfig, optimizer, epochs: int, steps_per_epoch: int):
    """The schedule and whether it steps per batch (cyclic) rather than per epoch."""
    s = config.schedule
    if s == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs)), False
    if s == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, config.step_size, config.step_gamma), False
    if s == "cyclic":  # paper 001 appendix: CyclicLR 1e-4..1e-3 around Adam
        lr = optimizer.param_groups[0]["lr"]
        return torch.optim.lr_scheduler.CyclicLR(
            optimizer, base_lr=lr / 10, max_lr=lr, step_size_up=max(1, 2 * steps_per_epoch),
            cycle_momentum=False,
        ), True
    if s == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=0.5, patience=max(1, config.patience // 2)
        ), False
    return None, False


def _scalars(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}


class Trainer:
    """Trains `model` on `train_data` (a Dataset of `(x, y)`, optionally with `set_epoch`).

    `validate(model) -> dict` scores the model after each epoch; `config.monitor` picks the
    score for early stopping and the best checkpoint. With `checkpoint_dir`, the state is
    saved after each epoch and a run started on a folder holding a state continues it.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        train_data: Dataset,
        config: TrainConfig,
        device: torch.device,
        validate: Callable[[nn.Module], dict] | None = None,
        set_trainable_fraction: Callable[[nn.Module, float], None] | None = None,
        checkpoint_dir=None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        stage: str = "train",
    ):
        self.world = distributed.current()
        self.model = model.to(device)  # the module itself; `self.net` runs it (DDP on several ranks)
        self.net = self.model
        self.loss_fn = loss_fn.to(device) if isinstance(loss_fn, nn.Module) else loss_fn
        self.data = train_data
        self.config = config
        self.device = device
        self.validate = validate
        self.set_trainable_fraction = set_trainable_fraction
        self.checkpoint_dir = checkpoint_dir
        self.progress = progress if self.world.is_main else None  # one bar, rank 0's
        self.cancel = cancel or CancelToken()
        self.stage = stage
        self.amp = config.amp and device.type == "cuda"
        # config.batch_size is per rank; a step consumes batch x world size items
        batches = len(train_data) // (config.batch_size * self.world.size)
        self.drop_last = batches > 0
        self.steps_per_epoch = max(1, batches) if self.drop_last else 1

    # -- phases -------------------------------------------------------------------------------
    def _phases(self) -> list[tuple[int, float | None, float]]:
        """(first epoch, trainable fraction or None = leave as built, learning rate)."""
        c = self.config
        if c.finetune_top is None:
            return [(0, None, c.lr)]
        head = c.epochs // 2 if c.head_epochs is None else c.head_epochs
        return [(0, 0.0, c.lr), (head, c.finetune_top / 100.0, c.lr * c.finetune_lr_factor)]

    def _phase_at(self, epoch: int) -> int:
        return max(i for i, (start, _, _) in enumerate(self._phases()) if start <= epoch)

    def _enter_phase(self, index: int) -> None:
        phases = self._phases()
        start, fraction, lr = phases[index]
        end = phases[index + 1][0] if index + 1 < len(phases) else self.config.epochs
        if fraction is not None:
            if self.set_trainable_fraction is None:
                raise ValueError("two-phase training needs set_trainable_fraction")
            self.set_trainable_fraction(self.model, fraction)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ModelError("no trainable parameters in this phase")
        # DDP learns which parameters train when it is made: a new phase needs a new wrapper
        self.net = distributed.wrap(self.model, self.device, self.world)
        c = self.config
        self.optimizer = make_optimizer(c.optimizer, params, lr, c.weight_decay, c.momentum)
        self.scheduler, self.per_batch_schedule = make_scheduler(
            c, self.optimizer, end - start, self.steps_per_epoch
        )
        self.phase = index

    # -- state --------------------------------------------------------------------------------
    def _state(self, epoch: int) -> checkpoint.TrainingState:
        return checkpoint.TrainingState(
            epoch=epoch,
            model=self.model.state_dict(),
            optimizer=self.optimizer.state_dict(),
            scheduler=None if self.scheduler is None else self.scheduler.state_dict(),
            scaler=self.scaler.state_dict() if self.amp else None,
            best_model=self.best_state,
            best_score=self.best_score,
            best_epoch=self.best_epoch,
            history=self.history,
            rng=torch.get_rng_state(),
            extra={"phase": self.phase, "best_metrics": self.best_full,
                   "world_size": self.world.size},
        )

    def _restore(self, state: checkpoint.TrainingState) -> int:
        self._enter_phase(state.extra.get("phase", self._phase_at(state.epoch)))
        try:
            self.model.load_state_dict(state.model)
            self.optimizer.load_state_dict(state.optimizer)
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ModelError(f"the training state does not fit this model: {exc}",
                             self.checkpoint_dir) from exc
        if self.scheduler is not None and state.scheduler is not None:
            self.scheduler.load_state_dict(state.scheduler)
        self._start_average()  # a resumed run averages afresh from the restored weights
        if self.amp and state.scaler:
            self.scaler.load_state_dict(state.scaler)
        self.best_state, self.best_score = state.best_model, state.best_score
        self.best_epoch, self.history = state.best_epoch, list(state.history)
        self.best_full = state.extra.get("best_metrics", {})
        if state.rng is not None and self.world.is_main:
            torch.set_rng_state(state.rng)  # the saved stream is rank 0's
        elif self.world.parallel:
            torch.manual_seed(self.world.seed(self.config.seed) + state.epoch)
        return state.epoch

    # -- the loop -----------------------------------------------------------------------------
    def fit(self) -> TrainOutcome:
        c = self.config
        t0 = time.perf_counter()
        seed_everything(self.world.seed(c.seed))
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.best_state, self.best_score, self.best_epoch = None, None, 0
        self.best_full: dict = {}  # every validation score of the best epoch (per class too)
        self.history: list[dict] = []
        start = 0
        if checkpoint.has_state(self.checkpoint_dir):
            start = self._restore(checkpoint.load_state(self.checkpoint_dir))
        else:
            self._enter_phase(0)
            self._start_average()
        total_steps = c.epochs * self.steps_per_epoch
        done_steps, run_steps, run_t0 = start * self.steps_per_epoch, 0, time.perf_counter()
        stopped_early = False
        epoch = start
        for epoch in range(start, c.epochs):
            if distributed.from_main(self.world, self.cancel.finish_requested and bool(self.history)):
                stopped_early = True
                break
            if self._phase_at(epoch) != self.phase:
                self._enter_phase(self._phase_at(epoch))
            epoch_loss, t_epoch, steps = 0.0, time.perf_counter(), 0
            self._train_mode()
            for step, (x, y) in enumerate(self._loader(epoch)):
                self.cancel.raise_if_cancelled()
                if self.cancel.finish_requested and steps and not self.world.parallel:
                    break  # finish now: this part-epoch is validated, then the loop ends
                rebalance()
                loss = self._step(x, y)
                if self.average is not None:
                    self.average.update_parameters(self.model)
                steps += 1
                epoch_loss += loss
                done_steps += 1
                run_steps += 1
                elapsed = time.perf_counter() - run_t0
                eta = elapsed / run_steps * (total_steps - done_steps)
                if c.time_budget_s is not None:  # no epoch starts after the budget
                    eta = min(eta, max(0.0, c.time_budget_s - elapsed) + elapsed / run_steps
                              * (self.steps_per_epoch - step - 1))
                report(self.progress, Progress(
                    self.stage, done_steps, total_steps,
                    {"epoch": epoch + 1, "epochs": c.epochs, "step": step + 1, "loss": loss,
                     "lr": self.optimizer.param_groups[0]["lr"],
                     "eta_s": eta},
                ))
            train_loss = distributed.mean(self.world, epoch_loss / max(1, steps))
            kept = self.model if self.average is None else self.average.module
            metrics = self.validate(kept) if self.validate is not None and self.world.is_main else {}
            metrics = distributed.from_main(self.world, metrics)  # every rank keeps the same best
            score = self._score(metrics, train_loss)
            if self.scheduler is not None and not self.per_batch_schedule:
                if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    self.scheduler.step(score)
                else:
                    self.scheduler.step()
            improved = self.best_score is None or score > self.best_score
            if self.average is not None and self.validate is None:
                improved = True  # no held-out score: the latest average is the model
            if improved:
                self.best_score, self.best_epoch = score, epoch + 1
                self.best_state = copy.deepcopy(kept.state_dict())
                self.best_full = metrics
            entry = {"epoch": epoch + 1, "phase": self.phase, "loss": train_loss,
                     "lr": self.optimizer.param_groups[0]["lr"],
                     "time_s": time.perf_counter() - t_epoch, **_scalars(metrics)}
            self.history.append(entry)
            report(self.progress, Progress(
                "validate", epoch + 1, c.epochs, {**entry, "best_epoch": self.best_epoch},
                message=f"epoch {epoch + 1}/{c.epochs}",
            ))
            if self.checkpoint_dir is not None and self.world.is_main:
                checkpoint.save_state(self.checkpoint_dir, self._state(epoch + 1))
            stop = bool(c.patience and epoch + 1 - self.best_epoch >= c.patience) or (
                c.time_budget_s is not None and time.perf_counter() - run_t0 >= c.time_budget_s)
            if distributed.from_main(self.world, stop):  # rank 0's clock decides for all
                stopped_early = True
                break
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        best = next((h for h in self.history if h["epoch"] == self.best_epoch), {})
        best = {**best, **self.best_full}
        return TrainOutcome(
            history=self.history, best_metrics=best, best_epoch=self.best_epoch,
            epochs_run=len(self.history), stopped_early=stopped_early,
            wall_s=time.perf_counter() - t0,
        )

    def _start_average(self) -> None:
        from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

        decay = self.config.weight_average
        self.average = None if not decay else AveragedModel(
            self.model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)

    def _train_mode(self) -> None:
        """Train mode (a model loaded for fine-tuning arrives in eval mode), except batch-norm
        layers whose weights are frozen: they keep their running statistics, as Keras does for
        frozen layers, so a head-only phase does not drift the features the head learns on."""
        self.net.train()
        for module in self.model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.affine and not any(
                    p.requires_grad for p in module.parameters(recurse=False)):
                module.eval()

    def _loader(self, epoch: int) -> DataLoader:
        """The epoch's order (the same on every rank), of which this rank takes its share."""
        if hasattr(self.data, "set_epoch"):
            self.data.set_epoch(epoch)
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
        # DataLoader(shuffle=True) drew a worker seed before its permutation: drawing it too
        # keeps a single process's patch order what it was before ranks existed
        torch.empty((), dtype=torch.int64).random_(generator=generator)
        order = torch.randperm(len(self.data), generator=generator).tolist()
        share = distributed.rank_share(order, self.config.batch_size, self.world)
        return DataLoader(self.data, batch_size=self.config.batch_size, sampler=share,
                          drop_last=self.drop_last, pin_memory=self.device.type == "cuda")

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        x = x.to(self.device, non_blocking=True)
        y = y.to(self.device, non_blocking=True)
        with torch.autocast("cuda", dtype=torch.float16, enabled=self.amp):
            loss = self.loss_fn(self.net(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.config.grad_clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.per_batch_schedule:
            self.scheduler.step()
        value = loss.item()
        if not math.isfinite(value):
            raise ModelError("training diverged (the loss is not a number); lower the learning rate")
        return value

    def _score(self, metrics: dict, train_loss: float) -> float:
        if self.config.monitor == "-loss" or self.config.monitor not in metrics:
            return -float(metrics.get("loss", train_loss))
        value = metrics[self.config.monitor]
        return float("-inf") if value is None else float(value)
