"""The trainer: learns, ignores unlabelled pixels, stops on cancel, resumes the same run."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from matlab_gui.errors import ModelError
from matlab_gui.ml import checkpoint
from matlab_gui.ml.data import PatchDataset, PreparedImage
from matlab_gui.ml.evaluation import evaluate_segmentation
from matlab_gui.ml.losses import IGNORE_INDEX, build_loss
from matlab_gui.ml.synthetic import TinySegNet, shapes_set
from matlab_gui.ml.trainer import TrainConfig, Trainer
from matlab_gui.progress import Cancelled, CancelToken

CPU = torch.device("cpu")
NAMES = ["background", "disc", "square"]


def _trainer(train, val, config, **kw):
    torch.manual_seed(config.seed)
    model = TinySegNet()
    return Trainer(
        model, build_loss({"terms": {"ce": 0.7, "dice": 0.3}}),
        PatchDataset(train, patch=32, length=32, seed=config.seed), config, CPU,
        validate=lambda m: evaluate_segmentation(m, val, NAMES, CPU), **kw,
    )


def test_tiny_model_overfits_shapes_to_iou_above_0_9():
    data = shapes_set(6, seed=1)
    config = TrainConfig(epochs=15, batch_size=8, lr=1e-2, patience=0, monitor="mean_iou")
    trainer = _trainer(data, data, config)
    outcome = trainer.fit()
    assert outcome.best_metrics["mean_iou"] > 0.9, outcome.history[-3:]
    final = evaluate_segmentation(trainer.model, data, NAMES, CPU)
    assert final["mean_iou"] == pytest.approx(outcome.best_metrics["mean_iou"])


def test_sparse_scribbles_train_and_ignored_pixels_get_no_gradient():
    sparse = []
    for p in shapes_set(4, seed=2):
        target = np.full_like(p.target, IGNORE_INDEX)
        target[::6, ::6] = p.target[::6, ::6]  # a sparse grid of "clicks"
        sparse.append(PreparedImage(p.stem, p.image, target, p.normalise))
    dataset = PatchDataset(sparse, patch=32, length=8)
    x, y = next(iter(torch.utils.data.DataLoader(dataset, batch_size=8)))
    assert (y != IGNORE_INDEX).any() and (y == IGNORE_INDEX).any()
    logits = torch.randn(8, 3, 32, 32, requires_grad=True)
    for terms in ({"ce": 0.7, "dice": 0.3}, {"focal": 1.0}):
        logits.grad = None
        build_loss({"terms": terms, "class_weights": "balanced"}, [5, 3, 1])(logits, y).backward()
        ignored = (y == IGNORE_INDEX).unsqueeze(1).expand_as(logits)
        assert torch.count_nonzero(logits.grad[ignored]) == 0
        assert torch.count_nonzero(logits.grad[~ignored]) > 0
    outcome = _trainer(sparse, shapes_set(2, seed=3), TrainConfig(epochs=2, lr=1e-2, patience=0)).fit()
    assert outcome.epochs_run == 2 and np.isfinite(outcome.history[-1]["loss"])


def test_cancel_stops_within_one_step():
    token = CancelToken()
    steps = []

    def progress(event):
        if event.stage == "train":
            steps.append(event.done)
            if event.done == 3:
                token.cancel()

    trainer = _trainer(shapes_set(2), shapes_set(1), TrainConfig(epochs=5, batch_size=4),
                       progress=progress, cancel=token)
    with pytest.raises(Cancelled):
        trainer.fit()
    assert steps == [1, 2, 3]


def test_resume_continues_the_same_run(tmp_path):
    data, val = shapes_set(3, seed=4), shapes_set(1, seed=5)
    config = TrainConfig(epochs=4, batch_size=8, lr=5e-3, schedule="cosine", patience=0)
    whole = _trainer(data, val, config).fit()

    token = CancelToken()

    def stop_after_two_epochs(event):
        if event.stage == "validate" and event.done == 2:
            token.cancel()

    with pytest.raises(Cancelled):
        _trainer(data, val, config, checkpoint_dir=tmp_path, progress=stop_after_two_epochs,
                 cancel=token).fit()
    assert checkpoint.load_state(tmp_path).epoch == 2
    resumed = _trainer(data, val, config, checkpoint_dir=tmp_path).fit()
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3, 4]
    assert [h["loss"] for h in resumed.history] == pytest.approx([h["loss"] for h in whole.history], rel=1e-5)
    assert [h["lr"] for h in resumed.history] == pytest.approx([h["lr"] for h in whole.history])


def test_two_phase_transfer_freezes_then_unfreezes():
    seen = []

    def set_fraction(model, fraction):
        seen.append(fraction)
        for p in model.body.parameters():
            p.requires_grad = fraction > 0

    config = TrainConfig(epochs=2, batch_size=8, lr=1e-3, finetune_top=50, head_epochs=1,
                         optimizer="adamax", patience=0)
    trainer = _trainer(shapes_set(2), shapes_set(1), config, set_trainable_fraction=set_fraction)
    scores = iter([0.1, 0.2])
    trainer.validate = lambda m: {"mean_iou": next(scores)}
    body_before = [p.detach().clone() for p in trainer.model.body.parameters()]
    trainer.fit()
    assert seen == [0.0, 0.5]
    assert [h["lr"] for h in trainer.history] == pytest.approx([1e-3, 1e-4])
    assert any(not torch.equal(a, b) for a, b in zip(body_before, trainer.model.body.parameters(), strict=True))


def test_training_runs_in_train_mode_but_frozen_batch_norm_keeps_its_statistics():
    """A model loaded for fine-tuning comes in eval mode: dropout must still act while training,
    and a frozen encoder's batch-norm statistics must not drift during the head-only phase."""
    from torch import nn

    def set_fraction(model, fraction):
        for p in model.body.parameters():
            p.requires_grad = fraction > 0

    config = TrainConfig(epochs=1, batch_size=8, lr=1e-3, finetune_top=50, head_epochs=1, patience=0)
    trainer = _trainer(shapes_set(2), shapes_set(1), config, set_trainable_fraction=set_fraction)
    model = trainer.model
    model.body.append(nn.BatchNorm2d(16))
    model.head = nn.Sequential(nn.Dropout2d(0.5), model.head)
    model.eval()
    modes = []
    model.head[0].register_forward_hook(lambda m, i, o: modes.append(m.training))
    trainer.validate = lambda m: {"mean_iou": 0.5}
    stats_before = model.body[-1].running_mean.clone()
    trainer.fit()
    assert modes and all(modes), "dropout was off while training"
    assert torch.equal(model.body[-1].running_mean, stats_before)


