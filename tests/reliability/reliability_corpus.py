"""A generator of hostile and broken inputs for the reliability corpus test.

Everything is made from the real micrographs shipped in `resources/samples` (so the corpus is
the same on every machine): mutated files (truncation, bit flips, header and trailing junk,
valid magic with a junk body), decompression bombs, odd pixel types and shapes, odd paths,
and damaged projects, model folders, data sets and split files. Each maker writes into a folder
and returns the paths it made; names say what each case is, so a failure names its input.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import cv2
import h5py
import numpy as np
import tifffile

SAMPLES = Path(__file__).resolve().parents[2] / "resources" / "samples"
SIZE = 96  # small: every case that decodes is also segmented and classified


def micrograph(seed_name: str = "uhcs0006.tif") -> np.ndarray:
    """A real 8-bit grey crop of a shipped sample, SIZE x SIZE."""
    data = tifffile.imread(SAMPLES / seed_name)
    if data.ndim == 3:
        data = data[..., 0]
    crop = data[:SIZE, :SIZE]
    if crop.dtype != np.uint8:
        crop = (crop / max(1, crop.max()) * 255).astype(np.uint8)
    return np.ascontiguousarray(crop)


def _encoded(fmt: str, image: np.ndarray) -> bytes:
    if fmt == "tif":
        buf = io.BytesIO()
        tifffile.imwrite(buf, image)
        return buf.getvalue()
    return cv2.imencode(f".{fmt}", image)[1].tobytes()


def _mutations(raw: bytes, rng: np.random.Generator) -> dict[str, bytes]:
    """The ways a file gets broken on its way from the microscope."""
    n = len(raw)
    out = {
        "truncated-1": raw[:max(1, n // 100)],
        "truncated-half": raw[: n // 2],
        "truncated-last-byte": raw[:-1],
        "header-only": raw[:16],
        "trailing-junk": raw + rng.bytes(2048),
        "junk-body": raw[:8] + rng.bytes(max(64, n - 8)),
        "header-junk": raw[:4] + rng.bytes(60) + raw[64:],
        "zeroed-middle": raw[: n // 3] + bytes(n // 3) + raw[2 * n // 3:],
    }
    for k in range(4):
        flipped = bytearray(raw)
        for at in rng.integers(0, n, 8 if k % 2 else 64):
            flipped[at] ^= 1 << int(rng.integers(0, 8))
        out[f"bitflips-{k}"] = bytes(flipped)
    if raw[:2] == b"\xff\xd8":  # a JPEG cut short with its end marker appended: libjpeg fills grey
        out["truncated-with-eoi"] = raw[: n // 2] + b"\xff\xd9"
    return out


def mutated_images(folder: Path, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    image, paths = micrograph(), []
    colour = np.dstack([image, np.flipud(image), np.fliplr(image)])
    for fmt, data in (("tif", image), ("png", image), ("jpg", image), ("bmp", image),
                      ("png", colour)):
        raw = _encoded(fmt, data)
        tag = "rgb-" if data.ndim == 3 else ""
        for name, body in _mutations(raw, rng).items():
            path = folder / f"{tag}{name}.{fmt}"
            path.write_bytes(body)
            paths.append(path)
    return paths


def png_claiming(path: Path, width: int, height: int) -> None:
    raw = bytearray(cv2.imencode(".png", np.zeros((4, 4), np.uint8))[1].tobytes())
    raw[16:24] = struct.pack(">II", width, height)
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(raw[12:29])))
    path.write_bytes(bytes(raw))


def bmp_claiming(path: Path, width: int, height: int) -> None:
    raw = bytearray(cv2.imencode(".bmp", np.zeros((4, 4), np.uint8))[1].tobytes())
    raw[18:26] = struct.pack("<ii", width, height)
    path.write_bytes(bytes(raw))


def jpeg_claiming(path: Path, width: int, height: int) -> None:
    raw = bytearray(cv2.imencode(".jpg", np.zeros((8, 8), np.uint8))[1].tobytes())
    at = next(i for i in range(2, len(raw) - 1) if raw[i] == 0xFF and raw[i + 1] == 0xC0)
    raw[at + 5:at + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(raw))


def tiff_claiming(path: Path, width: int, height: int) -> None:
    tifffile.imwrite(path, np.zeros((512, 512), np.uint8), tile=(256, 256))
    with tifffile.TiffFile(path, mode="r+") as tif:  # a small file whose header claims more
        tif.pages.first.tags["ImageWidth"].overwrite(width)
        tif.pages.first.tags["ImageLength"].overwrite(height)


def bombs(folder: Path) -> list[Path]:
    made = []
    for maker, name, size in ((png_claiming, "bomb.png", (100_000, 100_000)),
                              (bmp_claiming, "bomb.bmp", (50_000, 50_000)),
                              (jpeg_claiming, "bomb.jpg", (65_535, 65_535)),
                              (tiff_claiming, "bomb.tif", (100_000, 100_000)),
                              (png_claiming, "zero-width.png", (0, 64)),
                              (tiff_claiming, "zero-height.tif", (64, 0))):
        maker(folder / name, *size)
        made.append(folder / name)
    return made


def odd_types(folder: Path) -> list[Path]:
    """Pixel types and shapes a lab's scripts write, readable or not."""
    rng = np.random.default_rng(3)
    base = micrograph().astype(np.float64)
    nan = base.astype(np.float32)
    nan[10:20, 10:20] = np.nan
    arrays = {
        "int32": (base * 1000 - 50_000).astype(np.int32),
        "uint32": (base * 1e6).astype(np.uint32),
        "int64": (base * 1e12).astype(np.int64),
        "int8-negative": (base - 128).astype(np.int8),
        "int16": (base * 100 - 12_000).astype(np.int16),
        "complex64": (base + 1j * base).astype(np.complex64),
        "bool": base > 128,
        "float32-nan": nan,
        "float64-all-nan": np.full((SIZE, SIZE), np.nan),
        "float32-inf": np.where(base > 200, np.inf, base).astype(np.float32),
        "float16": base.astype(np.float16),
        "1x1": np.array([[77]], np.uint8),
        "1xN": rng.integers(0, 255, (1, 300), dtype=np.uint8),
        "Nx1": rng.integers(0, 255, (300, 1), dtype=np.uint8),
        "2x2-rgb": rng.integers(0, 255, (2, 2, 3), dtype=np.uint8),
        "5-channel": rng.integers(0, 255, (SIZE, SIZE, 5), dtype=np.uint8),
        "stack-3-pages": np.stack([base.astype(np.uint8)] * 3),
        "constant": np.full((SIZE, SIZE), 9, np.uint16),
        "16bit-full-range": (base * 257).astype(np.uint16),
    }
    made = []
    for name, data in arrays.items():
        path = folder / f"{name}.tif"
        tifffile.imwrite(path, data, photometric="minisblack" if data.ndim == 3 and
                         data.shape[-1] not in (3, 5) else None)
        made.append(path)
    for name, data in (("1x1", arrays["1x1"]), ("1xN", arrays["1xN"])):
        path = folder / f"{name}.png"
        cv2.imwrite(str(path), data)
        made.append(path)
    return made


