"""Where to label next, in the Model dock: the project's images ranked by the current model's
uncertainty, and a key that walks the ranking, framing each image's most uncertain tile.

The ranking is the `suggest` job (`jobs/suggest.py`) run in a JobWorker: torch never runs on
the GUI thread. The section only draws the ranking and routes clicks; opening an image goes
through the image list, as any other way of choosing one does."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from matlab_gui.gui import dialogs
from matlab_gui.gui.job_worker import JobWorker
from matlab_gui.jobs.suggest import ImageScore, SuggestRequest, SuggestResult, run_suggest

Qt = QtCore.Qt
NEXT_KEY = "U"  # "next most Uncertain"; not taken by the window's other keys


def entry_text(rank: int, item: ImageScore) -> str:
    return f"{rank}. {item.name}  ·  {item.score:.3f}"


class LabelNextSection(QtWidgets.QGroupBox):
    """Rank button, progress, the ranking, Next most uncertain. Draws only; signals back."""

    rank_requested = QtCore.Signal()
    cancel_requested = QtCore.Signal()
    entry_chosen = QtCore.Signal(int)  # the row in the ranking
    next_requested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__("Where to label next", parent)
        self.rank = QtWidgets.QPushButton(
            "Rank images", toolTip="Rank the project's images by the current model's uncertainty: "
            "the ones it is least sure of teach it most when labelled")
        self.cancel = QtWidgets.QPushButton("Cancel", enabled=False)
        self.bar = QtWidgets.QProgressBar(textVisible=True, visible=False)
        self.ranking = QtWidgets.QListWidget(objectName="uncertaintyRanking")
        self.ranking.setToolTip("Most uncertain first (0 = sure, 1 = no idea); click to open")
        self.next = QtWidgets.QPushButton(
            f"Next most uncertain ({NEXT_KEY})", enabled=False,
            toolTip="Open the next image of the ranking, zoomed to its most uncertain tile")
        self.info = QtWidgets.QLabel(wordWrap=True)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.rank)
        buttons.addWidget(self.cancel)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.bar)
        layout.addWidget(self.ranking)
        layout.addWidget(self.next)
        layout.addWidget(self.info)
        self.rank.clicked.connect(self.rank_requested)
        self.cancel.clicked.connect(self.cancel_requested)
        self.next.clicked.connect(self.next_requested)
        self.ranking.itemClicked.connect(lambda item: self.entry_chosen.emit(self.ranking.row(item)))
        self.ranking.itemActivated.connect(lambda item: self.entry_chosen.emit(self.ranking.row(item)))

    def running(self, text: str) -> None:
        self.rank.setEnabled(False)
        self.cancel.setEnabled(True)
        self.bar.setRange(0, 0)
        self.bar.setFormat("%v / %m")
        self.bar.show()
        self.info.setText(text)

    def progress(self, done: int, total: int, name: str) -> None:
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        self.bar.setFormat(f"%v / %m  {name}" if name else "%v / %m")

    def stopped(self, text: str) -> None:
        self.rank.setEnabled(True)
        self.cancel.setEnabled(False)
        self.bar.hide()
        self.info.setText(text)

    def show_ranking(self, ranking: list[ImageScore]) -> None:
        self.ranking.clear()
        for rank, item in enumerate(ranking, 1):
            self.ranking.addItem(entry_text(rank, item))
        self.next.setEnabled(bool(ranking))


class LabelNext(QtCore.QObject):
    """The section's controller: runs the ranking, opens and frames its images."""

    def __init__(self, features):
        super().__init__(features)
        self.features, self.window = features, features.window
        self.section = LabelNextSection()
        self.worker = JobWorker(self)
        self.result: SuggestResult | None = None
        self._pending: tuple[str, tuple | None] | None = None  # framing after a deferred open
        self.action = None  # Model > Next most uncertain, set by model_menus
        s, w = self.section, self.worker
        s.rank_requested.connect(self.rank)
        s.cancel_requested.connect(w.cancel)
        s.entry_chosen.connect(self.open_entry)
        s.next_requested.connect(self.next_uncertain)
        w.progress.connect(self._progress)
        w.finished.connect(self._ranked)
        w.failed.connect(self._failed)
        w.cancelled.connect(lambda: s.stopped("Cancelled."))
        self.window.signals.image.connect(self._image_shown)
        self.window.signals.project.connect(lambda _session: self.clear())

    def clear(self) -> None:
        """No ranking (another project was opened): it was of the last project's images."""
        self.worker.cancel()
        self.result = None
        self.section.show_ranking([])
        self.section.stopped("")
        self._enable_next()

    def _enable_next(self) -> None:
        if self.action is not None:
            self.action.setEnabled(bool(self.result and self.result.ranking))

    # -- ranking --------------------------------------------------------------------------
    def rank(self) -> None:
        s, model = self.window.session, self.features.model_dir()
        if s is None or not s.project.image_ids:
            dialogs.error(self.window, "Nothing to rank", "Add images to the project first.")
            return
        if model is None:
            dialogs.error(self.window, "No model", "Train a model (Fine-tune) or import one first.")
            return
        settings = self.features.settings
        request = SuggestRequest(model, s.project, list(s.project.image_ids),
                                 device=settings.device, engine=settings.engine)
        if self.worker.start(run_suggest, request):
            self.section.running(f"Ranking with {model.name}…")

    def _progress(self, event) -> None:
        if event.stage == "suggest":  # not the tiles of one image
            self.section.progress(event.done, event.total, event.message)

    def _ranked(self, result: SuggestResult) -> None:
        self.result = result
        self.section.show_ranking(result.ranking)
        failed = result.failed
        text = f"{len(result.ranking)} images, most uncertain first."
        if failed:
            text += f" {len(failed)} could not be ranked: " + "; ".join(
                f"{f.name}: {f.error}" for f in failed)
        self.section.stopped(text)
        if result.engine_note:
            self.window.statusBar().showMessage(result.engine_note, 15000)
        self._enable_next()

    def _failed(self, message: str) -> None:
        self.section.stopped("Ranking failed.")
        dialogs.error(self.window, "Ranking failed", message)

    # -- walking the ranking ----------------------------------------------------------------
    def open_entry(self, row: int) -> None:
        """Open the ranking's image at `row`, framed on its most uncertain tile."""
        if self.result is None or not 0 <= row < len(self.result.ranking):
            return
        item = self.result.ranking[row]
        s = self.window.session
        if s is None or item.image not in s.project.image_ids:
            self.window.statusBar().showMessage(f"{item.name} is no longer in the project", 5000)
            return
        self.section.ranking.setCurrentRow(row)
        self._pending = (item.image, item.tile)
        self.window.images.select_id(item.image)  # the list follows; it opens the image
        self.window.show_image(item.image)  # unless it was the list's already
        if s.image_id == item.image:  # shown now (else when a running save is done)
            self._frame()

    def next_uncertain(self) -> None:
        """The image after the one chosen in the ranking (the first when none is)."""
        if self.result is None or not self.result.ranking:
            return
        row = self.section.ranking.currentRow() + 1
        if row >= len(self.result.ranking):
            self.window.statusBar().showMessage("That was the last image of the ranking.", 5000)
            return
        self.open_entry(row)

    def _image_shown(self, image_id: str) -> None:
        if self._pending is not None and self._pending[0] == image_id:
            QtCore.QTimer.singleShot(0, self._frame)  # after the window set its own view

    def _frame(self) -> None:
        pending, self._pending = self._pending, None
        s = self.window.session
        if pending is None or s is None or s.image_id != pending[0]:
            return
        tile = pending[1]
        if tile is None:  # the image is one cell: all of it
            self.window.canvas.fit()
        else:
            x, y, w, h = tile
            self.window.canvas.set_view_rect([x, x + w, y, y + h])
