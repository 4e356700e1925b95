"""The write-ahead journal: the overlay reads what was written, commit and recovery apply it exactly."""

from __future__ import annotations

import os
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from matlab_gui.project import journal
from matlab_gui.project.journal import OverlayFile, journal_path, journaled, recover

write_op = st.tuples(st.just("write"), st.integers(0, 3000), st.binary(min_size=1, max_size=700))
truncate_op = st.tuples(st.just("truncate"), st.integers(0, 3000), st.just(b""))
operations = st.lists(st.one_of(write_op, write_op, write_op, truncate_op), max_size=30)


def _apply_to_model(model: bytearray, op: str, offset: int, data: bytes) -> None:
    if op == "write":
        if offset > len(model):
            model.extend(bytes(offset - len(model)))
        model[offset : offset + len(data)] = data
    elif offset < len(model):
        del model[offset:]
    else:
        model.extend(bytes(offset - len(model)))


def _read_all(overlay: OverlayFile) -> bytes:
    size = overlay.seek(0, os.SEEK_END)
    overlay.seek(0)
    buf = bytearray(size + 10)
    n = overlay.readinto(buf)
    return bytes(buf[:n])


@settings(max_examples=60, deadline=None)
@example(base=b"\x01", ops=[("truncate", 0, b""), ("truncate", 1, b"")], reads=[])
@given(
    base=st.binary(max_size=2000),
    ops=operations,
    reads=st.lists(st.tuples(st.integers(0, 3500), st.integers(0, 900)), max_size=8),
)
def test_overlay_reads_match_a_plain_buffer_and_commit_writes_it(base, ops, reads):
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "f.bin"
        target.write_bytes(base)
        model = bytearray(base)
        with journaled(target) as overlay:
            for op, offset, data in ops:
                _apply_to_model(model, op, offset, data)
                if op == "write":
                    overlay.seek(offset)
                    assert overlay.write(data) == len(data)
                else:
                    overlay.truncate(offset)
                assert overlay.seek(0, os.SEEK_END) == len(model)
            for offset, size in reads:
                overlay.seek(offset)
                buf = bytearray(size)
                n = overlay.readinto(buf)
                assert bytes(buf[:n]) == bytes(model[offset : offset + size])
            assert _read_all(overlay) == bytes(model)
            assert target.read_bytes() == base  # nothing touched before commit
        assert target.read_bytes() == bytes(model)
        assert os.listdir(tmp) == ["f.bin"]


def _pending_update(target: Path, monkeypatch) -> None:
    """Commit an update but 'die' right after the journal became durable, before applying it."""

    def killed(*args):
        raise SystemExit("killed")

    with monkeypatch.context() as m:
        m.setattr(journal, "_apply", killed)
        with pytest.raises(SystemExit), journaled(target) as overlay:
            overlay.seek(3)
            overlay.write(b"NEW")
            overlay.truncate(8)


def test_complete_journal_is_replayed_and_replay_is_idempotent(tmp_path, monkeypatch):
    target = tmp_path / "f.bin"
    target.write_bytes(b"0123456789abcdef")
    _pending_update(target, monkeypatch)
    assert journal_path(target).exists()
    saved = journal_path(target).read_bytes()
    assert recover(target).replayed
    assert target.read_bytes() == b"012NEW67"
    journal_path(target).write_bytes(saved)  # killed during the first replay: replay again
    assert recover(target).replayed
    assert target.read_bytes() == b"012NEW67"
    assert not journal_path(target).exists()


@pytest.mark.parametrize("cut", [1, 10, 30])
def test_damaged_journal_is_set_aside_not_applied(tmp_path, monkeypatch, cut):
    target = tmp_path / "f.bin"
    target.write_bytes(b"0123456789abcdef")
    _pending_update(target, monkeypatch)
    data = journal_path(target).read_bytes()
    journal_path(target).write_bytes(data[:-cut])
    result = recover(target)
    assert not result.replayed and result.set_aside.read_bytes() == data[:-cut]
    assert target.read_bytes() == b"0123456789abcdef"
    assert not journal_path(target).exists()


