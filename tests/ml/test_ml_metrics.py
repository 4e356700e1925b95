"""Metrics against small cases worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from matlab_gui.imaging.pixel_scores import segmentation_scores
from matlab_gui.ml.losses import IGNORE_INDEX
from matlab_gui.ml.metrics import ConfusionMatrix, classification_scores


def test_confusion_matrix_skips_ignored_pixels():
    target = torch.tensor([[0, 0, 1, 1], [1, IGNORE_INDEX, 2, 2]])
    pred = torch.tensor([[0, 1, 1, 1], [0, 2, 2, 0]])
    cm = ConfusionMatrix(3)
    cm.update(pred, target)
    cm.update(pred, target)
    np.testing.assert_array_equal(cm.matrix, 2 * np.array([[1, 1, 0], [1, 2, 0], [1, 0, 1]]))


def test_segmentation_scores_by_hand():
    # truth rows, prediction columns: class 0: tp 3 fp 1 fn 1; class 1: tp 2 fp 1 fn 1
    s = segmentation_scores(np.array([[3, 1], [1, 2]]), ["a", "b"])
    assert s["per_class_iou"] == pytest.approx([3 / 5, 2 / 4])
    assert s["mean_iou"] == pytest.approx((0.6 + 0.5) / 2)
    assert s["per_class_dice"] == pytest.approx([6 / 8, 4 / 6])
    assert s["per_class_precision"] == pytest.approx([3 / 4, 2 / 3])
    assert s["per_class_recall"] == pytest.approx([3 / 4, 2 / 3])
    assert s["pixel_accuracy"] == pytest.approx(5 / 7)


def test_absent_class_has_no_score_and_is_left_out_of_the_mean():
    s = segmentation_scores(np.array([[4, 0, 0], [0, 4, 0], [0, 0, 0]]))
    assert s["per_class_iou"] == [1.0, 1.0, None]
    assert s["mean_iou"] == 1.0


def test_classification_scores_by_hand():
    y = [0, 0, 0, 1, 1, 2]
    probs = np.array([[.8, .1, .1], [.6, .3, .1], [.2, .7, .1], [.1, .8, .1], [.3, .6, .1], [.1, .2, .7]])
    s = classification_scores(y, probs, ["a", "b", "c"], curves=True)
    assert s["accuracy"] == pytest.approx(5 / 6)
    assert s["balanced_accuracy"] == pytest.approx((2 / 3 + 1 + 1) / 3)
    # kappa: po = 5/6, pe = (3*2 + 2*3 + 1*1) / 36
    assert s["kappa"] == pytest.approx((5 / 6 - 13 / 36) / (1 - 13 / 36))
    assert s["per_class"]["b"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert s["confusion_matrix"] == [[2, 1, 0], [0, 2, 0], [0, 0, 1]]
    # one-vs-rest AUC as ranked pairs: a 8/9 (.2 < .3), b 7/8 (.6 < .7), c 1
    assert s["auc"] == pytest.approx((8 / 9 + 7 / 8 + 1) / 3)
    assert set(s["curves"]) == {"a", "b", "c"} and s["curves"]["c"]["roc"]["tpr"][-1] == 1.0


def test_binary_auc_uses_the_positive_column():
    s = classification_scores([0, 0, 1, 1], np.array([[.9, .1], [.4, .6], [.65, .35], [.2, .8]]), ["n", "p"])
    assert s["auc"] == pytest.approx(0.75)
    assert classification_scores([1, 1], np.array([[.4, .6], [.2, .8]]), ["n", "p"])["auc"] is None
