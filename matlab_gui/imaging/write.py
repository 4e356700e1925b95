"""Write images and class-index masks losslessly (PNG, TIFF), atomically.

The bytes go to a temporary file in the destination folder, which is then renamed over the
target: a crash leaves either the old file or the new one, never half of each.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import tifffile

from matlab_gui.errors import ImageWriteError, UserError

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


def _encode_png(data: np.ndarray, path: Path) -> bytes:
    if data.dtype not in _PNG_DTYPES:
        raise ImageWriteError(f"PNG holds only 8/16-bit integers, not {data.dtype.name}: save as .tif", path)
    if data.ndim == 3:
        data = cv2.cvtColor(data, cv2.COLOR_RGB2BGR if data.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    ok, buffer = cv2.imencode(".png", np.ascontiguousarray(data), [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ImageWriteError("PNG encoding failed", path)
    return buffer.tobytes()


def write_image(path: str | Path, data: np.ndarray, pixel_size_m: float | None = None) -> None:
    """Save `data` ((H, W) or (H, W, 3|4)) losslessly as PNG or TIFF, chosen by the suffix.

    TIFFs are zlib-compressed and carry `pixel_size_m` as resolution tags in centimetres.
    """
    path = Path(path)
    data = np.asarray(data)
    if data.ndim not in (2, 3) or (data.ndim == 3 and data.shape[2] not in (3, 4)):
        raise ImageWriteError(f"cannot save an array of shape {data.shape} as an image", path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        payload = _encode_png(data, path)
        atomic_write_bytes(path, lambda tmp: tmp.write_bytes(payload))
    elif suffix in (".tif", ".tiff"):
        kwargs: dict = {"compression": "zlib", "photometric": "rgb" if data.ndim == 3 else "minisblack"}
        if pixel_size_m:
            per_cm = 0.01 / pixel_size_m
            kwargs.update(resolution=(per_cm, per_cm), resolutionunit="CENTIMETER")
        atomic_write_bytes(path, lambda tmp: tifffile.imwrite(tmp, data, **kwargs))
    else:
        raise ImageWriteError("lossless formats only: use .png or .tif", path)


def write_mask(path: str | Path, mask: np.ndarray) -> None:
    """Save a 2-D class-index mask (uint8, or uint16 beyond 255 classes) as PNG or TIFF."""
    path = Path(path)
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ImageWriteError(f"a mask is one 2-D array of class indices, not shape {mask.shape}", path)
    if mask.dtype not in _PNG_DTYPES:
        if not np.issubdtype(mask.dtype, np.integer) or mask.min() < 0 or mask.max() > 65535:
            raise ImageWriteError(f"mask values must be class indices 0..65535 ({mask.dtype.name})", path)
        mask = mask.astype(np.uint8 if mask.max() <= 255 else np.uint16)
    write_image(path, mask)
