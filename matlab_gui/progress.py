"""What every long-running piece of work shares: progress events and cancellation.

It sits on the lowest floor (beside errors.py) because ml/ loops report progress and check
cancellation as much as jobs/ do.

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
    """Thread-safe flags a caller sets: `cancel` stops a job at its next check and discards its
    work; `finish` asks it to end early but keep what it has (training: the best epoch so far)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._finish = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    def finish(self) -> None:
        self._finish.set()

    @property
    def finish_requested(self) -> bool:
        return self._finish.is_set()

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
