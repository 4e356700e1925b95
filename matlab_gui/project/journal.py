"""Crash-safe in-place updates of one file through a byte-level write-ahead journal.

Copying a large file to save a small change is too slow, and writing it in place is unsafe: a
process killed half-way leaves it broken. Instead every write made during an update goes to a
journal next to the file while reads see the file as patched by those writes (`OverlayFile`). On
commit the journal gets an index, the identity of the file state it was written for and a
checksum, is made durable and renamed to its final name; only then are the writes applied to the
file. A complete journal left by a killed process is replayed by `recover`; an incomplete one is
simply dropped, so the file holds either the old or the new bytes, never a mix.

A journal is bound to the exact bytes it patches: the file's inode, its size and modification
time before the update, and a checksum of every block it overwrites. Replay checks that the file
is still that state, or that state partly patched by this very journal (the apply runs block by
block, in order, so a killed apply leaves new blocks, at most one torn block, then old ones).
Anything else (a backup restored under the name, an edit by another HDF5 tool, a hostile or
damaged journal) is set aside under a new name and reported, never applied. Knows nothing about
HDF5 or projects.
"""

from __future__ import annotations

import errno
import io
import os
import struct
import time
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import wraps
from pathlib import Path

from matlab_gui.project import fileio

JOURNAL_SUFFIX = ".journal"
TEMP_SUFFIX = ".journal.tmp"
SET_ASIDE_SUFFIX = ".journal.rejected"

_MAGIC = b"MGJRNL02"
_ZEROS = (1 << 64) - 1  # journal offset of a range that becomes zeros (truncated, re-extended)
_SEGMENT = struct.Struct("<QQQ")  # file offset, length, journal offset
_BLOCK_CRC = struct.Struct("<I")  # crc32 of one block of the bytes a segment overwrites
# magic, data bytes, segments, inode, size before, mtime before (ns), final size, crc32 of the rest
_TRAILER = struct.Struct("<8sQQQQQQI")
_BLOCK = 4 << 20  # the unit of apply and of the overwritten-bytes checksums
_GROWTH_SLACK = 64 << 20  # how far past its data a journal may extend the file (HDF5 reserves)
_SPACE_MARGIN = 1 << 20


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


def _blocks(segments: list[tuple[int, int, int]]) -> Iterator[tuple[int, int, int]]:
    """The segments cut into apply blocks: (file offset, length, journal offset or _ZEROS)."""
    for offset, length, joff in segments:
        for done in range(0, length, _BLOCK):
            n = min(_BLOCK, length - done)
            yield offset + done, n, joff if joff == _ZEROS else joff + done


