"""The window's one model of what is open and what is chosen, announcing every change.

Widgets subscribe to these events (through gui/workbench_signals.py) and render; none keeps
its own copy. Every change made here is announced here, so a panel cannot miss a project switch.
"""

from __future__ import annotations

from matlab_gui.annotate.rect import Rect
from matlab_gui.project import ClassDef
from matlab_gui.workbench.events import EventGroup
from matlab_gui.workbench.session import Session

TOOLS = ("brush", "eraser", "fill", "smart", "polygon", "superpixel", "picker")
# How the mask is shown and the tools are set: saved in the project's settings under these names
VIEW_DEFAULTS = {"brush": 10, "tolerance": 0.05, "segments": 1500, "opacity": 0.5,
                 "outline": False, "show_mask": True}


class Workbench:
    """The open project (a `Session`, or None), its current image, the class list, the tool
    and class in hand, the view settings, the current model and the last prediction.

    events: `project` (the new Session or None), `image` (the image id shown now), `classes`
    (the new class list), `mask` (the Rect of the current mask to redraw), `edited` (the Rect
    of the current mask that changed, after every step, brush strokes too), `tool` (its
    name), `current_class` (its index), `model` (the current model's key: "shipped:NAME",
    "project:NAME" or a folder), `prediction` (the last prediction result, or None), `view`
    (a dict of the view settings that changed: brush radius px, fill tolerance as a fraction of
    the display range, superpixel count, mask opacity, outline only, show mask), `pixel_size`
    (the ids of the images whose pixel size changed), `saved`
    (error text, "" on success; emitted from the autosave thread), `changed` (dirty state or
    title)."""

    def __init__(self) -> None:
        self.session: Session | None = None
        self.events = EventGroup("project", "image", "classes", "mask", "edited", "tool",
                                 "current_class", "model", "prediction", "view", "pixel_size",
                                 "saved", "changed")
        self._tool = "brush"
        self._current_class = 1
        self._model: str | None = None
        self._prediction = None
        self._view = dict(VIEW_DEFAULTS)

    # -- the project ---------------------------------------------------------------------
    def open(self, session: Session) -> None:
        """Make `session` the open project (the caller has closed the previous one)."""
        self.session = session
        session.events.saved.connect(self.events.saved.emit)
        session.events.changed.connect(self.events.changed.emit)
        self.events.project.emit(session)

    def close(self) -> None:
        if self.session is None:
            return
        session, self.session = self.session, None
        session.close()
        self.prediction = None  # it was of that project's images
        self.events.project.emit(None)

    @property
    def project(self):
        return None if self.session is None else self.session.project

    # -- the current image ---------------------------------------------------------------
    def select(self, image_id: str) -> None:
        """Show `image_id` (UserError when it cannot be read; nothing changes then)."""
        self.session.select(image_id)
        self.events.image.emit(image_id)

    @property
    def image_id(self) -> str | None:
        return None if self.session is None else self.session.image_id

    # -- edits of the domain data ---------------------------------------------------------
    def apply_classes(self, classes: list[ClassDef], mapping: dict[int, int] | None = None) -> list[str]:
        """New class list (see Session.apply_classes); announces `classes`, and `mask` when the
        current image's pixels were renumbered."""
        changed = self.session.apply_classes(classes, mapping)
        self.events.classes.emit(self.session.project.classes)
        if self.session.image_id in changed:
            whole = Rect(0, 0, *self.session.editor.mask.shape)
            self.events.mask.emit(whole)
            self.events.edited.emit(whole)
        self.events.changed.emit()
        return changed

    def assign(self, labels, where=None) -> Rect | None:
        """Write class indices into the current mask as one undo step (Accept)."""
        rect = None if self.session is None else self.session.assign(labels, where)
        if rect is not None:
            self.edited(rect)
        return rect

    def import_mask(self, image_id: str, mask) -> bool:
        """An imported mask replaces an image's as one undo step of that image (see
        Session.set_mask); the current image is redrawn."""
        changed = self.session.set_mask(image_id, mask)
        if changed and image_id == self.session.image_id:
            self.edited(Rect(0, 0, *self.session.editor.mask.shape))
        elif changed:
            self.events.changed.emit()
        return changed

    def set_pixel_sizes(self, image_ids: list[str], metres: float | None) -> list[str]:
        """Give these images one pixel size (see Session.set_pixel_sizes); announces
        `pixel_size` with the ids whose pixel size changed."""
        changed = self.session.set_pixel_sizes(image_ids, metres)
        if changed:
            self.events.pixel_size.emit(changed)
            self.events.changed.emit()
        return changed

    def label_images(self, image_ids: list[str], index: int | None) -> list[str]:
        """Give these images the image-level class `index` (None clears it)."""
        changed = self.session.label_images(image_ids, index)
        if changed:
            self.events.changed.emit()
        return changed

    def remove_images(self, image_ids: list[str]) -> None:
        """Take images out of the project; when the shown one goes, `image` announces None."""
        shown = self.session.image_id in image_ids
        self.session.remove_images(image_ids)
        if shown:
            self.events.image.emit("")
        self.events.changed.emit()

    def edited(self, rect: Rect, drawn: bool = False) -> None:
        """The current mask changed inside `rect` (a tool's step, an undo, an Accept). `mask`
        asks for a redraw, unless the caller already drew it (a brush stroke, dab by dab)."""
        if not drawn:
            self.events.mask.emit(rect)
        self.events.edited.emit(rect)
        self.events.changed.emit()

    # -- what is in hand ----------------------------------------------------------------
    @property
    def tool(self) -> str:
        return self._tool

    @tool.setter
    def tool(self, name: str) -> None:
        if name not in TOOLS:
            raise ValueError(f"unknown tool {name!r}")
        self._tool = name
        self.events.tool.emit(name)  # also when it is the same: choosing a tool resets it

    @property
    def view(self) -> dict:
        """A copy of the view settings (see VIEW_DEFAULTS)."""
        return dict(self._view)

    def set_view(self, **values) -> dict:
        """Change view settings; announces (and returns) the ones that changed."""
        unknown = set(values) - set(VIEW_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown view settings {sorted(unknown)}")
        kinds = {k: type(VIEW_DEFAULTS[k]) for k in values}
        changed = {k: kinds[k](v) for k, v in values.items() if kinds[k](v) != self._view[k]}
        if changed:
            self._view.update(changed)
            self.events.view.emit(changed)
        return changed

    @property
    def model(self) -> str | None:
        """The key of the model Predict, Fine-tune and batch runs use."""
        return self._model

    @model.setter
    def model(self, key: str | None) -> None:
        if key != self._model:
            self._model = key
            self.events.model.emit(key)

    @property
    def prediction(self):
        """The last prediction (a PredictResult: class names and per-image outcomes), or None."""
        return self._prediction

    @prediction.setter
    def prediction(self, result) -> None:
        self._prediction = result
        self.events.prediction.emit(result)

    @property
    def current_class(self) -> int:
        return self._current_class

    @current_class.setter
    def current_class(self, index: int) -> None:
        if index != self._current_class:
            self._current_class = int(index)
            self.events.current_class.emit(self._current_class)
