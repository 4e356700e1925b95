"""Read a micrograph into (numpy array in its native dtype, metadata), whatever the lab saved.

TIFF goes through tifffile (8/16/32-bit, float, BigTIFF, tiled, compressed, multi-page: first
page), PNG/JPEG/BMP through OpenCV. A large uncompressed TIFF is memory-mapped, not read: a
30k x 30k montage opens at once and its pixels come from the file as the view and the jobs need
them (read-only, so nothing can change the measured values). Every failure becomes an
`ImageReadError` naming the file and the problem, never a library traceback.
"""

from __future__ import annotations

import logging
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import tifffile

from matlab_gui.errors import ImageReadError, UnsupportedImageError, library_reason
from matlab_gui.imaging import limits
from matlab_gui.imaging.calibration import NONE, Calibration, png_calibration, tiff_calibration
from matlab_gui.imaging.formats import format_from_suffix, sniff_format
from matlab_gui.imaging.native_log import native_stderr

SUPPORTED_DTYPES = frozenset(
    {"uint8", "uint16", "int8", "int16", "uint32", "int32", "float32", "float64"}
)


@dataclass
class ImageMeta:
    path: Path
    format: str
    width: int
    height: int
    channels: int
    dtype: str
    pixel_size_m: float | None = None
    pixel_size_source: str | None = None
    pages: int = 1
    notes: list[str] = field(default_factory=list)


@dataclass
class Micrograph:
    data: np.ndarray
    meta: ImageMeta


# OpenCV and tifffile print their own lines about a broken file before our one-line message;
# the message says it all, so their logs are silenced (tifffile warns through `logging`).


def _quiet_libraries() -> None:
    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except AttributeError:  # an OpenCV build without the logging module
        pass
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)


_quiet_libraries()

OPENCV_MAX_PIXELS = 1 << 30  # OpenCV's own limit for PNG, JPEG and BMP (CV_IO_MAX_IMAGE_PIXELS)
TIFF_MAX_PIXELS = 1 << 34  # 131k x 131k: beyond any montage, and beyond any desktop's memory
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # Windows has no sysconf
        return None


def check_size(width: int, height: int, bytes_per_pixel: int, path: Path,
               format_limit: int | None = None) -> None:
    """Refuse, before decoding, an image whose header claims more pixels than can be read
    (a decompression bomb, or a montage beyond the pixel budget or this computer's memory)."""
    pixels = int(width) * int(height)
    if width <= 0 or height <= 0:
        raise ImageReadError(f"corrupt header: {width} x {height} pixels", path)
    if format_limit is not None and pixels > format_limit:
        raise ImageReadError(
            f"{width} x {height} pixels is more than this format can be read with "
            f"({format_limit / 1e9:.2f} gigapixels); save it as a (tiled) TIFF", path)
    budget = limits.max_pixels()
    if pixels > budget:
        raise ImageReadError(
            f"{width} x {height} pixels is more than the largest image the app is set to open "
            f"({budget / 1e9:.2f} gigapixels); raise it under Image > Largest image to open… or "
            f"with {limits.ENV_VAR}", path)
    memory = _physical_memory()
    if memory is not None and pixels * bytes_per_pixel > memory // 2:
        raise ImageReadError(
            f"{width} x {height} pixels needs {pixels * bytes_per_pixel / 2**30:.1f} GiB, more "
            f"than half this computer's memory ({memory / 2**30:.0f} GiB)", path)


def _header_size(raw: bytes, fmt: str) -> tuple[int, int] | None:
    """Width and height as a PNG, BMP or JPEG header states them, None if not found."""
    if fmt == "png" and len(raw) >= 24 and raw[12:16] == b"IHDR":
        return struct.unpack(">II", raw[16:24])
    if fmt == "bmp" and len(raw) >= 26:
        width, height = struct.unpack("<ii", raw[18:26])
        return width, abs(height)  # negative height: stored top-down
    if fmt == "jpeg":
        at = 2
        while at + 9 <= len(raw) and raw[at] == 0xFF:
            marker, length = raw[at + 1], struct.unpack(">H", raw[at + 2:at + 4])[0]
            if marker in _JPEG_SOF:
                height, width = struct.unpack(">HH", raw[at + 5:at + 9])
                return width, height
            at += 2 + length
    return None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ImageReadError("no such file", path)
    if path.is_dir():
        raise ImageReadError("is a folder, not an image file", path)
    if not path.is_file():  # a FIFO, socket or device: reading it could block forever
        raise ImageReadError("is not a regular file (a pipe or device?)", path)
    if path.stat().st_size == 0:
        raise ImageReadError("empty file (0 bytes)", path)


def _pages_note(pages: int) -> str:
    return f"multi-page TIFF with {pages} pages: showing the first"


MEMMAP_PIXELS = 1 << 26  # above 8k x 8k, an uncompressed TIFF is mapped rather than read
MEMMAP_NOTE = "memory-mapped: pixels are read from the file as they are needed"


