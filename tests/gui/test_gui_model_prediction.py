"""Predict the current image: the overlay shows, maps switch, accept is one undoable step."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from matlab_gui.gui import prediction_layer
from matlab_gui.gui.prediction_layer import Outcome, PredictResult


def fake_predict(request, progress=None, cancel=None):
    """Two classes: the bright grain is class 1 (model position), the rest class 0."""
    out = PredictResult("segmentation", ["Phase 1", "Phase 2"])
    for image_id in request.image_ids:
        image = request.project.read_image(image_id)
        p1 = (image > 100).astype(np.float32) * 0.8 + 0.1
        probabilities = np.stack([1 - p1, p1]).astype(np.float16)
        out.outcomes.append(Outcome(image_id, (p1 > 0.5).astype(np.uint8), probabilities.max(0),
                                    np.abs(p1 - 0.5).astype(np.float16), probabilities))
    return out


@pytest.fixture
def features(window, grain_image, tmp_path):
    window.add_images([grain_image[0]])
    f = window.model_features
    model = tmp_path / "model"
    model.mkdir()
    (model / "card.json").write_text(json.dumps({"task": "segmentation", "arch": "unet",
                                                 "classes": [{"name": "a"}, {"name": "b"}]}))
    window.session.wait()  # no autosave is writing meanwhile
    window.session.project.store_model("tiny", model)
    window.session.project.current_model = "tiny"
    f.refresh_models()
    yield f
    f.close()


def test_predict_shows_an_overlay_and_maps(features, qtbot, monkeypatch):
    monkeypatch.setattr(prediction_layer, "run_predict", fake_predict)
    layer, s = features.prediction, features.window.session
    assert layer.item.image is None
    with qtbot.waitSignal(layer.worker.finished, timeout=10000):
        features.actions["predict"].trigger()
    rgba = layer.item.image
    assert rgba.shape == (120, 160, 4)
    assert tuple(rgba[50, 80, :3]) == s.project.classes[1].color  # grain -> class index 2
    labels, confidence = s.project.get_prediction(s.image_id)
    assert labels[50, 80] == 2 and labels[0, 0] == 1 and confidence.dtype == np.float32
    layer.mode.setCurrentIndex(2)  # probability of Phase 2
    assert layer.item.image.dtype == np.float32 and layer.item.image[50, 80] == pytest.approx(0.9, abs=1e-3)
    assert layer.colour_bar.isVisibleTo(layer)
    scale = layer.colour_scale.text()
    assert layer.colour_scale.isVisibleTo(layer) and ">0<" in scale and ">1<" in scale
    assert "probability of phase 2" in scale
    layer.mode.setCurrentIndex(3)  # uncertainty
    assert layer.item.image[0, 0] == pytest.approx(0.4, abs=1e-3)
    features.actions["show_prediction"].trigger()
    assert not layer.item.isVisible()


def test_accept_where_unpainted_is_one_undo_step(features, qtbot, monkeypatch):
    monkeypatch.setattr(prediction_layer, "run_predict", fake_predict)
    window, s = features.window, features.window.session
    s.editor.mask[0:10, 0:10] = 2  # painted by the user: kept
    with qtbot.waitSignal(features.prediction.worker.finished, timeout=10000):
        features.prediction.predict_current()
    features.actions["accept_unpainted"].trigger()
    mask = s.editor.mask
    assert mask[5, 5] == 2 and mask[50, 80] == 2 and mask[100, 10] == 1
    window.router.undo()
    assert mask[50, 80] == 0 and mask[5, 5] == 2


def test_predict_without_a_model_is_a_dialog(window, grain_image, messages):
    window.add_images([grain_image[0]])
    features = window.model_features
    features.current_key = None
    features.prediction.predict_current()
    assert not features.prediction.worker.busy and messages[-1][1] == "No model"
    features.close()


def test_measurements_of_the_annotation_and_the_prediction(features, qtbot, monkeypatch,
                                                            tmp_path):
    monkeypatch.setattr(prediction_layer, "run_predict", fake_predict)
    s, panel = features.window.session, features.measurements
    s.editor.mask[40:70, 60:100] = 2  # the grain: 30 x 40 pixels
    s.set_pixel_size(0.5e-6)
    with qtbot.waitSignal(panel.worker.finished, timeout=10000):
        panel.measure.click()
    header = [panel.table.horizontalHeaderItem(i).text() for i in range(panel.table.columnCount())]
    assert header[2] == "area (µm²)" and panel.table.rowCount() == 2
    assert panel.table.item(1, 0).text() == "Phase 2" and panel.table.item(1, 3).text() == "1"
    assert float(panel.table.item(1, 2).text()) == pytest.approx(1200 * 0.25)
    panel.export_csv(tmp_path / "m.csv")
    assert (tmp_path / "m.csv").read_text().splitlines()[2].startswith("Phase 2,0.0625,300")
    with qtbot.waitSignal(features.prediction.worker.finished, timeout=10000):
        features.prediction.predict_current()
    panel.source.setCurrentText("Prediction")
    with qtbot.waitSignal(panel.worker.finished, timeout=10000):
        panel.measure.click()
    assert float(panel.table.item(0, 1).text()) == pytest.approx(1 - 1200 / 19200)


def test_evaluation_overlay_and_scores_against_the_annotation(features, qtbot, monkeypatch):
    monkeypatch.setattr(prediction_layer, "run_predict", fake_predict)
    s, layer = features.window.session, features.prediction
    s.editor.mask[40:70, 60:80] = 2  # half the grain annotated as Phase 2: all TP
    s.editor.mask[0:10, 0:20] = 2  # background called Phase 2: FN for Phase 2
    with qtbot.waitSignal(layer.worker.finished, timeout=10000):
        layer.predict_current()
    layer.mode.setCurrentIndex(layer.mode.findText("Evaluation of Phase 2"))
    rgba = layer.item.image
    assert tuple(rgba[50, 70]) == (255, 255, 0, 255) and tuple(rgba[5, 5]) == (0, 255, 0, 255)
    assert rgba[100, 100, 3] == 0  # not annotated: not judged
    assert "IoU" in layer.info.text() and "0.750" in layer.info.text()  # 600 / (600 + 200)
    assert "rgb(255, 255, 0)\">■</span> TP: Phase 2" in layer.info.text()  # the legend
    assert "rgb(0, 255, 0)\">■</span> FN: Phase 2" in layer.info.text()


def test_classifier_bars_and_grad_cam(features, qtbot, monkeypatch):
    def fake_classifier(request, progress=None, cancel=None):
        out = PredictResult("classification", ["ferrite", "pearlite"])
        cam = np.zeros((120, 160), np.float32)
        cam[40:70, 60:100] = 1
        out.outcomes = [Outcome(i, probabilities=np.array([0.3, 0.7]), cam=cam)
                        for i in request.image_ids]
        return out

    monkeypatch.setattr(prediction_layer, "run_predict", fake_classifier)
    layer = features.prediction
    with qtbot.waitSignal(layer.worker.finished, timeout=10000):
        layer.predict_current()
    assert layer.bars.isVisibleTo(layer) and "pearlite" in layer.info.text()
    assert list(layer.bars.bars.opts["height"]) == [0.3, 0.7]
    assert features.window.images.item(0).text().endswith("predicted: pearlite (70%)")
    layer.mode.setCurrentIndex(layer.mode.findText("Grad-CAM"))
    assert layer.item.image[50, 80] == 1 and layer.colour_bar.isVisibleTo(layer)


def test_accepting_a_classifier_prediction_labels_the_image(features, qtbot, monkeypatch):
    def fake_classifier(request, progress=None, cancel=None):
        out = PredictResult("classification", ["Phase 1", "Phase 2"])
        out.outcomes = [Outcome(i, probabilities=np.array([0.3, 0.7])) for i in request.image_ids]
        return out

    monkeypatch.setattr(prediction_layer, "run_predict", fake_classifier)
    layer, s = features.prediction, features.window.session
    with qtbot.waitSignal(layer.worker.finished, timeout=10000):
        layer.predict_current()
    layer.accept_unpainted.click()
    assert s.project.get_label(s.image_id) == 2
    assert "class: Phase 2" in features.window.images.item(0).text()
    s.project.set_label(s.image_id, 1)
    layer.accept_unpainted.click()  # already labelled: kept
    assert s.project.get_label(s.image_id) == 1
    layer.accept_all.click()
    assert s.project.get_label(s.image_id) == 2


def test_a_new_window_starts_with_the_default_samples_model(window, grain_image):
    """`make run` opens the superalloy sample: the picker must show nasa-super, not the
    alphabetically first shipped model."""
    from matlab_gui.resources import DEFAULT_MODEL

    window.add_images([grain_image[0]])
    features = window.model_features
    features.refresh_models()
    assert features.current_key == f"shipped:{DEFAULT_MODEL}"
    assert features.model_panel.picker.currentText() == f"{DEFAULT_MODEL} (shipped)"


def test_predict_runs_the_chosen_engine_and_says_a_fallback(features, qtbot, monkeypatch):
    asked = []

    def falls_back(request, progress=None, cancel=None):
        asked.append(request.engine)
        out = fake_predict(request)
        out.engine, out.engine_note = "torch", "OpenVINO could not run this model (x): torch"
        return out

    monkeypatch.setattr(prediction_layer, "run_predict", falls_back)
    features.settings = dataclasses.replace(features.settings, engine="onnxruntime")
    with qtbot.waitSignal(features.prediction.worker.finished, timeout=10000):
        features.actions["predict"].trigger()
    assert asked == ["onnxruntime"]
    qtbot.waitUntil(lambda: "OpenVINO could not run this model"
                    in features.window.statusBar().currentMessage(), timeout=5000)
