"""Work around a PySide6 6.12.0 bug on Python 3.11 that aborts the app after a few thousand calls.

There, every call of a Qt method that returns nothing drops a reference to None that it never
took (and Python overrides returning a bool, such as event filters, do the same to True/False).
None starts with ~5000 references, so a few minutes of mouse moves end in
"Fatal Python error: none_dealloc". Python 3.12 made these objects immortal; on 3.11 we give them
a reference count so large (2**40) that the leak cannot reach zero. Drop this once the project
requires a fixed PySide6 or Python >= 3.12.
"""

from __future__ import annotations

import ctypes
import sys

import PySide6

_HEADROOM = 1 << 40


def apply() -> None:
    if sys.version_info >= (3, 12) or not PySide6.__version__.startswith("6.12."):
        return
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _HEADROOM  # ob_refcnt is the first field
