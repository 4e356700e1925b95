"""ONNX and TorchScript exports compute the app's own probabilities (within 1e-3), checked
here independently of the export's built-in check: the input made by the README's numpy steps
written out in this file, the reference from the app's inference path."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from matlab_gui.errors import ModelError, UserError
from matlab_gui.ml import export
from matlab_gui.ml.card import ClassInfo
from matlab_gui.ml.export import ExportError, ExportRequest, run_export
from matlab_gui.ml.model_folder import load_model, save_model
from matlab_gui.ml.zoo import build_model, default_card

TOL = 1e-3
CLASSES = [ClassInfo("matrix", (0, 0, 0)), ClassInfo("precipitate", (213, 94, 0)),
           ClassInfo("pore", (0, 114, 178))]


def _sharpen(model: torch.nn.Module, factor: float) -> None:
    """Larger logits from a random network, so probabilities are far from uniform and any
    change of the input (a missing mean/std) or of the output (no softmax) shows clearly."""
    last = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.mul_(factor)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny grey U-Net (3 classes, 64 px tiles) and a tiny RGB classifier (3 classes, 32 px),
    saved as float16 like the shipped models."""
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    seg = default_card("segmentation", "unet", CLASSES, encoder="tu-resnet10t", in_channels=1,
                       input_size=64, name="tiny-seg")
    net = build_model(seg, pretrained=False)
    _sharpen(net, 20.0)
    save_model(root / "tiny-seg", net, seg, half=True)
    cls = default_card("classification", "resnet18", CLASSES, in_channels=3, input_size=32,
                       name="tiny-cls")
    net = build_model(cls, pretrained=False)
    _sharpen(net, 1000.0)  # a random ResNet's logits differ by thousandths
    save_model(root / "tiny-cls", net, cls, half=True)
    return {"segmentation": root / "tiny-seg", "classification": root / "tiny-cls"}


# -- the README's steps, written out independently of the app's code ------------------------


def readme_input(img: np.ndarray, card) -> np.ndarray:
    """(C, H, W) float32 in [0, 1]: percentiles of the image as read, channels, clip."""
    norm = card.normalisation
    step = max(1, int(np.sqrt(img.shape[0] * img.shape[1] / 1048576)))
    lo, hi = np.percentile(img[::step, ::step], [norm.low_pct, norm.high_pct]).tolist()
    if card.in_channels == 3 and img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if card.in_channels == 1 and img.ndim == 3:
        img = img[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    if img.ndim == 2:
        img = img[..., None]
    x = np.clip((img.astype(np.float32) - lo) / max(hi - lo, 1e-6), 0.0, 1.0)
    return x.transpose(2, 0, 1)


def micrographs(card, seed=1):
    """Images unlike the export's own check images: other content, other sizes, RGB into a
    grey model and grey into an RGB one."""
    rng = np.random.default_rng(seed)
    if card.task == "segmentation":
        shapes = [(64, 64, 3), (64, 64, 3), (45, 61, 3)]
    else:
        shapes = [(50, 70), (33, 33), (90, 41)]
    out = []
    for shape in shapes:
        base = rng.gamma(2.0, 1.0, shape)
        base[: shape[0] // 2] *= 3  # two phases
        out.append((base / base.max() * 60000).astype(np.uint16))
    return out


def app_reference(folder, images):
    from matlab_gui.ml import inference

    loaded = load_model(folder)
    card, cpu = loaded.card, torch.device("cpu")
    if card.task == "classification":
        batch = torch.from_numpy(np.stack([inference.classification_input(i, card) for i in images]))
        return list(inference.classify_batch(loaded.module, batch, cpu))
    return [inference.predict_image(loaded.module, card, i, cpu,
                                    inference.tile_options(card, output="probabilities"))
            .probabilities.astype(np.float32) for i in images]


def graph_inputs(card, images):
    import cv2

    if card.task == "classification":
        size = card.input_size
        images = [cv2.resize(i, (size, size), interpolation=cv2.INTER_AREA) for i in images]
    return [readme_input(i, card) for i in images]


def runner(path, fmt):
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda x: session.run(None, {"image": x})[0]
    net = torch.jit.load(str(path))
    return lambda x: net(torch.from_numpy(x)).detach().numpy()


@pytest.mark.parametrize("task", ["segmentation", "classification"])
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_matches_the_apps_prediction(models, task, fmt, tmp_path):
    result = run_export(ExportRequest(models[task], fmt, tmp_path / "out"))
    assert result.max_abs_diff <= TOL
    assert result.model_file == tmp_path / "out" / export.MODEL_FILES[fmt]
    card = load_model(models[task]).card
    images = micrographs(card)
    expected, inputs = app_reference(models[task], images), graph_inputs(card, images)
    run = runner(result.model_file, fmt)
    got = [run(np.stack(inputs[:2]))[0], run(np.stack(inputs[:2]))[1], run(inputs[2][None])[0]]
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == np.float32 and g.shape == e.shape
        np.testing.assert_allclose(g.sum(0), 1.0, atol=1e-5)
        assert np.abs(g - e).max() <= TOL
        assert np.ptp(e) > 0.2, e  # the reference is no flat, uninformative map


@pytest.mark.parametrize("task", ["segmentation", "classification"])
def test_onnx_axes_and_names(models, task, tmp_path):
    import onnx

    result = run_export(ExportRequest(models[task], "onnx", tmp_path))
    graph = onnx.load(str(result.model_file)).graph

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    (inp,), (out,) = graph.input, graph.output
    assert (inp.name, out.name) == ("image", "probabilities")
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    if task == "segmentation":
        assert dims(inp) == ["batch", 1, "height", "width"]
        assert dims(out) == ["batch", 3, "height", "width"]
    else:
        assert dims(inp) == ["batch", 3, 32, 32] and dims(out) == ["batch", 3]


def test_export_writes_card_copy_and_readme(models, tmp_path):
    result = run_export(ExportRequest(models["segmentation"], "onnx", tmp_path / "x"))
    out = tmp_path / "x"
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "card.json", "model.onnx"]
    assert (out / "card.json").read_bytes() == (models["segmentation"] / "card.json").read_bytes()
    readme = (out / "README.md").read_text()
    assert "| 0 | 1 | matrix |" in readme and "| 2 | 3 | pore |" in readme
    assert f"{result.max_abs_diff:.1e}" in readme and "`model.onnx`" in readme
    card = json.loads((out / "card.json").read_text())
    assert repr(float(card["normalisation"]["mean"][0])) in readme


def test_a_failed_check_writes_nothing(models, tmp_path, monkeypatch):
    """An export whose graph left out the softmax is refused, and no file is left behind."""
    monkeypatch.setattr(export, "probabilities", lambda logits, channels: logits)
    with pytest.raises(ExportError) as info:
        run_export(ExportRequest(models["segmentation"], "onnx", tmp_path))
    assert "differ from the app's" in str(info.value) and "model.onnx" in str(info.value)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_bad_input_is_a_one_line_user_error(models, tmp_path):
    with pytest.raises(ModelError, match="no-such-model"):
        run_export(ExportRequest("no-such-model", "onnx", tmp_path))
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        run_export(ExportRequest(models["segmentation"], "tflite", tmp_path))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for out in (blocker, blocker / "sub"):
        with pytest.raises(ExportError) as info:
            run_export(ExportRequest(models["segmentation"], "onnx", out))
        assert str(out) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ExportError, match="own folder"):
        run_export(ExportRequest(models["segmentation"], "onnx", models["segmentation"]))
    assert issubclass(ExportError, UserError)


