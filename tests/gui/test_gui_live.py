"""Live mode in the real window: strokes painted with the mouse bring a prediction of the whole
image that Accept takes; a stroke during an update makes that update's result never shown; a
model's prediction is left alone; off means nothing runs."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import tifffile

from matlab_gui.gui import live_assist


def two_textures(size: int = 192):
    """Smooth matrix, striped disk of the same mean brightness (1 matrix, 2 disk)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    truth = np.where((xx - size / 2) ** 2 + (yy - size / 2) ** 2 < (size * 0.3) ** 2, 2, 1)
    matrix = cv2.GaussianBlur(rng.normal(0, 25, (size, size)), (0, 0), 4) + 120
    stripes = 120 + 45 * np.sin(xx / 2.0) + rng.normal(0, 10, (size, size))
    return np.clip(np.where(truth == 2, stripes, matrix), 0, 255).astype(np.uint8), truth


def iou(labels, truth, value):
    return ((labels == value) & (truth == value)).sum() / ((labels == value) | (truth == value)).sum()


@pytest.fixture
def live(window, tmp_path, qtbot):
    """The window on a two-texture image with live mode turned on and its features ready."""
    image, truth = two_textures()
    tifffile.imwrite(tmp_path / "textures.tif", image)
    window.open_paths([tmp_path / "textures.tif"])
    window.canvas.fit()
    window.options.brush.setValue(3)
    assist = window.model_features.prediction.live
    with qtbot.waitSignal(assist.feature_worker.finished, timeout=60000):
        assist.toggle.setChecked(True)
    yield window, assist, truth
    window.model_features.close()


def paint(window, mouse, value, points):
    window.palette.select(value)
    mouse.drag(window.canvas, points)


DISK_STROKE = [(96, 70), (96, 120)]
MATRIX_STROKES = [[(15, 20), (15, 170)], [(178, 20), (178, 170)]]


def test_strokes_bring_a_live_prediction_that_accept_takes(live, mouse, qtbot):
    window, assist, truth = live
    paint(window, mouse, 2, DISK_STROKE)
    assert "two classes" in assist.status.text()  # one class is not enough yet
    with qtbot.waitSignal(assist.updated, timeout=20000):
        paint(window, mouse, 1, MATRIX_STROKES[0])
    shown = window.workbench.prediction
    assert shown.engine == live_assist.LIVE_ENGINE and shown.class_names == ["Phase 1", "Phase 2"]
    labels = shown.outcomes[0].labels
    assert iou(labels, truth, 2) > 0.85 and iou(labels, truth, 1) > 0.85
    assert "Live prediction updated" in assist.status.text()
    s = window.session
    before = s.editor.mask.copy()
    window.model_features.prediction.accept(only_unpainted=True)
    mask = s.editor.mask
    assert np.array_equal(mask[before > 0], before[before > 0])  # painted pixels kept
    assert iou(mask, truth, 2) > 0.85
    window.router.undo()
    assert np.array_equal(s.editor.mask, before)  # one undo step


def test_a_stroke_during_an_update_means_its_result_is_never_shown(live, mouse, qtbot,
                                                                   monkeypatch):
    window, assist, truth = live
    release, started, jobs, shown = threading.Event(), threading.Event(), [], []
    real = live_assist.update_job

    def slow_first(request, progress=None, cancel=None):
        jobs.append(request)
        if len(jobs) == 1:  # a refit that takes long and does not stop when asked
            started.set()
            release.wait(20)
            return real(request, progress, None)
        return real(request, progress, cancel)

    monkeypatch.setattr(live_assist, "update_job", slow_first)
    layer = window.model_features.prediction
    monkeypatch.setattr(layer, "show_live", lambda result: shown.append(result))
    paint(window, mouse, 2, DISK_STROKE)
    paint(window, mouse, 1, MATRIX_STROKES[0])
    qtbot.waitUntil(started.is_set, timeout=10000)
    paint(window, mouse, 1, MATRIX_STROKES[1])  # while the first update runs
    qtbot.wait(3 * live_assist.DEBOUNCE_MS)
    assert len(jobs) == 1 and assist.update_worker.busy
    with qtbot.waitSignal(assist.updated, timeout=20000):
        release.set()
    assert len(jobs) == 2 and len(shown) == 1  # the first result was dropped
    assert np.array_equal(jobs[1]["mask"], window.session.editor.mask)  # the newest mask


def test_a_models_prediction_is_left_alone(live, mouse, qtbot):
    window, assist, truth = live
    s = window.session
    s.project.set_prediction(s.image_id, np.ones(truth.shape, np.uint8), None, "a model")
    window.model_features.prediction.redraw()
    paint(window, mouse, 2, DISK_STROKE)
    paint(window, mouse, 1, MATRIX_STROKES[0])
    qtbot.wait(3 * live_assist.DEBOUNCE_MS)
    assert not assist.update_worker.busy and window.workbench.prediction is None
    assert "model's prediction" in assist.status.text()


def test_off_means_no_update(live, mouse, qtbot):
    window, assist, truth = live
    assist.toggle.setChecked(False)
    paint(window, mouse, 2, DISK_STROKE)
    paint(window, mouse, 1, MATRIX_STROKES[0])
    qtbot.wait(3 * live_assist.DEBOUNCE_MS)
    assert not assist.update_worker.busy and window.workbench.prediction is None


def test_a_result_queued_before_a_stroke_is_not_shown(live, mouse, qtbot, monkeypatch):
    """The refit ended just before the stroke, its result still on its way to the GUI thread."""
    window, assist, truth = live
    paint(window, mouse, 2, DISK_STROKE)
    with qtbot.waitSignal(assist.updated, timeout=20000):
        paint(window, mouse, 1, MATRIX_STROKES[0])
    late = live_assist.update_job({**_request(assist), "generation": assist._generation})
    shown = []
    monkeypatch.setattr(window.model_features.prediction, "show_live", shown.append)
    monkeypatch.setattr(assist, "update", lambda: None)  # the stroke's own update: not here
    paint(window, mouse, 1, MATRIX_STROKES[1])
    assist.update_worker.finished.emit(late)  # delivered after the stroke
    assert shown == []


def test_turned_off_during_an_update_shows_nothing_after(live, mouse, qtbot, monkeypatch):
    window, assist, truth = live
    shown = []
    monkeypatch.setattr(window.model_features.prediction, "show_live", shown.append)
    paint(window, mouse, 2, DISK_STROKE)
    paint(window, mouse, 1, MATRIX_STROKES[0])
    qtbot.waitUntil(lambda: assist.update_worker.busy, timeout=5000)
    assist._pending = True  # a stroke came meanwhile
    assist.toggle.setChecked(False)
    qtbot.waitUntil(lambda: not assist.update_worker.busy, timeout=20000)
    qtbot.wait(3 * live_assist.DEBOUNCE_MS)
    assert shown == [] and not assist.update_worker.busy


def _request(assist):
    s = assist.window.session
    return {"features": assist._cache[assist._key()], "mask": s.editor.mask.copy(),
            "values": [c.index for c in s.project.classes], "method": assist.method,
            "key": assist._key()}
