"""`matlab-gui train` then `matlab-gui evaluate`, end to end, on tiny data."""

from __future__ import annotations

import json

import pytest

from matlab_gui.cli import EXIT_USER_ERROR, main
from matlab_gui.ml.synthetic import write_segmentation_folder

TINY = ["--arch", "unet", "--encoder", "tu-resnet10t", "--no-pretrained", "--device", "cpu"]


def _evaluate_json(capsys, *args) -> dict:
    capsys.readouterr()
    assert main(["evaluate", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_train_then_evaluate_on_a_synthetic_folder(tmp_path, capsys):
    data = write_segmentation_folder(tmp_path / "data")
    out = tmp_path / "model"
    code = main(["train", "--task", "segmentation", "--data", str(data), *TINY, "--epochs", "2",
                 "--patch", "32", "--patches-per-epoch", "4", "--batch", "2", "--lr", "1e-3",
                 "--classes", "matrix,disc,square", "--out", str(out)])
    assert code == 0
    assert f"saved {out}" in capsys.readouterr().out
    result = _evaluate_json(capsys, "--model", str(out), "--data", str(data))
    assert {"mean_iou", "per_class_iou", "pixel_accuracy"} <= set(result)
    assert result["class_names"] == ["matrix", "disc", "square"]
    assert main(["evaluate", "--model", str(out), "--data", str(data), "--split", "all"]) == 0
    table = capsys.readouterr().out
    assert "mean_iou" in table and "square" in table


def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys):
    code = main(["train", "--task", "segmentation", "--data", str(tmp_path / "nope"), *TINY,
                 "--out", str(tmp_path / "m")])
    assert code == EXIT_USER_ERROR
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert err[-1].startswith("matlab-gui: error:") and "no such folder" in err[-1]
    assert err[:-1] == ["reading data"] and not captured.out  # the note, then one line
    assert main(["train", "--task", "segmentation", "--data", str(tmp_path / "nope"), *TINY,
                 "--out", str(tmp_path / "m"), "--quiet"]) == EXIT_USER_ERROR
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


@pytest.mark.slow
def test_two_nasa_super_images_at_64_px(shared_data, tmp_path, capsys):
    root = shared_data / "nasa_super"
    splits = tmp_path / "files.csv"
    splits.write_text("stem,split\nspot3_0d_3,train\nspot3_180d_2,train\nspot2_0d_0,test\n")
    out = tmp_path / "model"
    code = main(["train", "--task", "segmentation", "--data", str(root), "--splits", str(splits),
                 "--arch", "unet", "--encoder", "tu-tf_efficientnet_lite0", "--no-pretrained",
                 "--device", "cpu", "--epochs", "1", "--patch", "64", "--patches-per-epoch", "4",
                 "--batch", "2", "--out", str(out)])
    assert code == 0
    result = _evaluate_json(capsys, "--model", str(out), "--data", str(root), "--splits", str(splits))
    assert result["images"] == ["spot2_0d_0"] and result["pixels"] == 512 * 512
    assert len(result["per_class_iou"]) == 3


def test_sepconv_head_two_phase_at_lr_over_100_saved_as_float16(tmp_path, capsys):
    from safetensors import safe_open

    from matlab_gui.ml.model_folder import load_model
    from matlab_gui.ml.synthetic import write_classification_folder

    data = write_classification_folder(tmp_path / "cls")
    out = tmp_path / "model"
    code = main(["train", "--task", "classification", "--data", str(data), "--arch", "resnet18",
                 "--no-pretrained", "--device", "cpu", "--epochs", "2", "--batch", "4",
                 "--input-size", "32", "--head", "sepconv", "--pooling", "max", "--half",
                 "--lr", "1e-3", "--finetune-top", "50", "--head-epochs", "1",
                 "--finetune-lr-factor", "0.01", "--patience", "0",
                 "--out", str(out)])
    assert code == 0
    card = load_model(out).card
    assert card.head["type"] == "sepconv" and card.head["pooling"] == "max"
    assert [h["lr"] for h in card.history] == pytest.approx([1e-3, 1e-5])
    with safe_open(str(out / "model.safetensors"), "pt") as f:
        dtypes = {str(f.get_tensor(k).dtype) for k in f.keys()}
    assert "torch.float16" in dtypes and "torch.float32" not in dtypes
    result = _evaluate_json(capsys, "--model", str(out), "--data", str(data))
    assert 0.0 <= result["accuracy"] <= 1.0


def test_time_limit_class_centred_and_sqrt_weights_reach_the_card(tmp_path, capsys):
    data = write_segmentation_folder(tmp_path / "data")
    out = tmp_path / "model"
    assert main(["train", "--task", "segmentation", "--data", str(data), *TINY, "--epochs", "500",
                 "--patch", "32", "--patches-per-epoch", "4", "--batch", "2", "--patience", "0",
                 "--time-limit", "0.0001", "--class-centred", "0.25", "--class-weights", "sqrt",
                 "--weight-average", "0.99", "--out", str(out)]) == 0
    training = json.loads((out / "card.json").read_text())["training"]
    assert training["epochs_run"] == 1 and training["time_budget_s"] == pytest.approx(0.006)
    assert training["class_centred"] == 0.25 and training["loss"]["class_weights"] == "sqrt"
    assert training["weight_average"] == 0.99


def test_the_progress_bar_shows_the_jobs_time_left_not_tqdms(capsys):
    """10,000 epochs under a time limit: the bar says the job's 2 min 5 s, not hours."""
    from matlab_gui.cli.cmd_train import TrainProgress
    from matlab_gui.progress import Progress

    progress = TrainProgress()
    progress.bars = True  # as on a terminal
    for step in (1, 2):
        progress(Progress("train", step, 10_000 * 16, {"epoch": 1, "epochs": 10_000, "step": step,
                                                        "loss": 0.5, "eta_s": 125.0}))
    shown = str(progress.bar)
    progress.close()
    assert "left=02:05" in shown and "<" not in shown  # tqdm's own remaining time is "<hh:mm:ss"


@pytest.mark.parametrize("where", ["out", "checkpoint"])
def test_an_output_that_cannot_be_written_stops_before_training(tmp_path, capsys, where):
    data = write_segmentation_folder(tmp_path / "data")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "model" if where == "out" else tmp_path / "model"
    extra = ["--checkpoint", str(blocker / "ckpt")] if where == "checkpoint" else []
    code = main(["train", "--task", "segmentation", "--data", str(data), *TINY, "--epochs", "2",
                 "--patch", "32", "--patches-per-epoch", "4", "--batch", "2",
                 "--classes", "matrix,disc,square", "--out", str(out), *extra])
    assert code == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert ("is a file; the output must be a folder" in err or "Not a directory" in err)
    assert "a_file" in err and len(err.strip().splitlines()) == 1
    assert "epoch" not in err and "reading data" not in err  # nothing trained first


def test_a_patch_the_card_cannot_hold_stops_before_training(tmp_path, capsys):
    data = write_segmentation_folder(tmp_path / "data")
    code = main(["train", "--task", "segmentation", "--data", str(data), *TINY, "--epochs", "2",
                 "--patch", "16", "--patches-per-epoch", "4", "--batch", "2",
                 "--classes", "matrix,disc,square", "--out", str(tmp_path / "m")])
    assert code == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "input_size must be an integer 32..8192, not 16" in err
    assert "epoch" not in err and not (tmp_path / "m").exists()
