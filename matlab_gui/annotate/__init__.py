"""Editing model behind the canvas: dabs, fills, polygons, superpixels and an undo stack of
changed rectangles. numpy/scikit-image only, never Qt or torch, so it is testable headless."""

from matlab_gui.annotate.editor import Editor
from matlab_gui.annotate.history import History
from matlab_gui.annotate.rect import Rect
from matlab_gui.annotate.regions import Superpixels, superpixels

__all__ = ["Editor", "History", "Rect", "Superpixels", "superpixels"]
