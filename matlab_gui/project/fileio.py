"""The few low-level file calls the journal needs, on POSIX and on Windows.

POSIX has positioned reads/writes (`pread`/`pwrite`), directory fsync and `flock`. Windows has
none of them: there, reads and writes seek first (each descriptor belongs to one journal object,
so nothing else moves its position), a directory cannot be fsynced (NTFS makes the rename
durable with the file), and `msvcrt.locking` takes the advisory lock. Files open in binary mode.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

BINARY = getattr(os, "O_BINARY", 0)  # Windows opens descriptors in text mode without it
POSITIONED = hasattr(os, "preadv") and hasattr(os, "pwrite")


def open_fd(path: Path, flags: int, mode: int = 0o644) -> int:
    return os.open(path, flags | BINARY, mode)


def read_at(fd: int, view: memoryview, offset: int) -> int:
    """Read into `view` at `offset`; returns the bytes read (0 at the end of the file)."""
    if POSITIONED:
        return os.preadv(fd, [view], offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.readv(fd, [view])


def write_at(fd: int, view: memoryview, offset: int) -> int:
    if POSITIONED:
        return os.pwrite(fd, view, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.write(fd, view)


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows: no directory handles through os.open
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def lock(fd: int, wait: bool, shared: bool = False) -> bool:
    """Take the advisory lock on `fd` (released when it closes): exclusive for a writer, shared
    for a reader; False if another holder excludes it and `wait` is off. Raises OSError where
    the file system has no locks. Windows has no shared lock: readers go unlocked there."""
    try:
        if fcntl is not None:
            kind = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
            fcntl.flock(fd, kind | (0 if wait else fcntl.LOCK_NB))
        elif shared:
            return True
        else:
            msvcrt.locking(fd, msvcrt.LK_LOCK if wait else msvcrt.LK_NBLCK, 1)
    except BlockingIOError:
        return False
    except PermissionError:
        if fcntl is None:  # msvcrt reports a held lock as EACCES
            return False
        raise
    return True
