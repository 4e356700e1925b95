"""A huge image zoomed out is shown through its display pyramid: a screen-sized level, at the
image's own coordinates; wheel clicks arriving together zoom once."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
from PySide6 import QtCore, QtGui, QtWidgets

from matlab_gui.imaging.display import window as windowed
from matlab_gui.imaging.pyramid import level_for

Qt = QtCore.Qt
SIDE = 4096  # 16 MP: above the size whose levels are built on the GUI thread
SQUARE = (slice(1024, 2048), slice(2048, 3072))  # a bright square, in image coordinates
LEVELS = (1000.0, 40000.0)


@pytest.fixture(scope="module")
def huge() -> np.ndarray:
    rng = np.random.default_rng(0)
    data = (8000 + rng.normal(0, 2000, (SIDE, SIDE))).clip(0, 65535).astype(np.uint16)
    data[SQUARE] = 38000
    return data


@pytest.fixture
def canvas(qtbot):
    from matlab_gui.gui.canvas import Canvas

    c = Canvas()
    qtbot.addWidget(c)
    c.resize(640, 520)
    c.show()
    qtbot.waitExposed(c)
    return c


def _block_mean(a: np.ndarray, s: int) -> np.ndarray:
    h, w = a.shape
    return a.astype(np.float64).reshape(h // s, s, w // s, s).mean(axis=(1, 3))


def _rendered(item) -> np.ndarray:
    """The item's picture as it goes to the screen (windowed grey values)."""
    item.render()
    q = item.qimage.convertToFormat(QtGui.QImage.Format.Format_Grayscale8)
    return np.asarray(q.constBits()).reshape(q.height(), q.bytesPerLine())[:, : q.width()].copy()


def _frame(canvas) -> None:
    """Draw a frame now (the view applies a new range, and the canvas its level, right before
    painting)."""
    canvas.viewport().repaint()


def _shown_fitted(canvas, qtbot, data) -> int:
    canvas.set_image(data, LEVELS)
    canvas.fit()
    _frame(canvas)
    layer = canvas.image_layer
    qtbot.waitUntil(lambda: layer.exact, timeout=5000)
    return layer.level


def widget_pos(canvas, y: float, x: float) -> QtCore.QPoint:
    return canvas.mapFromScene(canvas.view.mapViewToScene(QtCore.QPointF(x, y)))


def _screen_pixel(canvas, y: int, x: int) -> QtCore.QPoint:
    """The screen pixel whose centre lies in image pixel (y, x) (at 100 %: the one showing it)."""
    p = canvas.viewportTransform().map(canvas.view.mapViewToScene(QtCore.QPointF(x + .5, y + .5)))
    return QtCore.QPoint(int(np.floor(p.x())), int(np.floor(p.y())))


def image_pos(canvas, point: QtCore.QPoint) -> tuple[float, float]:
    p = canvas.view.mapSceneToView(canvas.mapToScene(point))
    return p.y(), p.x()


