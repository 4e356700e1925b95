"""Image > Largest image to open…: the budget a user raises holds for the next image opened,
and for the next session (it is kept in the settings)."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PySide6 import QtWidgets

from matlab_gui.gui.app import application
from matlab_gui.imaging import limits

pytestmark = pytest.mark.usefixtures("default_pixel_budget")


def _answer(monkeypatch, gigapixels: float, ok: bool = True) -> list:
    asked = []

    def get_double(parent, title, label, value, *rest):
        asked.append((title, value))
        return gigapixels, ok

    monkeypatch.setattr(QtWidgets.QInputDialog, "getDouble", staticmethod(get_double))
    return asked


def test_the_menu_sets_the_budget_for_the_next_image_and_the_next_session(
        window, tmp_path, monkeypatch, messages):
    big = tmp_path / "montage.tif"
    tifffile.imwrite(big, np.zeros((1200, 1000), np.uint8))
    asked = _answer(monkeypatch, 0.001)  # one megapixel: this image is now too large
    window.actions["image_limit"].trigger()
    assert asked == [("Largest image to open", round(limits.DEFAULT_MAX_PIXELS / 1e9, 2))]
    window.open_paths([big])
    s = window.session
    assert s is None or "montage.tif" not in [s.project.record(i).name for i in s.project.image_ids]
    assert any("largest image the app is set to open" in m for _, _, m in messages)

    limits.set_max_pixels(None)  # a new session starts from what the settings kept
    application()
    assert limits.max_pixels() == 1_000_000

    _answer(monkeypatch, 5.0, ok=False)  # Cancel changes nothing
    window.actions["image_limit"].trigger()
    assert limits.max_pixels() == 1_000_000
