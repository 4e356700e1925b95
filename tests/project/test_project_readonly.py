"""Projects on read-only media open read-only (never "corrupt"), keep edits in memory and leave
through Save As; a journal that cannot be applied there is explained, not hidden."""

from __future__ import annotations

import errno
import os
import pathlib
import subprocess

import numpy as np
import pytest

from matlab_gui.errors import ProjectError
from matlab_gui.project import Project
from matlab_gui.project.journal import journal_path


def _project(folder: pathlib.Path) -> tuple[pathlib.Path, str]:
    path = folder / "p.mgp"
    with Project.create(path) as project:
        image_id = project.add_image("a.png", data=np.full((16, 16), 3, np.uint8))
        project.set_mask(image_id, np.ones((16, 16), np.uint8))
        project.save()
    return path, image_id


@pytest.fixture
def read_only_folder(tmp_path, monkeypatch):
    """A folder that behaves as on a read-only mount: every write, create or unlink under it
    fails with EROFS (as root, permissions alone would not stop a write)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    path, image_id = _project(folder)
    real_open, real_unlink, real_access = os.open, pathlib.Path.unlink, os.access
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC

    def under(p) -> bool:
        return str(os.path.abspath(p)).startswith(str(folder))

    def ro_open(p, flags, *args, **kwargs):
        if flags & writing and under(p):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(p))
        return real_open(p, flags, *args, **kwargs)

    def ro_unlink(self, missing_ok=False):
        if under(self):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(os, "open", ro_open)
    monkeypatch.setattr(pathlib.Path, "unlink", ro_unlink)
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode & os.W_OK and under(p)
                        else real_access(p, mode, **kw))
    return path, image_id


def test_project_on_read_only_media_opens_read_only(read_only_folder, tmp_path):
    path, image_id = read_only_folder
    before = path.read_bytes()
    project = Project.open(path)
    assert project.readonly and any("read-only" in n for n in project.notices)
    assert project.get_mask(image_id).sum() == 256
    project.set_label(image_id, 1)
    with pytest.raises(ProjectError, match="read-only: use Save As"):
        project.save()
    assert project.dirty and path.read_bytes() == before
    project.save_as(tmp_path / "copy.mgp")
    assert not project.readonly and not project.dirty
    project.close()
    with Project.open(tmp_path / "copy.mgp") as copy:
        assert copy.get_label(image_id) == 1 and copy.get_mask(image_id).sum() == 256


def test_pending_journal_on_read_only_media_is_explained(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    path, _ = _project(folder)
    journal_path(path).write_bytes(b"a journal a killed save left")
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False)
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda p, flags, *a, **k: (_ for _ in ()).throw(
        OSError(errno.EROFS, "Read-only file system", str(p))) if flags & os.O_RDWR
        else real_open(p, flags, *a, **k))
    with pytest.raises(ProjectError, match="copy the project with its .journal"):
        Project.open(path)


def _bind_read_only(source: pathlib.Path, target: pathlib.Path) -> bool:
    target.mkdir()
    ok = subprocess.run(["mount", "--bind", str(source), str(target)], capture_output=True)
    if ok.returncode != 0:
        return False
    ro = subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], capture_output=True)
    if ro.returncode != 0:
        subprocess.run(["umount", str(target)])
        return False
    return True


def test_real_read_only_mount(tmp_path):
    """The same on a real read-only bind mount, where this machine allows mounting."""
    folder = tmp_path / "rw"
    folder.mkdir()
    path, image_id = _project(folder)
    mount = tmp_path / "ro"
    if os.geteuid() != 0 or not _bind_read_only(folder, mount):
        pytest.skip("cannot make a read-only mount here")
    try:
        project = Project.open(mount / path.name)
        assert project.readonly and project.get_mask(image_id).sum() == 256
        project.close()
    finally:
        subprocess.run(["umount", str(mount)])


def test_a_read_only_open_finishes_a_save_another_window_committed(tmp_path, monkeypatch):
    """Between a save's commit and its apply the journal waits; a read-only open then (a second
    window's "open read-only") finishes it instead of refusing as if the folder were read-only."""
    import numpy as np
    import pytest

    from matlab_gui.project import Project, journal

    path = tmp_path / "p.mgp"
    with Project.create(path) as project:
        image_id = project.add_image("a.png", data=np.zeros((8, 8), np.uint8))
        project.save()
        project.set_mask(image_id, np.full((8, 8), 1, np.uint8))

        def killed(*args):
            raise SystemExit("killed after the commit")

        with monkeypatch.context() as m:
            m.setattr(journal, "_apply", killed)
            with pytest.raises(SystemExit):
                project.save()
    assert journal.pending(path)
    with Project.open(path, readonly=True) as reader:
        assert reader.readonly and int(reader.get_mask(image_id).max()) == 1
    assert not journal.pending(path)