def test_temp_journal_of_a_killed_update_is_dropped(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    journal.temp_journal_path(target).write_bytes(b"half a journal")
    assert recover(target) == journal.Recovery()
    assert os.listdir(tmp_path) == ["f.bin"] and target.read_bytes() == b"old"


def test_error_during_update_discards_it(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), journaled(target) as overlay:
        overlay.write(b"new!")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.bin"]


def test_recover_leaves_an_update_in_progress_alone(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with journaled(target) as overlay:
        overlay.write(b"new")
        assert not recover(target).replayed  # e.g. another Project opening the file meanwhile
        assert journal.temp_journal_path(target).exists()
    assert target.read_bytes() == b"new"


def test_seek_then_read_path_for_systems_without_pread(tmp_path, monkeypatch):
    """Windows has no pread/pwrite: the journal's fallback must commit and replay the same bytes."""
    from matlab_gui.project import fileio

    monkeypatch.setattr(fileio, "POSITIONED", False)
    target = tmp_path / "f.bin"
    target.write_bytes(bytes(range(256)) * 64)
    with journaled(target) as overlay:
        overlay.seek(5000)
        overlay.write(b"X" * 9000)
        overlay.seek(100)
        buf = bytearray(10)
        assert overlay.readinto(buf) == 10 and bytes(buf) == bytes(range(100, 110))
    expected = bytearray(bytes(range(256)) * 64)
    expected[5000:14000] = b"X" * 9000
    assert target.read_bytes() == bytes(expected)
    _pending_update(target, monkeypatch)
    assert recover(target).replayed
    assert target.read_bytes()[3:6] == b"NEW" and len(target.read_bytes()) == 8


# -- a journal is bound to the file state it was written for --------------------------------


def _new_state(target: Path) -> bytes:
    return b"012NEW67"  # what _pending_update makes of b"0123456789abcdef"


@pytest.mark.parametrize("how", ["copied over", "renamed over"])
def test_backup_restored_after_a_kill_is_not_overwritten_by_the_journal(tmp_path, monkeypatch, how):
    target = tmp_path / "f.bin"
    target.write_bytes(b"0123456789abcdef")
    _pending_update(target, monkeypatch)
    backup = b"BACKUP-of-last-week"
    if how == "copied over":
        target.write_bytes(backup)  # same inode, other bytes
    else:
        (tmp_path / "backup").write_bytes(backup)
        os.replace(tmp_path / "backup", target)
    result = recover(target)
    assert not result.replayed and result.set_aside is not None and "not applied" in result.notice()
    assert target.read_bytes() == backup
    assert not journal_path(target).exists() and result.set_aside.exists()


@pytest.mark.parametrize("edit", ["append", "same size"])
def test_edit_by_another_tool_after_a_kill_is_kept(tmp_path, monkeypatch, edit):
    target = tmp_path / "f.bin"
    target.write_bytes(b"0123456789abcdef")
    _pending_update(target, monkeypatch)
    with target.open("r+b") as fh:
        if edit == "append":
            fh.seek(0, os.SEEK_END)
            fh.write(b"+more")
        else:
            fh.seek(4)
            fh.write(b"X")  # inside the range the journal overwrites
    edited = target.read_bytes()
    assert recover(target).set_aside is not None
    assert target.read_bytes() == edited


@pytest.mark.parametrize("blocks_done", [0, 1, 2, 5, 9])
@pytest.mark.parametrize("torn", [False, True])
def test_apply_killed_part_way_is_finished(tmp_path, monkeypatch, blocks_done, torn):
    """The apply goes block by block: a kill after any block (or inside one) is recognised as
    this journal's own partial apply and finished, not set aside."""
    monkeypatch.setattr(journal, "_BLOCK", 3)
    target = tmp_path / "f.bin"
    base = bytes(range(40))
    target.write_bytes(base)
    expected = bytearray(base)
    expected[5:29] = b"N" * 24
    expected += b"tail"
    real = journal._pwrite_all
    calls = {"n": 0}

    def dies(fd, view, offset):
        if fd_is_target(fd):
            if calls["n"] == blocks_done:
                if torn:
                    real(fd, view[:1], offset)
                raise SystemExit("killed")
            calls["n"] += 1
        real(fd, view, offset)

    def fd_is_target(fd):
        return os.fstat(fd).st_ino == target.stat().st_ino

    with monkeypatch.context() as m:
        m.setattr(journal, "_pwrite_all", dies)
        with pytest.raises(SystemExit), journaled(target) as overlay:
            overlay.seek(5)
            overlay.write(b"N" * 24)
            overlay.seek(40)
            overlay.write(b"tail")
    assert journal_path(target).exists()
    result = recover(target)
    assert result.replayed, result
    assert target.read_bytes() == bytes(expected)


def _forged_journal(target: Path, segments, data: bytes, final: int, crcs=None) -> None:
    """A journal as an attacker writes it: well-formed, correct checksum, any fields."""
    st = target.stat()
    blocks = list(journal._blocks(segments))
    if crcs is None:
        crcs = [0] * len(blocks)
    tail = b"".join(journal._SEGMENT.pack(*s) for s in segments)
    tail += b"".join(journal._BLOCK_CRC.pack(c) for c in crcs)
    fields = (journal._MAGIC, len(data), len(segments), st.st_ino, st.st_size, st.st_mtime_ns, final)
    crc = zlib.crc32(journal._TRAILER.pack(*fields, 0), zlib.crc32(tail, zlib.crc32(data)))
    journal_path(target).write_bytes(data + tail + journal._TRAILER.pack(*fields, crc))


@pytest.mark.parametrize(
    "forgery",
    ["1 TiB sparse", "segment past the data", "overlapping", "wrong old bytes", "old format"],
)
def test_hostile_journal_is_set_aside(tmp_path, forgery):
    target = tmp_path / "f.bin"
    target.write_bytes(b"0123456789abcdef")
    if forgery == "1 TiB sparse":  # right old bytes even: only the size bound stops it
        _forged_journal(target, [(0, 3, 0)], b"abc", final=1 << 40, crcs=[zlib.crc32(b"012")])
    elif forgery == "segment past the data":
        _forged_journal(target, [(0, 1000, 0)], b"abc", final=2000)
    elif forgery == "overlapping":
        _forged_journal(target, [(0, 3, 0), (1, 2, 0)], b"abc", final=16)
    elif forgery == "wrong old bytes":
        _forged_journal(target, [(0, 3, 0)], b"abc", final=16, crcs=[12345])
    else:
        journal_path(target).write_bytes(b"x" * 48 + b"MGJRNL01" + bytes(36))
    result = recover(target)
    assert result.set_aside is not None and not result.replayed
    assert target.read_bytes() == b"0123456789abcdef" and target.stat().st_size == 16


def test_project_open_reports_a_journal_set_aside(tmp_path, monkeypatch):
    import numpy as np

    from matlab_gui.project import Project

    path = tmp_path / "p.mgp"
    with Project.create(path) as project:
        project.add_image("a.png", data=np.zeros((8, 8), np.uint8))
        project.save()
    _forged_journal(path, [(0, 3, 0)], b"abc", final=1 << 40)
    with Project.open(path) as project:
        assert len(project.image_ids) == 1
        assert any("not applied" in n and ".journal.rejected" in n for n in project.notices)