def _mapped(tif: tifffile.TiffFile, page, path: Path) -> np.ndarray | None:
    """The page's pixels as a read-only memory map of the file, None when they cannot be (a
    compressed, tiled or strip-interleaved page, sub-byte or byte-swapped pixels) or the image
    is small."""
    if page.imagelength * page.imagewidth <= MEMMAP_PIXELS:
        return None
    if not page.is_memmappable or page.dtype is None or page.dtype.kind == "b":
        return None
    dtype = np.dtype(tif.byteorder + page.dtype.char)
    if not dtype.isnative:  # would be copied to native order anyway
        return None
    return np.memmap(path, dtype, "r", page.dataoffsets[0], page.shape, "C")


def _read_tiff(path: Path) -> tuple[np.ndarray, int, Calibration, list[str]]:
    notes: list[str] = []
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            size = path.stat().st_size
            ends = [o + c for o, c in zip(page.dataoffsets, page.databytecounts, strict=False) if c]
            if ends and max(ends) > size:
                raise ImageReadError(
                    f"truncated TIFF: pixel data needs {max(ends)} bytes, the file has {size}", path
                )
            pages = len(tif.pages)
            height, width = page.imagelength, page.imagewidth
            check_size(width, height, page.samplesperpixel * page.dtype.itemsize, path,
                       TIFF_MAX_PIXELS)
            data = _mapped(tif, page, path)
            if data is None:
                data = page.asarray()
            else:
                notes.append(MEMMAP_NOTE)
            if page.axes.startswith("S") and data.ndim == 3:  # planar RGB stored plane by plane
                data = np.moveaxis(data, 0, -1)
            calibration = tiff_calibration(tif)
    except ImageReadError:
        raise
    except Exception as exc:  # tifffile raises many types for broken files
        raise ImageReadError(f"corrupt or unreadable TIFF ({library_reason(exc)})", path) from None
    if pages > 1:
        notes.append(_pages_note(pages))
    return data, pages, calibration, notes


def _read_with_opencv(path: Path, fmt: str) -> tuple[np.ndarray, Calibration, list[str]]:
    raw = path.read_bytes()
    if fmt == "png" and b"IEND" not in raw[-32:]:
        raise ImageReadError("truncated PNG: the end-of-image chunk is missing", path)
    if fmt == "jpeg" and b"\xff\xd9" not in raw[-64:]:
        raise ImageReadError("truncated JPEG: the end-of-image marker is missing", path)
    size = _header_size(raw, fmt)
    if size is not None:
        check_size(*size, 8, path, OPENCV_MAX_PIXELS)  # up to 4 channels of 16 bits
    try:
        with native_stderr() as said:
            data = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageReadError(f"corrupt or unreadable {fmt.upper()} ({library_reason(exc)})", path) from None
    complaint = said[0].removeprefix("libpng error: ")[:120] if said else ""
    if data is None:
        detail = f" ({complaint})" if complaint else ""
        raise ImageReadError(f"corrupt or unreadable {fmt.upper()}{detail}", path)
    if fmt == "jpeg" and any("premature end" in line.lower() for line in said):
        raise ImageReadError("truncated JPEG: its image data ends early (the decoder would fill "
                             "the rest with grey)", path)
    notes = [f"damaged {fmt.upper()} data, decoded anyway: {complaint}"] if complaint else []
    if data.ndim == 3 and data.shape[2] == 3:
        data = cv2.cvtColor(data, cv2.COLOR_BGR2RGB)
    elif data.ndim == 3 and data.shape[2] == 4:
        data = cv2.cvtColor(data, cv2.COLOR_BGRA2RGBA)
    return data, png_calibration(raw) if fmt == "png" else NONE, notes


