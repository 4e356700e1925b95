"""What every long-running job shares: progress events and cancellation.

A job is a plain function `run_x(request, progress=None, cancel=None) -> result`. It reports
`Progress` events through the callback and calls `cancel.raise_if_cancelled()` between steps.
The CLI passes a tqdm-backed callback; the GUI wraps the same call in a Qt worker.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Cancelled(Exception):
    """Raised inside a job when its cancel token was set; the job leaves no partial output."""


@dataclass(frozen=True)
class Progress:
    stage: str
    done: int
    total: int
    metrics: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0


ProgressCallback = Callable[[Progress], None]


class CancelToken:
    """Thread-safe flag a caller sets to stop a job at its next check."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()


def report(progress: ProgressCallback | None, event: Progress) -> None:
    """Send `event` to `progress` when there is a listener."""
    if progress is not None:
        progress(event)
