"""Background work for the window (thumbnails, superpixels) on worker threads.

Results go into a queue and the worker emits an argument-less signal; a slot in the GUI thread
drains the queue. (Python objects sent through queued signals crash PySide6 now and then.)"""

from __future__ import annotations

import queue
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
from PySide6 import QtCore, QtGui

from matlab_gui.gui.image_list import THUMB


def thumbnail_array(data: np.ndarray, size: int = THUMB) -> np.ndarray:
    """A small uint8 view of an image, auto-contrasted (grey or RGB)."""
    from matlab_gui.imaging.display import auto_levels, window

    step = max(1, int(np.ceil(max(data.shape[:2]) / size)))
    small = data[::step, ::step]
    if small.dtype == np.uint8 and small.ndim == 3:
        return np.ascontiguousarray(small)
    lo, hi = auto_levels(small, 0.5, 99.5)
    return np.ascontiguousarray(window(small, lo, hi, 1.0))


def to_qimage(a: np.ndarray) -> QtGui.QImage:
    h, w = a.shape[:2]
    fmt = QtGui.QImage.Format_Grayscale8 if a.ndim == 2 else QtGui.QImage.Format_RGB888
    return QtGui.QImage(a.data, w, h, a.strides[0], fmt).copy()


class Workers(QtCore.QObject):
    thumbnail_ready = QtCore.Signal(str, QtGui.QImage)
    superpixels_ready = QtCore.Signal(str, object, object)  # id, Superpixels, edges
    contrast_ready = QtCore.Signal(str, str, object)  # id, mode, uint8 view
    smart_ready = QtCore.Signal(str, object)  # id, (Rect, footprint) of a Smart click
    _ready = QtCore.Signal()

    def __init__(self, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self._thumbs = ThreadPoolExecutor(1, thread_name_prefix="thumbnails")
        self._segment = ThreadPoolExecutor(1, thread_name_prefix="superpixels")
        self._smart = ThreadPoolExecutor(1, thread_name_prefix="smart-click")  # never queued
        # behind a superpixel run
        self._futures: list[Future] = []
        self._generation = 0  # bumped by cancel: results of older work are dropped
        self._latest = {"superpixels": 0, "contrast": 0, "smart": 0}  # newer requests of a kind supersede
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._ready.connect(self._drain, QtCore.Qt.QueuedConnection)

    def _post(self, kind: str, image_id: str, value) -> None:
        """Called in a worker thread: hand a result to the GUI thread."""
        self._results.put((kind, image_id, value))
        self._ready.emit()

    @QtCore.Slot()
    def _drain(self) -> None:
        while not self._results.empty():
            kind, image_id, value = self._results.get()
            if kind == "thumbnail":
                self.thumbnail_ready.emit(image_id, to_qimage(value))
            elif kind == "contrast":
                self.contrast_ready.emit(image_id, *value)
            elif kind == "smart":
                self.smart_ready.emit(image_id, value)
            else:
                self.superpixels_ready.emit(image_id, *value)

    @property
    def busy(self) -> bool:
        self._futures = [f for f in self._futures if not f.done()]
        return bool(self._futures)

    def thumbnail(self, image_id: str, data: np.ndarray) -> None:
        self._submit(self._thumbs, lambda: self._post("thumbnail", image_id, thumbnail_array(data)))

    def thumbnails(self, project, image_ids: list[str]) -> None:
        """Thumbnails of a project's images, read one by one in the background."""
        generation = self._generation

        def run():
            for image_id in image_ids:
                if generation != self._generation:
                    return
                try:
                    self._post("thumbnail", image_id, thumbnail_array(project.read_image(image_id)))
                except Exception:  # noqa: BLE001 - a missing file shows when the image is opened
                    continue

        self._submit(self._thumbs, run)

    def superpixels(
        self, image_id: str, image: np.ndarray, levels: tuple[float, float], n: int
    ) -> None:
        from matlab_gui.annotate import superpixels

        current = self._supersede("superpixels")

        def run():
            sp = superpixels(image, *levels, n_segments=n)
            if current():
                self._post("superpixels", image_id, (sp, sp.boundaries()))

        self._submit(self._segment, run)

    def contrast(self, image_id: str, image: np.ndarray, mode: str) -> None:
        """An equalised or CLAHE display view (seconds on a large image)."""
        from matlab_gui.imaging.display import contrast_view

        current = self._supersede("contrast")

        def run():
            view = contrast_view(image, mode)
            if current():
                self._post("contrast", image_id, (mode, view))

        self._submit(self._segment, run)

    def smart_region(self, image_id: str, image: np.ndarray, click=None, box=None) -> None:
        """The region under a click or in a box (milliseconds, up to a few tenths of a second
        when the click window grows to its largest); a newer request supersedes it."""
        from matlab_gui.annotate.smart_region import smart_box_region, smart_region

        current = self._supersede("smart")

        def run():
            found = smart_region(image, click) if box is None else smart_box_region(image, box)
            if current():
                self._post("smart", image_id, found)

        self._submit(self._smart, run)

    def _supersede(self, kind: str):
        """A new request of `kind`: a test that is true while it is the latest and nothing
        was cancelled since."""
        self._latest[kind] += 1
        mine, generation = self._latest[kind], self._generation
        return lambda: mine == self._latest[kind] and generation == self._generation

    def cancel(self) -> None:
        """Drop the results of work in flight (the project is closing)."""
        self._generation += 1
        for f in self._futures:
            f.cancel()
        for f in self._futures:
            if not f.cancelled():
                f.exception()
        self._futures = []

    def _submit(self, pool: ThreadPoolExecutor, fn) -> None:
        self._futures.append(pool.submit(fn))
