"""Losses: agree with torch on dense targets, ignore unlabelled pixels, weights as documented."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from matlab_gui.ml.losses import (
    IGNORE_INDEX,
    CombinedLoss,
    balanced_weights,
    build_loss,
    cross_entropy,
    dice_loss,
    effective_number_weights,
    focal_loss,
)


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 3, 8, 8, generator=g), torch.randint(0, 3, (2, 8, 8), generator=g)


def test_cross_entropy_matches_torch_and_ignores(batch):
    logits, target = batch
    assert cross_entropy(logits, target) == pytest.approx(F.cross_entropy(logits, target).item())
    sparse = target.clone()
    sparse[:, :4] = IGNORE_INDEX
    kept = F.cross_entropy(logits.permute(0, 2, 3, 1)[:, 4:].reshape(-1, 3), target[:, 4:].reshape(-1))
    assert cross_entropy(logits, sparse) == pytest.approx(kept.item(), rel=1e-6)


def test_weighted_cross_entropy_matches_torch(batch):
    logits, target = batch
    w = torch.tensor([1.0, 2.0, 0.5])
    assert cross_entropy(logits, target, w) == pytest.approx(F.cross_entropy(logits, target, w).item(), rel=1e-6)


def test_one_channel_is_binary_cross_entropy():
    logits, target = torch.randn(2, 1, 4, 4), torch.randint(0, 2, (2, 4, 4))
    expected = F.binary_cross_entropy_with_logits(logits[:, 0], target.float())
    assert cross_entropy(logits, target) == pytest.approx(expected.item(), rel=1e-6)


def test_dice_is_zero_for_a_perfect_prediction_and_high_for_a_wrong_one(batch):
    _, target = batch
    perfect = F.one_hot(target, 3).permute(0, 3, 1, 2).float() * 100
    assert dice_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-3)
    assert dice_loss(-perfect, target).item() > 0.9


def test_focal_with_gamma_zero_is_cross_entropy(batch):
    logits, target = batch
    assert focal_loss(logits, target, gamma=0.0) == pytest.approx(cross_entropy(logits, target).item(), rel=1e-6)


@pytest.mark.parametrize("terms", [{"ce": 0.7, "dice": 0.3}, {"focal": 1.0}, {"ce": 1.0}])
def test_all_ignored_gives_zero_loss_not_nan(batch, terms):
    logits, target = batch
    loss = CombinedLoss(terms)(logits.requires_grad_(), torch.full_like(target, IGNORE_INDEX))
    loss.backward()
    assert torch.isfinite(loss) and loss.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.count_nonzero(logits.grad) == 0


def test_default_weighting_is_0_7_ce_plus_0_3_dice(batch):
    logits, target = batch
    expected = 0.7 * cross_entropy(logits, target) + 0.3 * dice_loss(logits, target)
    assert build_loss({})(logits, target).item() == pytest.approx(expected.item())


def test_class_weights_balance_to_the_largest_class():
    np.testing.assert_allclose(balanced_weights([100, 50, 10, 0]), [1.0, 2.0, 10.0, 0.0])
    w = effective_number_weights([1000, 10], beta=0.99)
    assert w[1] > w[0] and w.mean() == pytest.approx(1.0)


def test_unknown_loss_term_is_refused():
    with pytest.raises(ValueError, match="ce, dice, focal"):
        CombinedLoss({"hinge": 1.0})


def test_sqrt_class_weights_lift_a_rare_class_less_than_balanced():
    from matlab_gui.ml.losses import balanced_weights, sqrt_balanced_weights

    counts = [10_000, 2_500, 100, 0]
    sqrt = sqrt_balanced_weights(counts)
    assert sqrt[3] == 0  # an absent class gets no weight
    assert np.allclose(sqrt[:3] / sqrt[0], [1, 2, 10])
    assert np.isclose(sqrt[:3].mean(), 1.0)
    assert balanced_weights(counts)[2] / balanced_weights(counts)[0] == 100
