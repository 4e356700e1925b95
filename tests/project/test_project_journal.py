"""The write-ahead journal: the overlay reads what was written, commit and recovery apply it exactly."""

from __future__ import annotations

import os
import tempfile
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
    assert recover(target) is True
    assert target.read_bytes() == b"012NEW67"
    journal_path(target).write_bytes(saved)  # killed during the first replay: replay again
    assert recover(target) is True
    assert target.read_bytes() == b"012NEW67"
    assert not journal_path(target).exists()


@pytest.mark.parametrize("cut", [1, 10, 30])
def test_incomplete_or_corrupt_journal_is_dropped(tmp_path, monkeypatch, cut):
    target = tmp_path / "f.bin"
    target.write_bytes(b"0123456789abcdef")
    _pending_update(target, monkeypatch)
    data = journal_path(target).read_bytes()
    journal_path(target).write_bytes(data[:-cut])
    assert recover(target) is False
    assert target.read_bytes() == b"0123456789abcdef"
    assert not journal_path(target).exists()


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
        assert recover(target) is False  # e.g. another Project opening the file meanwhile
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
    assert recover(target) is True
    assert target.read_bytes()[3:6] == b"NEW" and len(target.read_bytes()) == 8