def test_a_one_channel_network_gives_the_apps_two_classes():
    """A sigmoid network's p becomes (1 - p, p), as the app's tiled inference makes it."""
    from matlab_gui.ml.tiling import class_probabilities

    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    graph = export.PortableModel(net, [0.4], [0.3], segmentation=True, channels=1).eval()
    x = torch.rand(2, 1, 64, 96)  # multiples of 32: no padding
    with torch.no_grad():
        got, want = graph(x), class_probabilities(net((x - 0.4) / 0.3))
    assert got.shape == (2, 2, 64, 96)
    torch.testing.assert_close(got, want)


@pytest.mark.slow
def test_a_shipped_model_exports_within_the_limit(tmp_path):
    """nasa-super (float16 U-Net, EfficientNet-Lite0) as ONNX: within 1e-3 of the app."""
    from matlab_gui.ml.model_folder import read_card
    from matlab_gui.resources import models_dir

    size = read_card(models_dir() / "nasa-super").input_size
    result = run_export(ExportRequest("nasa-super", "onnx", tmp_path))
    assert result.max_abs_diff <= TOL
    # a batch at the card's tile size and one image padded to a multiple of 32
    assert result.inputs == [(2, 3, size, size), (1, 3, size * 3 // 4 + 1, size // 2 + 7)]


@pytest.mark.parametrize("task", ["segmentation", "classification"])
def test_the_readme_example_runs_and_matches_the_app(models, task, tmp_path, monkeypatch):
    """The README's onnxruntime example, run as written on a micrograph file beside it."""
    import tifffile

    result = run_export(ExportRequest(models[task], "onnx", tmp_path))
    readme = (tmp_path / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) <= 12
    image = micrographs(load_model(models[task]).card, seed=5)[2]
    tifffile.imwrite(tmp_path / "micrograph.tif", image)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own example
    expected = app_reference(models[task], [image])[0]
    assert np.abs(scope["probs"][0] - expected).max() <= TOL
    if task == "segmentation":
        assert scope["mask"].min() >= 1 and (scope["mask"] == expected.argmax(0) + 1).mean() > 0.99
    else:
        assert scope["label"][0] == expected.argmax() + 1
    assert result.max_abs_diff <= TOL
