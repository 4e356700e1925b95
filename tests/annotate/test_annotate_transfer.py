"""Mask import matching and MATLAB v7.3 export."""

from __future__ import annotations

from pathlib import Path

from matlab_gui.annotate.transfer import match_masks


def test_match_by_stem_and_image_labeler_order():
    images = ["a.tif", "b.png", "c.jpg"]
    files = [Path("A.png"), Path("Label_3.png"), Path("unrelated.png"), Path("Label_9.png")]
    assert match_masks(files, images) == {0: Path("A.png"), 2: Path("Label_3.png")}
