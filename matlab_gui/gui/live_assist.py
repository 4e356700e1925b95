"""Live mode: while the user paints, a prediction of the image follows the strokes.

The image's features (`ml.live.image_features`, about a second) are computed in one worker
when an image is shown and kept for the last few images; each finished stroke refits the light
classifier on the painted pixels in a second worker (`ml.live.predict_live`) and the result is
shown through the Prediction dock like any prediction, so the Show list, opacity and both
Accept buttons work on it. Painting never waits: a stroke made while an update runs cancels
that update, and a result is shown only when it belongs to the newest mask of the image on
screen (each stroke bumps a generation number; an older result is dropped).
"""

from __future__ import annotations

import time
from collections import OrderedDict

from PySide6 import QtCore, QtWidgets

from matlab_gui.gui.job_worker import JobWorker
from matlab_gui.jobs.predict import Outcome, PredictResult

SETTING = "live/enabled"  # the toggle, remembered between sessions (on unless turned off)
DEBOUNCE_MS = 120  # strokes closer than this make one update
CACHED_IMAGES = 2  # feature grids kept (a 512 x 512 grid of ~210 channels is about 220 MB)
LIVE_ENGINE = "live"


def features_job(request: dict, progress=None, cancel=None):
    """Worker: the image's feature grid (imports torch, so never in the GUI thread)."""
    from matlab_gui.ml.live import image_features

    return request["key"], image_features(request["image"], request["model_dir"],
                                          progress=progress, cancel=cancel)


def update_job(request: dict, progress=None, cancel=None):
    """Worker: refit on the painted pixels and predict the image."""
    from matlab_gui.ml.live import predict_live

    start = time.perf_counter()
    prediction = predict_live(request["features"], request["mask"], request["values"],
                              request["method"], cancel=cancel)
    return request["generation"], request["key"], prediction, time.perf_counter() - start


