"""Child process of the kill test: changes a project in a fixed way, then saves it.

Prints "saving" right before `save()` and "saved <seconds>" after, so the parent knows when to
kill it. Not a test module itself.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from matlab_gui.project import ClassDef, Project


def change(project: Project, model_folder: Path) -> None:
    """The update whose save gets killed: every kind of change, several MB in all."""
    rng = np.random.default_rng(7)
    ids = project.image_ids
    for image_id in ids[:3]:
        h, w = project.record(image_id).shape[:2]
        blocks = rng.integers(0, 4, (max(1, h // 32), max(1, w // 32)), dtype=np.uint8)
        project.set_mask(image_id, np.kron(blocks, np.ones((32, 32), np.uint8))[:h, :w])
    for k in range(2):
        project.add_image(f"new{k}.tif", data=rng.integers(0, 65535, (1024, 1024), np.uint16))
    project.remove_image(ids[-1])
    project.set_label(ids[0], 2)
    shape = project.record(ids[1]).shape[:2]
    project.set_prediction(ids[1], np.ones(shape, np.uint8), rng.random(shape), "m")
    project.set_classes([*project.classes, ClassDef(3, "pore", (0, 0, 255))])
    project.store_model("m", model_folder)
    project.current_model = "m"
    project.settings = {"last": ids[0]}
    project.log("edited", masks=3)


def main(path: str, model_folder: str) -> None:
    project = Project.open(path)
    change(project, Path(model_folder))
    print("saving", flush=True)
    start = time.perf_counter()
    project.save()
    print(f"saved {time.perf_counter() - start:.4f}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
