"""The CPU inference engines give torch's results through the app's own paths, and fall back
to torch with a note the user sees when a model cannot be converted."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from matlab_gui.errors import UserError
from matlab_gui.imaging import read_image
from matlab_gui.ml import engines
from matlab_gui.ml.engines import choose_engine
from matlab_gui.ml.inference import (
    classification_input,
    classify_batch,
    make_segmenter,
    segment_image,
)
from matlab_gui.ml.model_folder import load_model, save_model
from matlab_gui.ml.zoo import build_model, default_card

CPU = torch.device("cpu")
CLASSES = ["matrix", "precipitate", "pore"]
RUNTIMES = list(engines.CPU_ENGINES)


def _sharpen(net, factor):
    """A random network's probabilities sit near 1/C; scaled logits make argmax meaningful."""
    last = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(factor)


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    """One small model of each architecture family, saved float16 like the shipped ones."""
    root = tmp_path_factory.mktemp("engines")
    torch.manual_seed(0)
    cards = {
        "unet": default_card("segmentation", "unet", CLASSES, encoder="tu-resnet10t",
                             in_channels=1, input_size=96, name="unet"),
        "fcn8s": default_card("segmentation", "fcn8s", CLASSES, in_channels=1, input_size=96,
                              name="fcn8s"),
        "resnet18": default_card("classification", "resnet18", CLASSES, in_channels=3,
                                 input_size=64, name="resnet18"),
    }
    folders = {}
    for name, card in cards.items():
        net = build_model(card, pretrained=False)
        _sharpen(net, 1000.0 if card.task == "classification" else 20.0)
        save_model(root / name, net, card, half=True)
        folders[name] = root / name
    return folders


def _micrograph(samples_dir, height=200, width=170):
    """A real micrograph crop: not a multiple of the tile or of 32, more than one tile."""
    image = read_image(samples_dir / "uhcs0006.tif").data
    return image[:height, :width]


def _segment(loaded, engine_name, image):
    engine = choose_engine(loaded, CPU, engine_name)
    assert engine.name == engine_name and not engine.note
    segmenter = make_segmenter(engine.module, loaded.card, CPU, output="probabilities")
    return segment_image(segmenter, loaded.card, image)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("arch", ["unet", "fcn8s"])
def test_segmentation_through_an_engine_agrees_with_torch(family, samples_dir, arch, runtime):
    loaded = load_model(family[arch], CPU)
    image = _micrograph(samples_dir)
    reference = _segment(loaded, "torch", image)
    fast = _segment(loaded, runtime, image)
    assert reference.tiles > 1  # tiled, mirrored at the edges, as segment runs it
    diff = np.abs(fast.probabilities.astype(np.float32) - reference.probabilities.astype(np.float32))
    assert diff.max() <= 1e-3
    assert (fast.labels == reference.labels).mean() >= 0.999
    assert len(np.unique(reference.labels)) > 1  # the comparison sees more than one class


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_classification_through_an_engine_agrees_with_torch(family, samples_dir, runtime):
    loaded = load_model(family["resnet18"], CPU)
    image = read_image(samples_dir / "uhcs0006.tif").data
    crops = [image[y:y + 300, x:x + 300] for y in (0, 150) for x in (0, 200)]
    batch = torch.from_numpy(np.stack([classification_input(c, loaded.card) for c in crops]))
    reference = classify_batch(loaded.module, batch, CPU)
    engine = choose_engine(loaded, CPU, runtime)
    assert engine.name == runtime
    fast = classify_batch(engine.module, batch, CPU)
    assert np.abs(fast - reference).max() <= 1e-3
    assert (fast.argmax(1) == reference.argmax(1)).all()


def test_auto_prefers_the_fastest_installed_runtime_and_torch_on_a_gpu(family, monkeypatch):
    loaded = load_model(family["unet"], CPU)
    assert choose_engine(loaded, CPU, "auto").name == engines.CPU_ENGINES[0]
    monkeypatch.setattr(engines.engine_choice, "available",
                        lambda name: name != engines.CPU_ENGINES[0])
    assert choose_engine(loaded, CPU, "auto").name == engines.CPU_ENGINES[1]
    gpu = choose_engine(loaded, torch.device("cuda"), "auto")  # never runs: only chosen
    assert gpu.name == "torch" and gpu.module is loaded.module and not gpu.note


def test_a_failed_conversion_falls_back_to_torch_with_a_note(family, monkeypatch):
    loaded = load_model(family["unet"], CPU)

    def unsupported(*_):
        raise RuntimeError("Exporting the operator 'aten::magic' is not supported")

    monkeypatch.setattr(engines, "cache_dir", lambda: family["unet"].parent / "empty-cache")
    monkeypatch.setattr(engines, "export_onnx", unsupported)
    engine = choose_engine(loaded, CPU, "auto")
    assert engine.module is loaded.module and engine.name == "torch"
    assert "aten::magic" in engine.note and "torch instead" in engine.note


