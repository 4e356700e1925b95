"""Where to label next, in the Model dock: rank in the background, open by click, and the Next
most uncertain key that opens the ranking's images in turn, framed on their worst tile."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6 import QtCore

from matlab_gui.imaging import write_image


@pytest.fixture
def ranked_window(window, uncertainty_case, tmp_path, qtbot):
    """The window with the training image and a 1024 x 128 composite (trained stripes left,
    unseen grey right), the trained model current, and the Rank button pressed."""
    left = uncertainty_case.stripes(uncertainty_case.seen_levels, (128, 512))
    right = uncertainty_case.stripes(uncertainty_case.unseen_levels, (128, 512), seed=2)
    write_image(tmp_path / "seen.png", uncertainty_case.seen)
    write_image(tmp_path / "composite.png", np.hstack([left, right]))
    window.add_images([tmp_path / "seen.png", tmp_path / "composite.png"])
    features = window.model_features
    features.choose_model(str(uncertainty_case.model))
    features.settings.device = "cpu"
    section = features.label_next.section
    assert section.ranking.count() == 0 and not features.actions["next_uncertain"].isEnabled()
    qtbot.mouseClick(section.rank, QtCore.Qt.LeftButton)
    assert features.label_next.worker.busy and section.cancel.isEnabled()  # not on this thread
    qtbot.waitUntil(lambda: section.ranking.count() == 2, timeout=60000)
    yield window
    features.close()


def test_rank_lists_the_images_most_uncertain_first(ranked_window):
    section = ranked_window.model_features.label_next.section
    texts = [section.ranking.item(r).text() for r in range(section.ranking.count())]
    assert texts[0].startswith("1. composite.png") and texts[1].startswith("2. seen.png")
    assert section.rank.isEnabled() and not section.bar.isVisible()


def test_next_most_uncertain_opens_the_top_image_framed_on_its_tile(ranked_window, qtbot):
    window = ranked_window
    features, canvas = window.model_features, window.canvas
    label_next = features.label_next
    top = label_next.result.ranking[0]
    assert top.name == "composite.png" and top.tile == (512, 0, 512, 128)
    action = features.actions["next_uncertain"]
    assert action.isEnabled() and action.shortcut().toString() == "U"
    action.trigger()  # an autosave still writing defers the switch: wait for it
    qtbot.waitUntil(lambda: window.session.image_id == top.image, timeout=10000)
    assert label_next.section.ranking.currentRow() == 0

    def tile_in_view():
        x0, x1, y0, y1 = canvas.view_rect()
        assert x0 <= 512 + 1 and x1 >= 1024 - 1 and y0 <= 1 and y1 >= 127
        assert x0 > 256  # zoomed in on it, not the whole image

    qtbot.waitUntil(tile_in_view, timeout=10000)
    action.trigger()
    qtbot.waitUntil(lambda: window.session.image_id == label_next.result.ranking[1].image,
                    timeout=10000)


def test_clicking_an_entry_opens_that_image(ranked_window, qtbot):
    label_next = ranked_window.model_features.label_next
    first, second_id = (i.image for i in label_next.result.ranking)
    ranked_window.show_image(first)
    qtbot.waitUntil(lambda: ranked_window.session.image_id == first, timeout=10000)
    ranking = label_next.section.ranking
    second = ranking.item(1)
    qtbot.mouseClick(ranking.viewport(), QtCore.Qt.LeftButton,
                     pos=ranking.visualItemRect(second).center())
    qtbot.waitUntil(lambda: ranked_window.session.image_id == second_id, timeout=10000)
