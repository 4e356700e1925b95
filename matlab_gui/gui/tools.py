"""Routes canvas mouse input to the current tool's Editor operation. The tool and class in hand
are the Workbench's; this keeps only what a gesture needs (brush size, tolerance, the display
levels for Fill, the superpixels, the polygon being drawn, the Smart click box and preview). A finished step is announced by
the Workbench (`mask` event), which the overlay redraws from; brush dabs are drawn as they go."""

from __future__ import annotations

from PySide6 import QtCore

from matlab_gui.annotate import Superpixels
from matlab_gui.annotate.rect import Rect
from matlab_gui.gui.canvas import Canvas
from matlab_gui.workbench import Workbench

CLOSE_PX = 8  # a polygon click this close (in screen pixels) to the first vertex closes it


class ToolRouter(QtCore.QObject):
    message = QtCore.Signal(str)
    hint = QtCore.Signal(str)  # lasts until the next hint ("" clears it)
    region_requested = QtCore.Signal(object, object)  # Smart click: (y, x) or None, box or None

    def __init__(self, canvas: Canvas, workbench: Workbench):
        super().__init__()
        self.canvas = canvas
        self.workbench = workbench
        self.levels = (0.0, 1.0)
        self.superpixels: Superpixels | None = None
        self._path: list[tuple[float, float]] = []
        self._dragged = False
        self._box_start: tuple[float, float] | None = None
        self.gesture = None  # has the mouse instead of the tool (Set scale's line), see grab()
        canvas.pressed.connect(self.press)
        canvas.moved.connect(self.move)
        canvas.released.connect(self.release)
        canvas.double_clicked.connect(self.double_click)

    @property
    def editor(self):
        session = self.workbench.session
        return session.editor if session is not None else None

    @property
    def tool(self) -> str:
        return self.workbench.tool

    @property
    def value(self) -> int:
        return self.workbench.current_class

    @property
    def radius(self) -> int:
        return max(1, int(self.workbench.view["brush"]))

    @property
    def tolerance(self) -> float:
        """Fill tolerance, a fraction of the display range."""
        return self.workbench.view["tolerance"]

    def tool_changed(self, tool: str) -> None:
        self.cancel_path()
        self.canvas.brush_radius = self.radius if tool in ("brush", "eraser") else None

    def brush_changed(self) -> None:
        if self.tool in ("brush", "eraser"):
            self.canvas.brush_radius = self.radius

    def grab(self, gesture) -> None:
        """Give the mouse to `gesture` (press/move/release(y, x); release returns True when it
        is done) until it is done or cancelled (Esc, another tool)."""
        self.cancel_path()
        self.gesture = gesture
        self.canvas.brush_radius = None

    def _let_go(self) -> None:
        self.gesture = None
        self.canvas.brush_radius = self.radius if self.tool in ("brush", "eraser") else None

    def cancel_path(self) -> None:
        """Esc: drop the polygon being drawn, the Smart click preview and a gesture."""
        gesture = self.gesture
        if gesture is not None:
            self._let_go()
            gesture.cancel()
        self._path = []
        self._box_start = None
        self.canvas.set_path([])
        self.discard_preview()

    # -- Smart click -------------------------------------------------------------------
    def show_preview(self, rect: Rect, region) -> None:
        """A region found for a Smart click: shown, not painted, until Enter or Esc."""
        if self.tool != "smart" or self.editor is None:
            return
        if rect.empty:
            self.discard_preview()
            self.message.emit("Smart click: no region stands out here")
            return
        rgb = tuple(int(v) for v in self.canvas.overlay.lut[self.value % 256][:3])
        self.canvas.set_preview(rect, region, rgb if any(rgb) else (255, 220, 0))
        self.hint.emit("Smart click: Enter accepts, Esc discards")

    def discard_preview(self) -> None:
        if self.canvas.preview is not None:
            self.canvas.set_preview(None, None)
            self.hint.emit("")

    def accept_preview(self) -> None:
        """Paint the previewed region in the current class: one undo step."""
        preview, ed = self.canvas.preview, self.editor
        self.discard_preview()
        if preview is not None and ed is not None:
            self._finish(ed.paint_region(*preview, self.value))

    def _smart_release(self, y: float, x: float) -> None:
        """A click asks for the region under it; a drag, for the object in its box."""
        start, self._box_start = self._box_start, None
        self.canvas.set_path([])
        if start is None:
            return
        (y0, x0), zoom = start, self.canvas.zoom()
        if max(abs(y - y0), abs(x - x0)) * zoom <= CLOSE_PX:
            self.region_requested.emit((int(y0), int(x0)), None)
        else:
            self.region_requested.emit(None, (int(y0), int(x0), int(round(y)), int(round(x))))

    def _draw(self, rect: Rect | None) -> None:
        self.canvas.overlay.refresh(rect)

    # -- mouse -------------------------------------------------------------------------
    def press(self, y: float, x: float) -> None:
        if self.gesture is not None:
            self.gesture.press(y, x)
            return
        ed = self.editor
        if ed is None:
            return
        if self.tool in ("brush", "eraser"):
            self._draw(
                ed.begin_stroke(y, x, self.radius, self.value if self.tool == "brush" else 0)
            )
        elif self.tool == "fill":
            lo, hi = self.levels
            image = self.workbench.session.image
            self._finish(ed.fill(image, int(y), int(x), self.tolerance * abs(hi - lo), self.value))
        elif self.tool == "superpixel":
            if self.superpixels is None:
                self.message.emit("Superpixels are still being computed…")
                return
            self._finish(ed.superpixel(self.superpixels, int(y), int(x), self.value))
        elif self.tool == "smart":
            self._box_start = (y, x)
        elif self.tool == "picker":
            cls = ed.class_at(int(y), int(x))
            if cls:
                self.workbench.current_class = cls
        elif self.tool == "polygon":
            self._dragged = False
            if len(self._path) >= 3 and self._near_first(y, x):
                self.close_path()
                return
            self._path.append((y, x))
            self.canvas.set_path(self._path)

    def move(self, y: float, x: float) -> None:
        if self.gesture is not None:
            self.gesture.move(y, x)
            return
        ed = self.editor
        if ed is None:
            return
        if self.tool in ("brush", "eraser") and ed.stroking:
            self._draw(ed.stroke_to(y, x))
        elif self.tool == "polygon" and self._path:
            self._dragged = True  # lasso: freehand points while the button is held
            self._path.append((y, x))
            self.canvas.set_path(self._path)
        elif self.tool == "smart" and self._box_start is not None:
            y0, x0 = self._box_start
            self.canvas.set_path([(y0, x0), (y0, x), (y, x), (y, x0)], closed=True)

    def release(self, y: float, x: float) -> None:
        gesture = self.gesture
        if gesture is not None:
            if gesture.release(y, x) and self.gesture is gesture:
                self._let_go()
            return
        ed = self.editor
        if ed is None:
            return
        if self.tool in ("brush", "eraser") and ed.stroking:
            rect = ed.end_stroke()
            if rect is not None:
                self.workbench.edited(rect, drawn=True)  # drawn dab by dab
        elif self.tool == "polygon" and self._dragged and len(self._path) >= 3:
            self.close_path()
        elif self.tool == "smart":
            self._smart_release(y, x)

    def double_click(self, y: float, x: float) -> None:
        if self.tool == "polygon" and self._path and self.gesture is None:
            if self._path[-1] != (y, x):
                self._path.append((y, x))
            self.close_path()

    def close_path(self) -> None:
        """Enter: fill the polygon/lasso drawn so far, or accept the Smart click preview."""
        if self.canvas.preview is not None:
            self.accept_preview()
            return
        ed, points = self.editor, self._path
        self.cancel_path()
        if ed is not None and len(points) >= 3:
            self._finish(ed.polygon(points, self.value))

    def _near_first(self, y: float, x: float) -> bool:
        fy, fx = self._path[0]
        return max(abs(fy - y), abs(fx - x)) * self.canvas.zoom() <= CLOSE_PX

    def _finish(self, rect: Rect | None) -> None:
        if rect is not None:
            self.workbench.edited(rect)

    # -- history -----------------------------------------------------------------------
    def undo(self) -> None:
        if self.editor is not None:
            self._finish(self.editor.undo())

    def redo(self) -> None:
        if self.editor is not None:
            self._finish(self.editor.redo())
