"""Model folders: what is saved loads back identical, without pickle; broken folders say what is wrong."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from matlab_gui.errors import ModelError
from matlab_gui.ml.card import ClassInfo
from matlab_gui.ml.model_folder import load_model, save_model
from matlab_gui.ml.zoo import build_model, default_card


@pytest.fixture
def saved(tmp_path):
    card = default_card("segmentation", "unet", [ClassInfo("matrix", "#0000ff"), ClassInfo("gamma prime", (255, 0, 0))],
                        encoder="tu-resnet10t", in_channels=1, input_size=64)
    model = build_model(card, pretrained=False).eval()
    save_model(tmp_path / "m", model, card)
    return tmp_path / "m", model, card


def test_round_trip_gives_identical_outputs_and_card(saved):
    folder, model, card = saved
    loaded = load_model(folder)
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), model(x))
    assert loaded.card.to_dict() == card.to_dict()
    assert loaded.card.classes[0].color == (0, 0, 255)


def test_half_precision_folder_is_smaller_and_close(saved, tmp_path):
    folder, model, card = saved
    save_model(tmp_path / "half", model, card, half=True)
    assert (tmp_path / "half" / "model.safetensors").stat().st_size < 0.6 * (folder / "model.safetensors").stat().st_size
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        np.testing.assert_allclose(load_model(tmp_path / "half").module(x), model(x), atol=5e-2)


@pytest.mark.skipif(not hasattr(__import__("os"), "getuid"), reason="POSIX permissions")
def test_a_saved_model_is_readable_by_the_lab(saved):
    """Models live on shared servers: the folder and both files are world-readable."""
    folder = saved[0]
    assert folder.stat().st_mode & 0o777 == 0o755
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == {
        "model.safetensors": 0o644, "card.json": 0o644}


def test_saving_over_a_folder_replaces_it_whole(saved):
    folder, model, card = saved
    card.name = "second"
    save_model(folder, model, card)
    assert json.loads((folder / "card.json").read_text())["name"] == "second"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["m"]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "card.json").unlink(), "card.json is missing"),
        (lambda f: (f / "card.json").write_text("{not json"), "not valid JSON"),
        (lambda f: (f / "card.json").write_text(json.dumps({"task": "segmentation", "arch": "unet"})), "'classes'"),
        (lambda f: (f / "card.json").write_text((f / "card.json").read_text().replace('"unet"', '"hypernet"')), "unknown architecture"),
        (lambda f: (f / "model.safetensors").unlink(), "model.safetensors is missing"),
        (lambda f: (f / "model.safetensors").write_bytes(b"garbage"), "unreadable weights"),
    ],
    ids=["no-card", "bad-json", "no-classes", "unknown-arch", "no-weights", "bad-weights"],
)
def test_broken_folders_raise_model_errors(saved, damage, message):
    folder = saved[0]
    damage(folder)
    with pytest.raises(ModelError, match=message):
        load_model(folder)


def test_wrong_shapes_are_named(saved):
    folder = saved[0]
    state = load_file(str(folder / "model.safetensors"))
    key = next(k for k in state if k.endswith("segmentation_head.0.weight"))
    state[key] = torch.zeros(5, *state[key].shape[1:])
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ModelError, match="wrong shapes: .*segmentation_head"):
        load_model(folder)


def test_loading_never_unpickles(saved, monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("load_model used pickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    folder, model, _ = saved
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(load_model(folder).module(x), model(x))
