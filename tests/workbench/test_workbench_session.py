"""The open workbench without Qt: undo per image across switches, class renumbering that keeps
undo meaningful, imports as undo steps, what counts as work worth a question at close."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from matlab_gui.project import ClassDef, Project
from matlab_gui.workbench import Session, Workbench
from matlab_gui.workbench import session as session_module

CLASSES = [ClassDef(1, "ferrite", (255, 0, 0)), ClassDef(2, "pearlite", (0, 255, 0)),
           ClassDef(3, "carbide", (0, 0, 255))]


@pytest.fixture
def bench(tmp_path):
    """A Workbench with a project of three 40 x 50 images (referenced) and recorded events."""
    project = Project.create(tmp_path / "p.mgp", CLASSES)
    ids = []
    for k in range(3):
        path = tmp_path / f"img{k}.tif"
        tifffile.imwrite(path, np.full((40, 50), 50 * k, np.uint8))
        ids.append(project.add_image(path))
    wb = Workbench()
    seen = []
    for event in wb.events:
        event.connect(lambda value, name=event.name: seen.append((name, value)))
    wb.open(Session(project))
    yield wb, ids, seen
    wb.close()


def _stroke(session, value, y=10, x=10, radius=3):
    session.editor.begin_stroke(y, x, radius, value)
    return session.editor.end_stroke()


def test_undo_of_an_image_survives_switching_away_and_back(bench):
    wb, ids, _ = bench
    wb.select(ids[0])
    _stroke(wb.session, 1)
    _stroke(wb.session, 2, y=30, x=30)
    wb.select(ids[1])
    wb.select(ids[0])
    assert (wb.session.editor.mask == 2).any()
    assert wb.session.editor.undo() is not None
    assert not (wb.session.editor.mask == 2).any() and (wb.session.editor.mask == 1).any()
    assert wb.session.editor.undo() is not None
    assert not wb.session.editor.mask.any()


def test_the_oldest_images_histories_go_first_past_the_budget(bench, monkeypatch):
    wb, ids, _ = bench
    wb.select(ids[0])
    _stroke(wb.session, 1)
    one_step = wb.session.editor.history.nbytes
    monkeypatch.setattr(session_module, "HISTORY_BUDGET", int(1.5 * one_step))
    wb.select(ids[1])
    _stroke(wb.session, 1)
    wb.select(ids[2])  # two stored histories exceed the budget: the oldest (ids[0]) goes
    assert wb.session.history_of(ids[0]) is None
    assert len(wb.session.history_of(ids[1])) == 1


def test_deleting_a_class_renumbers_every_mask_label_and_undo_step(bench):
    wb, ids, seen = bench
    s = wb.session
    wb.select(ids[1])
    _stroke(s, 3)  # carbide on image 1, then leave it
    wb.select(ids[0])
    _stroke(s, 1)
    _stroke(s, 3, y=30, x=30)
    s.project.set_label(ids[2], 3)
    kept = [ClassDef(1, "pearlite", (0, 255, 0)), ClassDef(2, "carbide", (0, 0, 255))]
    changed = wb.apply_classes(kept, {1: 0, 2: 1, 3: 2})  # delete ferrite
    assert set(changed) == set(ids)
    assert set(np.unique(s.editor.mask)) == {0, 2}  # ferrite gone, carbide now 2
    assert set(np.unique(s.project.get_mask(ids[1]))) == {0, 2}
    assert s.project.get_label(ids[2]) == 2
    assert ("classes", kept) in seen
    s.editor.undo()  # the carbide stroke: gives back what it covered, renumbered
    assert set(np.unique(s.editor.mask)) == {0}
    s.editor.redo()
    assert set(np.unique(s.editor.mask)) == {0, 2}
    wb.select(ids[1])
    s.editor.undo()
    assert not s.editor.mask.any()
    s.editor.redo()  # the stroke comes back as carbide's new index, not the old 3
    assert set(np.unique(s.editor.mask)) == {0, 2}


def test_an_imported_mask_is_one_undo_step_of_its_image(bench):
    wb, ids, _ = bench
    s = wb.session
    wb.select(ids[0])
    imported = np.zeros((40, 50), np.uint8)
    imported[5:20, 5:20] = 2
    assert wb.import_mask(ids[1], imported)  # not the image shown
    assert np.array_equal(s.project.get_mask(ids[1]), imported)
    wb.select(ids[1])
    assert np.array_equal(s.editor.mask, imported)
    s.editor.undo()
    assert not s.editor.mask.any()
    with pytest.raises(ValueError, match="50 x 40 px"):
        wb.import_mask(ids[2], np.zeros((10, 10), np.uint8))


def test_events_announce_project_image_and_close(bench):
    wb, ids, seen = bench
    assert seen[0] == ("project", wb.session)
    wb.select(ids[2])
    assert ("image", ids[2]) in seen
    wb.close()
    assert seen[-1] == ("project", None) and wb.session is None


def test_removing_the_shown_image_leaves_nothing_shown(bench):
    wb, ids, seen = bench
    wb.select(ids[0])
    _stroke(wb.session, 1)
    wb.remove_images([ids[0], ids[1]])
    assert wb.session.project.image_ids == [ids[2]]
    assert wb.session.image_id is None and wb.session.editor is None
    assert ("image", "") in seen


def test_an_untouched_untitled_sample_holds_no_work(tmp_path):
    path = tmp_path / "sample.tif"
    tifffile.imwrite(path, np.zeros((30, 30), np.uint8))
    s = Session.untitled_project()
    try:
        image_id = s.project.add_image(path)
        s.mark_provided()
        s.select(image_id)
        assert not s.holds_work()
        _stroke(s, 1)
        assert s.holds_work()
    finally:
        s.close()


def test_images_the_user_added_to_an_untitled_project_are_work(tmp_path):
    path = tmp_path / "mine.tif"
    tifffile.imwrite(path, np.zeros((30, 30), np.uint8))
    s = Session.untitled_project()
    try:
        s.mark_provided()
        s.project.add_image(path)
        assert s.holds_work()
    finally:
        s.close()


def test_model_and_prediction_are_announced_and_closing_drops_the_prediction(bench):
    wb, ids, seen = bench
    wb.model = "shipped:nasa-super"
    wb.model = "shipped:nasa-super"  # no change, no event
    result = object()
    wb.prediction = result
    assert [v for name, v in seen if name == "model"] == ["shipped:nasa-super"]
    assert ("prediction", result) in seen
    wb.close()
    assert wb.prediction is None and ("prediction", None) in seen
