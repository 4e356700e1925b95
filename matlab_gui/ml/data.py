"""Training and evaluation data: where images and labels come from, and how they become tensors.

Two kinds of source give the same interface (`stems`, `class_names`, `load(stem)`):
- a folder (`images/<stem>.*` + `masks/<stem>.png`, or `<split>/<CLASS>/<file>` for classes),
- a project file (masks painted in the GUI, image labels).

Label rule (`LabelRule`): which mask value is which model class, and which value means
"unlabelled". Folder masks are dense, every value is a class (value v -> model class v, nothing
ignored). Project masks are sparse: 0 is unlabelled and ignored by the loss, and project class
index k (classes 1..N) becomes model class k-1 (more exactly, its position in the class list).
A folder of scribble masks can be read the project way with `sparse=True`.

Images are normalised once per whole image by the card's rule (`to_model_input`), then patches
are cut from the normalised array, so a patch never sees different statistics than inference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from matlab_gui import imaging
from matlab_gui.errors import DataError
from matlab_gui.file_kinds import is_project as file_is_project
from matlab_gui.imaging.display import equalise_histogram
from matlab_gui.ml.augment import Augmenter
from matlab_gui.ml.losses import IGNORE_INDEX
from matlab_gui.ml.preprocess import resize_image

# -- label rules ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelRule:
    """`values[c]` is the mask value of model class `c`; `ignore_value` pixels are unlabelled."""

    values: tuple[int, ...]
    ignore_value: int | None = None

    @classmethod
    def dense(cls, num_classes: int) -> LabelRule:
        return cls(tuple(range(num_classes)), None)

    @classmethod
    def sparse(cls, class_indices: Sequence[int]) -> LabelRule:
        return cls(tuple(int(v) for v in class_indices), 0)

    def to_target(self, mask: np.ndarray, name: str = "mask") -> np.ndarray:
        """int64 model classes, `IGNORE_INDEX` where unlabelled; a stray value is a DataError."""
        mask = np.asarray(mask)
        if mask.ndim == 3:
            mask = mask[..., 0]
        lut = np.full(max(max(self.values), int(mask.max(initial=0))) + 1, -1, dtype=np.int64)
        lut[list(self.values)] = np.arange(len(self.values))
        if self.ignore_value is not None and self.ignore_value < len(lut):
            lut[self.ignore_value] = IGNORE_INDEX
        target = lut[mask.astype(np.int64)]
        if (target == -1).any():
            bad = sorted(set(np.unique(mask[target == -1]).tolist()))[:5]
            raise DataError(f"{name}: mask values {bad} are not classes {list(self.values)}")
        return target

    def to_json(self) -> dict:
        return {"mask_values": list(self.values), "ignore_value": self.ignore_value}


# -- reading ----------------------------------------------------------------------------------


def read_image(path: Path) -> np.ndarray:
    return imaging.read_image(path).data


def _image_files(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in imaging.list_images(folder)}


# -- segmentation sources ---------------------------------------------------------------------


class FolderSegmentation:
    """`root/images/<stem>.*` with `root/masks/<stem>.png`; images without a mask are skipped."""

    def __init__(self, root: Path, sparse: bool = False, class_names: Sequence[str] | None = None):
        self.root = Path(root)
        images_dir, masks_dir = self.root / "images", self.root / "masks"
        if not images_dir.is_dir() or not masks_dir.is_dir():
            raise DataError("a segmentation folder needs images/ and masks/ sub-folders", self.root)
        images, masks = _image_files(images_dir), _image_files(masks_dir)
        self._pairs = {s: (images[s], masks[s]) for s in images if s in masks}
        if not self._pairs:
            raise DataError("no image in images/ has a mask with the same stem in masks/", self.root)
        self.stems = sorted(self._pairs)
        top = max(int(imaging.read_mask(m).max()) for _, m in self._pairs.values())
        if sparse:
            n = top if class_names is None else len(class_names)
            self.label_rule = LabelRule.sparse(range(1, n + 1))
        else:
            n = top + 1 if class_names is None else len(class_names)
            self.label_rule = LabelRule.dense(n)
        self.class_names = list(class_names) if class_names else [f"class {i}" for i in range(n)]
        self.class_colours: list[tuple[int, int, int]] | None = None

    def load(self, stem: str) -> tuple[np.ndarray, np.ndarray]:
        image_path, mask_path = self._pairs[stem]
        return read_image(image_path), imaging.read_mask(mask_path)

    def where(self, stem: str) -> str:
        """Where the labels of `stem` are, for messages."""
        return str(self._pairs[stem][1])

    def describe(self) -> dict:
        return {"source": "folder", "path": str(self.root), **self.label_rule.to_json()}


class ProjectSegmentation:
    """The masks of an open project: 0 = unlabelled, class index k -> its place in the list."""

    def __init__(self, project):
        self.project = project
        classes = sorted(project.classes, key=lambda c: c.index)
        if not classes:
            raise DataError("the project has no classes", project.path)
        self.class_names = [c.name for c in classes]
        self.class_colours = [tuple(c.color) for c in classes]
        self.label_rule = LabelRule.sparse([c.index for c in classes])
        # keyed by image id: two images may share a file name (same name, other folders)
        self.stems = sorted(i for i in project.image_ids if project.record(i).has_mask)
        if not self.stems:
            raise DataError("no image in the project has a painted mask", project.path)

    def load(self, image_id: str) -> tuple[np.ndarray, np.ndarray]:
        return self.project.read_image(image_id), self.project.get_mask(image_id)

    def where(self, image_id: str) -> str:
        return f"{self.project.path} (image {self.project.record(image_id).name!r})"

    def painted_fraction(self) -> float:
        """The share of the painted images' pixels that carry a class (scribbles: a few %)."""
        painted = total = 0
        for image_id in self.stems:
            mask = self.project.get_mask(image_id)
            painted, total = painted + int(np.count_nonzero(mask)), total + mask.size
        return painted / max(total, 1)

    def describe(self) -> dict:
        return {"source": "project", "path": str(self.project.path), **self.label_rule.to_json()}