def odd_paths(folder: Path) -> list[Path]:
    """Names and links that trip up path handling (the file itself is a good image)."""
    good = _encoded("tif", micrograph())
    made = []
    for name in ("Gefüge µm 元素.tif", "with spaces.tif", "-leading-dash.tif", "semi;colon'quote.tif"):
        (folder / name).write_bytes(good)
        made.append(folder / name)
    loop_a, loop_b = folder / "loop-a.tif", folder / "loop-b.tif"
    os.symlink(loop_b, loop_a)
    os.symlink(loop_a, loop_b)
    dangling = folder / "dangling.tif"
    os.symlink(folder / "nowhere.tif", dangling)
    (folder / "folder.tif").mkdir()
    made += [loop_a, dangling, folder / "folder.tif", folder / "missing.tif"]
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe.tif")
        made.append(folder / "pipe.tif")
    text = folder / "notes.png"
    text.write_text("not a picture")
    made.append(text)
    return made


# -- damaged projects ----------------------------------------------------------------------

def _project(path: Path, n: int = 2) -> Path:
    from matlab_gui.project.schema import ClassDef
    from matlab_gui.project.store import Project

    image = micrograph()
    with Project.create(path, classes=[ClassDef(1, "matrix", (32, 32, 32)),
                                       ClassDef(2, "precipitate", (255, 204, 0))]) as project:
        for k in range(n):
            image_id = project.add_image(f"img{k}.tif", data=np.roll(image, 7 * k, axis=0))
            project.set_mask(image_id, (np.roll(image, 7 * k, axis=0) > 120).astype(np.uint8) + 1)
        project.save()
    return path


def _h5_edit(path: Path, edit: Callable[[h5py.File], None]) -> None:
    with h5py.File(path, "r+") as f:
        edit(f)


