"""Write errors during a save: ENOSPC and EIO injected at every write the journal makes (its
own file, the patch of the project, the syncs and the renames), once or from then on. Never a
crash or a silent loss: `save()` raises a ProjectError that says what to do (or, where the
second try of the patch got through, succeeds), the file is the old or the new state, the
unsaved work is intact in memory, and saving again once the fault is gone succeeds."""

from __future__ import annotations

import errno
import os
import shutil

import numpy as np
import pytest

from matlab_gui.errors import ProjectError
from matlab_gui.project import ClassDef, Project, fileio, journal

NEW_MASK = np.kron(np.arange(4, dtype=np.uint8).reshape(2, 2) % 3, np.ones((48, 48), np.uint8))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    path = tmp_path_factory.mktemp("faults") / "base.mgp"
    rng = np.random.default_rng(1)
    with Project.create(path, classes=[ClassDef(1, "a", (1, 2, 3)), ClassDef(2, "b", (4, 5, 6))]) as p:
        for k in range(3):
            image_id = p.add_image(f"img{k}.tif", data=rng.integers(0, 255, (96, 96), np.uint8))
            p.set_mask(image_id, np.ones((96, 96), np.uint8))
        p.save()
    return path


def _change(project: Project) -> None:
    ids = project.image_ids
    project.set_mask(ids[0], NEW_MASK)
    project.set_label(ids[1], 2)
    project.add_image("new.tif", data=np.full((200, 200), 5, np.uint8))
    project.log("edited")


def _check_in_memory(project: Project) -> None:
    ids = project.image_ids
    np.testing.assert_array_equal(project.get_mask(ids[0]), NEW_MASK)
    assert project.get_label(ids[1]) == 2 and project.record(ids[-1]).name == "new.tif"


class Fault:
    """Counts calls of one OS function and fails call number `at` (and later ones if
    `persistent`) with `err`."""

    def __init__(self, at: int, err: int, persistent: bool):
        self.at, self.err, self.persistent, self.calls = at, err, persistent, 0

    def wrap(self, real):
        def call(*args, **kwargs):
            self.calls += 1
            if self.calls == self.at or (self.persistent and self.calls > self.at):
                raise OSError(self.err, os.strerror(self.err))
            return real(*args, **kwargs)

        return call


POINTS = {
    "journal write": (fileio, "write_at"),
    "fsync": (os, "fsync"),
    "rename": (os, "replace"),
    "truncate": (os, "ftruncate"),
    "dir fsync": (fileio, "fsync_dir"),
}


def _count_calls(base, tmp_path, monkeypatch) -> dict[str, int]:
    path = tmp_path / "count.mgp"
    shutil.copyfile(base, path)
    counters = {name: Fault(0, 0, False) for name in POINTS}
    with monkeypatch.context() as m:
        for name, (module, attr) in POINTS.items():
            m.setattr(module, attr, counters[name].wrap(getattr(module, attr)))
        with Project.open(path) as project:
            _change(project)
            project.save()
    return {name: c.calls for name, c in counters.items()}


def test_every_write_fault_keeps_the_work_and_the_file(base, tmp_path, monkeypatch, project_snapshot):
    old = project_snapshot(base)
    counts = _count_calls(base, tmp_path, monkeypatch)
    new = project_snapshot(tmp_path / "count.mgp")
    assert counts["journal write"] > 10 and all(counts.values()), counts
    outcomes = {"raised": 0, "saved": 0}
    for name, (module, attr) in POINTS.items():
        for at in range(1, counts[name] + 1):
            for err, persistent in ((errno.ENOSPC, False), (errno.EIO, True)):
                trial = f"{name} #{at} {errno.errorcode[err]} {'persistent' if persistent else 'once'}"
                path = tmp_path / "trial.mgp"
                shutil.copyfile(base, path)
                project = Project.open(path)
                _change(project)
                fault = Fault(at, err, persistent)
                with monkeypatch.context() as m:
                    m.setattr(module, attr, fault.wrap(getattr(module, attr)))
                    try:
                        project.save()
                        outcomes["saved"] += 1
                        assert not project.dirty, trial
                    except ProjectError as exc:
                        outcomes["raised"] += 1
                        assert project.dirty, trial
                        if err == errno.ENOSPC:
                            assert "disk full" in str(exc) and "kept in memory" in str(exc), trial
                        else:
                            assert "kept in memory" in str(exc), trial
                _check_in_memory(project)
                assert project_snapshot(path) in (old, new), trial
                project.save()  # the fault is gone: saving again works
                assert project_snapshot(path) == new, trial
                project.close()
                assert not journal.journal_path(path).exists(), trial
                path.unlink()
    print(f"injection points {counts}; outcomes {outcomes}")
    assert outcomes["raised"] > outcomes["saved"]


def test_disk_full_while_copying_for_save_as_keeps_everything(base, tmp_path, monkeypatch):
    path = tmp_path / "p.mgp"
    shutil.copyfile(base, path)
    before = path.read_bytes()
    project = Project.open(path)
    _change(project)
    with monkeypatch.context() as m:
        m.setattr(shutil, "copyfile", Fault(1, errno.ENOSPC, True).wrap(shutil.copyfile))
        with pytest.raises(ProjectError, match="cannot save as"):
            project.save_as(tmp_path / "copy.mgp")
    assert path.read_bytes() == before and project.dirty and project.path == path
    assert not (tmp_path / "copy.mgp").exists()
    _check_in_memory(project)
    project.close()


def test_a_patch_that_fails_once_and_then_lands_is_a_successful_save(base, tmp_path, monkeypatch):
    """The journal was committed; its apply hit ENOSPC once and the retry got through: the
    project is saved, so the user is not told it failed nor left with a "dirty" project."""
    path = tmp_path / "p.mgp"
    shutil.copyfile(base, path)
    project = Project.open(path)
    _change(project)
    with monkeypatch.context() as m:  # the truncate happens only while the patch is applied
        m.setattr(os, "ftruncate", Fault(1, errno.ENOSPC, False).wrap(os.ftruncate))
        project.save()
    assert not project.dirty and not journal.journal_path(path).exists()
    _check_in_memory(project)
    project.close()
    with Project.open(path) as again:
        _check_in_memory(again)