# -- prepared images and patches --------------------------------------------------------------


@dataclass
class PreparedImage:
    """One whole image in its native dtype, its target (H, W), and how to normalise a crop of it.

    `normalise(pixels) -> float32 (C, h, w)` applies the card's rule with statistics taken from
    the whole image, so patches and whole-image inference see the same values. Keeping native
    pixels (not float32 copies) holds a project of large micrographs in a fraction of the memory.
    """

    stem: str
    image: np.ndarray
    target: np.ndarray
    normalise: Callable[[np.ndarray], np.ndarray]

    def model_input(self) -> np.ndarray:
        return np.asarray(self.normalise(self.image), dtype=np.float32)


def prepare_segmentation(source, stems: Sequence[str], card) -> list[PreparedImage]:
    """Load, take whole-image normalisation statistics and convert labels for `stems`."""
    from matlab_gui.ml.preprocess import input_stats, to_model_input

    prepared = []
    for stem in stems:
        image, mask = source.load(stem)
        if mask.shape[:2] != image.shape[:2]:
            raise DataError(f"mask {mask.shape[:2]} and image {image.shape[:2]} differ in size",
                            source.where(stem))
        normalise = partial(to_model_input, card=card, stats=input_stats(image, card))
        target = source.label_rule.to_target(mask, source.where(stem))
        prepared.append(PreparedImage(stem, image, target, normalise))
    return prepared


def label_counts(prepared: Sequence[PreparedImage], num_classes: int) -> np.ndarray:
    """Labelled pixels per class, for class weights and the card."""
    counts = np.zeros(num_classes, dtype=np.int64)
    for p in prepared:
        t = p.target[p.target != IGNORE_INDEX]
        counts += np.bincount(t.ravel(), minlength=num_classes)[:num_classes]
    return counts


def _crop(image: np.ndarray, target: np.ndarray, y0: int, x0: int, size: int):
    """A `size` square at (y0, x0); past the image edge, pixels are mirrored and labels ignored."""
    image = image[y0 : y0 + size, x0 : x0 + size]
    target = target[y0 : y0 + size, x0 : x0 + size]
    ph, pw = size - target.shape[0], size - target.shape[1]
    if not ph and not pw:
        return image, target
    h, w = target.shape
    widths = ((0, ph), (0, pw)) + ((0, 0),) * (image.ndim - 2)
    image = np.pad(image, widths, mode="reflect" if h > ph and w > pw else "edge")
    return image, np.pad(target, ((0, ph), (0, pw)), constant_values=IGNORE_INDEX)


