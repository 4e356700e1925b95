"""Which files are micrographs: suffixes the app opens and the magic bytes that prove a format.

The format is decided by the file's first bytes, not its name, so a PNG saved as `.tif` still
opens (with a note) and a text file named `.png` is refused with a clear message.
"""

from __future__ import annotations

from pathlib import Path

from matlab_gui.errors import ImageReadError

IMAGE_SUFFIXES = frozenset({".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp"})

_SUFFIX_FORMAT = {".tif": "tiff", ".tiff": "tiff", ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".bmp": "bmp"}

_MAGIC = (
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"II+\x00", "tiff"),  # BigTIFF
    (b"MM\x00+", "tiff"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"BM", "bmp"),
)


def sniff_format(head: bytes) -> str | None:
    """The image format whose magic bytes start `head`, or None."""
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return None


def format_from_suffix(path: Path) -> str | None:
    return _SUFFIX_FORMAT.get(path.suffix.lower())


def is_image_file(path: str | Path) -> bool:
    """True for a file whose suffix is one the app opens (its bytes are checked on reading)."""
    path = Path(path)
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file() and not path.name.startswith(".")


def list_images(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Every image file in `folder` (and below when `recursive`), sorted; hidden files skipped."""
    folder = Path(folder)
    if not folder.exists():
        raise ImageReadError("no such folder", folder)
    if not folder.is_dir():
        raise ImageReadError("is a file, not a folder", folder)
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in candidates if is_image_file(p))