@dataclass(frozen=True)
class FileState:
    """What identifies the bytes of a file without reading them all."""

    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, fd: int) -> FileState:
        st = os.fstat(fd)
        return cls(st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class Plan:
    """A complete journal: where its bytes go and the file state it was written for."""

    segments: list[tuple[int, int, int]]
    old_crcs: list[int]
    before: FileState
    final_size: int


def _remembering_failure(method):
    """Record the first error of a file call: h5py may swallow it (an error raised while it
    closes a file only prints "Exception ignored"), and a save must never commit after one."""

    @wraps(method)
    def call(self, *args):
        try:
            return method(self, *args)
        except BaseException as exc:
            if self.failure is None:
                self.failure = exc
            raise

    return call


class OverlayFile(io.RawIOBase):
    """A file-like view of `target` as it will be after commit, for `h5py.File(overlay, "r+")`.

    Writes are appended to the journal; an interval map (sorted, non-overlapping segments, later
    writes win) says which file bytes live where in the journal, so reads cost a bisect.

    When a journal write fails (disk full, I/O error) the failure is kept in `failure` and the
    rest of the update goes to memory instead, so HDF5 never sees a failed write: after one it
    can corrupt its own state and crash the process. `check` lets the writer stop early, and
    `commit` refuses an update with a failure.
    """

    def __init__(self, target: Path):
        self.failure: BaseException | None = None
        self._target = Path(target)
        self._temp = temp_journal_path(self._target)
        self._base = fileio.open_fd(self._target, os.O_RDONLY)
        self._journal = -1
        self._before = FileState.of(self._base)
        self._size = self._before.size
        self._base_valid = self._size  # base bytes past this were truncated away: read as zeros
        try:
            self._journal = fileio.open_fd(self._temp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        except BaseException:
            self._close_fds()
            raise
        self._journal_size = 0
        self._spill: bytearray | None = None  # journal bytes from `_spill_at` on, after a failure
        self._spill_at = 0
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

    @_remembering_failure
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
                self._read_journal(view[cur - start : stop - start], joff)
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

    @_remembering_failure
    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        if n == 0:
            return 0
        joff = self._journal_size
        self._write_journal(view, joff)
        self._journal_size += n
        self._crc = zlib.crc32(view, self._crc)
        self._map(self._pos, self._pos + n, joff)
        self._pos += n
        self._size = max(self._size, self._pos)
        return n

    @_remembering_failure
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

    def check(self) -> None:
        """Raise the failure a write met, if any (call between steps of the update)."""
        if self.failure is not None:
            raise OSError(f"a write failed during the save: {self.failure}") from self.failure

    def _write_journal(self, view: memoryview, joff: int) -> None:
        if self._spill is None:
            try:
                _pwrite_all(self._journal, view, joff)
                return
            except OSError as exc:
                if self.failure is None:
                    self.failure = exc
                self._spill, self._spill_at = bytearray(), joff
        self._spill += view

    def _read_journal(self, view: memoryview, joff: int) -> None:
        if self._spill is not None and joff + len(view) > self._spill_at:
            on_disk = max(0, self._spill_at - joff)
            if on_disk:
                _pread_into(self._journal, view[:on_disk], joff)
            s = joff + on_disk - self._spill_at
            view[on_disk:] = self._spill[s : s + len(view) - on_disk]
            return
        _pread_into(self._journal, view, joff)

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

    def _plan_segments(self) -> list[tuple[int, int, int]]:
        """The written ranges plus, as zero ranges, the bytes past the cut that nothing wrote."""
        out, cur = [], self._base_valid
        for offset, length, joff in self.segments():
            if offset > cur:
                out.append((cur, offset - cur, _ZEROS))
            out.append((offset, length, joff))
            cur = max(cur, offset + length)
        if self._size > cur:
            out.append((cur, self._size - cur, _ZEROS))
        return sorted(out)

    def _old_crcs(self, segments: list[tuple[int, int, int]]) -> list[int]:
        """crc32 of every block of the file's current bytes that the journal will overwrite."""
        buf = bytearray(_BLOCK)
        crcs = []
        for offset, length, _ in _blocks(segments):
            view = memoryview(buf)[:length]
            _pread_into(self._base, view, offset)
            crcs.append(zlib.crc32(view))
        return crcs

    def commit(self) -> None:
        """Make the journal durable under its final name, then apply it to the target."""
        self.check()
        segments = self._plan_segments()
        _ensure_space(self._target, self._size - self._before.size)
        crcs = self._old_crcs(segments)
        tail = b"".join(_SEGMENT.pack(*seg) for seg in segments)
        tail += b"".join(_BLOCK_CRC.pack(c) for c in crcs)
        crc = zlib.crc32(tail, self._crc)
        b = self._before
        fields = (_MAGIC, self._journal_size, len(segments), b.inode, b.size, b.mtime_ns, self._size)
        crc = zlib.crc32(_TRAILER.pack(*fields, 0), crc)
        _pwrite_all(self._journal, memoryview(tail + _TRAILER.pack(*fields, crc)), self._journal_size)
        os.fsync(self._journal)
        os.replace(self._temp, journal_path(self._target))
        fileio.fsync_dir(self._target.parent)
        now = FileState.of(self._base)
        self._close_fds()
        if now != self._before:  # a writer that ignores the lock changed the file meanwhile
            aside = _set_aside(self._target)
            raise OSError(
                f"the file was changed by another program during the save; the save was kept "
                f"as {aside.name} and not applied"
            )
        _apply(self._target, journal_path(self._target), Plan(segments, crcs, b, self._size))

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


def _ensure_space(target: Path, growth: int) -> None:
    """Refuse before the commit point when the file cannot grow by `growth` bytes, so a full
    disk fails the save cleanly instead of leaving a journal that cannot be applied."""
    if growth <= 0 or not hasattr(os, "statvfs"):
        return
    st = os.statvfs(target.parent)
    if st.f_bavail * st.f_frsize < growth + _SPACE_MARGIN:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target.parent))


