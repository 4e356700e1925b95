"""Crash-safe in-place updates of one file through a byte-level write-ahead journal.

Copying a large file to save a small change is too slow, and writing it in place is unsafe: a
process killed half-way leaves it broken. Instead every write made during an update goes to a
journal next to the file while reads see the file as patched by those writes (`OverlayFile`). On
commit the journal gets an index and a checksum, is made durable and renamed to its final name;
only then are the writes applied to the file. A complete journal left by a killed process is
replayed by `recover` (applying it twice is harmless); an incomplete one is simply dropped, so the
file holds either the old or the new bytes, never a mix. Knows nothing about HDF5 or projects.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from matlab_gui.project import fileio

JOURNAL_SUFFIX = ".journal"
TEMP_SUFFIX = ".journal.tmp"

_MAGIC = b"MGJRNL01"
_SEGMENT = struct.Struct("<QQQ")  # file offset, length, journal offset
_TRAILER = struct.Struct("<8sQQQQI")  # magic, index offset, segments, cut, final size, crc32
_COPY_BLOCK = 4 << 20


class JournalError(OSError):
    """A journal that cannot be written or applied."""


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + JOURNAL_SUFFIX)


def temp_journal_path(path: Path) -> Path:
    return path.with_name(path.name + TEMP_SUFFIX)


def _pread_into(fd: int, view: memoryview, offset: int) -> None:
    """Fill `view` from `fd` at `offset`; bytes past the end of the file read as zeros."""
    while len(view):
        n = fileio.read_at(fd, view, offset)
        if n == 0:
            view[:] = bytes(len(view))
            return
        view, offset = view[n:], offset + n


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while len(view):
        n = fileio.write_at(fd, view, offset)
        view, offset = view[n:], offset + n


class OverlayFile(io.RawIOBase):
    """A file-like view of `target` as it will be after commit, for `h5py.File(overlay, "r+")`.

    Writes are appended to the journal; an interval map (sorted, non-overlapping segments, later
    writes win) says which file bytes live where in the journal, so reads cost a bisect.
    """

    def __init__(self, target: Path):
        self._target = Path(target)
        self._temp = temp_journal_path(self._target)
        self._base = fileio.open_fd(self._target, os.O_RDONLY)
        self._size = os.fstat(self._base).st_size
        self._base_valid = self._size  # base bytes past this were truncated away: read as zeros
        self._journal = fileio.open_fd(self._temp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self._journal_size = 0
        self._crc = 0
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._joffs: list[int] = []
        self._pos = 0

    # -- file protocol ------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        start = self._pos
        end = min(start + len(view), self._size)
        if end <= start:
            return 0
        i = bisect_right(self._ends, start)  # first segment ending after `start`
        cur = start
        while cur < end:
            if i < len(self._starts) and self._starts[i] <= cur:
                stop = min(self._ends[i], end)
                joff = self._joffs[i] + cur - self._starts[i]
                _pread_into(self._journal, view[cur - start : stop - start], joff)
                i += 1
            else:
                stop = min(end, self._starts[i]) if i < len(self._starts) else end
                valid = min(stop, self._base_valid)
                if valid > cur:
                    _pread_into(self._base, view[cur - start : valid - start], cur)
                if stop > max(cur, valid):
                    view[max(cur, valid) - start : stop - start] = bytes(stop - max(cur, valid))
            cur = stop
        self._pos = end
        return end - start

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        if n == 0:
            return 0
        joff = self._journal_size
        _pwrite_all(self._journal, view, joff)
        self._journal_size += n
        self._crc = zlib.crc32(view, self._crc)
        self._map(self._pos, self._pos + n, joff)
        self._pos += n
        self._size = max(self._size, self._pos)
        return n

    def truncate(self, size: int | None = None) -> int:
        size = self._pos if size is None else size
        i = bisect_left(self._ends, size + 1)  # first segment reaching past `size`
        if i < len(self._starts) and self._starts[i] < size:
            self._ends[i] = size
            i += 1
        del self._starts[i:], self._ends[i:], self._joffs[i:]
        self._size = size
        self._base_valid = min(self._base_valid, size)
        return size

    def flush(self) -> None:
        """Nothing to do: durability comes at commit."""

    def _map(self, start: int, end: int, joff: int) -> None:
        """Record that file bytes [start, end) now live at `joff` in the journal."""
        lo = bisect_right(self._ends, start)
        hi = bisect_left(self._starts, end)
        new = []
        if lo < hi and self._starts[lo] < start:
            new.append((self._starts[lo], start, self._joffs[lo]))
        new.append((start, end, joff))
        if lo < hi and self._ends[hi - 1] > end:
            s = self._starts[hi - 1]
            new.append((end, self._ends[hi - 1], self._joffs[hi - 1] + end - s))
        if not (lo < hi) and lo > 0:
            # extend the previous segment when this write continues it in file and journal
            p = lo - 1
            if self._ends[p] == start and self._joffs[p] + start - self._starts[p] == joff:
                self._ends[p] = end
                return
        self._starts[lo:hi] = [s for s, _, _ in new]
        self._ends[lo:hi] = [e for _, e, _ in new]
        self._joffs[lo:hi] = [j for _, _, j in new]

    # -- commit / discard ---------------------------------------------------------------
    def segments(self) -> Iterator[tuple[int, int, int]]:
        """(file offset, length, journal offset) of every byte range that changed."""
        for s, e, j in zip(self._starts, self._ends, self._joffs, strict=True):
            yield s, e - s, j

    def commit(self) -> None:
        """Make the journal durable under its final name, then apply it to the target."""
        index = b"".join(_SEGMENT.pack(*seg) for seg in self.segments())
        self._crc = zlib.crc32(index, self._crc)
        trailer = _TRAILER.pack(
            _MAGIC, self._journal_size, len(self._starts), self._base_valid, self._size, self._crc
        )
        _pwrite_all(self._journal, memoryview(index + trailer), self._journal_size)
        os.fsync(self._journal)
        os.replace(self._temp, journal_path(self._target))
        fileio.fsync_dir(self._target.parent)
        self._close_fds()
        segments = list(self.segments())
        _apply(self._target, journal_path(self._target), segments, self._base_valid, self._size)

    def discard(self) -> None:
        """Drop every pending write; the target stays as it was."""
        self._close_fds()
        self._temp.unlink(missing_ok=True)

    def _close_fds(self) -> None:
        for fd in (self._base, self._journal):
            if fd >= 0:
                os.close(fd)
        self._base = self._journal = -1

    def close(self) -> None:
        """h5py closes its file object; the descriptors stay open until commit or discard."""


def _apply(
    target: Path, journal: Path, segments: list[tuple[int, int, int]], cut: int, size: int
) -> None:
    """Cut `target` to `cut` (bytes truncated away during the update must come back as zeros),
    copy every journaled range into it, set its size, then drop the journal. Idempotent."""
    src = fileio.open_fd(journal, os.O_RDONLY)
    dst = fileio.open_fd(target, os.O_WRONLY)
    try:
        if os.fstat(dst).st_size > cut:
            os.ftruncate(dst, cut)
        buf = bytearray(_COPY_BLOCK)
        for offset, length, joff in segments:
            done = 0
            while done < length:
                n = min(length - done, _COPY_BLOCK)
                view = memoryview(buf)[:n]
                _pread_into(src, view, joff + done)
                _pwrite_all(dst, view, offset + done)
                done += n
        os.ftruncate(dst, size)
        os.fsync(dst)
    finally:
        os.close(src)
        os.close(dst)
    journal.unlink()
    fileio.fsync_dir(target.parent)


def _read_complete(journal: Path) -> tuple[list[tuple[int, int, int]], int, int] | None:
    """The segments, cut and final size of a complete, intact journal, else None."""
    with journal.open("rb") as fh:
        body = fh.seek(0, io.SEEK_END) - _TRAILER.size
        if body < 0:
            return None
        fh.seek(body)
        magic, index_at, count, cut, size, crc = _TRAILER.unpack(fh.read(_TRAILER.size))
        if magic != _MAGIC or index_at + count * _SEGMENT.size != body:
            return None
        fh.seek(0)
        running = 0
        while block := fh.read(min(_COPY_BLOCK, body - fh.tell())):
            running = zlib.crc32(block, running)
        if running != crc:
            return None
        fh.seek(index_at)
        index = fh.read(count * _SEGMENT.size)
    return list(_SEGMENT.iter_unpack(index)), cut, size


@contextmanager
def _exclusive(target: Path, wait: bool) -> Iterator[bool]:
    """Advisory lock held by whoever updates or recovers `target`, so an `open` elsewhere never
    replays or deletes the journal of a save in progress. The OS drops it when its holder dies,
    so a killed saver never blocks recovery. Yields whether the lock was taken."""
    fd = fileio.open_fd(target, os.O_RDONLY)
    try:
        try:
            taken = fileio.lock(fd, wait)
        except OSError:  # a file system without locks (some network shares): go on unlocked
            taken = True
        yield taken
    finally:
        os.close(fd)  # releases the lock


def forget(target: Path) -> None:
    """Drop any journal of `target`: call before replacing the file by a different one."""
    temp_journal_path(target).unlink(missing_ok=True)
    journal_path(target).unlink(missing_ok=True)


def _recover_locked(target: Path) -> bool:
    temp_journal_path(target).unlink(missing_ok=True)
    journal = journal_path(target)
    if not journal.exists():
        return False
    complete = _read_complete(journal)
    if complete is None:  # never renamed complete, so the target was never touched
        journal.unlink()
        return False
    _apply(target, journal, *complete)
    return True


def recover(target: Path) -> bool:
    """Finish or drop an update a killed process left behind; True when one was replayed.

    Does nothing while another process or thread is updating `target`."""
    target = Path(target)
    with _exclusive(target, wait=False) as mine:
        return mine and _recover_locked(target)


@contextmanager
def journaled(target: Path) -> Iterator[OverlayFile]:
    """Update `target` through an `OverlayFile`: all of it lands, or none of it (also on kill)."""
    target = Path(target)
    with _exclusive(target, wait=True):
        _recover_locked(target)
        overlay = OverlayFile(target)
        try:
            yield overlay
            overlay.commit()
        except BaseException:
            overlay.discard()  # a journal already renamed stays: `recover` finishes it
            raise
