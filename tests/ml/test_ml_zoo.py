"""Every architecture in the zoo builds, runs forward and backward, and trains the layers asked for."""

from __future__ import annotations

import pytest
import torch

from matlab_gui.errors import ModelError
from matlab_gui.ml.fcn import FCN, transfer_fcn
from matlab_gui.ml.zoo import architectures, build_model, default_card, set_trainable_fraction

ARCHS = [(a.name, a.task) for a in architectures()]


@pytest.mark.parametrize("arch, task", ARCHS, ids=[a for a, _ in ARCHS])
def test_every_zoo_entry_runs_forward_and_backward(arch, task):
    card = default_card(task, arch, ["matrix", "precipitate", "pore"], input_size=64)
    model = build_model(card, pretrained=False)
    x = torch.randn(2, 3, 64, 64)
    out = model(x)
    assert out.shape == ((2, 3, 64, 64) if task == "segmentation" else (2, 3))
    out.float().mean().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


@pytest.mark.parametrize("arch", ["unet", "fcn8s"])
def test_segmentation_takes_any_size_and_greyscale(arch):
    card = default_card("segmentation", arch, ["a", "b"], in_channels=1)
    model = build_model(card, pretrained=False).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 1, 75, 101)).shape == (1, 2, 75, 101)


def test_paper_000_head_and_max_pooling_options():
    card = default_card("classification", "resnet18", ["a", "b"], head={"type": "sepconv", "pooling": "max", "dropout": 0.3})
    model = build_model(card, pretrained=False)
    assert card.head == {"type": "sepconv", "pooling": "max", "dropout": 0.3}
    model.train()
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    assert not torch.equal(model(x), model(x))  # Gaussian noise and spatial dropout while training
    model.eval()
    assert torch.equal(model(x), model(x))  # and none at inference


def test_any_timm_classifier_by_name_and_unknown_names():
    card = default_card("classification", "tf_efficientnetv2_b1", ["a", "b"])
    assert build_model(card, pretrained=False)(torch.randn(1, 3, 64, 64)).shape == (1, 2)
    with pytest.raises(ModelError, match="unknown architecture"):
        default_card("classification", "no_such_net", ["a"])
    with pytest.raises(ModelError, match="segmentation architecture"):
        default_card("classification", "unet", ["a"])


def test_trainable_fraction_freezes_the_encoder_from_the_input_end():
    card = default_card("classification", "resnet18", ["a", "b"])
    model = build_model(card, pretrained=False)
    body = list(model.backbone.parameters())
    set_trainable_fraction(model, 0.0)
    assert not any(p.requires_grad for p in body)
    assert all(p.requires_grad for p in model.head.parameters())
    set_trainable_fraction(model, 0.2)
    flags = [p.requires_grad for p in body]
    assert sum(flags) == round(0.2 * len(body)) and flags[-1] and not flags[0]
    set_trainable_fraction(model, 1.0)
    assert all(p.requires_grad for p in model.parameters())


def test_hptl_transfer_copies_every_shared_layer():
    fcn32, fcn16 = FCN("fcn32s", classes=3), FCN("fcn16s", classes=3)
    copied = transfer_fcn(fcn32, fcn16)
    assert copied == len(fcn32.state_dict())
    for key, value in fcn32.state_dict().items():
        assert torch.equal(fcn16.state_dict()[key], value)
    assert "score_pool4.weight" in fcn16.state_dict()
