"""The model card: everything needed to rebuild, feed and judge a trained model.

A model folder is `model.safetensors` + `card.json`; the card says which architecture to build,
how to turn pixels into model input, which classes come out, and what the model was trained on,
so loading needs nothing else and a user can see where a model came from.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import platform
from dataclasses import dataclass, field
from typing import Any

from matlab_gui.errors import ModelError

CARD_SCHEMA = 1
TASKS = ("segmentation", "classification")
SCALES = ("percentile", "dtype")


def _rgb(value: Any) -> tuple[int, int, int]:
    """A colour as (r, g, b) from a tuple/list or a '#rrggbb' string."""
    if isinstance(value, str):
        text = value.lstrip("#")
        if len(text) != 6:
            raise ValueError(f"colour {value!r} is not #rrggbb")
        return tuple(int(text[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    r, g, b = (int(v) for v in value)
    return r, g, b


@dataclass
class ClassInfo:
    name: str
    color: tuple[int, int, int] = (255, 0, 0)

    def __post_init__(self) -> None:
        self.color = _rgb(self.color)


@dataclass
class Normalisation:
    """Pixels -> model input: scale to 0..1 (per-image percentiles or the dtype's range), then (x - mean) / std."""

    scale: str = "percentile"
    low_pct: float = 0.5
    high_pct: float = 99.5
    mean: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    std: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])


@dataclass
class ModelCard:
    task: str
    arch: str
    encoder: str | None = None
    classes: list[ClassInfo] = field(default_factory=list)
    in_channels: int = 3
    input_size: int = 256
    tile_overlap: int = 64
    normalisation: Normalisation = field(default_factory=Normalisation)
    preprocessing: dict[str, Any] = field(default_factory=dict)
    head: dict[str, Any] = field(default_factory=dict)
    weight_source: str = "random initialisation"
    training: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    software: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    name: str = ""
    notes: str = ""
    schema_version: int = CARD_SCHEMA

    def __post_init__(self) -> None:
        self.classes = [c if isinstance(c, ClassInfo) else _class_from(c) for c in self.classes]
        if isinstance(self.normalisation, dict):
            self.normalisation = Normalisation(**self.normalisation)
        if not self.created:
            self.created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        if not self.software:
            self.software = software_versions()

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=_json_default)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelCard:
        """A validated card; ModelError names the first field that is wrong."""
        if not isinstance(raw, dict):
            raise ModelError("card.json must hold one JSON object")
        version = raw.get("schema_version", CARD_SCHEMA)
        if not isinstance(version, int) or version > CARD_SCHEMA:
            raise ModelError(f"card schema {version} is newer than this app understands ({CARD_SCHEMA}): update matlab_gui")
        known = {f.name for f in dataclasses.fields(cls)}
        for required in ("task", "arch", "classes"):
            if required not in raw:
                raise ModelError(f"card.json has no '{required}' field")
        if raw["task"] not in TASKS:
            raise ModelError(f"card field 'task' must be one of {', '.join(TASKS)}, not {raw['task']!r}")
        if not isinstance(raw["classes"], list) or not raw["classes"]:
            raise ModelError("card field 'classes' must be a non-empty list")
        try:
            card = cls(**{k: v for k, v in raw.items() if k in known})
        except (TypeError, ValueError) as exc:
            raise ModelError(f"card field is malformed: {exc}") from None
        if card.in_channels not in (1, 3):
            raise ModelError(f"card field 'in_channels' must be 1 or 3, not {card.in_channels}")
        if card.normalisation.scale not in SCALES:
            raise ModelError(f"card field 'normalisation.scale' must be one of {', '.join(SCALES)}")
        if len(card.normalisation.mean) != card.in_channels or len(card.normalisation.std) != card.in_channels:
            raise ModelError("card fields 'normalisation.mean/std' need one value per input channel")
        return card

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"card.json is not valid JSON ({exc.msg}, line {exc.lineno})") from None
        return cls.from_dict(raw)


def _class_from(value: Any) -> ClassInfo:
    if isinstance(value, str):
        return ClassInfo(value)
    if isinstance(value, dict):
        if "name" not in value:
            raise ValueError("every class needs a 'name'")
        return ClassInfo(value["name"], value.get("color", (255, 0, 0)))
    raise ValueError(f"class entry {value!r} is neither a name nor {{name, color}}")


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy / torch scalars and arrays in metrics
        return value.tolist()
    return str(value)


def software_versions() -> dict[str, str]:
    """Versions of the libraries a model depends on, for the card."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("matlab_gui", "torch", "torchvision", "timm", "segmentation-models-pytorch"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out
