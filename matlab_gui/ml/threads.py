"""One budget of CPU threads shared by the compute jobs running at once in this process.

The window trains and predicts at the same time, each in its own worker thread; with torch's
default (every core for every job), two jobs on a 2-core CPU ran 3.8-4.4x slower than one
thread each. Each job runs inside `compute_job()` (the jobs' entry points are decorated with
`shares_the_cores`): while k jobs run, each gets the cores divided by k. Torch's thread count
is per calling thread (OpenMP), so a job sets its own at the start and `rebalance()` (called
between training steps, tile batches and classifier batches) follows a job starting or ending
elsewhere; a CPU engine made meanwhile (`ml.engines`) gets the share too. Torch is imported
only when a job starts, so the window can import the jobs at start-up.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

_lock = threading.Lock()
_active = 0
_cores: int | None = None  # what torch chose for this machine (or the user set), at first use

F = TypeVar("F", bound=Callable)


def share(active: int | None = None) -> int:
    """Threads per job while `active` jobs (default: those running) share the cores."""
    import torch

    global _cores
    if _cores is None:
        _cores = max(1, torch.get_num_threads())
    return max(1, _cores // max(1, _active if active is None else active))


@contextmanager
def compute_job() -> Iterator[int]:
    """Count this job among those sharing the cores for as long as it runs; yields its share."""
    import torch

    global _active
    before = torch.get_num_threads()
    with _lock:
        _active += 1
    rebalance()
    try:
        yield share()
    finally:
        with _lock:
            _active -= 1
        torch.set_num_threads(before)


def rebalance() -> None:
    """The calling job's thread count follows the jobs running now (cheap when unchanged)."""
    import torch

    if _active and torch.get_num_threads() != share():
        torch.set_num_threads(share())


def shares_the_cores(job: F) -> F:
    """`job` runs inside `compute_job()`."""
    @functools.wraps(job)
    def run(*args, **kwargs):
        with compute_job():
            return job(*args, **kwargs)
    return run  # type: ignore[return-value]
