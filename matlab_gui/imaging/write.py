"""Write images and class-index masks losslessly (PNG, TIFF), atomically.

The bytes go to a temporary file in the destination folder, which is then renamed over the
target: a crash leaves either the old file or the new one, never half of each.
"""

from __future__ import annotations

import csv
import io
import os
import struct
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import tifffile

from matlab_gui.errors import ImageWriteError, UserError
from matlab_gui.imaging.class_table import MaskClass, description

_PNG_DTYPES = (np.uint8, np.uint16)


FILE_MODE = 0o644  # what a plain `open(..., "w")` gives under the usual umask; mkstemp gives 0600


def check_output(path: Path, folder: bool = False) -> None:
    """Fail now, before any work, when results cannot be written to `path` (a file, or a
    folder when `folder`): a folder where a file should go or the reverse, or no permission.
    Creates the missing folders."""
    path = Path(path)
    if folder and path.exists() and not path.is_dir():
        raise UserError("is a file; the output must be a folder", path)
    if not folder and path.is_dir():
        raise UserError("is a folder; the output must be a file name", path)
    target = path if folder else path.parent
    try:
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise UserError(f"cannot write here: {exc.strerror or exc}", target) from exc


def atomic_write_bytes(path: Path, write) -> None:
    """Call `write(tmp_path)` to produce the file, then move it onto `path` in one step, readable
    by others like any file the user saves (masks and models are shared on lab servers)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ImageWriteError("the folder does not exist", path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        write(Path(tmp))
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def csv_text(header: list[str], rows: list[list]) -> str:
    """A table as CSV text (a cell of None is empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in r] for r in rows])
    return buffer.getvalue()


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    """A table as a CSV file, written atomically: a reader never sees half a table."""
    payload = csv_text(header, rows).encode("utf-8")
    atomic_write_bytes(Path(path), lambda tmp: tmp.write_bytes(payload))


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


_AFTER_IHDR = 8 + 12 + 13  # signature, then IHDR's length, type, 13 data bytes and CRC


def _png_metadata(payload: bytes, pixel_size_m: float | None, info: str | None) -> bytes:
    """Insert the pixel size (pHYs, pixels per metre) and a text description (iTXt, UTF-8)
    after the header, where every PNG reader looks for them."""
    chunks = b""
    per_m = round(1 / pixel_size_m) if pixel_size_m else 0
    if 1 <= per_m <= 0xFFFFFFFF:
        chunks += _png_chunk(b"pHYs", struct.pack(">IIB", per_m, per_m, 1))
    if info:
        chunks += _png_chunk(b"iTXt", b"Description\x00\x00\x00\x00\x00" + info.encode("utf-8"))
    return payload[:_AFTER_IHDR] + chunks + payload[_AFTER_IHDR:]