@pytest.mark.parametrize("optimizer,schedule", [("sgd", "step"), ("rmsprop", "plateau"),
                                                ("adamw", "cyclic")])
def test_every_optimizer_and_schedule_runs(optimizer, schedule):
    config = TrainConfig(epochs=1, batch_size=8, optimizer=optimizer, schedule=schedule)
    outcome = _trainer(shapes_set(1), shapes_set(1), config).fit()
    assert outcome.epochs_run == 1


def test_early_stopping_keeps_the_best_epoch():
    scores = iter([0.5, 0.7, 0.6, 0.4, 0.3, 0.2])
    config = TrainConfig(epochs=6, batch_size=8, patience=2, monitor="mean_iou")
    trainer = _trainer(shapes_set(1), [], config)
    trainer.validate = lambda m: {"mean_iou": next(scores)}
    outcome = trainer.fit()
    assert outcome.stopped_early and outcome.epochs_run == 4 and outcome.best_epoch == 2


@pytest.mark.parametrize("optimizer,schedule", [("sgd", "plateau"), ("adamw", "cyclic")])
def test_training_state_round_trips_without_pickle(tmp_path, optimizer, schedule):
    config = TrainConfig(epochs=1, batch_size=8, optimizer=optimizer, schedule=schedule, patience=0)
    trainer = _trainer(shapes_set(1), shapes_set(1), config, checkpoint_dir=tmp_path)
    trainer.fit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json", "state.safetensors"]
    state = checkpoint.load_state(tmp_path)
    assert state.epoch == 1 and state.best_epoch == 1 and len(state.history) == 1
    groups = json.loads(json.dumps(trainer.optimizer.state_dict()["param_groups"]))
    assert state.optimizer["param_groups"] == groups
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(state.model[key], value)


def test_a_damaged_training_state_is_a_model_error(tmp_path):
    (tmp_path / "state.json").write_text("{not json")
    (tmp_path / "state.safetensors").write_bytes(b"")
    with pytest.raises(ModelError, match="training state"):
        checkpoint.load_state(tmp_path)


def test_with_a_time_limit_the_eta_counts_down_to_it_not_to_the_last_epoch():
    data = shapes_set(2, seed=4)
    events = []
    config = TrainConfig(epochs=10_000, batch_size=8, lr=1e-2, patience=0, time_budget_s=30.0)
    token = CancelToken()

    def listen(event):
        events.append(event)
        if len(events) > 6:
            token.cancel()

    with pytest.raises(Cancelled):
        _trainer(data, data, config, progress=listen, cancel=token).fit()
    etas = [e.metrics["eta_s"] for e in events if e.stage == "train"]
    assert etas and max(etas) <= 30.0 + 5.0  # 10,000 epochs would read as hours


def _weights(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten().clone() for p in model.parameters()])


@pytest.mark.parametrize("validated", [False, True])
def test_with_a_weight_average_the_average_is_validated_and_kept(validated):
    """A slow average (decay ~1) stays where the first step left the weights (within one Adam
    step, lr) while training moves the raw ones many steps: what is validated and kept is the
    average, with or without held-out images."""
    data = shapes_set(2, seed=4)
    config = TrainConfig(epochs=3, batch_size=8, lr=1e-2, patience=0, weight_average=0.999999)
    trainer = _trainer(data, data, config)
    if not validated:
        trainer.validate = None
    start = _weights(trainer.model)
    looked_at = []
    if validated:
        real = trainer.validate
        trainer.validate = lambda m: (looked_at.append(_weights(m)), real(m))[1]
    trainer.fit()
    lr = config.lr

    def moved(w):
        return float((w - start).abs().max())

    assert moved(_weights(trainer.model)) <= 1.5 * lr  # the average, not the raw weights
    raw = _trainer(data, data, dataclasses.replace(config, weight_average=None))
    raw.validate = None
    raw.fit()
    assert moved(_weights(raw.model)) > 5 * lr  # training did move them
    assert len(looked_at) == (3 if validated else 0)
    assert all(moved(w) <= 1.5 * lr for w in looked_at)
