"""Where the app finds its bundled files (icons, sample micrographs, shipped models).

The files live in the top-level `resources/` and `models/` folders of the source tree; an
installed wheel carries them inside the package as `matlab_gui/_bundled/`.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _root(name: str) -> Path:
    bundled = _PACKAGE / "_bundled" / name
    return bundled if bundled.is_dir() else _PACKAGE.parent / name


def resources_dir() -> Path:
    return _root("resources")


def models_dir() -> Path:
    return _root("models")


def sample_images() -> list[Path]:
    """The bundled sample micrographs, in a stable order."""
    folder = resources_dir() / "samples"
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in {".tif", ".tiff", ".png", ".jpg", ".bmp"})


DEFAULT_SAMPLE = "superalloy_spot2_0d_0.tif"  # what the shipped default model was made for
DEFAULT_MODEL = "nasa-super"  # the shipped model the window starts with


def default_sample() -> Path:
    """The micrograph `matlab-gui` opens when started with nothing."""
    samples = sample_images()
    preferred = [p for p in samples if p.name == DEFAULT_SAMPLE]
    return (preferred or samples)[0]
