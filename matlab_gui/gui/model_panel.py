"""The Model dock: which model is current, what its card says, the Fine-tune button, and the
sections other features add below them (`add_section`).

Only draws: the model list and the card (plain JSON, read without torch) come from
`ModelFeatures`, and the buttons are signals back to it."""

from __future__ import annotations

import html

from PySide6 import QtCore, QtWidgets


def _scores(metrics: dict) -> list[str]:
    """The first few overall scores of a metrics block, as text (a loss is not a score)."""
    return [f"{k} {v:.3f}" for k, v in metrics.items()
            if isinstance(v, float) and k != "loss"][:4]


def card_html(card: dict) -> str:
    """The parts of a model card a user decides by: what, on which classes, how good, when."""
    if not card:
        return "<i>No model yet: label a few images and press Fine-tune.</i>"
    arch = card.get("arch", "?") + (f" / {card['encoder']}" if card.get("encoder") else "")
    classes = ", ".join(c.get("name", "?") if isinstance(c, dict) else str(c)
                        for c in card.get("classes", []))
    metrics = card.get("metrics") or {}
    shown = _scores(metrics)
    test = metrics.get("test")  # the held-out score shipped models publish
    tested = _scores(test) if isinstance(test, dict) else []
    data = card.get("data") or {}
    training = card.get("training") or {}
    rule = str(training.get("validation", ""))
    splits = data.get("splits")  # older cards have only the rule in words
    held_out = splits.get("val") if isinstance(splits, dict) else not rule.startswith("training")
    scored_on = "Validation" if held_out else "Training"
    rows = [
        ("Task", card.get("task", "?")), ("Architecture", arch), ("Classes", classes),
        (scored_on, ", ".join(shown) or "none"), ("Test", ", ".join(tested)),
        ("Validation rule", rule),
        ("Started from", card.get("weight_source", "")),
        ("Trained on", data.get("source", "") + (f" {data['path']}" if data.get("path") else "")),
        ("Epochs", str(training.get("epochs_run", ""))), ("Device", training.get("device", "")),
        ("Date", str(card.get("created", card.get("date", "")))[:19]),
    ]
    cells = "".join(f"<tr><td><b>{k}</b></td><td>{html.escape(str(v))}</td></tr>"
                    for k, v in rows if v)
    return f"<table cellspacing='2'>{cells}</table>"


class ModelPanel(QtWidgets.QWidget):
    model_chosen = QtCore.Signal(str)  # the picker entry's key
    fine_tune_requested = QtCore.Signal()
    advanced_requested = QtCore.Signal()
    import_requested = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.picker = QtWidgets.QComboBox(toolTip="The model used to predict and to start from")
        self.card = QtWidgets.QLabel(wordWrap=True, textFormat=QtCore.Qt.RichText)
        self.card.setTextInteractionFlags(QtCore.Qt.TextSelectableByMouse)
        self.fine_tune = QtWidgets.QPushButton(
            "Fine-tune", toolTip="Train on this project's labels, starting from the current model")
        self.advanced = QtWidgets.QPushButton("Advanced…")
        self.import_button = QtWidgets.QPushButton("Import…", toolTip="Add a model folder")
        buttons = QtWidgets.QHBoxLayout()
        for b in (self.fine_tune, self.advanced, self.import_button):
            buttons.addWidget(b)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.picker)
        layout.addWidget(self.card)
        layout.addLayout(buttons)
        layout.addStretch(1)
        self._layout = layout
        self.picker.activated.connect(lambda i: self.model_chosen.emit(self.picker.itemData(i)))
        self.fine_tune.clicked.connect(self.fine_tune_requested)
        self.advanced.clicked.connect(self.advanced_requested)
        self.import_button.clicked.connect(self.import_requested)
        self.set_card({})

    def add_section(self, widget: QtWidgets.QWidget) -> None:
        """A feature's own part of the dock, below the buttons (above the free space)."""
        self._layout.insertWidget(self._layout.count() - 1, widget)

    def set_models(self, entries: list[tuple[str, str]], current: str | None) -> None:
        """`entries` are (key, label); `current` is the key to show selected."""
        self.picker.blockSignals(True)
        self.picker.clear()
        for key, label in entries:
            self.picker.addItem(label, key)
        index = self.picker.findData(current)
        self.picker.setCurrentIndex(max(index, 0) if entries else -1)
        self.picker.blockSignals(False)

    def set_card(self, card: dict) -> None:
        self.card.setText(card_html(card))

    def set_training(self, running: bool) -> None:
        """One training at a time: Fine-tune waits for the running one."""
        self.fine_tune.setEnabled(not running)
        self.fine_tune.setText("Training…" if running else "Fine-tune")