def _first(f: h5py.File, group: str) -> str:
    return sorted(f[group])[0]


def _replace(f: h5py.File, group: str, data) -> None:
    name = _first(f, group)
    del f[group][name]
    f[group].create_dataset(name, data=data)


PROJECT_DAMAGE: dict[str, Callable[[h5py.File], None]] = {
    "no-history": lambda f: f.__delitem__("history"),
    "history-numbers": lambda f: (f.__delitem__("history"),
                                  f.create_dataset("history", data=np.arange(3))),
    "no-masks-group": lambda f: f.__delitem__("masks"),
    "no-images-group": lambda f: f.__delitem__("images"),
    "mask-missing": lambda f: f["masks"].__delitem__(_first(f, "masks")),
    "image-missing": lambda f: f["images"].__delitem__(_first(f, "images")),
    "schema-nan": lambda f: f.attrs.__setitem__("schema_version", float("nan")),
    "schema-text": lambda f: f.attrs.__setitem__("schema_version", "two"),
    "schema-future": lambda f: f.attrs.__setitem__("schema_version", 999),
    "format-wrong": lambda f: f.attrs.__setitem__("format", "something else"),
    "mask-float-nan": lambda f: _replace(f, "masks", np.full((SIZE, SIZE), np.nan, np.float32)),
    "mask-int64-huge": lambda f: _replace(f, "masks", np.full((SIZE, SIZE), 2**40, np.int64)),
    "mask-int8-minus-one": lambda f: _replace(f, "masks", np.full((SIZE, SIZE), -1, np.int8)),
    "mask-3d": lambda f: _replace(f, "masks", np.ones((SIZE, SIZE, 3), np.uint8)),
    "mask-wrong-shape": lambda f: _replace(f, "masks", np.ones((SIZE // 2, SIZE), np.uint8)),
    "mask-above-classes": lambda f: _replace(f, "masks", np.full((SIZE, SIZE), 9, np.uint8)),
    "image-wrong-type": lambda f: _replace(f, "images", np.full((SIZE, SIZE), 1 + 1j)),
}


def _attr_damage(name: str, value) -> Callable[[h5py.File], None]:
    def edit(f: h5py.File) -> None:
        f.attrs[name] = value
    return edit


for _key, _value in (("images", "{not json"), ("classes", "[{\"index\": \"x\"}]"),
                     ("settings", "[]"), ("models", "{\"../evil\": {}}")):
    PROJECT_DAMAGE[f"meta-{_key}-junk"] = _attr_damage(_key, _value)


def _not_utf8(key: str) -> Callable[[h5py.File], None]:
    """One metadata text with a byte that is not UTF-8 (as a flipped bit leaves it)."""
    def edit(f: h5py.File) -> None:
        text = f.attrs[key]
        at = text.index('"name": "') + len('"name": "')
        raw = text[:at].encode() + b"\xe9" + text[at:].encode()
        f.attrs.create(key, data=raw, dtype=h5py.string_dtype("utf-8"))
    return edit


for _key in ("classes", "images"):
    PROJECT_DAMAGE[f"meta-{_key}-not-utf8"] = _not_utf8(_key)


def damaged_projects(folder: Path) -> list[Path]:
    healthy = _project(folder / "healthy.mgp")
    made = [healthy]
    for name, edit in PROJECT_DAMAGE.items():
        path = folder / f"{name}.mgp"
        path.write_bytes(healthy.read_bytes())
        _h5_edit(path, edit)
        made.append(path)
    raw = healthy.read_bytes()
    for dataset in ("history", "images"):  # an object header that fails its checksum
        with h5py.File(healthy, "r") as f:
            at = h5py.h5o.get_info(f[dataset].id).addr + 16
        body = bytearray(raw)
        body[at] ^= 0xFF
        path = folder / f"header-{dataset}-damaged.mgp"
        path.write_bytes(bytes(body))
        made.append(path)
    for name, body in _mutations(raw, np.random.default_rng(5)).items():
        path = folder / f"file-{name}.mgp"
        path.write_bytes(body)
        made.append(path)
    return made


# -- damaged model folders -----------------------------------------------------------------

def damaged_models(folder: Path, good: Path) -> list[Path]:
    """Copies of the working model folder `good`, each broken one way."""
    card = json.loads((good / "card.json").read_text())
    weights = (good / "model.safetensors").read_bytes()

    def copy(name: str, card_text: str | bytes | None, weights_bytes: bytes | None) -> Path:
        target = folder / name
        target.mkdir()
        if card_text is not None:
            data = card_text.encode() if isinstance(card_text, str) else card_text
            (target / "card.json").write_bytes(data)
        if weights_bytes is not None:
            (target / "model.safetensors").write_bytes(weights_bytes)
        return target

    def with_card(**changes) -> str:
        return json.dumps({**card, **changes})

    made = [
        copy("no-card", None, weights),
        copy("no-weights", json.dumps(card), None),
        copy("card-junk", "{not json", weights),
        copy("card-latin1", json.dumps({**card, "name": "Gefüge"}, ensure_ascii=False)
             .encode("latin-1"), weights),
        copy("card-list", "[]", weights),
        copy("input-size-zero", with_card(input_size=0), weights),
        copy("input-size-negative", with_card(input_size=-256), weights),
        copy("input-size-huge", with_card(input_size=10**9), weights),
        copy("input-size-text", with_card(input_size="big"), weights),
        copy("overlap-huge", with_card(tile_overlap=10**6), weights),
        copy("normalisation-text", with_card(normalisation="percentile"), weights),
        copy("arch-unknown", with_card(arch="transformer9000"), weights),
        copy("task-unknown", with_card(task="regression"), weights),
        copy("classes-empty", with_card(classes=[]), weights),
        copy("weights-truncated", json.dumps(card), weights[: len(weights) // 2]),
        copy("weights-junk", json.dumps(card), os.urandom(4096)),
        copy("weights-empty", json.dumps(card), b""),
    ]
    nan_folder = copy("weights-nan", json.dumps(card), None)
    _nan_weights(good / "model.safetensors", nan_folder / "model.safetensors")
    made.append(nan_folder)
    return made


def _nan_weights(source: Path, target: Path) -> None:
    from safetensors.numpy import load_file, save_file

    tensors = {k: np.full_like(v, np.nan) if v.dtype.kind == "f" else v
               for k, v in load_file(source).items()}
    save_file(tensors, target)


# -- damaged data sets and split files -----------------------------------------------------

def damaged_datasets(folder: Path) -> list[Path]:
    """images/ + masks/ folders with one thing wrong each (masks 0-based, as folders are)."""
    image = micrograph()
    mask = (image > 120).astype(np.uint8)
    cases: dict[str, Callable[[Path, Path], None]] = {
        "healthy": lambda i, m: None,
        "mask-missing": lambda i, m: (m / "b.png").unlink(),
        "mask-wrong-shape": lambda i, m: cv2.imwrite(str(m / "b.png"), mask[:40]),
        "mask-rgb": lambda i, m: cv2.imwrite(str(m / "b.png"), np.dstack([mask * 80] * 3)),
        "mask-float": lambda i, m: ((m / "b.png").unlink(),
                                    tifffile.imwrite(m / "b.tif", mask.astype(np.float32) + 0.5)),
        "mask-corrupt": lambda i, m: (m / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(40)),
        "mask-above-classes": lambda i, m: cv2.imwrite(str(m / "b.png"), mask * 7),
        "image-corrupt": lambda i, m: (i / "b.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken"),
        "no-masks-folder": lambda i, m: [p.unlink() for p in m.iterdir()] and m.rmdir(),
        "empty-images": lambda i, m: [p.unlink() for p in i.iterdir()],
    }
    made = []
    for name, damage in cases.items():
        root = folder / name
        images, masks = root / "images", root / "masks"
        images.mkdir(parents=True)
        masks.mkdir()
        for stem, shift in (("a", 0), ("b", 11), ("c", 23)):
            cv2.imwrite(str(images / f"{stem}.png"), np.roll(image, shift, axis=1))
            cv2.imwrite(str(masks / f"{stem}.png"), np.roll(mask, shift, axis=1))
        damage(images, masks)
        made.append(root)
    return made


def damaged_splits(folder: Path) -> list[Path]:
    made = {
        "splits-binary.csv": os.urandom(512),
        "splits-no-columns.csv": b"hello,world\n1,2\n",
        "splits-unknown-stems.csv": b"stem,split\nzzz,train\nyyy,val\nxxx,test\n",
        "splits-traversal.csv": b"stem,split\n../../etc/passwd,train\na,val\nb,test\n",
        "splits-bad-split.csv": b"stem,split\na,banana\nb,train\nc,test\n",
        "splits-empty.csv": b"",
        "splits-latin1.csv": "stem,split\nGefüge,train\n".encode("latin-1"),
    }
    for name, body in made.items():
        (folder / name).write_bytes(body)
    return [folder / name for name in made]
