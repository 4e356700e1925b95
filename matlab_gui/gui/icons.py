"""Toolbar icons drawn with QPainter: no image files to ship, crisp at any scale."""

from __future__ import annotations

from collections.abc import Callable

from PySide6 import QtCore, QtGui

Qt = QtCore.Qt
INK = QtGui.QColor(40, 40, 40)
ACCENT = QtGui.QColor(30, 120, 200)


def _pen(p: QtGui.QPainter, color: QtGui.QColor = INK, width: float = 2.0) -> None:
    pen = QtGui.QPen(color, width)
    pen.setCapStyle(Qt.RoundCap)
    pen.setJoinStyle(Qt.RoundJoin)
    p.setPen(pen)
    p.setBrush(Qt.NoBrush)


def _brush(p):
    _pen(p)
    p.setBrush(ACCENT)
    p.drawEllipse(QtCore.QPointF(12, 12), 7, 7)


def _eraser(p):
    _pen(p)
    p.setBrush(QtGui.QColor(240, 150, 160))
    p.drawPolygon(
        QtGui.QPolygonF([QtCore.QPointF(*xy) for xy in [(4, 15), (12, 5), (20, 11), (12, 21)]])
    )
    p.drawLine(12, 21, 21, 21)


def _fill(p):
    _pen(p)
    p.setBrush(ACCENT)
    path = QtGui.QPainterPath()
    path.moveTo(5, 12)
    path.lineTo(12, 5)
    path.lineTo(19, 12)
    path.lineTo(12, 19)
    path.closeSubpath()
    p.drawPath(path)
    p.drawEllipse(QtCore.QPointF(20, 19), 2, 2)


def _smart(p):
    """A wand over a particle."""
    _pen(p)
    p.setBrush(QtGui.QColor(30, 120, 200, 90))
    p.drawEllipse(QtCore.QPointF(15, 15), 6, 6)
    p.drawLine(3, 3, 12, 12)
    _pen(p, ACCENT, 1.6)
    for line in [(3, 9, 3, 11), (9, 3, 11, 3), (6, 6, 7, 7)]:
        p.drawLine(*line)


def _polygon(p):
    _pen(p)
    p.setBrush(QtGui.QColor(30, 120, 200, 90))
    pts = [(4, 18), (8, 5), (20, 7), (17, 20)]
    p.drawPolygon(QtGui.QPolygonF([QtCore.QPointF(*xy) for xy in pts]))
    p.setBrush(INK)
    for xy in pts:
        p.drawEllipse(QtCore.QPointF(*xy), 1.6, 1.6)


def _superpixel(p):
    _pen(p, INK, 1.4)
    for line in [
        (3, 9, 12, 3),
        (12, 3, 21, 10),
        (3, 9, 8, 21),
        (8, 21, 21, 10),
        (12, 3, 12, 13),
        (3, 9, 12, 13),
        (12, 13, 21, 10),
        (12, 13, 8, 21),
    ]:
        p.drawLine(*line)
    p.setBrush(ACCENT)
    p.drawPolygon(QtGui.QPolygonF([QtCore.QPointF(*xy) for xy in [(12, 13), (21, 10), (8, 21)]]))


def _picker(p):
    _pen(p)
    p.drawLine(5, 19, 15, 9)
    p.setBrush(ACCENT)
    p.drawEllipse(QtCore.QPointF(17, 7), 4, 4)


def _undo(p, mirror=False):
    _pen(p)
    if mirror:
        p.translate(24, 0)
        p.scale(-1, 1)
    p.drawArc(QtCore.QRectF(6, 6, 13, 12), 90 * 16, -200 * 16)
    p.drawLine(8, 4, 12, 6)
    p.drawLine(8, 4, 6, 9)


def _redo(p):
    _undo(p, mirror=True)


def _fit(p):
    _pen(p)
    for x, y, dx, dy in [(4, 4, 1, 1), (20, 4, -1, 1), (4, 20, 1, -1), (20, 20, -1, -1)]:
        p.drawLine(x, y, x + 5 * dx, y)
        p.drawLine(x, y, x, y + 5 * dy)


def _actual(p):
    _pen(p, INK, 1.5)
    font = p.font()
    font.setPixelSize(10)
    font.setBold(True)
    p.setFont(font)
    p.drawText(QtCore.QRectF(0, 0, 24, 24), Qt.AlignCenter, "1:1")


def _open(p):
    _pen(p)
    p.setBrush(QtGui.QColor(240, 200, 90))
    p.drawPolygon(
        QtGui.QPolygonF(
            [QtCore.QPointF(*xy) for xy in [(3, 6), (9, 6), (11, 8), (21, 8), (21, 19), (3, 19)]]
        )
    )


def _save(p):
    _pen(p)
    p.setBrush(ACCENT)
    p.drawRect(4, 4, 16, 16)
    p.setBrush(QtGui.QColor(255, 255, 255))
    p.drawRect(8, 4, 8, 6)


def _mask(p):
    _pen(p)
    p.setBrush(QtGui.QColor(230, 25, 75, 150))
    p.drawEllipse(QtCore.QPointF(10, 12), 7, 7)
    p.setBrush(QtGui.QColor(60, 180, 75, 150))
    p.drawEllipse(QtCore.QPointF(15, 12), 7, 7)


def _outline(p):
    _pen(p, QtGui.QColor(230, 25, 75), 2)
    p.drawEllipse(QtCore.QPointF(12, 12), 8, 8)


PAINTERS: dict[str, Callable[[QtGui.QPainter], None]] = {
    "brush": _brush,
    "eraser": _eraser,
    "fill": _fill,
    "smart": _smart,
    "polygon": _polygon,
    "superpixel": _superpixel,
    "picker": _picker,
    "undo": _undo,
    "redo": _redo,
    "fit": _fit,
    "actual": _actual,
    "open": _open,
    "save": _save,
    "mask": _mask,
    "outline": _outline,
}


def icon(name: str) -> QtGui.QIcon:
    """A 24 x 24 icon (drawn at 2x for high-DPI screens)."""
    pix = QtGui.QPixmap(48, 48)
    pix.fill(Qt.transparent)
    p = QtGui.QPainter(pix)
    p.setRenderHint(QtGui.QPainter.Antialiasing)
    p.scale(2, 2)
    PAINTERS[name](p)
    p.end()
    pix.setDevicePixelRatio(2)
    return QtGui.QIcon(pix)


def swatch(rgb: tuple[int, int, int], size: int = 16) -> QtGui.QIcon:
    """A filled square of a class colour, for lists and menus."""
    pix = QtGui.QPixmap(size, size)
    pix.fill(QtGui.QColor(*rgb))
    return QtGui.QIcon(pix)
