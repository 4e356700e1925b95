"""A project's unsaved changes, and how `save()` writes them into the HDF5 file.

Only what is listed here is written, so a save costs what changed, not what the project holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import h5py
import numpy as np

from matlab_gui.project import schema
from matlab_gui.project.names import check_name


def write_array(
    group: h5py.Group, name: str, data: np.ndarray, compress: bool, generation: int
) -> None:
    """(Re)write one dataset; compressed ones are chunked 2-D tiles (fast, partial reads)."""
    check_name(name, "dataset name")
    if name in group:
        del group[name]
    if not compress or data.ndim < 2:
        dataset = group.create_dataset(name, data=data)
    else:
        chunks = (1,) * (data.ndim - 2) + tuple(min(schema.MASK_CHUNK, s) for s in data.shape[-2:])
        dataset = group.create_dataset(
            name, data=data, chunks=chunks, compression="gzip", compression_opts=1
        )
    dataset.attrs["generation"] = generation


def written_since(group: h5py.Group, name: str, generation: int) -> bool:
    """Whether `group[name]` was written by a save after `generation` (another process's)."""
    return name in group and int(group[name].attrs.get("generation", 0)) > generation


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
    described: set[str] = field(default_factory=set)  # records changed: refresh their attributes

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

    def overwrites(self, f: h5py.File, generation: int, names: dict[str, str]) -> list[str]:
        """What these changes would write over that another process saved after `generation`
        (`names`: image id -> name, for the message)."""
        found = []
        for image_id in set(self.masks) | self.removed:
            if written_since(f[schema.MASKS], image_id, generation):
                found.append(f"image {names.get(image_id, image_id)!r}: mask")
        for image_id in set(self.predictions) | self.removed:
            if written_since(f[schema.PREDICTIONS], image_id, generation):
                found.append(f"image {names.get(image_id, image_id)!r}: prediction")
        found += [f"model {n!r}" for n in self.models if written_since(f[schema.MODELS], n, generation)]
        return found

    def summary(self, base: schema.Meta, meta: schema.Meta) -> dict:
        """What this save changes, by image name, for the history (empty when only settings
        or the view changed)."""
        def names(ids) -> list[str]:
            return sorted(meta.records[i].name for i in ids if i in meta.records)

        labels = [i for i, r in meta.records.items()
                  if i in base.records and base.records[i].label != r.label]
        sizes = [i for i, r in meta.records.items()
                 if i in base.records and base.records[i].pixel_size_m != r.pixel_size_m]
        out = {"masks": names(self.masks), "labels": names(labels),
               "predictions": names(self.predictions), "pixel sizes": names(sizes),
               "models": sorted(self.models)}
        if [c.to_json() for c in base.classes] != [c.to_json() for c in meta.classes]:
            out["classes"] = [c.name for c in meta.classes]
        return {k: v for k, v in out.items() if v}

    def write(self, f: h5py.File, meta: schema.Meta, check=lambda: None) -> None:
        """Write these changes and the metadata into the project file `f`; every dataset gets
        the metadata's generation. `check()` runs between datasets and may raise to stop early
        (a failed write underneath)."""
        gen = meta.generation
        undescribed = "class_values" not in f.attrs  # written before datasets were described
        for group in schema.GROUPS:  # one lost to another tool is made again
            f.require_group(group)
        for image_id in self.removed:
            check_name(image_id, "image id")
            for group in (schema.IMAGES, schema.MASKS, schema.PREDICTIONS):
                if image_id in f[group]:
                    del f[group][image_id]
        for image_id, data in self.images.items():
            check()
            write_array(f[schema.IMAGES], image_id, data, compress=False, generation=gen)
        for image_id, mask in self.masks.items():
            check()
            write_array(f[schema.MASKS], image_id, mask, compress=True, generation=gen)
        for image_id, (labels, confidence, model_name) in self.predictions.items():
            check()
            check_name(image_id, "image id")
            if image_id in f[schema.PREDICTIONS]:
                del f[schema.PREDICTIONS][image_id]
            group = f[schema.PREDICTIONS].create_group(image_id)
            write_array(group, "labels", labels, compress=True, generation=gen)
            if confidence is not None:
                write_array(group, "confidence", confidence, compress=True, generation=gen)
            group.attrs["model"] = model_name or ""
            group.attrs["generation"] = gen
        touched = meta.records if undescribed else {*self.images, *self.masks, *self.predictions,
                                                    *self.described}
        for image_id in touched:
            if image_id in meta.records:
                schema.describe(f, meta.records[image_id])
        rebuild = (undescribed or self.images or self.removed
                   or not schema.linked(f, schema.BY_NAME))
        schema.link_by_name(f, meta, None if rebuild else {*self.masks, *self.predictions})
        for name, files in self.models.items():
            check()
            check_name(name, "model name")
            if name in f[schema.MODELS]:
                del f[schema.MODELS][name]
            group = f[schema.MODELS].create_group(name)
            group.attrs["generation"] = gen
            for file_name, data in files.items():
                check_name(file_name, "model file name")
                group.create_dataset(file_name, data=np.frombuffer(data, dtype=np.uint8))
        check()
        if self.history:
            schema.append_history(f, [json.dumps(entry) for entry in self.history])
        meta.write(f.attrs)
