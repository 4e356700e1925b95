"""A real MainWindow driven by qtbot, sample micrographs written to tmp, no dialogs left open."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
from PySide6 import QtCore, QtTest, QtWidgets

Qt = QtCore.Qt


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qsettings")
    QtCore.QSettings.setDefaultFormat(QtCore.QSettings.IniFormat)
    QtCore.QSettings.setPath(QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope, str(folder))
    # live mode (on for users) computes CNN features after every stroke; the tests of other
    # features run without it, tests/gui/test_gui_live.py turns it on
    QtCore.QSettings().setValue("live/enabled", False)


@pytest.fixture
def messages(monkeypatch):
    """Every QMessageBox shown, as (kind, title, text); questions answer Yes/Discard."""
    shown = []
    mb = QtWidgets.QMessageBox
    for kind in ("warning", "critical", "information"):
        monkeypatch.setattr(
            mb, kind, staticmethod(lambda _p, t, m, *a, k=kind: shown.append((k, t, m)) or mb.Ok)
        )

    def question(_p, t, m, *a):
        shown.append(("question", t, m))
        return mb.Discard if "Save the changes" in m else mb.Yes

    monkeypatch.setattr(mb, "question", staticmethod(question))
    return shown


def grain_predictor(names=("Phase 1", "Phase 2")):
    """A stand-in for the window's predict job, a model with these two class names: the
    bright grain is its output 1, the rest output 0."""
    from matlab_gui.gui.prediction_layer import Outcome, PredictResult

    def run(request, progress=None, cancel=None):
        out = PredictResult("segmentation", list(names))
        for image_id in request.image_ids:
            p1 = (request.project.read_image(image_id) > 100).astype(np.float32) * 0.8 + 0.1
            probabilities = np.stack([1 - p1, p1]).astype(np.float16)
            out.outcomes.append(Outcome(image_id, (p1 > 0.5).astype(np.uint8), probabilities.max(0),
                                        np.abs(p1 - 0.5).astype(np.float16), probabilities))
        return out

    return run


@pytest.fixture
def predictor():
    """`predictor(names)`: a stand-in predict job (see `grain_predictor`)."""
    return grain_predictor


@pytest.fixture
def window(qtbot, messages):
    from matlab_gui.gui.app import application
    from matlab_gui.gui.main_window import MainWindow

    application()
    w = MainWindow()
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


@pytest.fixture
def grain_image(tmp_path):
    """A 120 x 160 uint8 micrograph: dark background, one bright 30 x 40 grain."""
    data = np.full((120, 160), 40, np.uint8)
    data[40:70, 60:100] = 200
    path = tmp_path / "grain.tif"
    tifffile.imwrite(path, data)
    return path, data


# -- mouse: image coordinates (y, x) -> canvas viewport positions ------------------------


def widget_pos(canvas, y: float, x: float) -> QtCore.QPoint:
    scene = canvas.view.mapViewToScene(QtCore.QPointF(x, y))
    return canvas.mapFromScene(scene)


def image_pos(canvas, point: QtCore.QPoint) -> tuple[float, float]:
    """Where the canvas maps a viewport point (the exact coordinates a tool receives)."""
    p = canvas.view.mapSceneToView(canvas.mapToScene(point))
    return p.y(), p.x()


def drag(canvas, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Press at the first image point, move through the others, release at the last; returns
    the image coordinates the canvas really saw."""
    vp = canvas.viewport()
    pos = [widget_pos(canvas, y, x) for y, x in points]
    QtTest.QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, pos[0])
    for p in pos[1:]:
        QtTest.QTest.mouseMove(vp, p)
    QtTest.QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, pos[-1])
    return [image_pos(canvas, p) for p in pos]


def click(canvas, y: float, x: float) -> None:
    """Click the centre of pixel (y, x), so rounding to whole screen points stays inside it."""
    QtTest.QTest.mouseClick(
        canvas.viewport(), Qt.LeftButton, Qt.NoModifier, widget_pos(canvas, y + 0.5, x + 0.5)
    )


@pytest.fixture
def mouse():
    return SimpleNamespace(drag=drag, click=click, widget_pos=widget_pos)