class PatchDataset(Dataset):
    """`length` random patches per epoch from prepared images, reproducible from (seed, epoch).

    A `class_centred` fraction of the patches is centred on a pixel of one class drawn
    uniformly from the classes the training masks hold, so a phase covering 0.2 % of the
    pixels is seen as often as the matrix (uniform crops all but never show it). The other
    patches are centred on a random labelled pixel (sparse masks: scribbles are always seen)
    or cut anywhere (dense masks).
    """

    # pixels remembered per class and image to centre patches on: enough for variety, bounded
    # so a project of large dense masks does not keep an index of every pixel
    CENTRES_PER_CLASS = 20_000

    def __init__(self, images: Sequence[PreparedImage], patch: int, length: int,
                 augmenter: Augmenter | None = None, seed: int = 0, class_centred: float = 0.0):
        if not images:
            raise DataError("no training images")
        if not 0.0 <= class_centred <= 1.0:
            raise ValueError(f"class_centred must be within 0..1, got {class_centred}")
        self.images = list(images)
        self.patch = patch
        self.length = length
        self.augmenter = augmenter
        self.seed = seed
        self.epoch = 0
        self.class_centred = class_centred
        self._labelled = [
            np.flatnonzero(p.target != IGNORE_INDEX) if (p.target == IGNORE_INDEX).mean() > 0.5 else None
            for p in self.images
        ]
        self._centres = self._class_centres(seed) if class_centred else []

    def _class_centres(self, seed: int) -> list[tuple[list[tuple[int, np.ndarray]], np.ndarray]]:
        """Per class present: [(image index, flat pixel indices of that class)], subsampled, and
        the chance of each image (its share of those pixels)."""
        rng = np.random.default_rng([seed, 1])
        centres: dict[int, list[tuple[int, np.ndarray]]] = {}
        for k, item in enumerate(self.images):
            flat = item.target.ravel()
            for c in np.unique(flat):
                if c == IGNORE_INDEX:
                    continue
                where = np.flatnonzero(flat == c)
                if where.size > self.CENTRES_PER_CLASS:
                    where = rng.choice(where, self.CENTRES_PER_CLASS, replace=False)
                centres.setdefault(int(c), []).append((k, where))
        out = []
        for c in sorted(centres):
            sizes = np.array([where.size for _, where in centres[c]], dtype=np.float64)
            out.append((centres[c], sizes / sizes.sum()))
        return out

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def _centre(self, rng: np.random.Generator) -> tuple[int, int | None]:
        """(image index, flat index of the patch centre or None for a random crop)."""
        if self._centres and rng.random() < self.class_centred:
            holders, chance = self._centres[int(rng.integers(len(self._centres)))]
            k, where = holders[int(rng.choice(len(holders), p=chance))]
            return k, int(where[rng.integers(where.size)])
        k = int(rng.integers(len(self.images)))
        labelled = self._labelled[k]
        if labelled is not None and labelled.size:
            return k, int(labelled[rng.integers(labelled.size)])
        return k, None

    def __getitem__(self, index: int):
        rng = np.random.default_rng([self.seed, self.epoch, index])
        k, centre = self._centre(rng)
        item, size = self.images[k], self.patch
        h, w = item.target.shape
        if centre is not None:
            cy, cx = divmod(centre, w)
            y0 = int(np.clip(cy - size // 2, 0, max(0, h - size)))
            x0 = int(np.clip(cx - size // 2, 0, max(0, w - size)))
        else:
            y0, x0 = int(rng.integers(max(1, h - size + 1))), int(rng.integers(max(1, w - size + 1)))
        pixels, target = _crop(item.image, item.target, y0, x0, size)
        x = np.asarray(item.normalise(pixels), dtype=np.float32)
        if self.augmenter is not None:
            x, target = self.augmenter(x, target, rng)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(np.ascontiguousarray(target))


# -- classification ---------------------------------------------------------------------------


class FolderClassification:
    """`root/<split>/<CLASS>/<file>` (splits given) or `root/<CLASS>/<file>` (split later)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError("not a folder", self.root)
        subdirs = sorted(p for p in self.root.iterdir() if p.is_dir())
        split_dirs = [p for p in subdirs if p.name.lower() in ("train", "val", "validation", "test")]
        from matlab_gui.ml.splits import normalise_split_name

        if split_dirs:
            pairs = [(normalise_split_name(s.name), c) for s in split_dirs for c in sorted(s.iterdir()) if c.is_dir()]
        else:
            pairs = [(None, c) for c in subdirs]
        self.class_names = sorted({c.name for _, c in pairs})
        self.class_colours = None
        self._items: dict[str, tuple[Path, int]] = {}
        self.given_splits: dict[str, str] = {}
        for split, class_dir in pairs:
            for f in _image_files(class_dir).values():
                key = str(f.relative_to(self.root))
                self._items[key] = (f, self.class_names.index(class_dir.name))
                if split is not None:
                    self.given_splits[key] = split
        if not self._items:
            raise DataError("no images in <split>/<CLASS>/ or <CLASS>/ sub-folders", self.root)
        self.stems = sorted(self._items)

    def label(self, key: str) -> int:
        return self._items[key][1]

    def load(self, key: str) -> np.ndarray:
        return read_image(self._items[key][0])

    def describe(self) -> dict:
        return {"source": "folder", "path": str(self.root)}


class ProjectClassification:
    """Images of a project with an image-level label; class index k -> its place in the list."""

    def __init__(self, project):
        self.project = project
        classes = sorted(project.classes, key=lambda c: c.index)
        self.class_names = [c.name for c in classes]
        self.class_colours = [tuple(c.color) for c in classes]
        position = {c.index: i for i, c in enumerate(classes)}
        self._labels = {
            i: position[project.get_label(i)] for i in project.image_ids
            if project.get_label(i) in position
        }
        if not self._labels:
            raise DataError("no image in the project has a class label", project.path)
        self.stems = sorted(self._labels)
        self.given_splits: dict[str, str] = {}

    def label(self, key: str) -> int:
        return self._labels[key]

    def load(self, key: str) -> np.ndarray:
        return self.project.read_image(key)

    def describe(self) -> dict:
        return {"source": "project", "path": str(self.project.path)}


def mean_intensity(image: np.ndarray) -> float:
    """Mean pixel value on a 0..1 scale: the size-independent form of paper 000's pixel sum."""
    top = np.iinfo(image.dtype).max if np.issubdtype(image.dtype, np.integer) else 1.0
    return float(np.mean(image, dtype=np.float64) / top)


def input_hw(card) -> tuple[int, int]:
    size = card.input_size
    return (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))


def prepare_classification(
    source, keys: Sequence[str], card, hist_eq: bool = False,
    drop_band: tuple[float, float] | None = None,
) -> tuple[list[str], list[np.ndarray]]:
    """Images resized to the card's input size (native dtype kept), equalised if asked.

    `drop_band`: the pixel-sum filter of paper 000, judged on the raw image; for training only.
    Returns the kept keys and their images.
    """
    h, w = input_hw(card)
    kept, images = [], []
    for key in keys:
        image = source.load(key)
        if drop_band is not None and drop_band[0] <= mean_intensity(image) <= drop_band[1]:
            continue
        if hist_eq:
            image = equalise_histogram(image)
        kept.append(key)
        images.append(resize_image(image, h, w))
    return kept, images


class ClassificationDataset(Dataset):
    """Resized images -> normalised tensors with their class, augmented reproducibly."""

    def __init__(self, images: Sequence[np.ndarray], labels: Sequence[int], card,
                 augmenter: Augmenter | None = None, seed: int = 0):
        self.images, self.labels, self.card = list(images), list(labels), card
        self.augmenter, self.seed, self.epoch = augmenter, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        from matlab_gui.ml.preprocess import to_model_input

        x = np.asarray(to_model_input(self.images[index], self.card), dtype=np.float32)
        if self.augmenter is not None:
            x, _ = self.augmenter(x, None, np.random.default_rng([self.seed, self.epoch, index]))
        return torch.from_numpy(np.ascontiguousarray(x)), torch.tensor(self.labels[index])


# -- opening a data source --------------------------------------------------------------------


def is_project(data) -> bool:
    """An open `Project`, or a path to a project file (by suffix or HDF5 signature)."""
    if hasattr(data, "image_ids"):
        return True
    return Path(data).is_file() and file_is_project(Path(data))


@contextmanager
def open_source(task: str, data, sparse: bool = False, class_names: Sequence[str] | None = None):
    """The data source for `task` from a folder, a project path or an open project.

    A project file is opened read-only (training only reads it; the ranks of a torchrun job
    open it at once) and closed on exit; an open `Project` passed in is left open.
    """
    if task not in ("segmentation", "classification"):
        raise DataError(f"unknown task {task!r}; use segmentation or classification")
    if is_project(data):
        from matlab_gui.project import Project

        project = data if hasattr(data, "image_ids") else Project.open(data, readonly=True)
        try:
            yield ProjectSegmentation(project) if task == "segmentation" else ProjectClassification(project)
        finally:
            if project is not data:
                project.close()
        return
    if not Path(data).is_dir():
        raise DataError("no such folder or project file", data)
    if task == "segmentation":
        yield FolderSegmentation(Path(data), sparse=sparse, class_names=class_names)
    else:
        yield FolderClassification(Path(data))
