"""Model > Advanced…: the training settings behind the one-click Fine-tune button.

The architecture lists are the model registry's (`ml.archs`, torch-free, so the dialog opens at
once). Whether each has ImageNet weights on this machine is looked up in a background thread:
that imports torch and reads the weight files, seconds the first time.
"""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from PySide6 import QtCore, QtWidgets

from matlab_gui.ml.archs import (
    AUTO,
    CLASSIFICATION,
    REGISTRY,
    SEGMENTATION,
    architectures,
    imagenet_offline,
)
from matlab_gui.ml.engine_choice import ENGINES
from matlab_gui.ml.engine_choice import HELP as ENGINE_HELP

SEG_ARCHS = tuple(a.name for a in architectures(SEGMENTATION))
CLS_ARCHS = tuple(a.name for a in architectures(CLASSIFICATION))
DEVICES = ("auto", "cpu", "cuda", "mps")
WITH_WEIGHTS, WITHOUT_WEIGHTS = "ImageNet weights", "random start"
AUTOMATIC_TEXT = "automatic — the best pretrained one here"
POLL_MS = 50


@dataclass
class TrainSettings:
    """What Fine-tune asks the train job for. `None` = the job's (or the starting card's) default."""

    seg_arch: str = AUTO  # the best pretrained one here (`ml.archs.automatic_arch`)
    cls_arch: str = AUTO
    encoder: str | None = None
    # 200 epochs or 10 minutes, which comes first (from 10 painted images on, also until the
    # held-out images' score stops improving): on a CPU, 5 painted images get 80-120 epochs
    epochs: int = 200
    lr: float | None = None
    batch: int = 4
    patch: int = 256
    augment: bool = True
    finetune_top: float | None = None  # percent of layers trained; None = all
    device: str = "auto"
    engine: str = "auto"  # what runs the network for Predict and batch runs (`ml.engine_choice`)
    pretrained: bool = True
    patches_per_epoch: int | None = None
    class_centred: float | None = None  # None: the train job's default
    class_weights: str | None = None  # None: the train job's default ("auto")
    time_budget_s: float | None = 600.0  # seconds of training at most; None = no limit
    # per-step EMA decay of the kept weights; None = off. On a few scribbled images the raw
    # weights' score swings from epoch to epoch; their running average does not, and it needs
    # no held-out image to pick an epoch (benchmarks/fewshot.py)
    weight_average: float | None = 0.99

    def arch_for(self, task: str) -> str:
        return self.seg_arch if task == "segmentation" else self.cls_arch


def _combo(items, current: str) -> QtWidgets.QComboBox:
    box = QtWidgets.QComboBox()
    box.addItems(list(items))
    box.setCurrentText(current)
    return box


def _arch_combo(names, current: str, default: str) -> QtWidgets.QComboBox:
    """Items carry the name as data (their text gains the weights note); a setting naming an
    architecture the registry no longer has selects the default."""
    box = QtWidgets.QComboBox(sizeAdjustPolicy=QtWidgets.QComboBox.AdjustToContents)
    box.addItem(AUTOMATIC_TEXT, AUTO)
    box.setItemData(0, "Micro-KTNet when its ResNeXt50 ImageNet weights are on this machine, "
                       "else a U-Net with the ImageNet EfficientNet-Lite0 encoder "
                       "(classifiers: EfficientNet-Lite0)", QtCore.Qt.ToolTipRole)
    for name in names:
        box.addItem(name, name)
        box.setItemData(box.count() - 1, REGISTRY[name].description, QtCore.Qt.ToolTipRole)
    index = box.findData(current)
    box.setCurrentIndex(index if index >= 0 else box.findData(default))
    return box


