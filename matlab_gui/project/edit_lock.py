"""The lock a window holds on the project it edits, so a second window is told, not let in.

Saves are safe against each other anyway (journal lock, merge of the metadata), but two windows
editing one project would keep refusing each other's saves. The lock is an advisory lock on a
small file beside the project (`<name>.lock`) that says who holds it; the OS drops the lock when
its holder dies, so a crashed window never locks anyone out.
"""

from __future__ import annotations

import getpass
import os
import socket
from datetime import datetime
from pathlib import Path

from matlab_gui.errors import ProjectLockedError
from matlab_gui.project import fileio

LOCK_SUFFIX = ".lock"


def lock_path(project: Path) -> Path:
    return project.with_name(project.name + LOCK_SUFFIX)


def _owner() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment (containers)
        user = "?"
    return f"{user} on {socket.gethostname()}, process {os.getpid()}, since {datetime.now():%Y-%m-%d %H:%M}"


class EditLock:
    """Held from `take` until `release` (or the process ends)."""

    def __init__(self, path: Path, fd: int):
        self.path, self._fd = path, fd

    @classmethod
    def take(cls, project: Path) -> EditLock | None:
        """The lock, or ProjectLockedError naming its holder; None where locks do not exist."""
        path = lock_path(Path(project))
        while True:
            fd = fileio.open_fd(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                taken = fileio.lock(fd, wait=False)
            except OSError:  # a file system without locks
                os.close(fd)
                return None
            if not taken:
                os.close(fd)
                holder = _read_owner(path)
                raise ProjectLockedError(
                    f"open for editing in another window ({holder}); close it there, or open "
                    "this project read-only",
                    project,
                )
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a lock file its last holder unlinked after we opened it
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        fileio.write_at(fd, memoryview(_owner().encode()), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd >= 0:
            self.path.unlink(missing_ok=True)
            os.close(self._fd)
            self._fd = -1


def _read_owner(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()[:200] or "unknown"
    except OSError:
        return "unknown"
