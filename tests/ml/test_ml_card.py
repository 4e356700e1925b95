"""Model cards survive JSON unchanged, and a wrong card names the field that is wrong."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matlab_gui.errors import ModelError
from matlab_gui.ml.card import ClassInfo, ModelCard, Normalisation
from matlab_gui.ml.zoo import default_card

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
colours = st.tuples(*[st.integers(0, 255)] * 3)
numbers = st.floats(allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=40, deadline=None)
@given(
    classes=st.lists(st.builds(ClassInfo, names, colours), min_size=1, max_size=5),
    channels=st.sampled_from([1, 3]),
    size=st.integers(32, 1024),
    low=st.floats(0, 10), high=st.floats(90, 100),
    metrics=st.dictionaries(names, numbers, max_size=4),
    history=st.lists(st.fixed_dictionaries({"epoch": st.integers(0, 99), "loss": numbers}), max_size=3),
    stems=st.lists(names, max_size=4),
    notes=st.text(max_size=30),
)
def test_card_round_trips_through_json(classes, channels, size, low, high, metrics, history, stems, notes):
    card = ModelCard(
        task="segmentation", arch="unet", encoder="tu-tf_efficientnet_lite0", classes=classes, in_channels=channels,
        input_size=size, tile_overlap=size // 4, normalisation=Normalisation("percentile", low, high, [0.5] * channels, [0.25] * channels),
        preprocessing={"equalize": False}, weight_source="random initialisation", training={"epochs": 3},
        data={"train": stems, "val": stems[:1]}, metrics=metrics, history=history, notes=notes,
    )
    again = ModelCard.from_json(card.to_json())
    assert again.to_dict() == card.to_dict()
    assert ModelCard.from_dict(card.to_dict()) == card


def test_numpy_metrics_and_hex_colours_become_plain_json():
    card = default_card("classification", "fnn", [{"name": "ferrite", "color": "#10ff00"}],
                        metrics={"accuracy": np.float32(0.75), "confusion": np.eye(2, dtype=np.int64)})
    again = ModelCard.from_json(card.to_json())
    assert again.classes[0].color == (16, 255, 0)
    assert again.metrics == {"accuracy": 0.75, "confusion": [[1, 0], [0, 1]]}
    assert again.schema_version == 1 and again.software["torch"]


RAW = default_card("classification", "fnn", ["a", "b"]).to_dict()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"task": "regression"}, "task must be"),
        ({"classes": []}, "classes must be"),
        ({"classes": [{"colour": "red"}]}, r"classes\[0\]\.name is missing"),
        ({"classes": [{"name": "a", "color": "#12"}]}, "#rrggbb"),
        ({"in_channels": 4, "normalisation": {**RAW["normalisation"], "mean": [0.5] * 4, "std": [0.5] * 4}}, "in_channels must be 1 or 3"),
        ({"normalisation": {**RAW["normalisation"], "scale": "minmax"}}, "normalisation.scale must be"),
        ({"normalisation": {**RAW["normalisation"], "mean": [0.5]}}, "normalisation.mean must be"),
        ({"schema_version": 99}, "newer"),
    ],
    ids=["task", "no-classes", "class-name", "colour", "channels", "scale", "mean", "schema"],
)
def test_bad_fields_are_named(change, field):
    with pytest.raises(ModelError, match=field):
        ModelCard.from_dict({**RAW, **change})


@pytest.mark.parametrize("missing", ["task", "arch", "classes"])
def test_missing_required_fields_are_named(missing):
    with pytest.raises(ModelError, match=f"{missing} is missing"):
        ModelCard.from_dict({k: v for k, v in RAW.items() if k != missing})
