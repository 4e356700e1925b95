"""Child process for the two-process project tests: a second program working on one project.

    project_child.py PROJECT edit ID       label 1 on ID, add an image, paint ID's mask; save
    project_child.py PROJECT label ID K    label K on ID; save
    project_child.py PROJECT hold          open for editing (the window's lock) until stdin closes
    project_child.py PROJECT saves N       N saves, each changing every image's mask
    project_child.py PROJECT reads SECONDS read every image and mask for that long

Prints one JSON line: what it did or the errors it met. Not a test module itself.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from matlab_gui.project import Project


def main(path: str, action: str, *args: str) -> None:
    if action == "hold":
        project = Project.open(path, exclusive=True)
        print(json.dumps({"holding": True}), flush=True)
        sys.stdin.read()
        project.close()
        return
    if action == "reads":
        project = Project.open(path, readonly=True)
        errors, reads, end = [], 0, time.monotonic() + float(args[0])
        while time.monotonic() < end:
            try:
                for image_id in project.image_ids:
                    value = int(project.read_image(image_id)[0, 0])
                    mask = project.get_mask(image_id)
                    prediction = project.get_prediction(image_id)
                    if mask.any() and len(np.unique(mask)) != 1:
                        errors.append("a mask mixed two saves")
                    if prediction is not None and len(np.unique(prediction[0])) != 1:
                        errors.append("a prediction mixed two saves")
                    reads += value >= 0
            except Exception as exc:  # reported to the parent
                errors.append(f"{type(exc).__name__}: {exc}")
        print(json.dumps({"reads": reads, "errors": errors[:5], "n_errors": len(errors)}))
        return
    project = Project.open(path)
    ids = project.image_ids
    if action == "edit":
        project.set_label(args[0], 1)
        project.add_image("from_a.png", data=np.full((32, 32), 7, np.uint8))
        project.set_mask(args[0], np.full(project.record(args[0]).shape[:2], 1, np.uint8))
        project.save()
    elif action == "label":
        project.set_label(args[0], int(args[1]))
        project.save()
    elif action == "saves":
        rng = np.random.default_rng(0)
        for k in range(int(args[0])):
            for image_id in ids:
                shape = project.record(image_id).shape[:2]
                project.set_mask(image_id, np.full(shape, 1 + k % 3, np.uint8))
                project.set_prediction(image_id, np.full(shape, 1 + k % 3, np.uint8), rng.random(shape))
            project.save()
    project.close()
    print(json.dumps({"done": action}))


if __name__ == "__main__":
    main(*sys.argv[1:])
