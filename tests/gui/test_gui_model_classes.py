"""A model's classes land on the project's by name: swapped class order is mapped right, a
model that does not fit says so and Accept writes nothing, and "Use the model's classes" makes
the project's classes the model's without changing what painted pixels mean."""

from __future__ import annotations

import json

import pytest

from matlab_gui.gui import prediction_layer
from matlab_gui.project import ClassDef


@pytest.fixture
def features(window, grain_image, tmp_path):
    window.add_images([grain_image[0]])
    window.apply_classes([ClassDef(1, "grain", (255, 0, 0)), ClassDef(2, "matrix", (0, 255, 0))])
    f = window.model_features
    model = tmp_path / "model"
    model.mkdir()
    card = {"task": "segmentation", "arch": "unet",
            "classes": [{"name": "matrix", "color": [0, 0, 255]}, {"name": "grain", "color": [9, 9, 9]}]}
    (model / "card.json").write_text(json.dumps(card))
    window.session.wait()  # no autosave is writing meanwhile
    window.session.project.store_model("tiny", model)
    window.session.project.current_model = "tiny"
    f.refresh_models()
    yield f
    f.close()


@pytest.fixture
def predict(features, qtbot, monkeypatch, predictor):
    """Run Predict with a stand-in model of these class names."""
    def run(names):
        monkeypatch.setattr(prediction_layer, "run_predict", predictor(names))
        with qtbot.waitSignal(features.prediction.worker.finished, timeout=10000):
            features.actions["predict"].trigger()
    return run


def test_classes_in_another_order_are_matched_by_name(features, predict):
    predict(["matrix", "grain"])
    s = features.window.session
    labels, _ = s.project.get_prediction(s.image_id)
    assert labels[50, 80] == 1 and labels[0, 0] == 2  # the grain is project class 1 "grain"
    features.actions["accept"].trigger()
    assert s.editor.mask[50, 80] == 1 and s.editor.mask[0, 0] == 2


def test_a_model_that_does_not_fit_says_so_and_accept_writes_nothing(features, predict, messages):
    predict(["matrix", "pore"])
    window, s = features.window, features.window.session
    assert "do not fit" in window.statusBar().currentMessage()
    before = s.editor.mask.copy()
    features.actions["accept"].trigger()
    assert (s.editor.mask == before).all()
    assert messages[-1][1] == "Cannot accept" and "Use the model's classes" in messages[-1][2]


def test_use_the_model_classes_keeps_painted_meaning(features, qtbot, monkeypatch, messages):
    window, s = features.window, features.window.session
    s.editor.mask[0:5, 0:5] = 1  # painted "grain"
    features.actions["use_model_classes"].trigger()
    assert [(c.index, c.name) for c in s.project.classes] == [(1, "matrix"), (2, "grain")]
    assert s.editor.mask[0, 0] == 2  # still grain
    rows = [window.palette.list.item(r).text() for r in range(window.palette.list.count())]
    assert rows == ["1  matrix", "2  grain"]  # the palette the user paints with shows them


def test_the_sample_starts_with_the_preselected_models_classes(window):
    window.open_sample()
    features = window.model_features
    card = json.loads((features.model_dir() / "card.json").read_text())
    names = [c["name"] for c in card["classes"]]
    assert [c.name for c in window.session.project.classes] == names and len(names) > 2
