"""Runs one job function (`fn(request, progress=cb, cancel=token)`) off the GUI thread.

Same hand-over as `gui.workers`: the worker thread puts events in a queue and emits an
argument-less signal; a slot in the GUI thread drains the queue and re-emits them as plain
signals there (Python objects sent through queued signals crash PySide6 now and then). A plain
Python thread rather than a QThread: nothing Qt runs in it, and a QThread object destroyed while
its thread still runs aborts the app. Every exception ends as `failed(message)`, never as a dead
thread, and a worker runs one job at a time (one worker per kind of job)."""

from __future__ import annotations

import logging
import queue
import threading
import traceback

from PySide6 import QtCore

from matlab_gui.errors import UserError
from matlab_gui.progress import Cancelled, CancelToken

log = logging.getLogger(__name__)


def describe_failure(exc: BaseException) -> str:
    """One message a user can act on: theirs for a UserError, advice for running out of memory."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return ("Out of memory. Try a smaller batch or patch size, or the CPU device "
                "(Model > Advanced…).")
    return f"Unexpected error ({type(exc).__name__}): {exc}"


class JobWorker(QtCore.QObject):
    """One kind of background job (training, prediction, a batch run)."""

    started = QtCore.Signal()
    progress = QtCore.Signal(object)  # progress.Progress, emitted in the GUI thread
    finished = QtCore.Signal(object)  # the job's result
    failed = QtCore.Signal(str)
    cancelled = QtCore.Signal()
    _ready = QtCore.Signal()

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._token = CancelToken()
        self._ready.connect(self._drain, QtCore.Qt.QueuedConnection)

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, fn, request) -> bool:
        """Run `fn(request, …)` in a new thread; False (nothing started) while one runs."""
        if self.busy:
            return False
        self._token = CancelToken()
        self._thread = threading.Thread(target=self._run, args=(fn, request, self._token),
                                        name=f"job-{getattr(fn, '__name__', 'fn')}", daemon=True)
        self._thread.start()
        self.started.emit()
        return True

    def cancel(self) -> None:
        """Ask the job to stop at its next check; `cancelled` follows once it has."""
        self._token.cancel()

    def finish(self) -> None:
        """Ask the job to end early and keep its work; `finished` follows with the result."""
        self._token.finish()

    def wait(self, timeout_s: float | None = None) -> None:
        """Block until the thread ends (closing the window); its events are dropped."""
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _post(self, kind: str, value=None) -> None:
        self._events.put((kind, value))
        try:
            self._ready.emit()
        except RuntimeError:  # the window closed and took this object with it: nobody listens
            pass

    def _run(self, fn, request, token: CancelToken) -> None:
        """In the worker thread: the job, then exactly one final event."""
        try:
            result = fn(request, progress=lambda event: self._post("progress", event),
                        cancel=token)
        except Cancelled:
            self._post("cancelled")
        except BaseException as exc:  # noqa: BLE001 - every failure must reach the user
            if not isinstance(exc, UserError):
                log.error("job failed\n%s", "".join(traceback.format_exception(exc)))
            self._post("failed", describe_failure(exc))
        else:
            self._post("cancelled" if token.cancelled else "finished", result)

    @QtCore.Slot()
    def _drain(self) -> None:
        """In the GUI thread. Progress is coalesced: of a run of step events only the last
        counts, so a fast job cannot flood the event loop; epoch ends are all kept."""
        pending = None
        while not self._events.empty():
            kind, value = self._events.get()
            if kind == "progress":
                if pending is not None and pending.stage != value.stage:
                    self.progress.emit(pending)
                pending = value
                continue
            if pending is not None:
                self.progress.emit(pending)
                pending = None
            self._finish(kind, value)
        if pending is not None:
            self.progress.emit(pending)

    def _finish(self, kind: str, value) -> None:
        if self._thread is not None:
            self._thread.join()
        self._thread = None
        if kind == "finished":
            self.finished.emit(value)
        elif kind == "failed":
            self.failed.emit(value)
        else:
            self.cancelled.emit()