def _in_background(fn, *args) -> Future:
    """`fn(*args)` in a daemon thread. The dialog polls the future: the thread touches no Qt
    object, so closing the dialog before it ends is harmless."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # shown in the dialog, e.g. torch missing or broken
            future.set_exception(exc)

    threading.Thread(target=run, name="imagenet-lookup", daemon=True).start()
    return future


class TrainDialog(QtWidgets.QDialog):
    """Edits a copy of the settings; `settings()` returns it after Accept."""

    def __init__(self, settings: TrainSettings, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Training settings")
        self._base = settings
        s = settings
        default = TrainSettings()
        self.seg_arch = _arch_combo(SEG_ARCHS, s.seg_arch, default.seg_arch)
        self.cls_arch = _arch_combo(CLS_ARCHS, s.cls_arch, default.cls_arch)
        self.weights_note = QtWidgets.QLabel("Looking for ImageNet weights on this machine…",
                                             wordWrap=True)
        self._lookup = _in_background(imagenet_offline,
                                      [REGISTRY[n] for n in SEG_ARCHS + CLS_ARCHS])
        self._poll = QtCore.QTimer(self, interval=POLL_MS, timeout=self._show_weights)
        self._poll.start()
        self.encoder = QtWidgets.QLineEdit(s.encoder or "", placeholderText="architecture default")
        self.epochs = QtWidgets.QSpinBox(minimum=1, maximum=10_000, value=s.epochs)
        self.time_limit = QtWidgets.QSpinBox(
            minimum=0, maximum=24 * 60, suffix=" min", specialValueText="none",
            value=0 if s.time_budget_s is None else max(1, round(s.time_budget_s / 60)),
            toolTip="No new epoch starts after this long; the best epoch so far is kept")
        self.lr = QtWidgets.QDoubleSpinBox(decimals=6, minimum=0.0, maximum=1.0, singleStep=1e-4,
                                           value=s.lr or 0.0, specialValueText="default")
        self.average = QtWidgets.QDoubleSpinBox(
            decimals=3, minimum=0.0, maximum=0.999, singleStep=0.005, specialValueText="off",
            value=s.weight_average or 0.0,
            toolTip="Keep a running average of the weights (decay per step) instead of the last "
                    "or best epoch's: steadier on a few painted images")
        self.batch = QtWidgets.QSpinBox(minimum=1, maximum=512, value=s.batch)
        self.patch = QtWidgets.QSpinBox(minimum=32, maximum=2048, singleStep=32, value=s.patch)
        self.augment = QtWidgets.QCheckBox("flips, rotations, brightness", checked=s.augment)
        self.top = QtWidgets.QSpinBox(minimum=0, maximum=100, suffix=" %",
                                      value=int(s.finetune_top or 0), specialValueText="all layers")
        self.device = _combo(DEVICES, s.device)
        self.engine = _combo(ENGINES, s.engine)
        self.engine.setToolTip(ENGINE_HELP[0].upper() + ENGINE_HELP[1:])
        self.pretrained = QtWidgets.QCheckBox("ImageNet weights for a new model",
                                              checked=s.pretrained)
        form = QtWidgets.QFormLayout(self)
        for label, widget in [
            ("Segmentation architecture", self.seg_arch), ("Classifier architecture", self.cls_arch),
            ("", self.weights_note), ("Encoder", self.encoder), ("Epochs", self.epochs),
            ("Time limit", self.time_limit), ("Learning rate", self.lr),
            ("Weight average", self.average), ("Batch", self.batch), ("Patch size", self.patch),
            ("Augmentation", self.augment), ("Fine-tune top", self.top), ("Device", self.device),
            ("Inference engine", self.engine), ("Start", self.pretrained),
        ]:
            form.addRow(label, widget)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.Ok | QtWidgets.QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _show_weights(self) -> None:
        """Polled until the look-up ends: then each entry's note, or why there is none."""
        if not self._lookup.done():
            return
        self._poll.stop()
        try:
            here = self._lookup.result()
        except Exception as exc:
            self.weights_note.setText(f"Could not look for ImageNet weights ({exc}).")
            return
        for box in (self.seg_arch, self.cls_arch):
            for i in range(1, box.count()):  # item 0 is the automatic choice
                name = box.itemData(i)
                note = WITH_WEIGHTS if here[name] else WITHOUT_WEIGHTS
                box.setItemText(i, f"{name} — {note}")
        self.weights_note.setText(
            f"{WITH_WEIGHTS}: a new model starts from them (default encoder) and needs fewer "
            f"labels. {WITHOUT_WEIGHTS.capitalize()}: none on this machine.")

    def settings(self) -> TrainSettings:
        return dataclasses.replace(
            self._base, seg_arch=self.seg_arch.currentData(), cls_arch=self.cls_arch.currentData(),
            encoder=self.encoder.text().strip() or None, epochs=self.epochs.value(),
            lr=self.lr.value() or None, batch=self.batch.value(), patch=self.patch.value(),
            augment=self.augment.isChecked(), finetune_top=self.top.value() or None,
            device=self.device.currentText(), engine=self.engine.currentText(),
            pretrained=self.pretrained.isChecked(),
            time_budget_s=60.0 * self.time_limit.value() or None,
            weight_average=self.average.value() or None,
        )
