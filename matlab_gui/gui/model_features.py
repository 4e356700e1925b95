"""The window's model features: model picker, one-click fine-tuning, predictions, batch runs.

`attach(window)` adds the docks, menu entries and toolbar buttons using only the window's
public parts (`session`, `signals`, `canvas`, `images`, its Model/Batch/View menus). Training reads the open
project from its worker thread: the editor's mask is flushed into the project first, the job
reads every image and mask once while it prepares (the project's reads take its lock, so an
autosave cannot close the file under them), and from then on trains on its own copies. The
finished model folder is stored in the project here, in the GUI thread, the one that edits it.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from pathlib import Path

from PySide6 import QtCore, QtWidgets

from matlab_gui.errors import UserError
from matlab_gui.gui import dialogs
from matlab_gui.gui.batch_dialog import CLASSIFY, BatchChoice, BatchDialog
from matlab_gui.gui.batch_results import BatchResults, batch_outcome, classify_table, segment_table
from matlab_gui.gui.fine_tune import FineTuneJob, labelled_task, run_fine_tune
from matlab_gui.gui.job_worker import JobWorker
from matlab_gui.gui.label_next import LabelNext
from matlab_gui.gui.measure_panel import MeasurePanel
from matlab_gui.gui.model_menus import add_menus
from matlab_gui.gui.model_panel import ModelPanel
from matlab_gui.gui.portable_export import PortableExport
from matlab_gui.gui.prediction_layer import PredictionLayer
from matlab_gui.gui.train_dialog import TrainDialog, TrainSettings
from matlab_gui.gui.training_panel import TrainingPanel
from matlab_gui.jobs.predict import PredictResult
from matlab_gui.ml.card import ModelCard
from matlab_gui.ml.model_lookup import card_json  # plain JSON: no torch here
from matlab_gui.progress import Progress
from matlab_gui.project import names

Qt = QtCore.Qt
SHIPPED, PROJECT = "shipped:", "project:"


def content_key(files: dict[str, bytes]) -> str:
    """A short digest of a model's file names and bytes: it changes whenever the model stored
    under a name does."""
    digest = hashlib.sha256()
    for file_name in sorted(files):
        digest.update(f"{file_name}\0{len(files[file_name])}\0".encode())
        digest.update(files[file_name])
    return digest.hexdigest()[:16]


class ModelFeatures(QtCore.QObject):
    """The controller: owns the docks and workers, and is the one place that edits the
    project for them (models, current model), always in the GUI thread."""

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.settings = TrainSettings()
        self._job: FineTuneJob | None = None  # the training running now
        self._temp = Path(tempfile.mkdtemp(prefix="matlab_gui-models-"))
        self.trainer = JobWorker(self)
        self.model_panel = ModelPanel()
        self.training_panel = TrainingPanel()
        self.prediction = PredictionLayer(window, self)
        self.batch = JobWorker(self)
        self.batch_results = BatchResults()
        self.measurements = MeasurePanel(window, self.prediction)
        self.portable = PortableExport(self)  # Model > Export for ONNX / TorchScript
        self.label_next = LabelNext(self)  # where to label next: the uncertainty ranking
        self.model_panel.add_section(self.label_next.section)
        self.entries: list[tuple[str, str]] = []
        self._batch_result = None  # the last batch run's, for opening its rows
        self.docks = {t: self._dock(t, w) for t, w in [
            ("Model", self.model_panel), ("Training", self.training_panel),
            ("Prediction", self.prediction), ("Measurements", self.measurements),
            ("Batch results", self.batch_results)]}
        titles = list(self.docks)
        for a, b in zip(titles, titles[1:], strict=False):
            window.tabifyDockWidget(self.docks[a], self.docks[b])
        self.docks["Model"].raise_()
        for dock in self.docks.values():
            window.view_menu.addAction(dock.toggleViewAction())
        self._connect()
        self.refresh_models()

    def _dock(self, title: str, widget: QtWidgets.QWidget) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self.window)
        dock.setObjectName(f"{title} dock")
        dock.setWidget(widget)
        self.window.addDockWidget(Qt.LeftDockWidgetArea, dock)
        return dock

    def _connect(self) -> None:
        p, t = self.model_panel, self.trainer
        p.model_chosen.connect(self.choose_model)
        p.fine_tune_requested.connect(self.fine_tune)
        p.advanced_requested.connect(self.advanced)
        p.import_requested.connect(self.import_model)
        self.training_panel.cancel_requested.connect(t.cancel)
        self.training_panel.stop_requested.connect(t.finish)
        t.progress.connect(self._train_progress)
        t.finished.connect(self._trained)
        t.failed.connect(self._train_failed)
        t.cancelled.connect(self._train_cancelled)
        self.window.signals.project.connect(self._project_changed)
        b, r = self.batch, self.batch_results
        r.cancel_requested.connect(b.cancel)
        r.open_requested.connect(self.open_batch_result)
        b.progress.connect(r.show_progress)
        b.finished.connect(self._batch_finished)
        b.failed.connect(lambda m: (r.stop("Failed."), dialogs.error(self.window, "Batch failed", m)))
        b.cancelled.connect(lambda: r.stop("Cancelled; the rows done so far are in the CSV."))

    # -- models -----------------------------------------------------------------------
    @property
    def current_key(self) -> str | None:
        """The current model's key, kept by the window's Workbench."""
        return self.window.workbench.model

    @current_key.setter
    def current_key(self, key: str | None) -> None:
        self.window.workbench.model = key

    @property
    def project(self):
        s = self.window.session
        return None if s is None else s.project

    def _project_changed(self, _session) -> None:
        """Another project (or none) is open: its models, and no trace of the last one's
        prediction or measurements. A training still running for the previous one stays on
        show until it ends (its model is then discarded)."""
        self.prediction.clear()
        self.measurements.clear()
        if not self.trainer.busy:
            self.training_panel.clear()
        self.refresh_models()

    def refresh_models(self) -> None:
        from matlab_gui.ml.model_lookup import shipped_models
        from matlab_gui.resources import DEFAULT_MODEL

        project = self.project
        entries = [(SHIPPED + n, f"{n} (shipped)") for n in shipped_models()]
        if project is not None:
            entries = [(PROJECT + n, n) for n in reversed(project.model_names())] + entries
            if project.current_model:
                self.current_key = PROJECT + project.current_model
        keys = [k for k, _ in entries]
        if self.current_key not in keys:  # the project's newest model, else the default sample's
            default = SHIPPED + DEFAULT_MODEL
            first = keys[0] if keys else None
            use_default = default in keys and not (first or "").startswith(PROJECT)
            self.current_key = default if use_default else first
        self.entries = entries
        self.model_panel.set_models(entries, self.current_key)
        self.model_panel.set_card(self.card())

    def model_dir(self, key: str | None = None) -> Path | None:
        """The folder of a key (shipped:NAME, project:NAME or a path). A project's model is
        exported to a temporary folder named after its files' content, so a model stored again
        under the same name is exported afresh instead of its old copy being used."""
        from matlab_gui.resources import models_dir

        key = key or self.current_key
        if key is None:
            return None
        if key.startswith(SHIPPED):
            return models_dir() / key[len(SHIPPED):]
        if not key.startswith(PROJECT):
            return Path(key)  # a model folder given by its path
        if self.project is None:
            return None
        name = key[len(PROJECT):]
        digest = content_key(self.project.model_files(name))
        folder = names.inside(self._temp / digest, name, "model name")
        if not folder.is_dir():
            self._export_complete(name, folder)
        return folder

    def _export_complete(self, name: str, folder: Path) -> None:
        """Export into a staging folder renamed into place, so an export cut short (disk
        full) never passes for a finished one."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".staging-"))
        self.project.export_model(name, staging)
        staging.rename(folder)

    def card(self, key: str | None = None) -> dict:
        return card_json(self.model_dir(key))

    def choose_model(self, key: str) -> None:
        self.current_key = key
        if key.startswith(PROJECT) and self.project is not None:
            self.window.session.wait()
            self.project.current_model = key[len(PROJECT):]
        self.model_panel.set_card(self.card())

    def import_model(self) -> None:
        folder = dialogs.folder(self.window, "Import a model folder (card.json + weights)")
        if folder is None or self.project is None:
            return
        try:  # the card is untrusted: every field checked before the project keeps it
            ModelCard.read(folder / "card.json")
        except UserError as exc:
            dialogs.error(self.window, "Cannot import the model", str(exc))
            return
        self.window.session.wait()
        try:
            self.project.store_model(folder.name, folder)
        except ValueError as exc:
            dialogs.error(self.window, "Cannot import the model", str(exc))
            return
        self.project.current_model = folder.name
        self.refresh_models()

    def export_model(self) -> None:
        """Model > Export: the current model's folder copied into a new subfolder, named after
        the model, of a folder the user picks; never written into a folder holding files."""
        key = self.current_key
        if key is None or (key.startswith(PROJECT) and self.project is None):
            dialogs.error(self.window, "No model", "There is no current model to export.")
            return
        name = key.split(":", 1)[1] if key.startswith((SHIPPED, PROJECT)) else Path(key).name
        dest = dialogs.folder(self.window, f"Export model {name} into a folder")
        if dest is None:
            return
        try:
            target = names.inside(dest, name, "model name")
            if target.exists() and not (target.is_dir() and not any(target.iterdir())):
                dialogs.error(self.window, "Cannot export the model",
                              f"{target} already exists and is not an empty folder: choose "
                              "another folder, or move that one away first.")
                return
            self._write_model(key, name, target)
        except (OSError, ValueError, UserError) as exc:
            dialogs.error(self.window, "Cannot export the model", str(exc))
            return
        self.window.statusBar().showMessage(f"Exported model {name} to {target}", 5000)

    def export_portable(self) -> None:
        """Model > Export for ONNX / TorchScript: format and folder asked, the export and its
        check against the app run on a worker thread (gui/portable_export.py)."""
        self.portable.ask()

    def _write_model(self, key: str, name: str, target: Path) -> None:
        """A project's model straight from the project, any other one by copying its folder."""
        if key.startswith(PROJECT):
            self.window.session.wait()
            self.project.export_model(name, target)
        else:
            shutil.copytree(self.model_dir(key), target, dirs_exist_ok=True)

    # -- training ---------------------------------------------------------------------
    def advanced(self) -> None:
        dialog = TrainDialog(self.settings, self.window)
        if dialog.exec() == QtWidgets.QDialog.Accepted:
            self.settings = dialog.settings()

    def _starting_model(self, task: str) -> Path | None:
        """The current model when it does the same task, else the closest shipped one: trained
        layers are a far better start than ImageNet alone, and where their classes differ from
        the project's the train job grows a new output layer on them."""
        from matlab_gui.ml.starting_model import starting_model

        classes = sorted(self.project.classes, key=lambda c: c.index)
        return starting_model(task, [c.name for c in classes], self.model_dir())

    def fine_tune(self) -> None:
        s = self.window.session
        if self.trainer.busy:
            return
        task = None if s is None else labelled_task(s.project)
        if task is None:
            dialogs.error(self.window, "Nothing to train on yet",
                          "Label a few images first: paint classes on an image (segmentation) "
                          "or give images a class label (classification).")
            return
        s.flush()
        s.wait()
        name = f"{task}-{time.strftime('%Y%m%d-%H%M%S')}"
        job = FineTuneJob(task, s.project, self._temp / "trained" / name,
                          self._starting_model(task), self.settings)
        self._job = job
        self.trainer.start(run_fine_tune, job)
        arch = self.settings.arch_for(task)
        start = (f"fine-tuning {job.start.name}" if job.start
                 else "a new model" if arch == "auto" else f"a new {arch}")
        self.training_panel.start(f"Training {name}: {start}", "…")
        self.model_panel.set_training(True)
        self.docks["Training"].show()
        self.docks["Training"].raise_()

    def _train_progress(self, event: Progress) -> None:
        if event.stage == "device":
            self.training_panel.device.setText(f"Device: {event.message}")
        elif event.stage == "start":
            self.training_panel.show_start(event.message)
        else:
            self.training_panel.show_progress(event)

    def _trained(self, result) -> None:
        self.model_panel.set_training(False)
        job, s = self._job, self.window.session
        if s is None or s.project is not job.project:
            self.training_panel.finish("Finished, but its project was closed: model discarded.")
            return
        s.wait()
        s.project.store_model(job.out.name, result.model_dir)
        s.project.current_model = job.out.name
        s.project.log("train", model=job.out.name, epochs=result.epochs_run, device=result.device)
        shutil.rmtree(result.model_dir, ignore_errors=True)
        self.current_key = PROJECT + job.out.name
        self.refresh_models()
        self.training_panel.finish(f"Done in {result.wall_s:.0f} s: {job.out.name} is the current "
                                   "model (saved with the project).")

    def _train_failed(self, message: str) -> None:
        self.model_panel.set_training(False)
        self.training_panel.finish("Training failed; the previous model is still current.")
        dialogs.error(self.window, "Training failed", message)

    def _train_cancelled(self) -> None:
        self.model_panel.set_training(False)
        self.training_panel.finish("Cancelled; the previous model is still current.")

    # -- batch ------------------------------------------------------------------------
    def ask_batch(self, kind: str) -> None:
        task = "classification" if kind == CLASSIFY else "segmentation"
        models = [(k, label) for k, label in self.entries if self.card(k).get("task") == task]
        dialog = BatchDialog(kind, models, self.current_key, self.window)
        if dialog.exec() == QtWidgets.QDialog.Accepted:
            self.run_batch(dialog.choice())

    def run_batch(self, choice: BatchChoice) -> None:
        """Start the classify or segment job on a folder; results fill the Batch dock."""
        from matlab_gui.jobs.classify import ClassifyRequest, run_classify
        from matlab_gui.jobs.segment import SegmentRequest, run_segment

        model, device = self.model_dir(choice.model_key), self.settings.device
        engine = self.settings.engine
        if choice.kind == CLASSIFY:
            # workers=0: no DataLoader processes forked from the Qt process (fork + Qt hangs)
            fn, request = run_classify, ClassifyRequest(model, choice.folder, choice.recursive,
                                                        choice.out, device, workers=0,
                                                        engine=engine)
        else:
            spec = self.measurements.spec() if choice.measure else None
            fn, request = run_segment, SegmentRequest(model, [choice.folder], choice.out,
                                                      overlay=True, recursive=choice.recursive,
                                                      device=device, engine=engine, measure=spec)
        if not self.batch.start(fn, request):
            dialogs.warning(self.window, "A batch is running", "Wait for it or cancel it first.")
            return
        self.batch_results.start(f"{choice.kind.title()} {choice.folder} → {choice.out}")
        self.docks["Batch results"].show()
        self.docks["Batch results"].raise_()

    def _batch_finished(self, result) -> None:
        self._batch_result = result
        self.batch_results.set_table(
            classify_table(result) if hasattr(result, "rows") else segment_table(result))
        if result.engine_note:
            self.window.statusBar().showMessage(result.engine_note, 15000)

    def open_batch_result(self, path: str) -> None:
        """Double-click on a batch row: the image opens showing what the batch predicted."""
        self.window.open_paths([Path(path)])
        s, result = self.window.session, self._batch_result
        if s is None or s.image_id is None or result is None:
            return
        outcome = batch_outcome(result, Path(path), s.image_id)
        if outcome is not None:
            task = "classification" if hasattr(result, "rows") else "segmentation"
            self.prediction.show_result(PredictResult(task, result.class_names, [outcome]))

    def close(self) -> None:
        """Stop background work (window closing) and drop the temporary model copies."""
        for worker in (self.trainer, self.prediction.worker, self.batch,
                       self.measurements.worker, self.portable.worker, self.label_next.worker,
                       self.prediction.live.feature_worker, self.prediction.live.update_worker):
            worker.cancel()
            worker.wait(30)
        shutil.rmtree(self._temp, ignore_errors=True)


def attach(window) -> ModelFeatures:
    """Add the model features to `window`; MainWindow calls it once, at the end of its __init__."""
    features = ModelFeatures(window)
    add_menus(window, features)
    QtWidgets.QApplication.instance().aboutToQuit.connect(features.close)
    return features
