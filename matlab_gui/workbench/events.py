"""Announcements without Qt: an `Event` calls its subscribers with one value, in the thread
that emits it (the Qt adapter moves those from worker threads onto the GUI thread)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Event:
    """One kind of change; `connect` a callback, `emit(value)` calls each in connection order."""

    def __init__(self, name: str):
        self.name = name
        self._callbacks: list[Callable[[Any], None]] = []

    def connect(self, callback: Callable[[Any], None]) -> Callable[[Any], None]:
        self._callbacks.append(callback)
        return callback

    def disconnect(self, callback: Callable[[Any], None]) -> None:
        self._callbacks.remove(callback)

    def emit(self, value: Any = None) -> None:
        for callback in list(self._callbacks):
            callback(value)


class EventGroup:
    """Named events as attributes: `events.project.connect(f)`."""

    def __init__(self, *names: str):
        self.names = names
        for name in names:
            setattr(self, name, Event(name))

    def __iter__(self):
        return (getattr(self, n) for n in self.names)
