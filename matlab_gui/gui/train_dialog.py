"""Model > Advanced…: the training settings behind the one-click Fine-tune button."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from PySide6 import QtWidgets

SEG_ARCHS = ("micro-ktnet", "unet", "unet++", "fpn", "linknet", "manet", "pspnet", "deeplabv3",
             "deeplabv3+", "fcn8s", "fcn16s", "fcn32s")
CLS_ARCHS = ("resnet18", "resnet34", "resnet50", "vgg16", "efficientnet_b0", "efficientnetv2_s",
             "fnn")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class TrainSettings:
    """What Fine-tune asks the train job for. `None` = the job's (or the starting card's) default."""

    seg_arch: str = "micro-ktnet"
    cls_arch: str = "resnet18"
    encoder: str | None = None
    epochs: int = 10
    lr: float | None = None
    batch: int = 4
    patch: int = 256
    augment: bool = True
    finetune_top: float | None = None  # percent of layers trained; None = all
    device: str = "auto"
    pretrained: bool = True
    patches_per_epoch: int | None = None

    def arch_for(self, task: str) -> str:
        return self.seg_arch if task == "segmentation" else self.cls_arch


def _combo(items, current: str, editable: bool = False) -> QtWidgets.QComboBox:
    box = QtWidgets.QComboBox(editable=editable)
    box.addItems(list(items))
    box.setCurrentText(current)
    return box


class TrainDialog(QtWidgets.QDialog):
    """Edits a copy of the settings; `settings()` returns it after Accept."""

    def __init__(self, settings: TrainSettings, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Training settings")
        self._base = settings
        s = settings
        self.seg_arch = _combo(SEG_ARCHS, s.seg_arch)
        self.cls_arch = _combo(CLS_ARCHS, s.cls_arch)
        self.encoder = QtWidgets.QLineEdit(s.encoder or "", placeholderText="architecture default")
        self.epochs = QtWidgets.QSpinBox(minimum=1, maximum=1000, value=s.epochs)
        self.lr = QtWidgets.QDoubleSpinBox(decimals=6, minimum=0.0, maximum=1.0, singleStep=1e-4,
                                           value=s.lr or 0.0, specialValueText="default")
        self.batch = QtWidgets.QSpinBox(minimum=1, maximum=512, value=s.batch)
        self.patch = QtWidgets.QSpinBox(minimum=32, maximum=2048, singleStep=32, value=s.patch)
        self.augment = QtWidgets.QCheckBox("flips, rotations, brightness", checked=s.augment)
        self.top = QtWidgets.QSpinBox(minimum=0, maximum=100, suffix=" %",
                                      value=int(s.finetune_top or 0), specialValueText="all layers")
        self.device = _combo(DEVICES, s.device)
        self.pretrained = QtWidgets.QCheckBox("ImageNet weights for a new model",
                                              checked=s.pretrained)
        form = QtWidgets.QFormLayout(self)
        for label, widget in [
            ("Segmentation architecture", self.seg_arch), ("Classifier architecture", self.cls_arch),
            ("Encoder", self.encoder), ("Epochs", self.epochs), ("Learning rate", self.lr),
            ("Batch", self.batch), ("Patch size", self.patch), ("Augmentation", self.augment),
            ("Fine-tune top", self.top), ("Device", self.device), ("Start", self.pretrained),
        ]:
            form.addRow(label, widget)
        buttons = QtWidgets.QDialogButtonBox(
            QtWidgets.QDialogButtonBox.Ok | QtWidgets.QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def settings(self) -> TrainSettings:
        return dataclasses.replace(
            self._base, seg_arch=self.seg_arch.currentText(), cls_arch=self.cls_arch.currentText(),
            encoder=self.encoder.text().strip() or None, epochs=self.epochs.value(),
            lr=self.lr.value() or None, batch=self.batch.value(), patch=self.patch.value(),
            augment=self.augment.isChecked(), finetune_top=self.top.value() or None,
            device=self.device.currentText(), pretrained=self.pretrained.isChecked(),
        )
