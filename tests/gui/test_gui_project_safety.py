"""The window and other programs on the same project: a second window is told and may open it
read-only; a save refused because another program changed the same image offers Save As."""

from __future__ import annotations

import numpy as np

from matlab_gui.gui import dialogs
from matlab_gui.project import ClassDef, Project


def _project(path):
    with Project.create(path, [ClassDef(1, "a", (255, 0, 0)), ClassDef(2, "b", (0, 255, 0))]) as p:
        ids = [p.add_image(f"img{k}.tif", data=np.full((40, 50), 60 * k, np.uint8)) for k in range(2)]
        p.save()
    return ids


def test_project_open_in_another_window_opens_read_only(window, messages, tmp_path):
    path = tmp_path / "p.mgp"
    _project(path)
    other = Project.open(path, exclusive=True)  # e.g. a second matlab_gui window
    try:
        window.open_paths([path])
        asked = [m for m in messages if m[0] == "question"]
        assert asked and "open for editing in another window" in asked[0][2]
        assert window.session.project.readonly
        assert "(read-only)" in window.windowTitle()
    finally:
        other.close()


def test_the_window_keeps_others_from_editing_its_project(window, messages, tmp_path):
    path = tmp_path / "p.mgp"
    _project(path)
    window.open_paths([path])
    assert not window.session.project.readonly
    from matlab_gui.errors import ProjectLockedError

    try:
        Project.open(path, exclusive=True).close()
        raise AssertionError("a second editor got in")
    except ProjectLockedError:
        pass


def test_conflicting_save_offers_save_as_and_keeps_both(window, messages, tmp_path, monkeypatch):
    path = tmp_path / "p.mgp"
    ids = _project(path)
    window.open_paths([path])
    window.images.select_id(ids[0])
    window.label_selected(1)
    with Project.open(path) as other:  # a script labels the same image meanwhile
        other.set_label(ids[0], 2)
        other.save()
    target = tmp_path / "mine.mgp"
    monkeypatch.setattr(dialogs, "save_project_path", lambda _p: target)
    assert window.save()
    offered = [m for m in messages if m[0] == "question" and "Save As" in m[2]]
    assert offered and "another program saved changes" in offered[0][2]
    assert window.session.project.path == target
    with Project.open(path) as theirs, Project.open(target) as mine:
        assert theirs.get_label(ids[0]) == 2 and mine.get_label(ids[0]) == 1
