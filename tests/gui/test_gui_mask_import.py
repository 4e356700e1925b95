"""File > Import masks through the real preview dialog: what it shows, what Import applies (one
undo step per image), that Cancel changes nothing, and new classes for values the project lacks."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PySide6 import QtWidgets

from matlab_gui.gui import dialogs
from matlab_gui.gui.mask_import_dialog import MaskImportDialog
from matlab_gui.imaging import write_mask


@pytest.fixture
def two_images(window, grain_image, tmp_path):
    """The window with grain.tif and second.tif open; second's bright grain sits elsewhere."""
    second = np.full((120, 160), 40, np.uint8)
    second[10:30, 10:50] = 200
    tifffile.imwrite(tmp_path / "second.tif", second)
    window.open_paths([grain_image[0], tmp_path / "second.tif"])
    return grain_image[1], second


@pytest.fixture
def zero_based(tmp_path, two_images):
    """A data set's masks, classes numbered from 0 (0 = background, 1 = grain, 2 = a third
    phase in one corner): `grain.png`, segment-style `second_mask.png`, and an orphan."""
    folder = tmp_path / "masks"
    folder.mkdir()
    masks = []
    for name, data in zip(["grain.png", "second_mask.png"], two_images, strict=True):
        m = (data == 200).astype(np.uint8)
        m[:5, :5] = 2
        write_mask(folder / name, m)
        masks.append(m)
    write_mask(folder / "orphan.png", masks[0])
    return folder, masks


def _texts(table: QtWidgets.QTableWidget, column: int) -> list[str]:
    return [table.item(r, column).text() for r in range(table.rowCount())]


def _drive(monkeypatch, act):
    """Run `act(dialog)` instead of the modal loop; it returns the dialog's result."""
    seen = {}

    def run(dialog):
        seen["dialog"] = dialog
        dialog.show()
        return act(dialog)

    monkeypatch.setattr(MaskImportDialog, "exec", run)
    return seen


def test_preview_shows_the_plan_and_import_applies_it(window, zero_based, monkeypatch):
    folder, masks = zero_based
    monkeypatch.setattr(dialogs, "folder", lambda *a: folder)

    def act(dialog):
        matches = dialog.findChild(QtWidgets.QTableWidget, "matches")
        assert _texts(matches, 0) == ["grain.tif", "second.tif"]
        assert _texts(matches, 1) == ["grain.png", "second_mask.png"]
        assert _texts(matches, 2) == ["same name", "name + _mask"]
        skipped = dialog.findChild(QtWidgets.QTableWidget, "skipped")
        assert _texts(skipped, 0) == ["orphan.png"]
        assert not dialog.import_button.isEnabled()  # 0's meaning not said yet
        dialog.zero_class.click()
        values = dialog.findChild(QtWidgets.QTableWidget, "values")
        assert _texts(values, 0) == ["0", "1", "2"]
        assert _texts(values, 2) == [f"{int((sum(m == v for m in masks)).sum()):,}"
                                     for v in range(3)]
        assert _texts(values, 3)[:2] == ["class 1 “Phase 1”", "class 2 “Phase 2”"]
        assert _texts(values, 3)[2].startswith("left unlabelled")
        assert dialog.import_button.isEnabled()
        dialog.import_button.click()
        return dialog.result()

    seen = _drive(monkeypatch, act)
    window.actions["import"].trigger()
    assert "dialog" in seen
    s = window.session
    expected = np.where(masks[0] == 2, 0, masks[0] + 1)  # class 3 is not in the project
    assert np.array_equal(s.editor.mask, expected)
    second = s.project.image_ids[1]
    assert np.array_equal(s.project.get_mask(second), np.where(masks[1] == 2, 0, masks[1] + 1))
    assert "Imported 2 masks" in window.statusBar().currentMessage()
    window.router.undo()  # one step per image
    assert not s.editor.mask.any()


def test_cancel_changes_nothing(window, zero_based, monkeypatch):
    folder, _ = zero_based
    monkeypatch.setattr(dialogs, "folder", lambda *a: folder)

    def act(dialog):
        dialog.zero_class.click()
        dialog.add_missing.click()
        dialog.buttons.button(QtWidgets.QDialogButtonBox.Cancel).click()
        return dialog.result()

    classes = window.session.project.classes
    _drive(monkeypatch, act)
    window.actions["import"].trigger()
    s = window.session
    assert s.project.classes == classes and not s.editor.mask.any()
    assert not any(s.project.record(i).has_mask for i in s.project.image_ids)


def test_values_without_a_class_can_become_new_classes(window, zero_based, monkeypatch):
    folder, masks = zero_based
    monkeypatch.setattr(dialogs, "folder", lambda *a: folder)

    def act(dialog):
        dialog.zero_class.click()
        dialog.add_missing.click()
        values = dialog.findChild(QtWidgets.QTableWidget, "values")
        assert _texts(values, 3)[2] == "new class 3 “value 2”"
        dialog.import_button.click()
        return dialog.result()

    _drive(monkeypatch, act)
    window.actions["import"].trigger()
    s = window.session
    assert [c.name for c in s.project.classes] == ["Phase 1", "Phase 2", "value 2"]
    assert np.array_equal(s.editor.mask, masks[0] + 1)
    assert window.palette.list.count() == 3


def test_a_folder_without_masks_says_so(window, two_images, tmp_path, monkeypatch, messages):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setattr(dialogs, "folder", lambda *a: empty)
    _drive(monkeypatch, lambda d: pytest.fail("no preview for an empty folder"))
    window.actions["import"].trigger()
    assert any(kind == "warning" and "no masks here" in m for kind, _, m in messages)
