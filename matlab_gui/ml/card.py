"""The model card: everything needed to rebuild, feed and judge a trained model.

A model folder is `model.safetensors` + `card.json`; the card says which architecture to build,
how to turn pixels into model input, which classes come out, and what the model was trained on,
so loading needs nothing else and a user can see where a model came from.

A card is untrusted input (models are shared between labs and stored in projects): reading one
(`ModelCard.read`, `from_json`, `from_dict`) checks every field against the schema below,
types and bounds, before anything is built from it. A card that is not UTF-8 JSON, not an
object, or has a field of the wrong type or out of its bounds raises one ModelError line that
names the file and the field, e.g. `.../card.json: input_size must be an integer 32..8192, not 0`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import numbers
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matlab_gui.errors import ModelError

CARD_SCHEMA = 1
TASKS = ("segmentation", "classification")
SCALES = ("percentile", "dtype")

# The schema's bounds (see `check_card`).
CHANNELS = (1, 3)  # images are read as grey or RGB (alpha dropped); preprocess converts 1 <-> 3
MIN_INPUT, MAX_INPUT = 32, 8192  # px: the encoders' stride (32) up to a tile of 8192 x 8192
MAX_CLASSES = 1024  # masks are uint8 or uint16; a head this wide is already far beyond use
MIN_STD, MAX_MEAN_STD = 1e-6, 1e6  # input is scaled to 0..1 first: keeps (x - mean) / std finite
HEADS, POOLINGS = ("linear", "sepconv"), ("avg", "max")
MAX_CARD_BYTES = 64 * 2**20  # a card is text (names, scores, the stems it was trained on)
_NORMALISATION_KEYS = ("scale", "low_pct", "high_pct", "mean", "std")
_HEX = re.compile(r"#?[0-9a-fA-F]{6}")


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
    def from_dict(cls, raw: Any) -> ModelCard:
        """A validated card; ModelError names the first field that is wrong (see `check_card`)."""
        return cls(**check_card(raw))

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        return cls.from_dict(_parse_json(text))

    @classmethod
    def read(cls, path: str | Path) -> ModelCard:
        """The card in the file `path`, validated; every problem is one ModelError line that
        names the file and the field."""
        path = Path(path)
        try:
            return cls.from_json(_read_text(path))
        except ModelError as exc:
            raise ModelError(exc.problem, path) from None


def _class_from(value: Any) -> ClassInfo:
    if isinstance(value, str):
        return ClassInfo(value)
    if isinstance(value, dict):
        if "name" not in value:
            raise ValueError("every class needs a 'name'")
        return ClassInfo(value["name"], value.get("color", (255, 0, 0)))
    raise ValueError(f"class entry {value!r} is neither a name nor {{name, color}}")


# -- reading and checking a card ------------------------------------------------------------------
def _shown(value: Any) -> str:
    """A value as the error line quotes it: repr, one line, at most ~60 characters."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - any object a caller passes
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else text[:57] + "..."


