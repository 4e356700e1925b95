"""The model's output on the canvas: predict, show (classes, one class's probability,
uncertainty), accept as annotation; a bar chart of class probabilities for classifiers.

Inference runs in a JobWorker; the GUI thread only colours arrays and hands them to one
pyqtgraph ImageItem above the mask overlay. Predictions are stored in the project (labels as
project class indices + confidence) so they survive a restart; probability and uncertainty
maps are kept for the image predicted last only (they are C x H x W)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from matlab_gui.annotate.class_match import classes_from_model, match_classes
from matlab_gui.gui import dialogs
from matlab_gui.gui.colour_bar import ColourBar
from matlab_gui.gui.job_worker import JobWorker
from matlab_gui.gui.live_assist import LiveAssist
from matlab_gui.gui.prediction_view import (
    CLASSES,
    EVALUATION,
    GRADCAM,
    PROBABILITY,
    UNCERTAINTY,
    ProbabilityBars,
    class_lut,
    colour_scale_text,
    evaluation_legend,
)
from matlab_gui.gui.pyramid_image import PyramidImage
from matlab_gui.jobs.predict import Outcome, PredictRequest, PredictResult, run_predict

Qt = QtCore.Qt
Z_PREDICTION = 12


class PredictionLayer(QtWidgets.QWidget):
    """The Prediction dock and the prediction image on the canvas."""

    def __init__(self, window, features):
        super().__init__()
        self.window, self.features = window, features
        self.worker = JobWorker(self)
        self.class_note = ""  # how the last run's classes landed in the project, if not by name
        self.picture = PyramidImage(window.canvas.view, self, levels=None)  # zoomed out: a level
        self.item = self.picture.item
        self.item.setZValue(Z_PREDICTION)
        window.canvas.view.addItem(self.item)
        self.predict = QtWidgets.QPushButton("Predict", toolTip="Predict the current image (Ctrl+P)")
        self.predict_all = QtWidgets.QPushButton("Predict all")
        self.cancel = QtWidgets.QPushButton("Cancel", enabled=False)
        self.bar = QtWidgets.QProgressBar(textVisible=True)
        self.mode = QtWidgets.QComboBox()
        self.mode.addItem("Classes", (CLASSES, 0))
        self.opacity = QtWidgets.QSlider(Qt.Horizontal, minimum=0, maximum=100, value=50)
        self.visible = QtWidgets.QCheckBox("Show prediction (Shift+P)", checked=True)
        self.accept_all = QtWidgets.QPushButton("Accept", toolTip="Replace the annotation")
        self.accept_unpainted = QtWidgets.QPushButton(
            "Accept where unpainted", toolTip="Fill only pixels not yet labelled")
        self.info = QtWidgets.QLabel(wordWrap=True)
        self.bars = ProbabilityBars()
        self.colour_bar = ColourBar("viridis")
        self.colour_scale = QtWidgets.QLabel(objectName="colourScale")  # numbers under the bar
        self.live = LiveAssist(window, features, self)
        self._layout()
        self._connect()

    def _layout(self) -> None:
        grid = QtWidgets.QGridLayout(self)
        for row, widgets in enumerate([
            (self.predict, self.predict_all, self.cancel), (self.bar,),
            (self.live.toggle,), (self.live.status,),
            (QtWidgets.QLabel("Show"), self.mode), (QtWidgets.QLabel("Opacity"), self.opacity),
            (self.visible,), (self.colour_bar,), (self.colour_scale,),
            (self.accept_all, self.accept_unpainted),
            (self.info,), (self.bars,),
        ]):
            for col, w in enumerate(widgets):
                grid.addWidget(w, row, col, 1, 3 if len(widgets) == 1 else 1)
        grid.setRowStretch(12, 1)

    def _connect(self) -> None:
        w = self.worker
        self.predict.clicked.connect(self.predict_current)
        self.predict_all.clicked.connect(self.predict_everything)
        self.cancel.clicked.connect(w.cancel)
        w.progress.connect(lambda e: (self.bar.setRange(0, e.total), self.bar.setValue(e.done)))
        w.finished.connect(self.show_result)
        w.failed.connect(lambda m: (self._idle(), dialogs.error(self.window, "Prediction failed", m)))
        w.cancelled.connect(lambda: self._idle())
        self.mode.currentIndexChanged.connect(lambda _: self.redraw())
        self.opacity.valueChanged.connect(lambda v: self.item.setOpacity(v / 100))
        self.visible.toggled.connect(self.item.setVisible)
        self.accept_all.clicked.connect(lambda: self.accept(only_unpainted=False))
        self.accept_unpainted.clicked.connect(lambda: self.accept(only_unpainted=True))
        self.window.signals.image.connect(lambda _id: self._fill_modes())
        self.item.setOpacity(0.5)
        self.redraw()

    # -- running ------------------------------------------------------------------------
    def _start(self, image_ids: list[str]) -> None:
        s, model = self.window.session, self.features.model_dir()
        if s is None or not image_ids:
            return
        if model is None:
            dialogs.error(self.window, "No model", "Train a model (Fine-tune) or import one first.")
            return
        request = PredictRequest(model, s.project, image_ids, maps_for=s.image_id,
                                 device=self.features.settings.device,
                                 engine=self.features.settings.engine)
        if self.worker.start(run_predict, request):
            self.cancel.setEnabled(True)
            self.bar.setRange(0, 0)

    def predict_current(self) -> None:
        s = self.window.session
        self._start([] if s is None or s.image_id is None else [s.image_id])

    def predict_everything(self) -> None:
        s = self.window.session
        self._start([] if s is None else s.project.image_ids)

    @property
    def result(self) -> PredictResult | None:
        """The last prediction (class names and maps), kept by the window's Workbench."""
        return self.window.workbench.prediction

    def clear(self) -> None:
        """No prediction shown (another project was opened)."""
        self.worker.cancel()
        self.window.workbench.prediction, self.class_note = None, ""
        self._idle()
        self._fill_modes()

    def _idle(self, done: bool = False) -> None:
        self.cancel.setEnabled(False)
        self.bar.setRange(0, 1)
        self.bar.setValue(int(done))

    def show_result(self, result: PredictResult) -> None:
        """A prediction arrived (this dock's run, or a batch row opened): map its classes to
        the project's, keep segmentation labels in the project, show it."""
        self._idle(done=True)
        self.window.workbench.prediction = result
        s = self.window.session
        match = None if s is None else match_classes(result.class_names, s.project.classes)
        self.class_note = "" if match is None else match.note
        notes = [n for n in (self.class_note, result.engine_note) if n]
        if notes:  # the class note is said before Accept can write anything
            self.window.statusBar().showMessage(" · ".join(notes), 15000)
        failed = [o for o in result.outcomes if o.error]
        if s is not None and match.fits and result.task == "segmentation":
            s.store_predictions(result.outcomes, match.indices, self.features.current_key)
        if s is not None:
            self._mark_list(result)
        if failed:
            dialogs.warning(self.window, "Some images could not be predicted",
                            "\n".join(o.error for o in failed))
        self._fill_modes()

    def show_live(self, result: PredictResult) -> None:
        """A live-mode prediction of the image on screen: shown, and accepted, like any other;
        not stored in the project (the next stroke replaces it)."""
        self.window.workbench.prediction, self.class_note = result, ""
        self._fill_modes()

    def _mark_list(self, result: PredictResult) -> None:
        """The image list says "predicted", and a classifier's class with its probability
        (until the list is rebuilt; the project keeps only segmentation predictions)."""
        s, images = self.window.session, self.window.images
        rows = {images.item(r).data(Qt.UserRole): images.item(r) for r in range(images.count())}
        for o in result.outcomes:
            if o.error or o.image_id not in rows:
                continue
            images.update_record(s.project.record(o.image_id), s.project.classes)
            if o.probabilities is not None and o.probabilities.ndim == 1:
                best = int(np.argmax(o.probabilities))
                item = rows[o.image_id]
                item.setText(f"{item.text()}\npredicted: {result.class_names[best]} "
                             f"({o.probabilities[best]:.0%})")

    def _fill_modes(self) -> None:
        """What the Show list offers: classes, each probability and the uncertainty (after a
        run), the TP/FN/FP/TN overlay of each class (with an annotation); keeps the choice."""
        s, kept = self.window.session, self.mode.currentData()
        names = self.result.class_names if self.result else []
        modes = [("Classes", (CLASSES, 0)),
                 *((f"Probability of {n}", (PROBABILITY, k)) for k, n in enumerate(names)),
                 *([("Uncertainty", (UNCERTAINTY, 0))] if names else []),
                 *([("Grad-CAM", (GRADCAM, 0))] if self.result and self.result.task
                   == "classification" else []),
                 *((f"Evaluation of {c.name}", (EVALUATION, c.index))
                   for c in (s.project.classes if s is not None else []))]
        self.mode.blockSignals(True)
        self.mode.clear()
        for text, data in modes:
            self.mode.addItem(text, data)
        self.mode.setCurrentIndex(max(0, self.mode.findData(kept)))
        self.mode.blockSignals(False)
        self.redraw()

    # -- showing ------------------------------------------------------------------------
    def current(self) -> Outcome | None:
        """This image's outcome from the last run, else its labels stored in the project."""
        s = self.window.session
        if s is None or s.image_id is None:
            return None
        if self.result is not None:
            for o in self.result.outcomes:
                if o.image_id == s.image_id and not o.error:
                    return o
        stored = s.project.get_prediction(s.image_id)
        return None if stored is None else Outcome(s.image_id, *stored, project_indices=True)

    def redraw(self) -> None:
        o = self.current()
        mode, arg = self.mode.currentData() or (CLASSES, 0)
        probabilities = None if o is None else o.probabilities
        is_map = probabilities is not None and probabilities.ndim == 3
        classifier = probabilities is not None and probabilities.ndim == 1
        has_cam = classifier and o.cam is not None
        self.bars.setVisible(classifier)
        self.colour_bar.setVisible(mode in (PROBABILITY, UNCERTAINTY) and is_map
                                   or mode == GRADCAM and has_cam)
        self.colour_scale.setVisible(self.colour_bar.isVisibleTo(self))
        self.colour_scale.setText(colour_scale_text(mode, self.mode.currentText()))
        if classifier:
            self._show_classifier(o, mode == GRADCAM and has_cam)
        elif o is None or o.labels is None:
            self.picture.clear()
            self.info.setText("No prediction for this image yet.")
        else:
            self._show_segmentation(o, mode, arg, is_map)

    def _show_classifier(self, o: Outcome, cam: bool) -> None:
        names = self.result.class_names
        self.bars.set_probabilities(names, o.probabilities)
        best = int(np.argmax(o.probabilities))
        self.info.setText(f"Predicted: <b>{names[best]}</b> ({o.probabilities[best]:.0%})")
        if cam:
            self._show_map(o.cam)
        else:
            self.picture.clear()

    def _show_segmentation(self, o: Outcome, mode: str, arg: int, is_map: bool) -> None:
        self.info.setText(f"Mean confidence {float(np.mean(o.confidence)):.0%}"
                          if o.confidence is not None else "")
        if mode == PROBABILITY and is_map:
            self._show_map(o.probabilities[arg])
        elif mode == UNCERTAINTY and o.uncertainty is not None:
            self._show_map(o.uncertainty)
        elif mode == EVALUATION and o.project_indices:
            self._show_evaluation(o, arg)
        else:
            self._show_classes(o)

    def _show_classes(self, o: Outcome) -> None:
        """Project colours (0 = unlabelled, clear); a model of other classes gets a palette."""
        if o.project_indices:
            colours = {c.index: c.color for c in self.window.session.project.classes}
            lut = class_lut([colours.get(i, (0, 0, 0)) for i in range(256)])
            lut[0, 3] = 0
        else:
            lut = class_lut([pg.intColor(i).getRgb()[:3] for i in range(256)])
        self.picture.set_image(lut[o.labels], levels=None, autoLevels=False)

    def _show_evaluation(self, o: Outcome, value: int) -> None:
        """TP yellow, FN green, FP red, TN blue where annotated; per-class IoU/F1 beside."""
        from matlab_gui.imaging.overlays import evaluation_overlay

        truth = self.window.session.editor.mask
        rgba = np.zeros((*truth.shape, 4), np.uint8)
        rgba[..., :3] = evaluation_overlay(o.labels, truth, value, ignore_value=0)
        rgba[..., 3] = np.where(truth > 0, 255, 0)
        self.picture.set_image(rgba, levels=None, autoLevels=False)
        from matlab_gui.imaging.pixel_scores import confusion_matrix, segmentation_scores

        classes = self.window.session.project.classes
        n = max(c.index for c in classes) + 1
        scores = segmentation_scores(confusion_matrix(truth, o.labels, n, where=truth > 0))
        iou, f1 = scores["per_class_iou"], scores["per_class_dice"]

        def cell(v):
            return "–" if v is None else f"{v:.3f}"

        rows = "".join(f"<tr><td>{c.name}</td><td>{cell(iou[c.index])}</td>"
                       f"<td>{cell(f1[c.index])}</td></tr>" for c in classes)
        self.info.setText(evaluation_legend(self.mode.currentText().removeprefix("Evaluation of "))
                          + "<table><tr><th>class</th><th>IoU</th><th>F1</th></tr>"
                          f"{rows}</table><small>on the annotated pixels</small>")

    def _show_map(self, values: np.ndarray) -> None:
        lut = self.colour_bar.lookup_table()
        self.picture.set_image(np.asarray(values, np.float32), levels=(0, 1), lut=lut,
                           autoLevels=False)

    # -- classes --------------------------------------------------------------------------
    def use_model_classes(self) -> None:
        """Make the current model's classes the project's; every painted pixel and image label
        keeps its meaning (see `classes_from_model`)."""
        s, card = self.window.session, self.features.card()
        if s is None or not card.get("classes"):
            return
        s.flush()
        s.wait()
        names = [c["name"] for c in card["classes"]]
        colors = [tuple(c.get("color") or dialogs.next_colour(k + 1))
                  for k, c in enumerate(card["classes"])]
        used = s.used_class_indices()
        classes, mapping = classes_from_model(names, colors, s.project.classes, used)
        if used and not dialogs.ask_yes(
            self.window, "Use the model's classes",
            f"The project's classes become {', '.join(c.name for c in classes)}. Painted pixels "
            "and image labels keep their meaning (classes the model lacks are kept).",
        ):
            return
        self.window.apply_classes(classes, mapping)

    # -- accepting ----------------------------------------------------------------------
    def accept(self, only_unpainted: bool) -> None:
        """Copy the predicted classes into the annotation as one undoable step; a classifier's
        prediction becomes the image's label ("where unpainted": only an unlabelled image)."""
        s, o = self.window.session, self.current()
        if s is not None and o is not None and o.probabilities is not None \
                and o.probabilities.ndim == 1:
            self._accept_label(s, o, only_unpainted)
            return
        if s is None or o is None or o.labels is None or s.editor is None:
            return
        if not o.project_indices:
            dialogs.error(self.window, "Cannot accept", self.class_note
                          or "The model's classes do not fit the project's.")
            return
        region = o.labels > 0
        if only_unpainted:
            region &= s.editor.mask == 0
        self.window.workbench.assign(o.labels, region)


    def _accept_label(self, s, o: Outcome, only_unlabelled: bool) -> None:
        match = match_classes(self.result.class_names, s.project.classes)
        if not match.fits:
            dialogs.error(self.window, "Cannot accept", match.note
                          or "The model's classes do not fit the project's.")
            return
        if only_unlabelled and s.project.record(o.image_id).label is not None:
            return
        index = match.indices[int(np.argmax(o.probabilities))]
        for image_id in self.window.workbench.label_images([o.image_id], index):
            self.window.images.update_record(s.project.record(image_id), s.project.classes)
        self.window.statusBar().showMessage(
            f"Image labelled {next(c.name for c in s.project.classes if c.index == index)}", 4000)
