"""Model cards and weights are untrusted input: every hostile value is one ModelError line that
names the file (card.json or model.safetensors) and the field or tensor; valid cards still load."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from matlab_gui.errors import ModelError, UserError
from matlab_gui.ml.card import ModelCard
from matlab_gui.ml.model_folder import load_model, read_card
from matlab_gui.resources import models_dir


@pytest.fixture
def model(tiny_segmenter, tmp_path):
    """A fresh copy of the tiny model folder, free to damage."""
    return shutil.copytree(tiny_segmenter, tmp_path / "model")


def _card(folder) -> dict:
    return json.loads((folder / "card.json").read_text(encoding="utf-8"))


def _write(folder, card: dict) -> None:
    (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")


def _one_line_naming(exc: pytest.ExceptionInfo, path, field: str, *words: str) -> str:
    """The error is one ModelError line `PATH: FIELD ...` that also holds each of `words`."""
    message = str(exc.value)
    assert isinstance(exc.value, ModelError) and isinstance(exc.value, UserError)
    assert "\n" not in message, message
    assert message.startswith(f"{path}: "), message
    assert exc.value.problem.startswith(field), message
    for word in words:
        assert word in message, message
    return message


NORM = {"scale": "percentile", "low_pct": 0.5, "high_pct": 99.5, "mean": [0.45], "std": [0.225]}

# (change to the card, the field the message starts with, words it must hold too);
# the tiny card has in_channels 1, input_size 64, tile_overlap 16
HOSTILE = {
    "size-0": ({"input_size": 0}, "input_size"),
    "size-negative": ({"input_size": -256}, "input_size"),
    "size-huge": ({"input_size": 1e9}, "input_size"),
    "size-text": ({"input_size": "big"}, "input_size"),
    "size-1": ({"input_size": 1}, "input_size"),
    "size-16": ({"input_size": 16}, "input_size"),
    "size-8193": ({"input_size": 8193}, "input_size"),
    "size-float": ({"input_size": 64.5}, "input_size"),
    "size-bool": ({"input_size": True}, "input_size"),
    "size-null": ({"input_size": None}, "input_size"),
    "size-list": ({"input_size": [64, 64]}, "input_size"),
    "overlap-negative": ({"tile_overlap": -8}, "tile_overlap"),
    "overlap-huge": ({"tile_overlap": 10**9}, "tile_overlap"),
    "overlap-half": ({"tile_overlap": 32}, "tile_overlap"),
    "overlap-text": ({"tile_overlap": "16"}, "tile_overlap"),
    "channels-0": ({"in_channels": 0}, "in_channels"),
    "channels-2": ({"in_channels": 2}, "in_channels"),
    "channels-4": ({"in_channels": 4, "normalisation": {**NORM, "mean": [0.5] * 4, "std": [0.5] * 4}},
                   "in_channels"),
    "channels-text": ({"in_channels": "1"}, "in_channels"),
    "pct-low-negative": ({"normalisation": {**NORM, "low_pct": -50}}, "normalisation.low_pct"),
    "pct-high-500": ({"normalisation": {**NORM, "high_pct": 500}}, "normalisation.high_pct"),
    "pct-swapped": ({"normalisation": {**NORM, "low_pct": 99.5, "high_pct": 0.5}}, "normalisation.low_pct", "below"),
    "pct-equal": ({"normalisation": {**NORM, "low_pct": 50, "high_pct": 50}}, "normalisation.low_pct", "below"),
    "pct-nan": ({"normalisation": {**NORM, "high_pct": float("nan")}}, "normalisation.high_pct"),
    "pct-text": ({"normalisation": {**NORM, "low_pct": "low"}}, "normalisation.low_pct"),
    "norm-string": ({"normalisation": "percentile"}, "normalisation", "object"),
    "norm-null": ({"normalisation": None}, "normalisation"),
    "norm-unknown-key": ({"normalisation": {**NORM, "gamma": 2}}, "normalisation", "'gamma'"),
    "scale": ({"normalisation": {**NORM, "scale": "minmax"}}, "normalisation.scale"),
    "std-0": ({"normalisation": {**NORM, "std": [0]}}, "normalisation.std"),
    "std-negative": ({"normalisation": {**NORM, "std": [-0.2]}}, "normalisation.std"),
    "std-inf": ({"normalisation": {**NORM, "std": [float("inf")]}}, "normalisation.std"),
    "std-tiny": ({"normalisation": {**NORM, "std": [1e-300]}}, "normalisation.std"),
    "mean-nan": ({"normalisation": {**NORM, "mean": [float("nan")]}}, "normalisation.mean"),
    "mean-text": ({"normalisation": {**NORM, "mean": ["0.5"]}}, "normalisation.mean"),
    "mean-count": ({"normalisation": {**NORM, "mean": [0.5, 0.5, 0.5]}}, "normalisation.mean"),
    "std-not-list": ({"normalisation": {**NORM, "std": 0.5}}, "normalisation.std"),
    "task": ({"task": "regression"}, "task"),
    "task-mismatch": ({"task": "classification"}, "arch", "segmentation architecture"),
    "arch-unknown": ({"arch": "hypernet"}, "arch", "unknown architecture"),
    "arch-number": ({"arch": 7}, "arch"),
    "encoder-number": ({"encoder": 7}, "encoder"),
    "classes-empty": ({"classes": []}, "classes"),
    "classes-object": ({"classes": {"name": "a"}}, "classes"),
    "class-number": ({"classes": [5]}, "classes[0]"),
    "class-no-name": ({"classes": [{"color": [0, 0, 0]}]}, "classes[0].name"),
    "class-empty-name": ({"classes": [{"name": "a"}, {"name": ""}]}, "classes[1].name"),
    "class-name-number": ({"classes": [{"name": 3}]}, "classes[0].name"),
    "colour-short": ({"classes": [{"name": "a", "color": [1, 2]}]}, "classes[0].color"),
    "colour-256": ({"classes": [{"name": "a", "color": [256, 0, 0]}]}, "classes[0].color"),
    "colour-hex": ({"classes": [{"name": "a", "color": "#zzzzzz"}]}, "classes[0].color"),
    "colour-float": ({"classes": [{"name": "a", "color": [0.5, 0, 0]}]}, "classes[0].color"),
    "classes-too-many": ({"classes": [{"name": str(i)} for i in range(1025)]}, "classes"),
    "head-type": ({"head": {"type": "transformer"}}, "head.type"),
    "head-dropout": ({"head": {"dropout": "big"}}, "head.dropout"),
    "training-list": ({"training": ["epochs"]}, "training"),
    "history-text": ({"history": "none"}, "history"),
    "history-numbers": ({"history": [1, 2]}, "history"),
    "name-number": ({"name": 5}, "name"),
    "schema-0": ({"schema_version": 0}, "schema_version"),
    "schema-text": ({"schema_version": "1"}, "schema_version"),
    "schema-newer": ({"schema_version": 99}, "schema_version", "newer"),
}


@pytest.mark.parametrize("case", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_card_fields_are_refused_naming_the_file_and_the_field(model, case):
    change, field, *words = case
    _write(model, {**_card(model), **change})
    with pytest.raises(ModelError) as exc:
        read_card(model)
    _one_line_naming(exc, model / "card.json", field, *words)
    with pytest.raises(ModelError) as exc:  # the loading path says the same
        load_model(model)
    _one_line_naming(exc, model / "card.json", field, *words)


@pytest.mark.parametrize("missing", ["task", "arch", "classes"])
def test_missing_required_fields_are_named(model, missing):
    _write(model, {k: v for k, v in _card(model).items() if k != missing})
    with pytest.raises(ModelError) as exc:
        read_card(model)
    _one_line_naming(exc, model / "card.json", missing, "is missing")


def test_the_unknown_architecture_names_the_folder_and_the_known_ones(model):
    _write(model, {**_card(model), "arch": "hypernet"})
    with pytest.raises(ModelError) as exc:
        load_model(model)
    _one_line_naming(exc, model / "card.json", "arch", "'hypernet'", "unet", "micro-ktnet", "fcn8s")


BROKEN_FILES = {
    "latin-1": ("café".encode("latin-1"), "UTF-8"),
    "latin-1-card": (None, "UTF-8"),
    "utf-16": ('{"task": "segmentation"}'.encode("utf-16"), "UTF-8"),
    "empty": (b"", "JSON"),
    "truncated": (b'{"task": "segmentation", "arch": ', "JSON"),
    "binary": (bytes(range(256)), "UTF-8"),
    "list": (b"[1, 2, 3]", "object"),
    "string": (b'"card"', "object"),
    "null": (b"null", "object"),
    "deep": (b"[" * 100_000 + b"]" * 100_000, "nested"),
    "long-number": (b'{"input_size": ' + b"9" * 5000 + b"}", "number"),
}


@pytest.mark.parametrize("name", BROKEN_FILES)
def test_a_card_that_is_not_utf8_json_of_an_object_is_one_line(model, name):
    data, words = BROKEN_FILES[name]
    if data is None:  # the real card, saved by an editor in Latin-1
        data = json.dumps(_card(model) | {"notes": "5 µm, 20 °C"}, ensure_ascii=False).encode("latin-1")
    (model / "card.json").write_bytes(data)
    with pytest.raises(ModelError) as exc:
        load_model(model)
    _one_line_naming(exc, model / "card.json", "the card", words)


def test_a_utf8_card_with_a_byte_order_mark_loads(model):
    (model / "card.json").write_bytes(b"\xef\xbb\xbf" + (model / "card.json").read_bytes())
    assert load_model(model).card.name == "tiny"


def test_valid_cards_still_load(tiny_segmenter):
    loaded = load_model(tiny_segmenter)
    assert loaded.card.input_size == 64 and loaded.card.tile_overlap == 16
    assert loaded.card.class_names == ["matrix", "precipitate"]
    assert ModelCard.from_dict(loaded.card.to_dict()) == loaded.card


@pytest.mark.parametrize("name", sorted(p.parent.name for p in models_dir().glob("*/card.json")))
def test_every_shipped_card_passes(name):
    card = read_card(models_dir() / name)
    assert card.input_size >= 32 and 0 <= 2 * card.tile_overlap < card.input_size


EDGES = {
    "smallest": {"input_size": 32, "tile_overlap": 15},
    "no-overlap": {"tile_overlap": 0},
    "largest": {"input_size": 8192, "tile_overlap": 4095},
    "full-range": {"normalisation": {**NORM, "low_pct": 0, "high_pct": 100}},
    "dtype-scale": {"normalisation": {**NORM, "scale": "dtype"}},
    "hex-colour": {"classes": [{"name": "matrix", "color": "#00ff00"}, {"name": "pore"}]},
    "names-only": {"classes": ["matrix", "pore"]},
    "unknown-top-level-field": {"licence": "CC-BY"},
}


@pytest.mark.parametrize("change", EDGES.values(), ids=EDGES.keys())
def test_values_at_the_bounds_are_accepted(model, change):
    _write(model, {**_card(model), **change})
    card = read_card(model)
    for key, value in change.items():
        if key in ("input_size", "tile_overlap"):
            assert getattr(card, key) == value


# -- weights ------------------------------------------------------------------------------------
def _damage_weights(folder, change) -> str:
    """Rewrite model.safetensors with `change(state)` applied; the tensor it changed."""
    state = load_file(str(folder / "model.safetensors"))
    key = change(state)
    save_file(state, str(folder / "model.safetensors"))
    return key


def _first_conv(state) -> str:
    return next(k for k, v in state.items() if v.is_floating_point() and v.ndim == 4)


def _set(value):
    def change(state):
        key = _first_conv(state)
        state[key] = state[key].clone()
        state[key].view(-1)[3] = value
        return key
    return change


def _all_nan(state):
    key = _first_conv(state)
    state[key] = torch.full_like(state[key], float("nan"))
    return key


def _cast(dtype):
    def change(state):
        key = _first_conv(state)
        state[key] = state[key].to(dtype)
        return key
    return change


def _float_counter(state):
    key = next(k for k in state if k.endswith("num_batches_tracked"))
    state[key] = state[key].float()
    return key


WEIGHTS = {
    "one-nan": (_set(float("nan")), "NaN"),
    "all-nan": (_all_nan, "NaN"),
    "inf": (_set(float("inf")), "infinite"),
    "minus-inf": (_set(float("-inf")), "infinite"),
    "int8": (_cast(torch.int8), "int8"),
    "int64": (_cast(torch.int64), "int64"),
    "bool": (_cast(torch.bool), "bool"),
    "float64": (_cast(torch.float64), "float64"),
    "float8": (_cast(torch.float8_e4m3fn), "float8"),
    "float-counter": (_float_counter, "integer"),
}


@pytest.mark.parametrize("change, word", WEIGHTS.values(), ids=WEIGHTS.keys())
def test_broken_weights_are_refused_naming_the_tensor_and_the_file(model, change, word):
    key = _damage_weights(model, change)
    with pytest.raises(ModelError) as exc:
        load_model(model)
    _one_line_naming(exc, model / "model.safetensors", f"tensor {key}", word)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_and_bfloat16_weights_load(model, dtype):
    _damage_weights(model, lambda state: state.update(
        {k: v.to(dtype) for k, v in state.items() if v.is_floating_point()}))
    loaded = load_model(model)
    assert all(v.dtype == torch.float32 for v in loaded.module.state_dict().values() if v.is_floating_point())
    assert loaded.module.state_dict()[next(k for k in loaded.module.state_dict()
                                           if k.endswith("num_batches_tracked"))].dtype == torch.int64


def _drop(state):
    key = _first_conv(state)
    del state[key]
    return key


def _extra(state):
    state["extra.weight\nsecond line"] = torch.zeros(2)
    return "extra.weight"


def _reshape(state):
    key = _first_conv(state)
    state[key] = torch.zeros(7, *state[key].shape[1:])
    return key


FIT = {"missing": (_drop, "missing tensors"), "unexpected": (_extra, "unexpected tensors"),
       "shape": (_reshape, "wrong shapes")}


@pytest.mark.parametrize("change, word", FIT.values(), ids=FIT.keys())
def test_weights_that_do_not_fit_are_one_line_naming_the_file(model, change, word):
    key = _damage_weights(model, change)
    with pytest.raises(ModelError) as exc:
        load_model(model)
    _one_line_naming(exc, model / "model.safetensors", "weights do not fit", key, word)


def test_a_card_the_weights_were_not_made_for_names_the_folder(model):
    """A valid card of another network (three classes): the weights' shapes are named."""
    card = _card(model)
    _write(model, {**card, "classes": card["classes"] + [{"name": "third"}]})
    with pytest.raises(ModelError) as exc:
        load_model(model)
    _one_line_naming(exc, model / "model.safetensors", "weights do not fit", "wrong shapes")


def test_an_encoder_the_library_lacks_names_the_folder(model):
    _write(model, {**_card(model), "encoder": "tu-no_such_net"})
    with pytest.raises(ModelError) as exc:
        load_model(model)
    assert str(model) in str(exc.value) and "\n" not in str(exc.value)


def test_a_card_that_would_not_load_is_never_saved(tiny_segmenter, tmp_path):
    """E.g. a 16 px training patch: refused before anything is written, not at the next load."""
    import dataclasses

    from matlab_gui.ml.model_folder import save_model

    loaded = load_model(tiny_segmenter)
    card = dataclasses.replace(loaded.card, input_size=16, tile_overlap=4)
    with pytest.raises(ModelError) as exc:
        save_model(tmp_path / "m", loaded.module, card)
    assert str(exc.value).startswith(f"{tmp_path / 'm' / 'card.json'}: ") and "input_size" in str(exc.value)
    assert not (tmp_path / "m").exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, "[1, 2]", "\"card\"", "{"])
def test_the_torch_free_look_up_never_raises_on_a_hostile_card(tmp_path, text):
    from matlab_gui.ml.model_lookup import card_json

    (tmp_path / "card.json").write_text(text)
    assert card_json(tmp_path) == {}
