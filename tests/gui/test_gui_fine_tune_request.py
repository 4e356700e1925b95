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
