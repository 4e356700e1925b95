"""The open workbench as plain Python: the project being edited, its current image and undo
histories, and the events that announce every change. No Qt: the window subscribes through a
thin adapter (gui/workbench_signals.py), tests drive it directly."""

from matlab_gui.workbench.events import Event, EventGroup
from matlab_gui.workbench.session import DEFAULT_CLASSES, Session
from matlab_gui.workbench.state import Workbench

__all__ = ["DEFAULT_CLASSES", "Event", "EventGroup", "Session", "Workbench"]
