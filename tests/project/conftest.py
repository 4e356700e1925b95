"""Shared by the project tests: everything a project holds, comparable across reopenings."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from matlab_gui.project import Project


def _digest(array: np.ndarray | None) -> str | None:
    if array is None:
        return None
    return f"{array.dtype}{array.shape}" + hashlib.sha256(array.tobytes()).hexdigest()


def snapshot(path: Path) -> dict:
    """Everything the project holds, with random image ids and timestamps left out."""
    with Project.open(path) as project:
        images = []
        for image_id in project.image_ids:
            record = {k: v for k, v in asdict(project.record(image_id)).items() if k != "id"}
            prediction = project.get_prediction(image_id)
            images.append(
                {
                    **record,
                    "pixels": _digest(project.read_image(image_id)),
                    "mask": _digest(project.get_mask(image_id)),
                    "prediction": prediction and [_digest(a) for a in prediction],
                }
            )
        return {
            "classes": project.classes,
            "images": images,
            "history": [
                (h["action"], {k: v for k, v in h["details"].items() if k != "id"})
                for h in project.history
            ],
            "settings": project.settings,
            "models": project.model_names(),
            "current_model": project.current_model,
        }


@pytest.fixture
def project_snapshot():
    return snapshot