def _apply(target: Path, journal: Path, plan: Plan) -> None:
    """Write every journaled block into `target` in order, set its size, then drop the journal.
    Idempotent, and a kill part-way leaves a state `_verdict` recognises."""
    src = fileio.open_fd(journal, os.O_RDONLY)
    try:
        dst = fileio.open_fd(target, os.O_WRONLY)
    except BaseException:
        os.close(src)
        raise
    try:
        buf = bytearray(_BLOCK)
        for offset, length, joff in _blocks(plan.segments):
            view = memoryview(buf)[:length]
            if joff == _ZEROS:
                view[:] = bytes(length)
            else:
                _pread_into(src, view, joff)
            _pwrite_all(dst, view, offset)
        os.ftruncate(dst, plan.final_size)
        os.fsync(dst)
    finally:
        os.close(src)
        os.close(dst)
    journal.unlink()
    fileio.fsync_dir(target.parent)


def _read_plan(journal: Path) -> Plan | str:
    """The plan of a complete, intact, well-formed journal, else why it is not one."""
    with journal.open("rb") as fh:
        total = fh.seek(0, io.SEEK_END)
        body = total - _TRAILER.size
        if body < 0:
            return "too short to be a journal"
        fh.seek(body)
        magic, data, count, inode, size0, mtime0, final, crc = _TRAILER.unpack(fh.read(_TRAILER.size))
        if magic != _MAGIC:
            return "not a journal of this version"
        index_end = data + count * _SEGMENT.size
        if index_end > body:
            return "index out of bounds"
        fh.seek(data)
        segments = list(_SEGMENT.iter_unpack(fh.read(count * _SEGMENT.size)))
        problem = _check_segments(segments, data, size0, final)
        if problem:
            return problem
        blocks = sum(-(-length // _BLOCK) for _, length, _ in segments)
        if index_end + blocks * _BLOCK_CRC.size != body:
            return "index does not match the journal's length"
        crcs = [c for (c,) in _BLOCK_CRC.iter_unpack(fh.read(blocks * _BLOCK_CRC.size))]
        fh.seek(0)
        running = 0
        while block := fh.read(min(_BLOCK, body - fh.tell())):
            running = zlib.crc32(block, running)
        fields = (magic, data, count, inode, size0, mtime0, final)
        if zlib.crc32(_TRAILER.pack(*fields, 0), running) != crc:
            return "checksum mismatch (damaged)"
    return Plan(segments, crcs, FileState(inode, size0, mtime0), final)



def _check_segments(segments: list[tuple[int, int, int]], data: int, size0: int, final: int) -> str:
    """Why these segments could not come from a real update, or ''."""
    data_end, cur = 0, 0
    for offset, length, joff in segments:
        if length == 0 or offset < cur or offset + length > final:
            return "segments overlap or lie outside the file"
        if joff != _ZEROS:
            if joff + length > data:
                return "segment points outside the journal's data"
            data_end = max(data_end, offset + length)
        cur = offset + length
    if final > max(size0, data_end) + _GROWTH_SLACK:
        return f"would grow the file to {final} bytes"
    return ""


def _verdict(target: Path, plan: Plan) -> str:
    """'apply' when `target` is the state the journal was written for, or that state partly
    patched by it; else why it is not (the journal must then not touch it)."""
    src = fileio.open_fd(journal_path(target), os.O_RDONLY)
    dst = fileio.open_fd(target, os.O_RDONLY)
    try:
        now = FileState.of(dst)
        if now.inode != plan.before.inode:
            return "the project file was replaced since"
        cur, new = bytearray(_BLOCK), bytearray(_BLOCK)
        states = []
        for (offset, length, joff), old_crc in zip(_blocks(plan.segments), plan.old_crcs, strict=True):
            c, n = memoryview(cur)[:length], memoryview(new)[:length]
            _pread_into(dst, c, offset)
            if joff == _ZEROS:
                n[:] = bytes(length)
            else:
                _pread_into(src, n, joff)
            is_new, is_old = c == n, zlib.crc32(c) == old_crc
            torn = c[:1] == n[:1]  # a write cut short leaves a prefix of the new bytes
            states.append("E" if is_new and is_old else "N" if is_new else "O" if is_old
                          else "T" if torn else "X")
    finally:
        os.close(src)
        os.close(dst)
    pattern = "".join(states)
    reach = max((o + n for o, n, _ in plan.segments), default=0)
    part_way = "T" in pattern or ("N" in pattern and "O" in pattern)
    if part_way and not plan.before.size <= now.size <= max(plan.before.size, reach):
        return "the project file's size does not fit an interrupted save"  # the apply only grows it
    if "N" not in pattern and "T" not in pattern and now != plan.before:
        # Looks unpatched, yet the file changed: only ours if the apply had begun (it writes
        # blocks in order, so its first blocks would read as both old and new).
        if not pattern.startswith("E"):
            return "the project file was changed since (by another program?)"
    head = pattern.lstrip("NE")
    if head[:1] == "T":
        head = head[1:]
    if head.strip("OE"):
        return "the project file does not match the journal's blocks"
    return "apply"


def _set_aside(target: Path) -> Path:
    """Rename the journal of `target` out of the way (kept, never applied); returns its name."""
    aside = target.with_name(target.name + SET_ASIDE_SUFFIX)
    k = 1
    while aside.exists():
        k += 1
        aside = target.with_name(f"{target.name}{SET_ASIDE_SUFFIX}-{k}")
    os.replace(journal_path(target), aside)
    fileio.fsync_dir(target.parent)
    return aside


@dataclass(frozen=True)
class Recovery:
    """What `recover` did: replayed a journal, set one aside (and why), or nothing."""

    replayed: bool = False
    set_aside: Path | None = None
    reason: str = ""

    def notice(self) -> str:
        if self.set_aside is None:
            return ""
        return (f"an unfinished save was not applied ({self.reason}); it is kept as "
                f"{self.set_aside.name}")


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


@contextmanager
def shared(target: Path, timeout_s: float = 60.0) -> Iterator[None]:
    """Held by a reader: no save is applied to `target` meanwhile. Polls rather than blocks so a
    reader gives up with a clear error instead of hanging behind a stuck writer."""
    fd = fileio.open_fd(target, os.O_RDONLY)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if fileio.lock(fd, wait=False, shared=True):
                    break
            except OSError:  # no locks on this file system
                break
            if time.monotonic() > deadline:
                raise OSError(errno.EBUSY, "another program has been saving it for too long")
            time.sleep(0.02)
        yield
    finally:
        os.close(fd)


def forget(target: Path) -> None:
    """Drop any journal of `target`: call before replacing the file by a different one."""
    temp_journal_path(target).unlink(missing_ok=True)
    journal_path(target).unlink(missing_ok=True)


def pending(target: Path) -> bool:
    """Whether a complete-looking journal waits to be replayed onto `target`."""
    return journal_path(Path(target)).exists()


def _recover_locked(target: Path) -> Recovery:
    if temp_journal_path(target).exists():  # never renamed complete: the target is untouched
        temp_journal_path(target).unlink()
    journal = journal_path(target)
    if not journal.exists():
        return Recovery()
    plan = _read_plan(journal)
    reason = plan if isinstance(plan, str) else _verdict(target, plan)
    if reason != "apply":
        return Recovery(set_aside=_set_aside(target), reason=reason)
    _apply(target, journal, plan)
    return Recovery(replayed=True)


def recover(target: Path) -> Recovery:
    """Finish, or set aside, an update a killed process left behind.

    Does nothing while another process or thread is updating `target`."""
    target = Path(target)
    with _exclusive(target, wait=False) as mine:
        return _recover_locked(target) if mine else Recovery()


@contextmanager
def journaled(target: Path) -> Iterator[OverlayFile]:
    """Update `target` through an `OverlayFile`: all of it lands, or none of it (also on kill).
    A stale journal found on the way in is finished or set aside first."""
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
