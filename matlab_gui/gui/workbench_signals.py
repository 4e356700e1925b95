"""The Qt face of the Workbench: each of its events re-emitted as a Qt signal.

An event emitted in a worker thread (the autosave's `saved`) reaches the widgets through a
queued connection, in the GUI thread, because this object lives there."""

from __future__ import annotations

from PySide6 import QtCore

from matlab_gui.workbench import Workbench


class WorkbenchSignals(QtCore.QObject):
    project = QtCore.Signal(object)  # Session or None
    image = QtCore.Signal(str)
    classes = QtCore.Signal(object)  # list[ClassDef]
    mask = QtCore.Signal(object)  # Rect to redraw
    edited = QtCore.Signal(object)  # Rect of the mask that changed
    tool = QtCore.Signal(str)
    current_class = QtCore.Signal(int)
    model = QtCore.Signal(object)  # key or None
    prediction = QtCore.Signal(object)  # PredictResult or None
    view = QtCore.Signal(object)  # dict of the view settings that changed
    pixel_size = QtCore.Signal(object)  # ids of the images whose pixel size changed
    saved = QtCore.Signal(str)
    changed = QtCore.Signal(object)

    def __init__(self, workbench: Workbench, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        for event in workbench.events:
            event.connect(getattr(self, event.name).emit)