def _encode_png(data: np.ndarray, path: Path, pixel_size_m: float | None, info: str | None) -> bytes:
    if data.dtype not in _PNG_DTYPES:
        raise ImageWriteError(f"PNG holds only 8/16-bit integers, not {data.dtype.name}: save as .tif", path)
    if data.ndim == 3:
        data = cv2.cvtColor(data, cv2.COLOR_RGB2BGR if data.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, buffer = cv2.imencode(".png", np.ascontiguousarray(data), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ImageWriteError("PNG encoding failed", path)
    return _png_metadata(buffer.tobytes(), pixel_size_m, info)


_IMAGEJ_DTYPES = (np.uint8, np.uint16, np.float32)


def tiff_options(dtype: np.dtype, channels: int | None, pixel_size_m: float | None,
                 info: str | None = None, labels: Sequence[str] | None = None,
                 lut: np.ndarray | None = None, imagej: bool = True) -> dict:
    """tifffile.imwrite arguments that keep the pixel size for every reader: resolution tags in
    centimetres (the TIFF standard's unit) and, in the types ImageJ opens, ImageJ metadata in
    µm (ImageJ converts cm tags when its unit is um). `channels` > 0 for (C, H, W) planes
    (`labels` names them), None for a grey picture, -1 for RGB; `lut` colours an 8-bit mask.
    `imagej` False where tifffile cannot write ImageJ mode (maps streamed one pixel wide)."""
    kwargs: dict = {"compression": "zlib",
                    "photometric": "rgb" if channels == -1 else "minisblack"}
    if pixel_size_m and 1 <= 0.01 / pixel_size_m < 2**32:  # what a TIFF rational holds
        per_cm = 0.01 / pixel_size_m
        kwargs.update(resolution=(per_cm, per_cm), resolutionunit="CENTIMETER")
    else:
        pixel_size_m = None
    if (not imagej or np.dtype(dtype) not in _IMAGEJ_DTYPES
            or (channels == -1 and np.dtype(dtype) != np.uint8)):
        return kwargs
    meta: dict = {"unit": "um"} if pixel_size_m else {}
    if channels and channels > 0:
        meta["axes"] = "CYX"
    if labels:
        meta["Labels"] = list(labels)
    if info:
        meta["Info"] = info
    if lut is not None and np.dtype(dtype) == np.uint8:
        meta["LUTs"] = [lut]
    return {**kwargs, "imagej": True, "metadata": meta}


def write_image(path: str | Path, data: np.ndarray, pixel_size_m: float | None = None,
                info: str | None = None, lut: np.ndarray | None = None) -> None:
    """Save `data` ((H, W) or (H, W, 3|4)) losslessly as PNG or TIFF, chosen by the suffix,
    with the pixel size (when known) and `info` text in the file's own metadata fields."""
    path = Path(path)
    data = np.asarray(data)
    if data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[2] not in (3, 4)):
        raise ImageWriteError(f"cannot save an array of shape {data.shape} as an image", path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        payload = _encode_png(data, path, pixel_size_m, info)
        atomic_write_bytes(path, lambda tmp: tmp.write_bytes(payload))
    elif suffix in (".tif", ".tiff"):
        kwargs = tiff_options(data.dtype, -1 if data.ndim == 3 else None, pixel_size_m, info,
                              lut=lut)
        atomic_write_bytes(path, lambda tmp: tifffile.imwrite(tmp, data, **kwargs))
    else:
        raise ImageWriteError("lossless formats only: use .png or .tif", path)


def class_lut(classes: Sequence[MaskClass]) -> np.ndarray:
    """A (3, 256) lookup table painting each mask value in its class colour (ImageJ's LUT)."""
    lut = np.zeros((3, 256), np.uint8)
    for c in classes:
        if c.value < 256:
            lut[:, c.value] = c.color
    return lut


def write_mask(path: str | Path, mask: np.ndarray, pixel_size_m: float | None = None,
               classes: Sequence[MaskClass] | None = None) -> None:
    """Save a 2-D class-index mask (uint8, or uint16 beyond 255 classes) as PNG or TIFF, with
    the pixel size and, when given, what each value means (text, and colours in Fiji)."""
    path = Path(path)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ImageWriteError(f"a mask is one 2-D array of class indices, not shape {mask.shape}", path)
    if mask.dtype not in _PNG_DTYPES:
        if not np.issubdtype(mask.dtype, np.integer) or mask.min() < 0 or mask.max() > 65535:
            raise ImageWriteError(f"mask values must be class indices 0..65535 ({mask.dtype.name})", path)
        mask = mask.astype(np.uint8 if mask.max() <= 255 else np.uint16)
    info = description(classes) if classes else None
    write_image(path, mask, pixel_size_m, info, class_lut(classes) if classes else None)


def write_maps(path: str | Path, planes: np.ndarray, pixel_size_m: float | None = None,
               labels: Sequence[str] | None = None) -> None:
    """(H, W) or (C, H, W) float maps (probabilities, uncertainty) as one float32 TIFF, a page
    per plane named by `labels` in ImageJ, converted plane by plane (no float32 copy)."""
    stack = planes[None] if planes.ndim == 2 else planes
    kwargs = tiff_options(np.float32, stack.shape[0] if planes.ndim == 3 else None, pixel_size_m,
                          labels=labels, imagej=planes.shape[-1] > 1)

    def write(tmp: Path) -> None:
        if planes.shape[-1] < 2:  # tifffile cannot stream pages one pixel wide; they are small
            tifffile.imwrite(tmp, planes.astype(np.float32), **kwargs)
        else:
            tifffile.imwrite(tmp, (p.astype(np.float32) for p in stack), shape=planes.shape,
                             dtype=np.float32, **kwargs)

    atomic_write_bytes(Path(path), write)
