"""Accept a prediction as the annotation, with brush strokes already on the image.

Whole-image Accept replaces the annotation by the prediction; Accept where unpainted keeps every
painted pixel and fills only the rest. Either is exactly one undo step: one Undo gives back the
mask as it was just before, byte for byte, the next Undo takes back the last brush stroke, and
Redo replays both."""

from __future__ import annotations

import json

import numpy as np
import pytest

from matlab_gui.gui import prediction_layer


@pytest.fixture
def painted(window, grain_image, tmp_path, mouse, qtbot, monkeypatch, predictor):
    """The grain image with two brush strokes that disagree with the prediction (class 2 on the
    background, class 1 across the grain), predicted; returns the masks after each stroke."""
    monkeypatch.setattr(prediction_layer, "run_predict", predictor())
    window.open_paths([grain_image[0]])
    window.canvas.fit()
    s, features = window.session, window.model_features
    model = tmp_path / "model"
    model.mkdir()
    (model / "card.json").write_text(json.dumps({"task": "segmentation", "arch": "unet",
                                                 "classes": [{"name": "a"}, {"name": "b"}]}))
    s.wait()  # no autosave is writing meanwhile
    s.project.store_model("tiny", model)
    s.project.current_model = "tiny"
    features.refresh_models()
    window.options.brush.setValue(4)
    states = [s.editor.mask.copy()]
    for value, points in [(2, [(10, 10), (10, 50)]), (1, [(55, 70), (55, 90)])]:
        window.palette.select(value)
        mouse.drag(window.canvas, points)
        states.append(s.editor.mask.copy())
    assert (states[1] == 2).sum() > 30 and (states[2][40:70, 60:100] == 1).sum() > 30
    with qtbot.waitSignal(features.prediction.worker.finished, timeout=10000):
        features.prediction.predict_current()
    yield window, states, np.where(grain_image[1] > 100, 2, 1).astype(np.uint8)
    features.close()


def _undo_redo_are_one_step_each(window, states, accepted):
    mask, history = window.session.editor.mask, window.session.editor.history
    assert len(history) == 3  # two strokes and the Accept
    window.router.undo()
    assert np.array_equal(mask, states[2]), "one Undo does not give back the mask before Accept"
    window.router.undo()
    assert np.array_equal(mask, states[1]), "the second Undo does not take back the last stroke"
    window.router.redo()
    window.router.redo()
    assert np.array_equal(mask, accepted)


def test_whole_image_accept_replaces_the_annotation_in_one_undo_step(painted):
    window, states, predicted = painted
    window.model_features.actions["accept"].trigger()
    mask = window.session.editor.mask
    kept = (mask != predicted).sum()
    assert kept == 0, f"{kept} painted pixels survived a whole-image Accept"
    _undo_redo_are_one_step_each(window, states, predicted)


def test_accept_where_unpainted_keeps_every_painted_pixel_in_one_undo_step(painted):
    window, states, predicted = painted
    window.model_features.prediction.accept_unpainted.click()
    mask = window.session.editor.mask
    strokes = states[2] > 0
    assert np.array_equal(mask[strokes], states[2][strokes])
    assert np.array_equal(mask[~strokes], predicted[~strokes])
    _undo_redo_are_one_step_each(window, states, np.where(strokes, states[2], predicted))
