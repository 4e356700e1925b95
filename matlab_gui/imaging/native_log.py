"""What C decoders print on the process's standard error, caught instead of shown.

libpng and libjpeg write their complaints ("libpng error: ...", "Corrupt JPEG data: ...")
straight to file descriptor 2, past Python and past OpenCV's log level. The reader catches those
lines while it decodes, so the user sees one message of ours, and uses them: a JPEG that libjpeg
calls cut short is refused instead of opening half grey.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_ONE_AT_A_TIME = threading.Lock()  # descriptor 2 is one per process


def _redirect() -> tuple[int, object] | None:
    """Point descriptor 2 at a temporary file; None where there is no descriptor 2 (a
    windowed app on Windows) or it cannot be duplicated."""
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass
    try:
        saved = os.dup(2)
    except OSError:
        return None
    sink = tempfile.TemporaryFile()
    os.dup2(sink.fileno(), 2)
    return saved, sink


@contextmanager
def native_stderr() -> Iterator[list[str]]:
    """The lines C code printed on standard error inside the block (filled in when it ends)."""
    lines: list[str] = []
    with _ONE_AT_A_TIME:
        redirected = _redirect()
        try:
            yield lines
        finally:
            if redirected is not None:
                saved, sink = redirected
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                text = sink.read().decode("utf-8", "replace")
                sink.close()
                lines.extend(line.strip() for line in text.splitlines() if line.strip())
