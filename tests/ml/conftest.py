"""Shared by the ml tests."""

from __future__ import annotations

import os

import pytest


def _in_child(work) -> int:
    """Run `work()` in a forked child, which may end itself with os._exit; its exit status."""
    pid = os.fork()
    if pid == 0:
        try:
            work()
        finally:
            os._exit(0)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.fixture
def in_child():
    return _in_child
