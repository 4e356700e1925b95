"""Opening: bad files give one-line ProjectErrors naming the file; opening reads no dataset;
saving writes only what changed."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from matlab_gui.errors import ProjectError, SchemaTooNewError
from matlab_gui.project import SCHEMA_VERSION, ClassDef, Project, journal


def _bad_files(tmp_path):
    text = tmp_path / "text.mgp"
    text.write_text("hello, I am not a project\n")
    noise = tmp_path / "noise.mgp"
    noise.write_bytes(np.random.default_rng(1).bytes(5000))
    fake_header = tmp_path / "header_only.mgp"
    fake_header.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(600))
    plain_hdf5 = tmp_path / "plain.h5"
    with h5py.File(plain_hdf5, "w") as f:
        f["x"] = [1, 2, 3]
    truncated = tmp_path / "truncated.mgp"
    with Project.create(truncated) as project:
        project.add_image("a.png", data=np.zeros((64, 64), np.uint8))
        project.save()
    truncated.write_bytes(truncated.read_bytes()[:900])
    folder = tmp_path / "folder.mgp"
    folder.mkdir()
    return [text, noise, fake_header, plain_hdf5, truncated, folder, tmp_path / "missing.mgp"]


def test_bad_files_give_one_line_project_errors_naming_the_file(tmp_path):
    for path in _bad_files(tmp_path):
        with pytest.raises(ProjectError) as info:
            Project.open(path)
        message = str(info.value)
        assert str(path) in message and "\n" not in message, message


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.mgp"
    Project.create(path).close()
    with h5py.File(path, "r+") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(SchemaTooNewError, match="newer") as info:
        Project.open(path)
    assert str(path) in str(info.value)


def test_open_reads_no_dataset(tmp_path, monkeypatch):
    path = tmp_path / "many.mgp"
    with Project.create(path, classes=[ClassDef(1, "a", (1, 2, 3))]) as project:
        for k in range(300):
            image_id = project.add_image(f"{k}.png", data=np.full((16, 16), k % 256, np.uint8))
            project.set_mask(image_id, np.ones((16, 16), np.uint8))
        project.save()

    def forbidden(*args, **kwargs):
        raise AssertionError("a dataset was read while opening")

    with monkeypatch.context() as m:
        m.setattr(h5py.Dataset, "__getitem__", forbidden)
        m.setattr(h5py.Dataset, "read_direct", forbidden)
        m.setattr(h5py.Dataset, "__array__", forbidden)
        project = Project.open(path)
        records = [project.record(i) for i in project.image_ids]
    assert len(records) == 300 and all(r.has_mask for r in records)
    assert project.get_mask(records[5].id).sum() == 256
    project.close()


def test_saving_one_mask_writes_about_that_mask_only(tmp_path, monkeypatch):
    path = tmp_path / "p.mgp"
    rng = np.random.default_rng(0)
    shape = (512, 512)
    with Project.create(path, classes=[ClassDef(1, "a", (1, 2, 3))]) as project:
        ids = [
            project.add_image(f"{k}.png", data=rng.integers(0, 255, shape, np.uint8))
            for k in range(12)
        ]
        for image_id in ids:
            project.set_mask(image_id, rng.integers(0, 2, shape, np.uint8))
        project.save()
    with h5py.File(path, "r") as f:
        offsets = {i: f["images"][i].id.get_offset() for i in ids}
    size_before = path.stat().st_size

    applied = []
    real_apply = journal._apply

    def spy(target, journal_file, plan):
        applied.extend(plan.segments)
        real_apply(target, journal_file, plan)

    monkeypatch.setattr(journal, "_apply", spy)
    new_mask = rng.integers(0, 2, shape, np.uint8)
    with Project.open(path) as project:
        project.set_mask(ids[3], new_mask)
        project.save()
        np.testing.assert_array_equal(project.get_mask(ids[3]), new_mask)
    with h5py.File(path, "r") as f:
        compressed = f["masks"][ids[3]].id.get_storage_size()
        assert {i: f["images"][i].id.get_offset() for i in ids} == offsets
    written = sum(length for _, length, _ in applied)
    assert written < compressed + 64 * 1024, (written, compressed)
    assert path.stat().st_size - size_before < compressed + 64 * 1024
    assert compressed < 0.2 * 12 * (2 * shape[0] * shape[1])  # far below images + masks


def test_unsaved_changes_stay_out_of_the_file_and_close_drops_them(tmp_path):
    path = tmp_path / "p.mgp"
    project = Project.create(path)
    assert not project.dirty
    project.add_image("a.png", data=np.zeros((4, 4), np.uint8))
    assert project.dirty
    project.close()
    with Project.open(path) as project:
        assert project.image_ids == []


def _leave_stale_journal(path, monkeypatch) -> None:
    """A save of `path` that died after its journal became durable, before applying it."""

    def die(*args):
        raise SystemExit("killed")

    with Project.open(path) as project, monkeypatch.context() as m:
        project.add_image("a.png", data=np.zeros((8, 8), np.uint8))
        m.setattr(journal, "_apply", die)
        with pytest.raises(SystemExit):
            project.save()
    assert journal.journal_path(path).exists()


def test_overwriting_a_project_drops_its_stale_journal(tmp_path, monkeypatch):
    """A journal left by a crash belongs to the old file, never to the one replacing it."""
    path = tmp_path / "p.mgp"
    Project.create(path).close()
    _leave_stale_journal(path, monkeypatch)
    with Project.create(tmp_path / "other.mgp") as other:
        other.save_as(path)
    assert not journal.journal_path(path).exists()
    assert Project.open(path).image_ids == []

    _leave_stale_journal(path, monkeypatch)
    Project.create(path, overwrite=True).close()
    assert not journal.journal_path(path).exists()
    assert Project.open(path).image_ids == []