def _disc(shape, centre, r) -> np.ndarray:
    """Pixels whose centres lie within r of `centre` (what one brush dab paints)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]] + 0.5
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= r * r


def _screen_px(canvas) -> float:
    return min(canvas.view.viewPixelSize())


def test_zoomed_out_the_canvas_shows_the_coarsest_level_with_a_pixel_per_screen_pixel(
        canvas, qtbot, huge):
    layer, item = canvas.image_layer, canvas.image_item
    canvas.set_image(huge, LEVELS)
    canvas.fit()
    _frame(canvas)
    k = level_for(_screen_px(canvas), layer.pyramid.count)
    assert k >= 2 and layer.level == k
    # at once every 2^k-th pixel (the level is averaged in a worker thread), then the level
    assert not layer.exact and np.array_equal(item.image, huge[:: 1 << k, :: 1 << k])
    qtbot.waitUntil(lambda: layer.exact, timeout=5000)
    level_px_on_screen = item.pixelSize()[0]  # screen pixels per shown pixel
    assert 0.5 < level_px_on_screen <= 1.0
    canvas.set_view_rect([0, 4 * SIDE, 0, 4 * SIDE])  # further out: from a level built, at once
    _frame(canvas)
    assert layer.level == level_for(_screen_px(canvas), 99) > k and layer.exact
    canvas.set_view_rect([0, 2500, 0, 2500])  # closer: a finer level
    _frame(canvas)
    assert 0 < layer.level < k and layer.level == level_for(_screen_px(canvas), 99)
    canvas.actual_size()
    _frame(canvas)
    assert layer.level == 0 and layer.part is not None  # 100 %: the image around the view
    y0, x0, y1, x1 = layer.part
    assert np.array_equal(item.image, huge[y0:y1, x0:x1]) and 2 * item.image.size < huge.size


def test_at_100_percent_the_image_is_shown_pixel_for_pixel_around_the_view(canvas, qtbot, huge):
    fitted = _shown_fitted(canvas, qtbot, huge) and canvas.view_rect()
    layer, item = canvas.image_layer, canvas.image_item
    w, h = canvas.view.width(), canvas.view.height()
    for y, x in [(1000, 2000), (3500, 300), (200, 3900)]:  # panning from part to part
        canvas.set_view_rect([x - w / 2, x + w / 2, y - h / 2, y + h / 2])
        _frame(canvas)
        assert canvas.zoom() == pytest.approx(1.0) and layer.level == 0
        y0, x0, y1, x1 = layer.part
        assert y0 <= max(0, y - h / 2) and min(SIDE, y + h / 2) <= y1  # the view, in the image
        assert x0 <= max(0, x - w / 2) and min(SIDE, x + w / 2) <= x1
        grab = canvas.viewport().grab().toImage()
        for dy, dx in [(0, 0), (-100, 150), (90, -200)]:
            shown = QtGui.qGray(grab.pixel(_screen_pixel(canvas, y + dy, x + dx)))
            assert abs(shown - int(windowed(huge[y + dy, x + dx], *LEVELS))) <= 1
        r = item.mapRectToView(item.boundingRect())  # bounds stay the whole image's
        assert (r.x(), r.y(), r.width(), r.height()) == (0, 0, SIDE, SIDE)
    canvas.fit()
    assert canvas.view_rect() == pytest.approx(fitted)


def test_the_shown_picture_is_the_averaged_image_at_the_images_coordinates(
        canvas, qtbot, huge):
    k = _shown_fitted(canvas, qtbot, huge)
    item, s = canvas.image_item, 1 << k
    expected = windowed(np.round(_block_mean(huge, s)), *LEVELS)
    assert np.abs(_rendered(item).astype(int) - expected).max() <= 1
    r = item.mapRectToView(item.boundingRect())
    assert (r.x(), r.y(), r.width(), r.height()) == (0, 0, SIDE, SIDE)
    grab = canvas.viewport().grab().toImage()

    def grey(y, x):
        return QtGui.qGray(grab.pixel(widget_pos(canvas, y, x)))

    assert grey(1536, 2560) > 200 and grey(1024 + s, 2048 + s) > 200  # inside the square
    assert grey(1024 - 3 * s, 2560) < 120 and grey(1536, 2048 - 3 * s) < 120  # outside


def test_levels_re_window_the_level_shown_only(canvas, qtbot, huge):
    k = _shown_fitted(canvas, qtbot, huge)
    item = canvas.image_item
    canvas.set_levels((5000.0, 12000.0), 2.0)
    shown = _rendered(item)
    assert item.image.shape == shown.shape == canvas.image_layer.pyramid.shape(k)
    expected = windowed(np.round(_block_mean(huge, 1 << k)), 5000.0, 12000.0, 2.0)
    assert np.abs(shown.astype(int) - expected).max() <= 1


def test_zoomed_in_on_a_montage_a_fine_level_is_windowed_only_around_the_view(
        canvas, qtbot, huge, monkeypatch):
    from matlab_gui.gui import pyramid_image

    monkeypatch.setattr(pyramid_image, "WINDOW_ALIGN", 64)
    canvas.resize(220, 180)  # a montage 30k wide is to a screen what this image is to this view
    _frame(canvas)
    _shown_fitted(canvas, qtbot, huge)
    layer, item = canvas.image_layer, canvas.image_item
    w, h = canvas.view.width() / 0.3, canvas.view.height() / 0.3  # 30 %: level 1
    for y, x in [(1536, 2560), (600, 3700)]:  # and after a pan to the other side
        canvas.set_view_rect([x - w / 2, x + w / 2, y - h / 2, y + h / 2])
        _frame(canvas)
        qtbot.waitUntil(lambda: layer.exact, timeout=5000)
        assert layer.level == 1 and layer.part is not None
        y0, x0, y1, x1 = layer.part  # level-1 pixels
        level = layer.pyramid.ready(1)
        assert np.array_equal(item.image, level[y0:y1, x0:x1]) and 2 * item.image.size < level.size
        assert 2 * y0 <= y - h / 2 and y + h / 2 <= 2 * y1  # the view lies inside the part
        assert 2 * x0 <= max(0, x - w / 2) and min(SIDE, x + w / 2) <= 2 * x1
    grab = canvas.viewport().grab().toImage()
    for dy, dx in [(0, 0), (-120, 90)]:  # drawn where the image's pixels are
        shown = QtGui.qGray(grab.pixel(_screen_pixel(canvas, 600 + dy, 3700 + dx)))
        expected = windowed(level[(600 + dy) // 2, (3700 + dx) // 2], *LEVELS)
        assert abs(shown - int(expected)) <= 1
    r = item.mapRectToView(item.boundingRect())  # bounds stay the whole image's
    assert (r.x(), r.y(), r.width(), r.height()) == pytest.approx((0, 0, SIDE, SIDE))


def _wheel(canvas, pos: QtCore.QPoint, clicks: int) -> None:
    for _ in range(clicks):
        p = QtCore.QPointF(pos)
        ev = QtGui.QWheelEvent(p, QtCore.QPointF(canvas.viewport().mapToGlobal(pos)),
                               QtCore.QPoint(), QtCore.QPoint(0, 120), Qt.NoButton,
                               Qt.NoModifier, Qt.NoScrollPhase, False)
        QtWidgets.QApplication.sendEvent(canvas.viewport(), ev)


def test_a_burst_of_wheel_clicks_zooms_once_around_the_pointer(canvas, qtbot, huge, monkeypatch):
    _shown_fitted(canvas, qtbot, huge)
    item = canvas.image_item
    renders, ranges = [], []
    render = item.render
    monkeypatch.setattr(item, "render", lambda: renders.append(1) or render())
    canvas.view.sigRangeChanged.connect(lambda *_: ranges.append(1))
    pos = widget_pos(canvas, 1500, 2500)
    under_pointer, zoom = image_pos(canvas, pos), canvas.zoom()
    _wheel(canvas, pos, 10)
    assert ranges == []  # nothing re-rendered per click
    qtbot.waitUntil(lambda: bool(ranges), timeout=2000)
    _frame(canvas)
    qtbot.wait(30)
    assert len(ranges) == 1 and len(renders) == 1
    assert canvas.zoom() == pytest.approx(zoom / 1.02 ** (-10 * 120 / 8), rel=1e-6)
    assert image_pos(canvas, pos) == pytest.approx(under_pointer, abs=0.05)


def test_the_summed_zoom_is_the_one_pyqtgraph_makes_click_by_click(canvas, qtbot, huge):
    _shown_fitted(canvas, qtbot, huge)
    start, pos = canvas.view_rect(), widget_pos(canvas, 1500, 2500)
    _wheel(canvas, pos, 3)
    qtbot.waitUntil(lambda: canvas.view_rect() != start, timeout=2000)
    summed = canvas.view_rect()
    canvas.set_view_rect(start)
    canvas.wheel_zoom.enabled = False
    _wheel(canvas, pos, 3)
    assert canvas.view_rect() == pytest.approx(summed, abs=1e-6 * SIDE)


def test_painting_a_pyramid_displayed_image_paints_where_clicked(mouse, window, qtbot, tmp_path):
    data = np.full((800, 800), 60, np.uint8)  # small: the window computes features of it
    data[200:600, 100:500] = 200
    path = tmp_path / "montage.tif"
    tifffile.imwrite(path, data)
    window.open_paths([path])
    window.canvas.set_view_rect([-800, 1600, -800, 1600])  # far out: a pyramid level
    _frame(window.canvas)
    layer, s = window.canvas.image_layer, window.session
    qtbot.waitUntil(lambda: layer.exact, timeout=5000)
    assert layer.level >= 1
    shown = window.canvas.image_item.image
    window.options.brush.setValue(10)
    window.palette.select(2)
    seen = mouse.drag(window.canvas, [(432, 345), (432, 345)])
    assert np.linalg.norm(np.subtract(seen[0], (432, 345))) < 1 / window.canvas.zoom()
    assert np.array_equal(s.editor.mask == 2, _disc(data.shape, seen[0], 10))
    tile, rgba = window.canvas.overlay._tiles[(432 // 512, 345 // 512)]
    assert tuple(rgba[432 % 512, 345 % 512, :3]) == s.project.classes[1].color
    assert window.canvas.image_item.image is shown  # the dab left the picture as it was


def test_a_prediction_on_a_zoomed_out_image_is_drawn_from_its_level(window, qtbot, tmp_path,
                                                                     predictor):
    data = np.full((800, 800), 60, np.uint8)
    data[200:600, 100:500] = 200
    path = tmp_path / "montage.tif"
    tifffile.imwrite(path, data)
    window.open_paths([path])
    canvas, layer, s = window.canvas, window.model_features.prediction, window.session
    canvas.set_view_rect([-800, 1600, -800, 1600])
    _frame(canvas)
    layer.show_result(predictor()(SimpleNamespace(project=s.project, image_ids=[s.image_id])))
    _frame(canvas)  # class colours (RGBA) zoomed out: pyqtgraph's own averaging could not draw them
    k = layer.picture.level
    assert k >= 1 and layer.item.image.shape[:2] == layer.picture.pyramid.shape(k)
    assert layer.item.qimage is not None

    def colour(y, x):
        return QtGui.QColor(canvas.viewport().grab().toImage().pixel(widget_pos(canvas, y, x)))

    tinted = colour(400, 300)
    layer.visible.setChecked(False)
    _frame(canvas)
    assert colour(400, 300) != tinted and colour(400, 300).red() == colour(400, 300).green()


def test_a_memory_mapped_montage_is_shown_averaged_and_painted_without_touching_the_file(
        mouse, window, qtbot, tmp_path, monkeypatch):
    from matlab_gui.imaging import read
    from matlab_gui.imaging.pyramid import DisplayPyramid

    monkeypatch.setattr(read, "MEMMAP_PIXELS", 1000)  # as a 30k x 30k montage is opened
    data = np.full((800, 800), 6000, np.uint16)
    data[200:600, 100:500] = 50000
    path = tmp_path / "montage.tif"
    tifffile.imwrite(path, data)
    before = path.read_bytes()
    window.add_images([path], embed=False)  # File > Open
    s, canvas, layer = window.session, window.canvas, window.canvas.image_layer
    assert isinstance(s.image, np.memmap)
    canvas.set_view_rect([-800, 1600, -800, 1600])
    _frame(canvas)
    qtbot.waitUntil(lambda: layer.exact, timeout=5000)
    assert layer.level >= 1
    expected = DisplayPyramid(data.copy()).build(layer.level)
    assert np.array_equal(canvas.image_item.image, expected)  # averaged from the mapped pixels
    window.options.brush.setValue(10)
    window.palette.select(2)
    seen = mouse.drag(canvas, [(432, 345), (432, 345)])
    assert np.array_equal(s.editor.mask == 2, _disc(data.shape, seen[0], 10))
    monkeypatch.setattr("matlab_gui.gui.dialogs.save_project_path",
                        lambda _p: tmp_path / "labels.mgp")
    assert window.save()
    assert path.read_bytes() == before and np.array_equal(s.image, data)
