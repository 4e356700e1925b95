"""What a project file holds, and where: the one place that knows the HDF5 layout.

Layout (schema 1):
  attrs   format, schema_version, classes (json), images (json: per-image metadata in order),
          models (json: name -> file names), current_model, settings (json)
  /images/<id>            embedded pixel data (native dtype)
  /masks/<id>             label mask, chunked + compressed, 0 = unlabelled
  /predictions/<id>/labels, /predictions/<id>/confidence
  /models/<name>/<file>   bytes of a trained model folder's files
  /history                append-only JSON lines (time, action, details)
All metadata sits in root attributes so opening reads no dataset at all.
"""

from __future__ import annotations

from dataclasses import dataclass

PROJECT_SUFFIX = ".mgp"
SCHEMA_VERSION = 1
FORMAT_NAME = "matlab_gui project"

IMAGES = "images"
MASKS = "masks"
PREDICTIONS = "predictions"
MODELS = "models"
HISTORY = "history"
GROUPS = (IMAGES, MASKS, PREDICTIONS, MODELS)

# HDF5 >= 1.10 file format: dense attribute storage (large JSON attributes) and persistent
# free-space tracking, so space freed by a replaced mask is reused instead of growing the file.
FILE_OPTIONS = {"libver": ("v110", "v110"), "fs_strategy": "fsm", "fs_persist": True}
MASK_CHUNK = 512


@dataclass(frozen=True)
class ClassDef:
    """One class of the label masks: its index in the mask (>= 1), name and display colour."""

    index: int
    name: str
    color: tuple[int, int, int]

    def __post_init__(self):
        if int(self.index) < 1:
            raise ValueError(f"class index must be >= 1, got {self.index}")
        object.__setattr__(self, "index", int(self.index))
        object.__setattr__(self, "color", tuple(int(c) for c in self.color))

    def to_json(self) -> dict:
        return {"index": self.index, "name": self.name, "color": list(self.color)}

    @classmethod
    def from_json(cls, data: dict) -> ClassDef:
        return cls(data["index"], data["name"], tuple(data["color"]))


@dataclass(frozen=True)
class ImageRecord:
    """What the project knows about one image, without reading its pixels."""

    id: str
    name: str
    source_path: str | None
    sha256: str | None
    embedded: bool
    shape: tuple[int, ...]
    dtype: str
    pixel_size_m: float | None
    label: int | None
    has_mask: bool
    has_prediction: bool

    def to_json(self) -> dict:
        return {**self.__dict__, "shape": list(self.shape)}

    @classmethod
    def from_json(cls, data: dict) -> ImageRecord:
        return cls(**{**data, "shape": tuple(data["shape"])})
