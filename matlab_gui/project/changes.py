"""A project's unsaved changes, and how `save()` writes them into the HDF5 file.

Only what is listed here is written, so a save costs what changed, not what the project holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import h5py
import numpy as np

from matlab_gui.project import schema


def write_array(group: h5py.Group, name: str, data: np.ndarray, compress: bool) -> None:
    """(Re)write one dataset; compressed ones are chunked 2-D tiles (fast, partial reads)."""
    if name in group:
        del group[name]
    if not compress or data.ndim < 2:
        group.create_dataset(name, data=data)
        return
    chunks = (1,) * (data.ndim - 2) + tuple(min(schema.MASK_CHUNK, s) for s in data.shape[-2:])
    group.create_dataset(name, data=data, chunks=chunks, compression="gzip", compression_opts=1)


@dataclass
class Changes:
    """Everything changed since the last save; falsy when there is nothing to save."""

    meta: bool = False  # classes, image records, model list, current model or settings
    images: dict[str, np.ndarray] = field(default_factory=dict)  # new embedded pixels
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    predictions: dict[str, tuple[np.ndarray, np.ndarray | None, str | None]] = field(
        default_factory=dict
    )
    models: dict[str, dict[str, bytes]] = field(default_factory=dict)  # name -> file -> bytes
    removed: set[str] = field(default_factory=set)
    history: list[dict] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.meta
            or self.images
            or self.masks
            or self.predictions
            or self.models
            or self.removed
            or self.history
        )

    def forget_image(self, image_id: str) -> None:
        for pending in (self.images, self.masks, self.predictions):
            pending.pop(image_id, None)
        self.removed.add(image_id)
        self.meta = True

    def write(self, f: h5py.File, meta: schema.Meta) -> None:
        """Write these changes and the metadata into the project file `f`."""
        for image_id in self.removed:
            for group in (schema.IMAGES, schema.MASKS, schema.PREDICTIONS):
                if image_id in f[group]:
                    del f[group][image_id]
        for image_id, data in self.images.items():
            write_array(f[schema.IMAGES], image_id, data, compress=False)
        for image_id, mask in self.masks.items():
            write_array(f[schema.MASKS], image_id, mask, compress=True)
        for image_id, (labels, confidence, model_name) in self.predictions.items():
            if image_id in f[schema.PREDICTIONS]:
                del f[schema.PREDICTIONS][image_id]
            group = f[schema.PREDICTIONS].create_group(image_id)
            write_array(group, "labels", labels, compress=True)
            if confidence is not None:
                write_array(group, "confidence", confidence, compress=True)
            group.attrs["model"] = model_name or ""
        for name, files in self.models.items():
            if name in f[schema.MODELS]:
                del f[schema.MODELS][name]
            group = f[schema.MODELS].create_group(name)
            for file_name, data in files.items():
                group.create_dataset(file_name, data=np.frombuffer(data, dtype=np.uint8))
        if self.history:
            history = f[schema.HISTORY]
            start = history.shape[0]
            history.resize((start + len(self.history),))
            history[start:] = [json.dumps(entry) for entry in self.history]
        meta.write(f.attrs)
