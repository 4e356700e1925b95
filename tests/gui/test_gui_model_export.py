"""Model > Export: the current model's folder leaves the project; a model stored again under
the same name is the one Predict and Batch run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from matlab_gui.gui import dialogs, prediction_layer
from matlab_gui.gui.batch_dialog import BatchChoice
from matlab_gui.jobs import segment
from matlab_gui.jobs.predict import Outcome, PredictResult
from matlab_gui.resources import models_dir


def model_folder(root, tag: str, weights: bytes):
    """A two-class segmentation model folder; `weights` stands for its safetensors bytes."""
    folder = root / tag
    folder.mkdir()
    card = {"task": "segmentation", "arch": "unet", "name": tag,
            "classes": [{"name": "a"}, {"name": "b"}]}
    (folder / "card.json").write_text(json.dumps(card))
    (folder / "model.safetensors").write_bytes(weights)
    return folder


@pytest.fixture
def features(window, grain_image, tmp_path):
    """The window with one image and model "m" (weights b"A") current in its project."""
    window.add_images([grain_image[0]])
    f = window.model_features
    project = window.session.project
    window.session.wait()  # no autosave is writing meanwhile
    project.store_model("m", model_folder(tmp_path, "A", b"A" * 64))
    project.current_model = "m"
    f.refresh_models()
    yield f
    f.close()


def export_action(window):
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}
    return next(a for a in menus["Model"].actions() if a.text().replace("&", "").startswith("Export"))


def export_into(window, monkeypatch, folder):
    monkeypatch.setattr(dialogs, "folder", lambda *_a, **_k: folder)
    export_action(window).trigger()


def test_export_writes_the_project_model_into_a_subfolder(features, monkeypatch, tmp_path,
                                                          messages):
    export_into(features.window, monkeypatch, tmp_path / "out")
    out = tmp_path / "out" / "m"
    assert (out / "model.safetensors").read_bytes() == b"A" * 64
    assert json.loads((out / "card.json").read_text())["name"] == "A"
    assert not [m for m in messages if m[0] == "critical"]


def test_export_refuses_a_non_empty_folder(features, monkeypatch, tmp_path, messages):
    taken = tmp_path / "out" / "m"
    taken.mkdir(parents=True)
    (taken / "notes.txt").write_text("mine")
    export_into(features.window, monkeypatch, tmp_path / "out")
    assert sorted(p.name for p in taken.iterdir()) == ["notes.txt"]
    kind, title, text = messages[-1]
    assert kind == "critical" and str(taken) in text and "not an empty folder" in text


def test_export_a_shipped_model_copies_it(features, monkeypatch, tmp_path):
    features.choose_model("shipped:nasa-super")
    export_into(features.window, monkeypatch, tmp_path)
    shipped = models_dir() / "nasa-super"
    for name in ("card.json", "model.safetensors"):
        assert (tmp_path / "nasa-super" / name).read_bytes() == (shipped / name).read_bytes()


def weights_seen(calls):
    """A stand-in predict job that records the weights of the model folder it was given."""
    def run(request, progress=None, cancel=None):
        calls.append((request.model_dir / "model.safetensors").read_bytes())
        out = PredictResult("segmentation", ["a", "b"])
        for image_id in request.image_ids:
            shape = request.project.read_image(image_id).shape
            ones = np.ones(shape, np.float16)
            out.outcomes.append(Outcome(image_id, np.zeros(shape, np.uint8), ones, 0 * ones,
                                        np.stack([ones, 0 * ones])))
        return out
    return run


def test_storing_again_under_the_same_name_predicts_with_the_new_weights(
        features, qtbot, monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(prediction_layer, "run_predict", weights_seen(calls))
    layer = features.prediction
    with qtbot.waitSignal(layer.worker.finished, timeout=10000):
        layer.predict_current()
    features.window.session.wait()  # no autosave is writing meanwhile
    features.window.session.project.store_model("m", model_folder(tmp_path, "B", b"B" * 80))
    with qtbot.waitSignal(layer.worker.finished, timeout=10000):
        layer.predict_current()
    assert calls == [b"A" * 64, b"B" * 80]
    assert json.loads((features.model_dir() / "card.json").read_text())["name"] == "B"


def test_storing_again_under_the_same_name_batches_with_the_new_weights(
        features, qtbot, monkeypatch, tmp_path):
    calls = []

    def fake_segment(request, progress=None, cancel=None):
        calls.append((request.model / "model.safetensors").read_bytes())
        return segment.SegmentResult(["a", "b"], [], request.out / "f.csv", 0.1)

    monkeypatch.setattr(segment, "run_segment", fake_segment)
    folder = tmp_path / "images"
    folder.mkdir()

    def batch():
        with qtbot.waitSignal(features.batch.finished, timeout=10000):
            features.run_batch(BatchChoice("segment", folder, False, "project:m", tmp_path / "seg"))

    batch()
    features.window.session.wait()  # no autosave is writing meanwhile
    features.window.session.project.store_model("m", model_folder(tmp_path, "B", b"B" * 80))
    batch()
    assert calls == [b"A" * 64, b"B" * 80]


def test_import_refuses_a_folder_whose_card_is_out_of_bounds(features, monkeypatch, tmp_path,
                                                             messages):
    """Model > Import… checks every card field before the project keeps the folder."""
    folder = tmp_path / "hostile"
    folder.mkdir()
    card = json.loads((models_dir() / "uhcs" / "card.json").read_text())
    card["input_size"] = 0
    (folder / "card.json").write_text(json.dumps(card))
    (folder / "model.safetensors").write_bytes((models_dir() / "uhcs" / "model.safetensors")
                                               .read_bytes())
    monkeypatch.setattr(dialogs, "folder", lambda *_a, **_k: folder)
    features.import_model()
    kind, title, text = messages[-1]
    assert kind == "critical" and "input_size must be an integer" in text and "card.json" in text
    assert "hostile" not in features.project.model_names()
