"""The shipped models in models/: each loads without pickle, has a valid card, predicts on a
bundled sample with its own number of classes, and reproduces its card's test metric through
the tiled inference users run, within 0.005 of one whole-image pass."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
FOLDERS = sorted(p.parent for p in MODELS.glob("*/card.json"))
SAMPLE = REPO / "resources" / "samples" / "superalloy_spot2_0d_0.tif"
TOLERANCE = 0.005


def _ids(folders):
    return [p.name for p in folders]


def test_there_are_shipped_models():
    names = {p.name for p in FOLDERS}
    assert "nasa-super" in names


@pytest.mark.parametrize("folder", FOLDERS, ids=_ids(FOLDERS))
def test_folder_is_small_and_has_no_pickle(folder):
    files = {p.name for p in folder.iterdir()}
    assert files == {"model.safetensors", "card.json", "README.md"}  # README: ml/model_readme.py
    assert sum(p.stat().st_size for p in folder.iterdir()) <= 16 * 1024 * 1024


@pytest.mark.parametrize("folder", FOLDERS, ids=_ids(FOLDERS))
def test_loads_and_card_is_valid(folder):
    from matlab_gui.ml.model_folder import load_model, read_card

    card = read_card(folder)
    loaded = load_model(folder)
    assert loaded.card.to_dict() == card.to_dict()
    assert card.name == folder.name
    assert card.classes and card.weight_source
    assert "test" in card.metrics, "the card records its test metrics"
    assert card.data.get("licence"), "the card states the data's licence"


@pytest.mark.parametrize("folder", FOLDERS, ids=_ids(FOLDERS))
def test_predicts_on_a_bundled_sample(folder):
    from matlab_gui.imaging.read import read_image
    from matlab_gui.ml.inference import classification_input, classify_batch, predict_image
    from matlab_gui.ml.model_folder import load_model

    loaded = load_model(folder)
    card, model = loaded.card, loaded.module
    n = len(card.classes)
    image = read_image(SAMPLE).data
    if image.ndim == 3 and card.in_channels == 1:
        image = image[..., 0]
    if image.ndim == 2 and card.in_channels == 3:
        image = np.repeat(image[..., None], 3, axis=2)
    device = torch.device("cpu")
    if card.task == "segmentation":
        pred = predict_image(model, card, image, device)
        assert pred.labels.shape == image.shape[:2]
        assert int(pred.labels.max()) < n
        if pred.probabilities is not None:
            assert pred.probabilities.shape[0] == n
    else:
        batch = torch.from_numpy(classification_input(image, card))[None]
        probs = classify_batch(model, batch, device)
        assert probs.shape == (1, n)
        assert abs(float(probs.sum()) - 1.0) < 1e-3


def _evaluate(folder, shared_data, **options):
    """The run of `matlab-gui evaluate` the card's `data.evaluate` names."""
    from matlab_gui.jobs.evaluate import EvaluateRequest, run_evaluation
    from matlab_gui.ml.model_folder import read_card

    spec = read_card(folder).data["evaluate"]
    data = shared_data / spec["dataset"]
    split_file = spec.get("splits")  # in the repository (models/splits/...) or the data set
    splits = [REPO / split_file if (REPO / split_file).is_file() else data / split_file] if split_file else None
    return run_evaluation(EvaluateRequest(model=folder, data=data, splits=splits,
                                          split=spec["split"], device="cpu", **options)), spec


@pytest.mark.parametrize("folder", FOLDERS, ids=_ids(FOLDERS))
def test_evaluate_reproduces_the_card(folder, shared_data):
    from matlab_gui.ml.model_folder import read_card

    card = read_card(folder)
    result, spec = _evaluate(folder, shared_data)
    if card.task == "segmentation":
        assert result.inference.startswith("tiled")  # the path `segment` and Predict run
    key = spec["metric"]
    expected = card.metrics["test"][key]
    assert result.metrics[key] == pytest.approx(expected, abs=TOLERANCE), json.dumps(
        {"expected": expected, "got": result.metrics[key]})


@pytest.mark.parametrize("folder", FOLDERS, ids=_ids(FOLDERS))
def test_the_cards_tiles_lose_nothing_against_the_whole_image(folder, shared_data):
    from matlab_gui.ml.model_folder import read_card

    if read_card(folder).task != "segmentation":
        pytest.skip("classifiers see the whole image")
    (tiled, spec), (whole, _) = (_evaluate(folder, shared_data, whole_image=w) for w in (False, True))
    key = spec["metric"]
    assert tiled.metrics[key] >= whole.metrics[key] - TOLERANCE, (tiled.metrics[key],
                                                                  whole.metrics[key])


@pytest.mark.parametrize("folder", FOLDERS, ids=_ids(FOLDERS))
def test_the_default_cpu_engine_agrees_with_torch(folder):
    """What `segment`/`classify` run by default on a CPU gives torch's probabilities (within
    1e-3) and classes (99.9 % of pixels) on a real micrograph."""
    from matlab_gui.imaging.read import read_image
    from matlab_gui.ml.engines import choose_engine
    from matlab_gui.ml.inference import (
        classification_input,
        classify_batch,
        make_segmenter,
        segment_image,
    )
    from matlab_gui.ml.model_folder import load_model

    cpu = torch.device("cpu")
    loaded = load_model(folder, cpu)
    card = loaded.card
    image = read_image(REPO / "resources" / "samples" / "uhcs0006.tif").data[:640, :640]
    engine = choose_engine(loaded, cpu, "auto")
    assert engine.name != "torch", engine.note
    if card.task == "segmentation":
        runs = [segment_image(make_segmenter(m, card, cpu, output="probabilities"), card, image)
                for m in (loaded.module, engine.module)]
        diff = np.abs(runs[0].probabilities.astype(np.float32)
                      - runs[1].probabilities.astype(np.float32)).max()
        same = (runs[0].labels == runs[1].labels).mean()
    else:
        crops = [image[y:y + 320, x:x + 320] for y in (0, 320) for x in (0, 320)]
        x = torch.from_numpy(np.stack([classification_input(c, card) for c in crops]))
        a, b = (classify_batch(m, x, cpu) for m in (loaded.module, engine.module))
        diff, same = np.abs(a - b).max(), (a.argmax(1) == b.argmax(1)).mean()
    assert diff <= 1e-3
    assert same >= 0.999
