"""The model features' menu entries and toolbar buttons: Model (fine-tune, settings, import,
export as a folder or for ONNX / TorchScript, predict, accept, class use, view keys, where to
label next) and Batch (classify or segment a folder)."""

from __future__ import annotations

from PySide6 import QtGui, QtWidgets

from matlab_gui.gui.batch_dialog import CLASSIFY
from matlab_gui.gui.label_next import NEXT_KEY


def add_menus(window, features) -> None:
    """Model and Batch menu entries and the toolbar's Fine-tune and Predict buttons."""
    model, batch = window.model_menu, window.batch_menu
    fine_tune = QtGui.QAction("&Fine-tune on this project", window, shortcut="Ctrl+T",
                              triggered=features.fine_tune)
    fine_tune.setIconText("Fine-tune")
    fine_tune.setToolTip("Train on the labelled images, starting from the current model (Ctrl+T)")
    model.addAction(fine_tune)
    model.addAction(QtGui.QAction("Training &settings…", window, triggered=features.advanced))
    model.addAction(QtGui.QAction("&Import model folder…", window,
                                  triggered=features.import_model))
    export = QtGui.QAction("&Export model folder…", window, triggered=features.export_model)
    export.setStatusTip("Write the current model into a new folder named after it")
    model.addAction(export)
    portable = QtGui.QAction("Export for &ONNX / TorchScript…", window,
                             triggered=features.export_portable)
    portable.setStatusTip("Write the current model as an ONNX or TorchScript file with its card "
                          "and a README, checked against the app's own prediction")
    model.addAction(portable)
    for text, kind in [("&Classify folder…", CLASSIFY), ("&Segment folder…", "segment")]:
        batch.addAction(QtGui.QAction(text, window, triggered=lambda *_, k=kind: features.ask_batch(k)))
    model.addSeparator()
    features.actions = {"fine_tune": fine_tune, **prediction_actions(window, features.prediction, model)}
    model.addSeparator()
    features.actions.update(label_next_actions(window, features.label_next, model))
    toolbar = window.findChild(QtWidgets.QToolBar, "mainToolbar")
    if toolbar is not None:
        toolbar.addSeparator()
        toolbar.addAction(fine_tune)
        features.actions["predict"].setIconText("Predict")
        toolbar.addAction(features.actions["predict"])


def prediction_actions(window, layer, menu: QtWidgets.QMenu) -> dict[str, QtGui.QAction]:
    """Model menu entries and the view keys: Shift+P prediction, Shift+I image."""
    def act(text, slot, shortcut=None, checkable=False):
        a = QtGui.QAction(text, window, checkable=checkable)
        if shortcut:
            a.setShortcut(QtGui.QKeySequence(shortcut))
        a.triggered.connect(slot)
        menu.addAction(a)
        window.addAction(a)
        return a

    image = window.canvas.image_item
    return {
        "predict": act("&Predict current image", layer.predict_current, "Ctrl+P"),
        "predict_all": act("Predict &all images", layer.predict_everything),
        "accept": act("Accept prediction as annotation", lambda: layer.accept(False)),
        "accept_unpainted": act("Accept prediction where unpainted", lambda: layer.accept(True)),
        "use_model_classes": act("Use the model's classes", layer.use_model_classes),
        "show_prediction": act("Show prediction", layer.visible.toggle, "Shift+P"),
        "show_image": act("Show image", lambda: image.setVisible(not image.isVisible()),
                          "Shift+I"),
    }


def label_next_actions(window, label_next, menu: QtWidgets.QMenu) -> dict[str, QtGui.QAction]:
    """Rank the images by uncertainty, and walk that ranking with one key."""
    rank = QtGui.QAction("&Rank images by uncertainty", window, triggered=label_next.rank)
    rank.setStatusTip("Where to label next: the images the current model is least sure of first")
    step = QtGui.QAction("Next most &uncertain image", window, triggered=label_next.next_uncertain,
                         shortcut=QtGui.QKeySequence(NEXT_KEY), enabled=False)
    step.setStatusTip("Open the next image of the ranking, zoomed to its most uncertain tile")
    for action in (rank, step):
        menu.addAction(action)
        window.addAction(action)
    label_next.action = step
    return {"rank_uncertain": rank, "next_uncertain": step}