class LiveAssist(QtCore.QObject):
    """The live-mode controller for one window (its toggle sits in the Prediction dock)."""

    updated = QtCore.Signal(float)  # a live prediction was shown; seconds the refit took

    def __init__(self, window, features, layer):
        super().__init__(layer)
        self.window, self.features, self.layer = window, features, layer
        self.method = "logistic"
        self.toggle = QtWidgets.QCheckBox(
            "Live prediction while painting",
            checked=QtCore.QSettings().value(SETTING, True, type=bool),
            toolTip="After each stroke, a quick classifier on the painted pixels predicts the "
                    "whole image (paint two classes to start). Accept takes it like any prediction.")
        self.status = QtWidgets.QLabel(wordWrap=True, objectName="liveStatus")
        self._cache: OrderedDict[tuple, object] = OrderedDict()
        self._generation = 0
        self._pending = False
        self.feature_worker = JobWorker(self)
        self.update_worker = JobWorker(self)
        self.timer = QtCore.QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._connect()

    def _connect(self) -> None:
        s = self.window.signals
        s.edited.connect(lambda _rect: self.schedule())
        s.image.connect(lambda _id: self._image_shown())
        s.model.connect(lambda _key: self._forget())
        s.project.connect(lambda _session: self._forget())
        self.toggle.toggled.connect(self._toggled)
        self.timer.timeout.connect(self.update)
        self.feature_worker.finished.connect(self._features_ready)
        self.feature_worker.failed.connect(lambda m: self._say(f"Live mode is off for now: {m}"))
        self.feature_worker.cancelled.connect(self._image_shown)
        self.update_worker.finished.connect(self._updated)
        self.update_worker.failed.connect(self._update_failed)
        self.update_worker.cancelled.connect(self._after_update)

    # -- state ----------------------------------------------------------------------------
    @property
    def on(self) -> bool:
        return self.toggle.isChecked()

    def _key(self) -> tuple | None:
        """Which features the image on screen needs: its id and the model whose encoder."""
        s = self.window.session
        if s is None or s.image_id is None or s.image is None:
            return None
        return s.image_id, self._encoder_model()

    def _encoder_model(self) -> str | None:
        card = self.features.card() if self.features.current_key else None
        return self.features.current_key if card and card.get("task") == "segmentation" else None

    def _toggled(self, on: bool) -> None:
        QtCore.QSettings().setValue(SETTING, on)
        if on:
            self._image_shown()
            self.update()
        else:
            self._stop()

    def _model_prediction_shown(self) -> bool:
        """The image shows a prediction of a model (this session's or stored in the project):
        live mode leaves it alone; it is for images no model has predicted yet."""
        outcome = self.layer.current()
        result = self.window.workbench.prediction
        live = result is not None and result.engine == LIVE_ENGINE and outcome is not None \
            and any(o is outcome for o in result.outcomes)
        return outcome is not None and not live

    def _say(self, text: str) -> None:
        self.status.setText(text)

    def _forget(self) -> None:
        self._cache.clear()
        self._generation += 1
        self._image_shown()

    def _stop(self) -> None:
        self.timer.stop()
        self._generation += 1
        self.feature_worker.cancel()
        self.update_worker.cancel()
        self._say("")

    # -- features ---------------------------------------------------------------------------
    def _image_shown(self) -> None:
        """Start the features of the image on screen unless they are cached or on their way."""
        self._generation += 1  # a result for the image left is no longer wanted
        key = self._key()
        if not self.on or key is None or key in self._cache:
            return
        if self.feature_worker.busy:
            self.feature_worker.cancel()  # `cancelled` comes back here
            return
        model_dir = self.features.model_dir(key[1]) if key[1] else None
        image = self.window.session.image
        self.feature_worker.start(features_job, {"key": key, "image": image, "model_dir": model_dir})
        self._say("Live mode: reading the image's features…")

    def _features_ready(self, result) -> None:
        key, features = result
        self._cache[key] = features
        while len(self._cache) > CACHED_IMAGES:
            self._cache.popitem(last=False)
        self._say(f"Live mode: features from {features.source}.")
        if key != self._key():
            self._image_shown()  # the user moved on meanwhile
        else:
            self.update()

    # -- updates ----------------------------------------------------------------------------
    def schedule(self) -> None:
        """A stroke ended: the running update is stale; a new one follows the last stroke."""
        if not self.on:
            return
        self._generation += 1
        if self.update_worker.busy:
            self.update_worker.cancel()
        self.timer.start()

    def update(self) -> None:
        """Refit now on the mask as it is (in the worker); at most one update at a time."""
        s, key = self.window.session, self._key()
        if not self.on or key is None or s.editor is None:
            return
        if self._model_prediction_shown():
            self._say("Live mode rests on this image: it shows the model's prediction.")
            return
        features = self._cache.get(key)
        if features is None:
            self._image_shown()
            return
        if self.update_worker.busy:
            self._pending = True
            self.update_worker.cancel()
            return
        from matlab_gui.ml.live import painted_values

        values = [c.index for c in s.project.classes]
        mask = s.editor.mask
        if len(painted_values(mask, values)) < 2:
            self._say("Live mode: paint at least two classes to see a live prediction.")
            return
        self._pending = False
        self.update_worker.start(update_job, {
            "features": features, "mask": mask.copy(), "values": values, "method": self.method,
            "generation": self._generation, "key": key})

    def _after_update(self) -> None:
        if self._pending:
            self.update()

    def _update_failed(self, message: str) -> None:
        self._say(f"Live prediction failed: {message}")
        self._after_update()

    def _updated(self, result) -> None:
        generation, key, prediction, seconds = result
        if generation != self._generation or key != self._key() or self._model_prediction_shown():
            self._after_update()  # the mask or the image changed meanwhile: not shown
            return
        s = self.window.session
        names = [c.name for c in s.project.classes]
        outcome = Outcome(key[0], labels=prediction.labels, confidence=prediction.confidence,
                          uncertainty=prediction.uncertainty, probabilities=prediction.probabilities,
                          project_indices=True)
        self.layer.show_live(PredictResult("segmentation", names, [outcome], engine=LIVE_ENGINE))
        method = {"logistic": "logistic regression", "forest": "random forest"}[self.method]
        self._say(f"Live prediction updated ({seconds:.2f} s; {method} on features from "
                  f"{self._cache[key].source}). Fine-tune for a strong model.")
        self.updated.emit(seconds)
        self._after_update()
