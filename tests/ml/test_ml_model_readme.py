"""The generated model card: every shipped folder's README.md follows its card.json, and each
rule of the card (scale, channels, histogram equalisation, task) reaches the text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matlab_gui.ml.card import ClassInfo, ModelCard, Normalisation
from matlab_gui.ml.model_readme import model_readme

MODELS = Path(__file__).resolve().parents[2] / "models"
FOLDERS = sorted(p.parent for p in MODELS.glob("*/card.json"))


@pytest.mark.parametrize("folder", FOLDERS, ids=[p.name for p in FOLDERS])
def test_shipped_readme_follows_its_card(folder):
    """Regenerate with `python models/ship.py --readme-only models/NAME` after editing a card."""
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    assert (folder / "README.md").read_text(encoding="utf-8") == model_readme(card)


def _card(**fields) -> ModelCard:
    base = {"task": "segmentation", "arch": "unet", "encoder": "tu-resnet10t", "name": "m",
            "classes": [ClassInfo("ferrite", (10, 20, 30)), ClassInfo("pearlite", (255, 0, 0))],
            "in_channels": 1, "input_size": 128, "tile_overlap": 32,
            "normalisation": Normalisation(mean=[0.45], std=[0.225]),
            "data": {"licence": "CC-BY-4.0", "citation": "Doe et al. 2024",
                     "authors": "J. Doe", "mask_values": [0, 1]},
            "software": {"torch": "2.14.1"}}
    return ModelCard(**{**base, **fields})


def test_a_segmentation_card_spells_out_its_contract():
    text = model_readme(_card())
    for part in ("| 0 | 1 | ferrite | `#0a141e` |", "| 1 | 2 | pearlite | `#ff0000` |",
                 "CC-BY-4.0", "Doe et al. 2024", "J. Doe", "(N, 1, H, W)", "(N, 2, H, W)",
                 "np.percentile(sample, [0.5, 99.5])", "[0.45]", "[0.225]",
                 "multiple of 32", "@ np.float32([0.299, 0.587, 0.114])", "argmax(0) + 1",
                 "numbered these classes 0, 1", "matlab-gui export-model m --format onnx"):
        assert part in text, part


def test_a_dtype_scaled_classifier_with_equalisation():
    card = _card(task="classification", arch="resnet18", encoder=None, in_channels=3,
                 input_size=96, normalisation=Normalisation(scale="dtype", mean=[0.5] * 3,
                                                            std=[0.25] * 3),
                 training={"hist_eq": True}, data={})
    text = model_readme(card)
    for part in ("np.iinfo(img.dtype).max", "Histogram equalisation", "INTER_AREA",
                 "(N, 3, 96, 96)", "(N, 2)", "label = probs.argmax(1) + 1", "np.repeat"):
        assert part in text, part
    assert "percentile" not in text and "multiple of 32" not in text


def test_an_export_readme_names_its_file_and_check():
    text = model_readme(_card(), {"format": "torchscript", "file": "model.torchscript.pt",
                                  "max_abs_diff": 2.4e-4, "inputs": [(2, 1, 128, 128)],
                                  "torch": "2.14.1"})
    assert "`model.torchscript.pt` is the model as TorchScript" in text
    assert "2.4e-04" in text and "[2, 1, 128, 128]" in text and "torch.jit.load" in text
    assert "export-model" not in text
