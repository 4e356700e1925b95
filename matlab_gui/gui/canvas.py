"""The image canvas: pyqtgraph ImageItem for the micrograph, a tiled RGBA overlay for the mask,
the brush outline, the polygon and Smart click previews, a found scale bar's outline and the
scale bar. Routes mouse input as signals in
image coordinates (row y, column x; pixel i spans [i, i + 1)); it edits nothing itself."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets
from scipy import ndimage

from matlab_gui.gui.overlay import TiledOverlay
from matlab_gui.gui.pyramid_image import PyramidImage
from matlab_gui.gui.scale_bar import ScaleBar
from matlab_gui.gui.wheel_zoom import WheelZoom

pg.setConfigOptions(imageAxisOrder="row-major")
Qt = QtCore.Qt


def gamma_lut(gamma: float) -> np.ndarray | None:
    """256-entry lookup table for a display gamma (None for 1: no table, faster)."""
    if abs(gamma - 1.0) < 1e-3:
        return None
    return (255 * np.linspace(0, 1, 256) ** (1 / gamma) + 0.5).astype(np.uint8)


class Canvas(pg.GraphicsView):
    """Left button drives the current tool; wheel zooms around the cursor; middle button or
    space + left drag pans. The image is shown at the pyramid level the zoom needs, and wheel
    clicks arriving together zoom once (`image_layer`, `wheel_zoom`)."""

    pressed = QtCore.Signal(float, float)
    moved = QtCore.Signal(float, float)
    released = QtCore.Signal(float, float)
    double_clicked = QtCore.Signal(float, float)
    hovered = QtCore.Signal(float, float)
    view_changed = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("canvas")
        self.setBackground(pg.mkColor(40, 40, 40))
        self.view = pg.ViewBox(invertY=True, lockAspect=True, enableMenu=False)
        self.setCentralItem(self.view)
        self.image_layer = PyramidImage(self.view, self)
        self.image_item = self.image_layer.item
        self.view.addItem(self.image_item)
        self.wheel_zoom = WheelZoom(self.view, self)
        self.overlay = TiledOverlay(self.view)
        self.guides = TiledOverlay(self.view, z=11)  # superpixel edges while that tool is active
        self.guides.set_lut(np.array([[0, 0, 0, 0], [255, 220, 0, 255]], np.uint8))
        self.guides.set_opacity(0.45)
        self.brush_outline = self._marker(QtWidgets.QGraphicsEllipseItem(), (255, 255, 255), 0, 30)
        self.path_item = pg.PlotCurveItem(pen=pg.mkPen(255, 255, 0, width=1.5))
        self.path_item.setZValue(30)
        self.view.addItem(self.path_item, ignoreBounds=True)
        self.preview_item = pg.ImageItem(autoDownsample=False)  # a Smart click region
        self.preview_item.setZValue(25)
        self.preview_item.setVisible(False)
        self.view.addItem(self.preview_item, ignoreBounds=True)
        # a scale bar found in the image
        self.highlight_item = self._marker(QtWidgets.QGraphicsRectItem(), (0, 200, 255), 2, 31)
        self.scale_bar = ScaleBar()
        self.scale_bar.setParentItem(self.view)
        self.scale_bar.anchor((1, 1), (1, 1), offset=(-24, -24))
        self.scale_bar.setVisible(False)
        self.view.sigRangeChanged.connect(lambda *_: self.view_changed.emit())
        self.brush_radius: float | None = None
        self.preview = None  # (rect, footprint) shown by set_preview
        self._space = False
        self._drawing = False
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setAcceptDrops(False)

    # -- content -----------------------------------------------------------------------

    def _marker(self, item, colour: tuple[int, int, int], width: float, z: float):
        """An outline drawn over the image at the same screen width at every zoom, hidden."""
        pen = QtGui.QPen(QtGui.QColor(*colour), width)
        pen.setCosmetic(True)
        item.setPen(pen)
        item.setZValue(z)
        item.setVisible(False)
        self.view.addItem(item, ignoreBounds=True)
        return item

    def set_image(self, data: np.ndarray, levels: tuple[float, float], gamma: float = 1.0) -> None:
        self.image_layer.set_image(data, levels=levels, lut=gamma_lut(gamma))

    def clear_image(self) -> None:
        self.image_layer.clear()

    def set_levels(self, levels: tuple[float, float], gamma: float) -> None:
        """Re-windows the level shown only (a screen's worth of pixels when zoomed out)."""
        self.image_item.setLevels(levels)
        self.image_item.setLookupTable(gamma_lut(gamma))

    def set_path(self, points: list[tuple[float, float]], closed: bool = False) -> None:
        """Show the polygon/lasso being drawn ((y, x) points)."""
        pts = points + points[:1] if closed and points else points
        if not pts:
            self.path_item.setData([], [])
            return
        ys, xs = zip(*pts, strict=True)
        self.path_item.setData(np.asarray(xs), np.asarray(ys))

    def set_highlight(self, box: tuple[int, int, int, int] | None) -> None:
        """Outline a box (y0, x0, y1, x1, exclusive) a little larger than itself; None hides."""
        if box is None:
            self.highlight_item.setVisible(False)
            return
        y0, x0, y1, x1 = box
        pad = max(2.0, 0.1 * (y1 - y0))
        self.highlight_item.setRect(x0 - pad, y0 - pad, x1 - x0 + 2 * pad, y1 - y0 + 2 * pad)
        self.highlight_item.setVisible(True)

    def set_preview(self, rect, region: np.ndarray | None, rgb=(255, 220, 0)) -> None:
        """Show a region not yet in the mask (rect + boolean footprint) tinted in `rgb` with an
        opaque outline; None hides it."""
        if region is None or not region.any():
            self.preview_item.setVisible(False)
            self.preview = None
            return
        rgba = np.zeros((*region.shape, 4), np.uint8)
        rgba[..., :3] = rgb
        edge = region & ~ndimage.binary_erosion(region, border_value=0)
        rgba[..., 3] = np.where(edge, 255, np.where(region, 110, 0))
        self.preview_item.setImage(rgba, levels=None)
        self.preview_item.setPos(rect.x0, rect.y0)
        self.preview_item.setVisible(True)
        self.preview = (rect, region)

    # -- view --------------------------------------------------------------------------
    def fit(self) -> None:
        self.view.autoRange(padding=0.02)

    def actual_size(self) -> None:
        """100 %: one image pixel per screen pixel, around the current centre."""
        (x0, x1), (y0, y1) = self.view.viewRange()
        w, h = self.view.width() / 2, self.view.height() / 2
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        self.view.setRange(xRange=(cx - w, cx + w), yRange=(cy - h, cy + h), padding=0)

    def zoom(self) -> float:
        """Screen pixels per image pixel."""
        px = self.view.viewPixelSize()[0]
        return 1.0 / px if px else 1.0

    def view_rect(self) -> list[float]:
        (x0, x1), (y0, y1) = self.view.viewRange()
        return [x0, x1, y0, y1]

    def set_view_rect(self, rect: list[float]) -> None:
        x0, x1, y0, y1 = rect
        self.view.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    # -- input -------------------------------------------------------------------------
    def _image_pos(self, ev: QtGui.QMouseEvent) -> tuple[float, float]:
        p = self.view.mapSceneToView(self.mapToScene(ev.position().toPoint()))
        return p.y(), p.x()

    def _update_outline(self, y: float, x: float) -> None:
        r = self.brush_radius
        self.brush_outline.setVisible(r is not None and not self._space)
        if r is not None:
            self.brush_outline.setRect(x - r, y - r, 2 * r, 2 * r)

    def wheelEvent(self, ev: QtGui.QWheelEvent) -> None:  # noqa: N802
        """Over the image: the click goes to `wheel_zoom`, which zooms once per burst."""
        scene = self.mapToScene(ev.position().toPoint())
        if not self.wheel_zoom.enabled or not self.view.sceneBoundingRect().contains(scene):
            super().wheelEvent(ev)
            return
        d = ev.angleDelta()
        self.wheel_zoom.add(d.x() if abs(d.x()) > abs(d.y()) else d.y(),
                            self.view.mapSceneToView(scene))
        ev.accept()

    def mousePressEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802
        if ev.button() == Qt.LeftButton and not self._space:
            self._drawing = True
            self.pressed.emit(*self._image_pos(ev))
            ev.accept()
            return
        super().mousePressEvent(ev)

    def mouseMoveEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802
        y, x = self._image_pos(ev)
        self._update_outline(y, x)
        self.hovered.emit(y, x)
        if self._drawing:
            self.moved.emit(y, x)
            ev.accept()
            return
        super().mouseMoveEvent(ev)

    def mouseReleaseEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802
        if self._drawing and ev.button() == Qt.LeftButton:
            self._drawing = False
            self.released.emit(*self._image_pos(ev))
            ev.accept()
            return
        super().mouseReleaseEvent(ev)

    def mouseDoubleClickEvent(self, ev: QtGui.QMouseEvent) -> None:  # noqa: N802
        if ev.button() == Qt.LeftButton:
            self.double_clicked.emit(*self._image_pos(ev))
            ev.accept()
            return
        super().mouseDoubleClickEvent(ev)

    def enterEvent(self, ev: QtGui.QEnterEvent) -> None:  # noqa: N802
        """The pointer on the image takes the keyboard from a panel's spin box or field, so
        1-9, B, E, [ ] act on the canvas, not on the number last typed into a panel."""
        focused = QtWidgets.QApplication.focusWidget()
        if focused is not None and focused is not self and focused.window() is self.window():
            self.setFocus(Qt.MouseFocusReason)
        super().enterEvent(ev)

    def leaveEvent(self, ev: QtCore.QEvent) -> None:  # noqa: N802
        self.brush_outline.setVisible(False)
        super().leaveEvent(ev)

    def keyPressEvent(self, ev: QtGui.QKeyEvent) -> None:  # noqa: N802
        if ev.key() == Qt.Key_Space and not ev.isAutoRepeat():
            self._space = True
            self.brush_outline.setVisible(False)
            self.viewport().setCursor(Qt.OpenHandCursor)
            return
        super().keyPressEvent(ev)

    def keyReleaseEvent(self, ev: QtGui.QKeyEvent) -> None:  # noqa: N802
        if ev.key() == Qt.Key_Space and not ev.isAutoRepeat():
            self._space = False
            self.viewport().setCursor(Qt.CrossCursor)
            return
        super().keyReleaseEvent(ev)