def test_a_conversion_that_disagrees_is_not_used(family, monkeypatch):
    loaded = load_model(family["unet"], CPU)
    monkeypatch.setattr(engines, "cache_dir", lambda: family["unet"].parent / "other-cache")
    real = engines.RUNNERS["onnxruntime"]

    def halved(path):
        run = real(path)
        return lambda x: run(x) * 0.5

    monkeypatch.setitem(engines.RUNNERS, "onnxruntime", halved)
    engine = choose_engine(loaded, CPU, "onnxruntime")
    assert engine.name == "torch" and "differ from torch" in engine.note


def test_a_cached_conversion_the_runtime_can_no_longer_run_falls_back(family, samples_dir,
                                                                       monkeypatch, tmp_path):
    """An OpenVINO without its CPU plugin (a broken install or bundle) fails at the first tile,
    after the engine was chosen: it must be found when the engine is chosen instead."""
    import openvino

    monkeypatch.setattr(engines, "cache_dir", lambda: tmp_path / "cache")
    _segment(load_model(family["unet"], CPU), "openvino", _micrograph(samples_dir, 96, 96))
    real = openvino.Core

    class WithoutCPU:
        def __init__(self):
            self._core = real()

        available_devices = property(lambda self: [])

        def __getattr__(self, name):
            return getattr(self._core, name)

    monkeypatch.setattr(openvino, "Core", WithoutCPU)
    asked, _ = engines.load_engine(family["unet"], CPU, "openvino")
    assert asked.name == "torch" and "no CPU device" in asked.note
    auto, card = engines.load_engine(family["unet"], CPU, "auto")
    assert auto.name == "onnxruntime"
    segmenter = make_segmenter(auto.module, card, CPU)
    assert segment_image(segmenter, card, _micrograph(samples_dir, 96, 96)).labels.shape == (96, 96)


def test_a_model_stored_again_with_new_weights_is_converted_again(family, tmp_path, samples_dir):
    folder = tmp_path / "model"
    torch.manual_seed(1)
    first = load_model(family["unet"], CPU)
    save_model(folder, first.module, first.card, half=True)
    image = _micrograph(samples_dir, 96, 96)
    _segment(load_model(folder, CPU), "onnxruntime", image)  # converted and cached
    other = build_model(first.card, pretrained=False)
    _sharpen(other, 20.0)
    save_model(folder, other, first.card, half=True)  # the same name, other weights
    again = load_model(folder, CPU)
    fresh = _segment(again, "onnxruntime", image)
    reference = _segment(again, "torch", image)
    assert np.abs(fresh.probabilities.astype(np.float32)
                  - reference.probabilities.astype(np.float32)).max() <= 1e-3


def test_an_unknown_engine_or_a_cpu_engine_on_a_gpu_is_a_clear_error(family):
    loaded = load_model(family["unet"], CPU)
    with pytest.raises(UserError, match="unknown inference engine 'tensorrt'"):
        choose_engine(loaded, CPU, "tensorrt")
    with pytest.raises(UserError, match="runs on the CPU"):
        choose_engine(loaded, torch.device("cuda"), "openvino")


def _has_bf16() -> bool:
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def test_a_lossy_engine_runs_only_when_asked_and_says_how_much_it_agrees(family, samples_dir):
    loaded = load_model(family["unet"], CPU)
    assert choose_engine(loaded, CPU, "auto").name not in engines.engine_choice.LOSSY
    engine = choose_engine(loaded, CPU, "openvino-bf16")
    if not _has_bf16():
        assert engine.name == "torch" and "no bfloat16" in engine.note
        return
    assert engine.name == "openvino-bf16" and engine.description == "OpenVINO bfloat16 (lossy)"
    assert "is lossy" in engine.note and "% of the pixels" in engine.note
    image = _micrograph(samples_dir)
    reference = _segment(loaded, "torch", image)
    segmenter = make_segmenter(engine.module, loaded.card, CPU, output="probabilities")
    lossy = segment_image(segmenter, loaded.card, image)
    diff = np.abs(lossy.probabilities.astype(np.float32) - reference.probabilities.astype(np.float32))
    assert 1e-3 < diff.max() < 0.5  # bfloat16 rounding shows, and nothing else
    assert (lossy.labels == reference.labels).mean() > 0.9


def test_the_cli_prints_a_lossy_engine_s_agreement(family, samples_dir, tmp_path, capsys):
    from matlab_gui.cli import main

    assert main(["segment", "--model", str(family["unet"]), str(samples_dir / "uhcs0006.tif"),
                 "--out", str(tmp_path), "--engine", "openvino-bf16", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert ("is lossy" in err) if _has_bf16() else ("no bfloat16" in err)
