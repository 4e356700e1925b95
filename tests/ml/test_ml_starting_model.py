"""Where a Fine-tune starts: a model of the same material (by class names), else ImageNet."""

from __future__ import annotations

from matlab_gui.ml.starting_model import closest_shipped, starting_model
from matlab_gui.resources import models_dir


def test_the_shipped_model_sharing_most_class_names_wins():
    assert closest_shipped("segmentation", ["Background", "crack"]).name == "nasa-ebc"
    assert closest_shipped("segmentation", ["matrix", "Network", "pearlite"]).name == "uhcs"
    assert closest_shipped("classification", ["scratches"]).name == "neu-det-cls"


def test_a_model_of_another_material_is_no_start():
    # nasa-super and uhcs share only "matrix": not enough to call them the same material
    assert closest_shipped("segmentation", ["matrix", "network", "spheroidite", "widmanstatten"],
                           exclude=["uhcs"]) is None
    assert closest_shipped("segmentation", ["Phase 1", "Phase 2"]) is None
    assert starting_model("segmentation", ["Phase 1", "Phase 2"], models_dir() / "nasa-super") is None


def test_the_current_model_wins_for_its_own_task_and_material():
    current = models_dir() / "neu-det-cls"  # a classifier is current, masks were painted
    assert starting_model("classification", ["scratches", "pores"], current) == current
    start = starting_model("segmentation", ["background", "melt pool"], current)
    assert start.name == "nasa-meltpool"
    seg = models_dir() / "uhcs"  # the current uhcs model, one class added: it is the start
    assert starting_model("segmentation", ["matrix", "network", "pearlite"], seg) == seg


def test_a_users_own_model_of_the_material_beats_the_shipped_one(tmp_path):
    """The project's own model (not shipped) is the start whenever it fits the material."""
    import shutil

    own = tmp_path / "my-uhcs"
    own.mkdir()
    shutil.copy(models_dir() / "uhcs" / "card.json", own / "card.json")
    classes = ["matrix", "network", "spheroidite", "widmanstatten"]
    assert closest_shipped("segmentation", classes).name == "uhcs"
    assert starting_model("segmentation", classes, own) == own
    assert starting_model("classification", classes, own) is None  # not its task