def _channels_identical(data: np.ndarray) -> bool:
    """True when every channel equals the first: a cheap strided look first, then all pixels."""
    sample = data[:: max(1, data.shape[0] // 64), :: max(1, data.shape[1] // 64)]
    if not all(np.array_equal(sample[..., 0], sample[..., c]) for c in range(1, sample.shape[2])):
        return False
    return all(np.array_equal(data[..., 0], data[..., c]) for c in range(1, data.shape[2]))


def _normalise_layout(data: np.ndarray, path: Path, notes: list[str]) -> np.ndarray:
    """(H, W) grey or (H, W, 3) RGB: squeeze singleton axes, drop alpha, fold grey-as-RGB."""
    if data.ndim == 3 and data.shape[2] == 1:
        data = data[..., 0]
    if data.ndim == 3 and data.shape[2] in (2, 4):
        notes.append("alpha channel dropped")
        data = data[..., 0] if data.shape[2] == 2 else data[..., :3]
    if data.ndim == 3 and data.shape[2] == 3 and _channels_identical(data):
        notes.append("greyscale stored as 3 identical channels: read as greyscale")
        data = data[..., 0]
    if data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[2] != 3):
        raise UnsupportedImageError(f"unsupported image layout {data.shape}", path)
    return data


def _normalise_dtype(data: np.ndarray, path: Path, notes: list[str]) -> np.ndarray:
    if data.dtype == bool:
        notes.append("1-bit image read as 0/255 uint8")
        return data.astype(np.uint8) * 255
    if data.dtype == np.float16:
        return data.astype(np.float32)
    if data.dtype.byteorder == ">":
        data = data.astype(data.dtype.newbyteorder("="))
    if data.dtype.name not in SUPPORTED_DTYPES:
        raise UnsupportedImageError(f"unsupported pixel type {data.dtype.name}", path)
    return data


def _format_of(path: Path) -> tuple[str, list[str]]:
    """The format the file's first bytes prove, and a note when its name says another."""
    _check_file(path)
    with path.open("rb") as fh:
        head = fh.read(16)
    fmt = sniff_format(head)
    expected = format_from_suffix(path)
    if fmt is None:
        what = f"not a {expected.upper()} file" if expected else "not an image file the app can open"
        raise UnsupportedImageError(f"{what} (unrecognised content)", path)
    if expected and expected != fmt:
        return fmt, [f"file is a {fmt.upper()} although its name ends in {path.suffix}"]
    return fmt, []


HEADER_ONLY_PIXELS = 1 << 26  # 8k x 8k: above this, `read_header` leaves a TIFF undecoded


def read_header(path: str | Path) -> ImageMeta:
    """What the file is (size, type, pixel size, pages), without decoding a large TIFF: a
    60k x 60k tiled montage answers at once, even beyond the pixel budget. Other files, and
    ordinary sizes, are read whole, so the answer is exactly `read_image(path).meta`."""
    path = Path(path)
    fmt, notes = _format_of(path)
    if fmt != "tiff":
        return read_image(path).meta
    try:
        with tifffile.TiffFile(path) as tif:
            page, pages = tif.pages.first, len(tif.pages)
            height, width = int(page.imagelength), int(page.imagewidth)
            if height * width <= HEADER_ONLY_PIXELS:
                return read_image(path).meta
            samples, dtype = int(page.samplesperpixel), page.dtype
            calibration = tiff_calibration(tif)
    except Exception as exc:  # tifffile raises many types for broken files
        raise ImageReadError(f"corrupt or unreadable TIFF ({library_reason(exc)})", path) from None
    if pages > 1:
        notes.append(_pages_note(pages))
    if calibration.note:
        notes.append(calibration.note)
    notes.append(f"size from the header ({width * height / 1e9:.2f} gigapixels; not decoded)")
    if width * height > limits.max_pixels():
        notes.append("larger than the largest image the app is set to open "
                     f"({limits.max_pixels() / 1e9:.2f} gigapixels): raise it to open this one")
    return ImageMeta(path=path, format=fmt, width=width, height=height,
                     channels=1 if samples == 1 else 3, dtype=dtype.name if dtype else "unknown",
                     pixel_size_m=calibration.pixel_size_m,
                     pixel_size_source=calibration.source, pages=pages, notes=notes)


def read_image(path: str | Path) -> Micrograph:
    """The image at `path` in its native dtype, (H, W) or (H, W, 3), with its metadata."""
    path = Path(path)
    fmt, notes = _format_of(path)
    pages = 1
    if fmt == "tiff":
        data, pages, calibration, tiff_notes = _read_tiff(path)
        notes += tiff_notes
    else:
        data, calibration, decode_notes = _read_with_opencv(path, fmt)
        notes += decode_notes
    if calibration.note:
        notes.append(calibration.note)
    data = _normalise_dtype(_normalise_layout(data, path, notes), path, notes)
    meta = ImageMeta(
        path=path,
        format=fmt,
        width=int(data.shape[1]),
        height=int(data.shape[0]),
        channels=1 if data.ndim == 2 else int(data.shape[2]),
        dtype=data.dtype.name,
        pixel_size_m=calibration.pixel_size_m,
        pixel_size_source=calibration.source,
        pages=pages,
        notes=notes,
    )
    return Micrograph(data, meta)


def read_mask(path: str | Path) -> np.ndarray:
    """A 2-D class-index mask (uint8 or uint16); colour pictures of masks are refused."""
    image = read_image(path)
    data = image.data
    if data.ndim != 2:
        raise UnsupportedImageError(
            "is a colour image, not a class-index mask (one channel of 0, 1, 2, ...)", path
        )
    if data.dtype in (np.uint8, np.uint16):
        return data
    if np.issubdtype(data.dtype, np.integer) and data.min() >= 0 and data.max() <= 65535:
        return data.astype(np.uint8 if data.max() <= 255 else np.uint16)
    raise UnsupportedImageError(
        f"mask pixels must be class indices 0..65535, found {data.dtype.name}", path
    )