def _bad(name: str, wanted: str, value: Any) -> ModelError:
    return ModelError(f"{name} must be {wanted}, not {_shown(value)}")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    """A finite real number (not a bool, not an integer too large for a float)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _integer(raw: dict, name: str, low: int, high: int, default: int) -> int:
    """An integer field in low..high (both included)."""
    value = raw.get(name, default)
    if not _is_int(value) or not low <= value <= high:
        raise _bad(name, f"an integer {low}..{high}", value)
    return int(value)


def _text(raw: dict, name: str, default: str = "", optional: bool = False) -> str | None:
    value = raw.get(name, default)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise _bad(name, "text" + (" or null" if optional else ""), value)
    return value


def _object(raw: dict, name: str) -> dict:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise _bad(name, "an object", value)
    return value


def _colour(value: Any, name: str) -> tuple[int, int, int]:
    if isinstance(value, str) and _HEX.fullmatch(value):
        return _rgb(value)
    if (isinstance(value, list | tuple) and len(value) == 3
            and all(_is_int(v) and 0 <= v <= 255 for v in value)):
        return int(value[0]), int(value[1]), int(value[2])
    raise _bad(name, "[r, g, b] with integers 0..255 or '#rrggbb'", value)


def _classes(raw: dict) -> list[ClassInfo]:
    value = raw["classes"]
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_CLASSES:
        raise _bad("classes", f"a list of 1..{MAX_CLASSES} classes ({{name, color}})", value)
    out = []
    for i, entry in enumerate(value):
        where = f"classes[{i}]"
        if isinstance(entry, str):  # the short form: just the name
            entry = {"name": entry}
        elif isinstance(entry, ClassInfo):
            entry = dataclasses.asdict(entry)
        if not isinstance(entry, dict):
            raise _bad(where, "an object {name, color}", entry)
        if "name" not in entry:
            raise ModelError(f"{where}.name is missing: every class needs a 'name'")
        name = entry["name"]
        if not isinstance(name, str) or not name or len(name) > 256:
            raise _bad(f"{where}.name", "text of 1..256 characters", name)
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise _bad(f"{where}.name", "text (it holds a lone surrogate)", name) from None
        out.append(ClassInfo(name, _colour(entry.get("color", (255, 0, 0)), f"{where}.color")))
    return out


def _numbers(value: Any, name: str, count: int, positive: bool) -> list[float]:
    wanted = f"a list of {count} finite number{'s' if count > 1 else ''}"
    if not isinstance(value, list | tuple) or len(value) != count:
        raise _bad(name, wanted + " (one per input channel)", value)
    for i, v in enumerate(value):
        if not _is_number(v) or abs(v) > MAX_MEAN_STD:
            raise _bad(f"{name}[{i}]", f"a finite number within +-{MAX_MEAN_STD:g}", v)
        if positive and v < MIN_STD:
            raise _bad(f"{name}[{i}]", f"a number >= {MIN_STD:g} (pixels are divided by it)", v)
    return [float(v) for v in value]


def _normalisation(raw: dict, channels: int) -> Normalisation:
    value = raw.get("normalisation", {})
    if isinstance(value, Normalisation):
        value = dataclasses.asdict(value)
    if not isinstance(value, dict):
        raise _bad("normalisation", "an object {scale, low_pct, high_pct, mean, std}", value)
    unknown = [k for k in value if k not in _NORMALISATION_KEYS]
    if unknown:
        raise ModelError(f"normalisation has unknown field {_shown(unknown[0])} "
                         f"(known: {', '.join(_NORMALISATION_KEYS)})")
    default = Normalisation()
    scale = value.get("scale", default.scale)
    if scale not in SCALES:
        raise _bad("normalisation.scale", f"one of {', '.join(SCALES)}", scale)
    pct = {}
    for key in ("low_pct", "high_pct"):
        pct[key] = value.get(key, getattr(default, key))
        if not _is_number(pct[key]) or not 0 <= pct[key] <= 100:
            raise _bad(f"normalisation.{key}", "a number 0..100 (a percentile)", pct[key])
    if not pct["low_pct"] < pct["high_pct"]:
        raise ModelError(f"normalisation.low_pct must be below normalisation.high_pct, not "
                         f"{_shown(pct['low_pct'])} >= {_shown(pct['high_pct'])}")
    return Normalisation(
        scale, float(pct["low_pct"]), float(pct["high_pct"]),
        _numbers(value.get("mean", default.mean), "normalisation.mean", channels, positive=False),
        _numbers(value.get("std", default.std), "normalisation.std", channels, positive=True))


def _head(raw: dict) -> dict:
    head = _object(raw, "head")
    if "type" in head and head["type"] not in HEADS:
        raise _bad("head.type", f"one of {', '.join(HEADS)}", head["type"])
    if "pooling" in head and head["pooling"] not in POOLINGS:
        raise _bad("head.pooling", f"one of {', '.join(POOLINGS)}", head["pooling"])
    for key, high in (("dropout", 1.0), ("noise", 10.0)):
        if key in head and not (_is_number(head[key]) and 0 <= head[key] <= high):
            raise _bad(f"head.{key}", f"a number 0..{high:g}", head[key])
    return head


def _arch(raw: dict, task: str) -> tuple[str, str | None]:
    """(arch, encoder): an architecture of the registry (or a timm classifier) for `task`."""
    from matlab_gui.ml.archs import REGISTRY

    arch = raw["arch"]
    if not isinstance(arch, str) or not arch:
        raise _bad("arch", "an architecture's name", arch)
    encoder = _text(raw, "encoder", None, optional=True)
    info = REGISTRY.get(arch)
    if info is None:
        if not _timm_classifier(arch):
            known = ", ".join(REGISTRY)
            raise ModelError(f"arch: unknown architecture {_shown(arch)} (known: {known}, "
                             "or a timm classifier name)")
        arch_task = "classification"
    else:
        arch_task = info.task
    if arch_task != task:
        raise ModelError(f"arch: {arch} is a {arch_task} architecture, but the card's task is {task}")
    if info is not None and info.encoders and encoder is not None and encoder not in info.encoders:
        raise _bad("encoder", f"{' or '.join(info.encoders)} for {arch}", encoder)
    if encoder is not None and not encoder:
        raise _bad("encoder", "an encoder's name or null", encoder)
    return arch, encoder


def _timm_classifier(name: str) -> bool:
    """Whether timm builds `name` (imports timm, so only asked for names outside the registry)."""
    if len(name) > 200 or not name.isprintable():
        return False
    import timm

    try:
        return bool(timm.is_model(name))
    except Exception:  # noqa: BLE001 - a name timm's parser chokes on is no model
        return False


def check_card(raw: Any) -> dict[str, Any]:
    """The fields of a card (a parsed card.json), checked: ModelCard's keyword arguments.

    Bounds: task one of TASKS; arch in the registry (or a timm classifier) of that task;
    classes 1..MAX_CLASSES objects with a non-empty name and an [r, g, b] / '#rrggbb' colour;
    in_channels 1 or 3; input_size an integer MIN_INPUT..MAX_INPUT; tile_overlap an integer
    with 0 <= 2 * overlap < input_size; normalisation {scale, low_pct, high_pct, mean, std} with
    0 <= low_pct < high_pct <= 100 and one finite mean and std (>= MIN_STD) per channel; the
    free-form parts (training, data, metrics, ...) objects, history a list of objects, the
    texts strings. Fields the card does not know are ignored. ModelError names the first field
    that is wrong, in one line.
    """
    if not isinstance(raw, dict):
        raise ModelError(f"the card must be one JSON object, not {type(raw).__name__}")
    version = raw.get("schema_version", CARD_SCHEMA)
    if not _is_int(version) or version < 1:
        raise _bad("schema_version", f"an integer 1..{CARD_SCHEMA}", version)
    if version > CARD_SCHEMA:
        raise ModelError(f"schema_version {version} is newer than this app understands ({CARD_SCHEMA}): update matlab_gui")
    for required in ("task", "arch", "classes"):
        if required not in raw:
            raise ModelError(f"{required} is missing: a card needs task, arch and classes")
    task = raw["task"]
    if task not in TASKS:
        raise _bad("task", f"one of {', '.join(TASKS)}", task)
    arch, encoder = _arch(raw, task)
    fields: dict[str, Any] = {"task": task, "arch": arch, "encoder": encoder, "classes": _classes(raw)}
    channels = raw.get("in_channels", 3)
    if not _is_int(channels) or channels not in CHANNELS:
        raise _bad("in_channels", " or ".join(map(str, CHANNELS)), channels)
    channels = fields["in_channels"] = int(channels)
    size = fields["input_size"] = _integer(raw, "input_size", MIN_INPUT, MAX_INPUT, 256)
    overlap = raw.get("tile_overlap", min(64, (size - 1) // 2))
    if not _is_int(overlap) or not 0 <= 2 * overlap < size:
        raise _bad("tile_overlap", f"an integer 0..{(size - 1) // 2} (below half of input_size {size})",
                   overlap)
    fields["tile_overlap"] = int(overlap)
    fields["normalisation"] = _normalisation(raw, channels)
    fields["head"] = _head(raw)
    for name in ("preprocessing", "training", "data", "metrics", "software"):
        fields[name] = _object(raw, name)
    history = raw.get("history", [])
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        raise _bad("history", "a list of objects (one per epoch)", history)
    fields["history"] = history
    for name in ("weight_source", "created", "name", "notes"):
        fields[name] = _text(raw, name, "random initialisation" if name == "weight_source" else "")
    fields["schema_version"] = int(version)
    return fields


def _read_text(path: Path) -> str:
    """card.json's text: UTF-8 (a byte-order mark allowed), at most MAX_CARD_BYTES."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_CARD_BYTES + 1)
    except OSError as exc:
        raise ModelError(f"cannot read the card ({exc.strerror or exc})") from None
    if len(data) > MAX_CARD_BYTES:
        raise ModelError(f"the card is larger than {MAX_CARD_BYTES // 2**20} MiB: not a model card")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ModelError(f"the card is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start}): save it as UTF-8") from None


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"the card is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except RecursionError:
        raise ModelError("the card is not a model card (JSON nested too deep to read)") from None
    except ValueError:  # json's limit on integer digits
        raise ModelError("the card is not a model card (a number too long to read)") from None


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
