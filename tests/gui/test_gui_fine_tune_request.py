"""What the Fine-tune button asks the train job for follows the Training settings."""

from __future__ import annotations

from pathlib import Path

from matlab_gui.gui.fine_tune import FineTuneJob, run_fine_tune
from matlab_gui.gui.train_dialog import TrainSettings


def test_the_weight_average_setting_reaches_the_train_job(monkeypatch):
    from matlab_gui.jobs import train

    asked = []
    monkeypatch.setattr(train, "run_training", lambda request, **_: asked.append(request))
    for decay in (None, 0.99):
        job = FineTuneJob("segmentation", object(), Path("out"), None,
                          TrainSettings(weight_average=decay, device="cpu"))
        run_fine_tune(job, progress=lambda event: None)
    assert [r.weight_average for r in asked] == [None, 0.99]


def test_the_button_default_keeps_a_weight_average_and_the_new_network_learning_rate(monkeypatch):
    """The default Fine-tune: a running weight average of 0.99, and no learning rate of its
    own, so the train job's default for the start applies (1e-3 new, 2e-4 continuing)."""
    from matlab_gui.jobs import train

    asked = []
    monkeypatch.setattr(train, "run_training", lambda request, **_: asked.append(request))
    run_fine_tune(FineTuneJob("segmentation", object(), Path("out"), None, TrainSettings()),
                  progress=lambda event: None)
    assert asked[0].weight_average == 0.99 and asked[0].lr is None
    assert train.default_lr("segmentation", None) == 1e-3
    assert train.default_lr("segmentation", Path("trained")) == 2e-4
    assert train.default_lr("classification", Path("trained")) == 1e-3
