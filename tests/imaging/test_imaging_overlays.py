"""Evaluation overlays in the colours of paper 002 and class-colour blends."""

from __future__ import annotations

import numpy as np
import pytest

from matlab_gui.imaging.overlays import (
    FN,
    FP,
    IGNORED,
    TN,
    TP,
    blend,
    class_colours,
    evaluation_overlay,
    evaluation_overlays,
    hex_to_rgb,
)


def test_tp_fn_fp_tn_colours():
    truth = np.array([[1, 1, 0, 0]])
    pred = np.array([[1, 0, 1, 0]])
    out = evaluation_overlay(pred, truth, value=1)
    assert [tuple(c) for c in out[0]] == [TP, FN, FP, TN]
    assert TP == (255, 255, 0) and FN == (0, 255, 0) and FP == (255, 0, 0) and TN == (0, 0, 255)


def test_per_class_overlays_and_ignored_pixels():
    truth = np.array([[0, 1, 2, 2]])
    pred = np.array([[1, 1, 2, 0]])
    per_class = evaluation_overlays(pred, truth, [1, 2], ignore_value=0)
    assert [tuple(c) for c in per_class[1][0]] == [IGNORED, TP, TN, TN]
    assert [tuple(c) for c in per_class[2][0]] == [IGNORED, TN, TP, FN]


def test_size_mismatch_is_refused():
    with pytest.raises(ValueError, match="differ in size"):
        evaluation_overlay(np.zeros((2, 2)), np.zeros((2, 3)))


def test_class_colours_and_blend():
    mask = np.array([[0, 1], [2, 1]], np.uint8)
    rgb = class_colours(mask, ["#000000", "#ff0000", (0, 0, 255)])
    assert rgb.dtype == np.uint8 and tuple(rgb[0, 1]) == (255, 0, 0) and tuple(rgb[1, 0]) == (0, 0, 255)
    image = np.array([[0, 65535], [0, 65535]], np.uint16)
    mixed = blend(image, rgb, alpha=0.5)
    assert mixed.shape == (2, 2, 3) and tuple(mixed[0, 1]) == (255, 128, 128)
    only = blend(image, rgb, alpha=1.0, where=mask == 2)
    assert tuple(only[1, 0]) == (0, 0, 255) and tuple(only[0, 1]) == (255, 255, 255)
    assert hex_to_rgb("#0a0B0c") == (10, 11, 12)
