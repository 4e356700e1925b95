"""Two processes on one project: neither side's saved work is lost, a second window is told
the project is in use, and a reader never fails because another process saves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from matlab_gui.errors import ProjectConflictError, ProjectLockedError
from matlab_gui.project import ClassDef, Project

CHILD = Path(__file__).with_name("project_child.py")
REPO = Path(__file__).resolve().parents[2]
CLASSES = [ClassDef(1, "matrix", (255, 0, 0)), ClassDef(2, "grain", (0, 255, 0))]


def _child(*args, stdin=None, wait=True):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, str(CHILD), *map(str, args)]
    if not wait:
        return subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def _project(path: Path, n: int = 3, size: int = 64) -> list[str]:
    with Project.create(path, classes=CLASSES) as project:
        ids = [project.add_image(f"img{k}.tif", data=np.full((size, size), k, np.uint8)) for k in range(n)]
        project.save()
    return ids


def test_saves_of_two_processes_merge_per_image(tmp_path):
    path = tmp_path / "p.mgp"
    ids = _project(path)
    mine = Project.open(path)  # opened before the other program saves
    mine.set_mask(ids[2], np.full((64, 64), 2, np.uint8))
    mine.set_label(ids[1], 2)
    mine.add_image("from_b.png", data=np.full((16, 16), 9, np.uint8))
    _child(path, "edit", ids[0])  # label + new image + mask on img0, saved
    mine.save()
    mine.close()
    with Project.open(path) as project:
        names = [project.record(i).name for i in project.image_ids]
        assert sorted(names) == ["from_a.png", "from_b.png", "img0.tif", "img1.tif", "img2.tif"]
        assert project.get_label(ids[0]) == 1 and project.get_label(ids[1]) == 2
        assert project.get_mask(ids[0]).max() == 1 and project.get_mask(ids[2]).max() == 2
        new = next(i for i in project.image_ids if project.record(i).name == "from_a.png")
        assert project.read_image(new)[0, 0] == 7


@pytest.mark.parametrize("what", ["label", "mask"])
def test_conflicting_save_is_refused_and_keeps_both_sides(tmp_path, what):
    path = tmp_path / "p.mgp"
    ids = _project(path)
    mine = Project.open(path)
    if what == "label":
        mine.set_label(ids[0], 2)
    else:
        mine.set_mask(ids[0], np.full((64, 64), 2, np.uint8))
    _child(path, "edit", ids[0])
    with pytest.raises(ProjectConflictError, match="Save As"):
        mine.save()
    assert mine.dirty  # our work is kept in memory...
    with Project.open(path) as theirs:  # ...and theirs on disk
        assert theirs.get_label(ids[0]) == 1 and theirs.get_mask(ids[0]).max() == 1
    expected = 2 if what == "label" else None
    assert mine.get_label(ids[0]) == expected
    mine.save_as(tmp_path / "mine.mgp")  # Save As keeps our version, with their other changes
    mine.close()
    with Project.open(tmp_path / "mine.mgp") as copy:
        if what == "label":
            assert copy.get_label(ids[0]) == 2
        else:
            assert copy.get_mask(ids[0]).max() == 2
        assert "from_a.png" in [copy.record(i).name for i in copy.image_ids]


def test_second_window_is_refused_while_one_edits(tmp_path):
    path = tmp_path / "p.mgp"
    _project(path)
    holder = _child(path, "hold", wait=False)
    try:
        assert json.loads(holder.stdout.readline()) == {"holding": True}
        with pytest.raises(ProjectLockedError, match=f"process {holder.pid}"):
            Project.open(path, exclusive=True)
        with Project.open(path, readonly=True) as viewer:  # read-only is still possible
            assert viewer.readonly and len(viewer.image_ids) == 3
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    Project.open(path, exclusive=True).close()  # free again once the other window closed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.mgp"]


def test_a_read_waits_while_a_save_is_being_applied(tmp_path):
    """A save holds the journal's lock while it patches the file: a read meanwhile waits for
    it rather than reading half-patched bytes."""
    import threading

    from matlab_gui.project import journal

    path = tmp_path / "p.mgp"
    ids = _project(path)
    reader = Project.open(path)
    out = []
    with journal._exclusive(path, wait=True):  # as a saving process holds it
        thread = threading.Thread(target=lambda: out.append(int(reader.read_image(ids[1])[0, 0])))
        thread.start()
        thread.join(0.5)
        assert thread.is_alive() and out == []
    thread.join(10)
    assert out == [1]
    reader.close()


def test_reader_keeps_reading_while_another_process_saves(tmp_path):
    path = tmp_path / "p.mgp"
    _project(path, n=4, size=1000)
    reader = _child(path, "reads", 6, wait=False)
    saver = _child(path, "saves", 40)
    out = json.loads(reader.communicate(timeout=120)[0].strip().splitlines()[-1])
    assert saver == {"done": "saves"}
    assert out["n_errors"] == 0, out["errors"]
    assert out["reads"] > 0
