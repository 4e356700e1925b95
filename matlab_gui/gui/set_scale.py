"""Image > Set scale… and Find scale bar…: the pixel size from the image itself.

Set scale takes the canvas's mouse for one line dragged over the scale bar (Esc cancels);
Find scale bar looks for the burned-in bar in a worker thread and shows it. Both then open the
Set scale dialog, which proposes; only OK gives the pixel size to the images chosen, through
the Workbench (one announced change)."""

from __future__ import annotations

from PySide6 import QtCore

from matlab_gui.gui import dialogs
from matlab_gui.gui.job_worker import JobWorker
from matlab_gui.gui.scale_dialog import ScaleDialog, ScopeCounts
from matlab_gui.imaging.scale_from_image import ScaleBar, find_scale_bar, line_length
from matlab_gui.imaging.units import format_pixel_size
from matlab_gui.workbench.scale_scope import images_in_scope, same_size_images

MIN_DRAG_PX = 4  # screen pixels: less is a click, not a line


def _find(request, progress=None, cancel=None) -> tuple[str, ScaleBar | None]:
    """In the worker thread: the bar of one image."""
    image_id, image = request
    return image_id, find_scale_bar(image)


class ScaleLine:
    """A line dragged on the canvas while Set scale has the mouse (the ToolRouter hands it
    press, move and release instead of the tool)."""

    def __init__(self, canvas, done, cancelled):
        self.canvas, self.done, self.cancelled = canvas, done, cancelled
        self.start: tuple[float, float] | None = None

    def press(self, y: float, x: float) -> None:
        self.start = (y, x)
        self.canvas.set_path([(y, x), (y, x)])

    def move(self, y: float, x: float) -> None:
        if self.start is not None:
            self.canvas.set_path([self.start, (y, x)])

    def release(self, y: float, x: float) -> bool:
        """True when the line is drawn (then the router lets go of the mouse)."""
        start, self.start = self.start, None
        if start is None or line_length(start, (y, x)) * self.canvas.zoom() < MIN_DRAG_PX:
            self.canvas.set_path([])
            return False
        self.canvas.set_path([start, (y, x)])
        self.done(start, (y, x))
        return True

    def cancel(self) -> None:
        self.start = None
        self.canvas.set_path([])
        self.cancelled()


class SetScale(QtCore.QObject):
    """The two Image menu commands of main window `w` and the dialog they share."""

    def __init__(self, w):
        super().__init__(w)
        self.w = w
        self.dialog: ScaleDialog | None = None
        self.worker = JobWorker(self)
        self.worker.finished.connect(self._found)
        self.worker.failed.connect(
            lambda message: dialogs.error(self.w, "Find scale bar", message))
        self.worker.finished.connect(lambda _: self.w.statusBar().clearMessage())

    # -- Set scale: a line over the bar --------------------------------------------------
    def draw_line(self) -> None:
        s = self.w.session
        if s is None or s.image is None:
            return
        self.w.router.grab(ScaleLine(self.w.canvas, self._line_drawn, self._line_cancelled))
        self.w.statusBar().showMessage(
            "Set scale: drag along the scale bar, end to end (Esc cancels)")

    def _line_drawn(self, p0, p1) -> None:
        self.w.statusBar().clearMessage()
        self.open_dialog(line_length(p0, p1), "line")

    def _line_cancelled(self) -> None:
        self.w.statusBar().showMessage("Set scale cancelled", 3000)

    # -- Find scale bar ------------------------------------------------------------------
    def find_bar(self) -> None:
        s = self.w.session
        if s is None or s.image is None:
            return
        if not self.worker.start(_find, (s.image_id, s.image)):
            self.w.statusBar().showMessage("Still looking for the scale bar…", 3000)
            return
        self.w.statusBar().showMessage("Looking for the scale bar…")

    def _found(self, result) -> None:
        image_id, bar = result
        s = self.w.session
        if s is None or image_id != s.image_id:
            return  # the user moved on to another image meanwhile
        if bar is None:
            dialogs.info(self.w, "Find scale bar",
                         "No scale bar was found in this image.\n\nUse Image > Set scale… and "
                         "drag along the bar to measure it by hand.")
            return
        self.w.canvas.set_highlight(bar.box)
        self.open_dialog(bar.length_px, "bar", bar)

    # -- the dialog ----------------------------------------------------------------------
    def open_dialog(self, length_px: float, source: str, bar: ScaleBar | None = None) -> None:
        """Show the dialog (window-modal, not blocking); OK applies its pixel size."""
        s = self.w.session
        record = s.record
        height, width = record.shape[:2]
        counts = ScopeCounts(len(self._selected()), len(same_size_images(s.project, s.image_id)),
                             width, height)
        self.dialog = ScaleDialog(length_px, record.pixel_size_m, counts, source,
                                  bar.label if bar else None, bar.label_text if bar else None,
                                  self.w)
        dialog = self.dialog
        dialog.accepted.connect(lambda: self._apply(dialog))
        dialog.finished.connect(lambda _code: self._closed(dialog))
        dialog.open()

    def _selected(self) -> list[str]:
        return self.w.images.selected_ids()

    def _apply(self, dialog: ScaleDialog) -> None:
        s = self.w.session
        if s is None or s.image_id is None:
            return
        metres = dialog.pixel_size_m()
        ids = images_in_scope(s.project, s.image_id, dialog.scope(), self._selected())
        self.w.workbench.set_pixel_sizes(ids, metres)
        self.w.statusBar().showMessage(
            f"Pixel size {format_pixel_size(metres)} set for {len(ids)} image"
            f"{'s' if len(ids) > 1 else ''}", 5000)

    def _closed(self, dialog: ScaleDialog) -> None:
        self.w.canvas.set_path([])
        self.w.canvas.set_highlight(None)
        if self.dialog is dialog:
            self.dialog = None
        dialog.deleteLater()
