"""The label -> Fine-tune loop in the real window: what training reads, and what a cancelled or
failed run leaves behind.

Fine-tune must train on the strokes painted a moment before the click (the editor's mask, not
only what an earlier save or autosave handed to the project). A run that is cancelled or fails
must leave the project's previous model current, its list of models as it was and that model's
stored files byte for byte; these runs are real (a tiny U-Net fine-tuned from the current model)
stopped at their first training step.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from matlab_gui.gui import model_features
from matlab_gui.progress import Cancelled

TINY = dict(seg_arch="unet", encoder="tu-resnet10t", epochs=50, batch=2, patch=32,
            patches_per_epoch=8, pretrained=False, device="cpu", augment=False)


@pytest.fixture
def opened(window, grain_image):
    window.open_paths([grain_image[0]])
    window.canvas.fit()
    yield window
    window.model_features.close()


def _masks_the_job_reads(monkeypatch) -> dict:
    """Every mask the train job reads from the project, by image id; the run then stops
    (as cancelled) before it builds a model."""
    from matlab_gui.ml import data

    seen, real = {}, data.open_source

    @contextlib.contextmanager
    def reading(task, source_data, *args, **kwargs):
        with real(task, source_data, *args, **kwargs) as source:
            seen.update({i: source.load(i)[1].copy() for i in source.stems})
            raise Cancelled()
        yield  # never reached

    monkeypatch.setattr(data, "open_source", reading)
    return seen


def test_fine_tune_reads_the_strokes_painted_just_before_the_click(opened, mouse, qtbot,
                                                                   monkeypatch):
    window, s = opened, opened.session
    features = window.model_features
    features.settings = model_features.TrainSettings(**TINY)
    seen = _masks_the_job_reads(monkeypatch)
    window.options.brush.setValue(4)
    window.palette.select(1)
    mouse.drag(window.canvas, [(10, 10), (10, 150)])  # background, handed over earlier
    s.flush()  # (what an autosave or switching images does)
    earlier = s.project.get_mask(s.image_id).copy()
    window.palette.select(2)
    mouse.drag(window.canvas, [(55, 65), (55, 95)])  # the grain, painted just now
    painted = s.editor.mask.copy()
    assert (painted == 2).sum() > 50 and not np.array_equal(painted, earlier)

    with qtbot.waitSignal(features.trainer.cancelled, timeout=30000):
        features.model_panel.fine_tune.click()  # no save in between
    assert list(seen) == [s.image_id]
    read = seen[s.image_id]
    assert (read == 2).sum() == (painted == 2).sum(), "the stroke painted last is not trained on"
    assert np.array_equal(read, painted)


# -- cancel and failure keep the previous model -----------------------------------------------


@pytest.fixture
def with_old_model(opened, tmp_path):
    """The grain image painted (grain class 2, background 1) and a tiny U-Net "old" of the
    project's two classes stored in the project and current."""
    import torch

    from matlab_gui.ml.card import ClassInfo
    from matlab_gui.ml.model_folder import save_model
    from matlab_gui.ml.zoo import build_model, default_card

    window, s = opened, opened.session
    mask = np.ones(s.editor.mask.shape, np.uint8)
    mask[40:70, 60:100] = 2
    s.editor.mask[:] = mask
    s.editor.version += 1
    s.flush()
    torch.manual_seed(0)
    classes = [ClassInfo(c.name, c.color) for c in s.project.classes]
    card = default_card("segmentation", "unet", classes, encoder="tu-resnet10t", in_channels=1,
                        input_size=32)
    card.name = "old"
    s.wait()  # no autosave is writing meanwhile
    s.project.store_model("old", save_model(tmp_path / "old", build_model(card, pretrained=False),
                                            card))
    s.project.current_model = "old"
    features = window.model_features
    features.refresh_models()
    features.settings = model_features.TrainSettings(**TINY)
    assert features.current_key == "project:old"
    return features, s.project, s.project.model_files("old")


def _first_training_step(features, qtbot):
    """Start Fine-tune and return once the worker has reported a training step."""
    with qtbot.waitSignal(features.trainer.progress, timeout=60000,
                          check_params_cb=lambda e: e.stage == "train"):
        features.model_panel.fine_tune.click()


def _old_model_still_current(features, project, files) -> None:
    assert project.current_model == "old"
    assert project.model_names() == ["old"]
    assert project.model_files("old") == files  # byte for byte
    assert features.current_key == "project:old"
    assert features.model_panel.picker.currentData() == "project:old"
    assert features.model_panel.fine_tune.isEnabled() and not features.trainer.busy


def test_cancel_keeps_the_previous_model_current_and_unchanged(with_old_model, qtbot):
    features, project, files = with_old_model
    _first_training_step(features, qtbot)
    assert features._job.start is not None  # fine-tuning "old", not training a new model
    with qtbot.waitSignal(features.trainer.cancelled, timeout=30000):
        features.training_panel.cancel.click()
    _old_model_still_current(features, project, files)
    assert "Cancelled" in features.training_panel.status.text()


def test_a_failed_run_keeps_the_previous_model_current_and_unchanged(with_old_model, qtbot,
                                                                     monkeypatch, messages):
    features, project, files = with_old_model
    real = model_features.run_fine_tune

    def fails_at_the_first_step(job, progress=None, cancel=None):
        def relay(event):
            progress(event)
            if event.stage == "train":
                raise OSError("the disk went away")

        return real(job, progress=relay, cancel=cancel)

    monkeypatch.setattr(model_features, "run_fine_tune", fails_at_the_first_step)
    with qtbot.waitSignal(features.trainer.failed, timeout=60000):
        features.model_panel.fine_tune.click()
    _old_model_still_current(features, project, files)
    assert messages[-1][1] == "Training failed" and "the disk went away" in messages[-1][2]
    assert "failed" in features.training_panel.status.text()


def test_stop_and_keep_ends_a_long_run_early_and_the_model_it_learnt_becomes_current(
        with_old_model, qtbot):
    """50 epochs asked; Stop & keep after the first validated epoch stores what was learnt."""
    features, project, files = with_old_model
    with qtbot.waitSignal(features.trainer.progress, timeout=60000,
                          check_params_cb=lambda e: e.stage == "validate"):
        features.model_panel.fine_tune.click()
    assert features.training_panel.stop.isEnabled()
    with qtbot.waitSignal(features.trainer.finished, timeout=60000):
        features.training_panel.stop.click()
    qtbot.waitUntil(lambda: project.current_model != "old", timeout=10000)
    new = project.current_model
    assert project.model_names() == ["old", new]
    import json

    card = json.loads(project.model_files(new)["card.json"])
    assert 1 <= card["training"]["epochs_run"] < 50 and card["training"]["stopped_early"]
    assert project.model_files("old") == files  # the parent is untouched
    assert not features.training_panel.stop.isEnabled()
