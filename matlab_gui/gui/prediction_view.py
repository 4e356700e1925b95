"""The display pieces of the Prediction dock: class colour tables, the classifier's probability
bars, the evaluation legend and the numbers under the colour bar."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

CLASSES, PROBABILITY, UNCERTAINTY, EVALUATION, GRADCAM = (
    "classes", "probability", "uncertainty", "evaluation", "gradcam")


def class_lut(colours: list[tuple[int, int, int]], alpha: int = 255) -> np.ndarray:
    lut = np.zeros((max(256, len(colours)), 4), np.uint8)
    lut[: len(colours), :3] = colours
    lut[: len(colours), 3] = alpha
    return lut


def evaluation_legend(name: str) -> str:
    """What each colour of the evaluation overlay means, for class `name`."""
    from matlab_gui.imaging.overlays import FN, FP, TN, TP

    def swatch(rgb, text):
        return f'<span style="color: rgb{tuple(rgb)}">■</span> {text}'

    return ("<p>" + "<br>".join([
        swatch(TP, f"TP: {name}, predicted {name}"),
        swatch(FN, f"FN: {name}, predicted as another class"),
        swatch(FP, f"FP: another class, predicted {name}"),
        swatch(TN, f"TN: another class, not predicted {name}")]) + "</p>")


def colour_scale_text(mode: str, label: str) -> str:
    """The numbers under the colour bar: its ends and middle, and what they measure."""
    what = {PROBABILITY: label.lower(), UNCERTAINTY: "uncertainty (0 = sure)",
            GRADCAM: "Grad-CAM relevance"}.get(mode, "")
    return ('<table width="100%"><tr><td align="left">0</td><td align="center">0.5 · '
            f'{what}</td><td align="right">1</td></tr></table>')


class ProbabilityBars(pg.PlotWidget):
    """A classifier's class probabilities for the current image."""

    def __init__(self):
        super().__init__()
        self.setMaximumHeight(150)
        self.setYRange(0, 1)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.6, brush="#0072b2")
        self.addItem(self.bars)

    def set_probabilities(self, names: list[str], p: np.ndarray | None) -> None:
        p = np.zeros(len(names)) if p is None else np.asarray(p, float)
        self.bars.setOpts(x=np.arange(len(p)), height=p)
        self.getAxis("bottom").setTicks([list(enumerate(names))])
