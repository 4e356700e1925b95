"""Every tile of one image is normalised with the whole image's statistics, not its own.

A micrograph whose left half is dark and right half bright, segmented in tiles much smaller
than the image by a stand-in network that records what it is given and whose output is a
function of each input pixel: a tile lying in the dark half must see the dark values the whole
image gives them (near the bottom of the range), not those values stretched over the full range
as if the tile were the image. Normalised per tile, the result would change from tile to tile.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
from torch import nn

from matlab_gui.imaging import write_image
from matlab_gui.ml.card import ClassInfo
from matlab_gui.ml.model_folder import LoadedModel
from matlab_gui.ml.preprocess import to_model_input
from matlab_gui.ml.tiling import TiledSegmenter, TileOptions, reflect_index
from matlab_gui.ml.zoo import default_card

TILE = 32  # the card says 64 (what check_model's probe uses); the run asks for 32


class Recorder(nn.Module):
    """Three logits per pixel, (x, 0, -x) of its one input channel; keeps every tile batch."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))
        self.batches: list[torch.Tensor] = []

    def forward(self, x):
        if x.shape[-1] == TILE:
            self.batches.append(x.detach().cpu().clone())
        return torch.cat([x, torch.zeros_like(x), -x], 1) * self.scale


def expected_probabilities(whole: np.ndarray) -> np.ndarray:
    return torch.cat([torch.from_numpy(whole), torch.zeros(1, *whole.shape[1:]),
                      -torch.from_numpy(whole)]).softmax(0).numpy()


@pytest.fixture
def card():
    classes = [ClassInfo(n, (80 * i, 0, 0)) for i, n in enumerate(("matrix", "pore", "grain"))]
    return default_card("segmentation", "unet", classes, encoder="tu-resnet10t", in_channels=1,
                        input_size=64, tile_overlap=16)


@pytest.fixture
def half_dark():
    """100 x 130 uint16: left half around 1000, right half around 50000, a little noise."""
    rng = np.random.default_rng(0)
    image = np.empty((100, 130), np.uint16)
    image[:, :65] = rng.normal(1000, 150, (100, 65))
    image[:, 65:] = rng.normal(50000, 150, (100, 65))
    return image


@pytest.fixture
def recorder(card, monkeypatch, tmp_path):
    """The stand-in network behind a model folder, for whichever job loads it."""
    net = Recorder()
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "card.json").write_text(card.to_json())
    monkeypatch.setattr("matlab_gui.ml.model_folder.load_model",
                        lambda _folder, _device="cpu": LoadedModel(net, card, folder))
    return net, folder


def _segment(folder, image, tmp_path):
    from matlab_gui.jobs.segment import SegmentRequest, run_segment

    path = tmp_path / "half dark.tif"
    write_image(path, image)
    run_segment(SegmentRequest(model=folder, inputs=[path], out=tmp_path / "out", maps=True,
                               device="cpu", tile=TILE, overlap=8, batch=3))
    return tifffile.imread(tmp_path / "out" / "half dark_probabilities.tif")


def _predict(folder, image, tmp_path, monkeypatch):
    """The window's path, with the same small tiles."""
    from matlab_gui.jobs import predict
    from matlab_gui.ml import inference
    from matlab_gui.project import ClassDef, Project

    real = inference.tile_options
    monkeypatch.setattr(inference, "tile_options",
                        lambda card, **kw: real(card, **{"tile": TILE, "overlap": 8, "batch": 3,
                                                         **kw}))
    with Project.create(tmp_path / "p.mgp", [ClassDef(1, "matrix", (0, 0, 0))]) as project:
        image_id = project.add_image(tmp_path / "half dark.tif", data=image)
        result = predict.run_predict(predict.PredictRequest(folder, project, [image_id],
                                                            maps_for=image_id, device="cpu"))
    assert result.outcomes[0].error == ""
    return result.outcomes[0].probabilities.astype(np.float32)


@pytest.mark.parametrize("path", ["segment job", "window's predict job"])
def test_tiles_see_the_whole_images_normalisation(path, card, half_dark, recorder, tmp_path,
                                                  monkeypatch):
    net, folder = recorder
    if path == "segment job":
        probabilities = _segment(folder, half_dark, tmp_path)
    else:
        probabilities = _predict(folder, half_dark, tmp_path, monkeypatch)
    whole = to_model_input(half_dark, card)  # (1, H, W): the card's rule on the whole image

    tiles = torch.cat(net.batches).numpy()
    segmenter = TiledSegmenter(net, torch.device("cpu"), TileOptions(tile=TILE, overlap=8))
    ys, xs = segmenter.grid(*half_dark.shape)
    origins = [(y, x) for y in ys for x in xs]
    assert len(tiles) == len(origins) > 4 and tiles.shape[1:] == (1, TILE, TILE)
    for tile, (y, x) in zip(tiles, origins, strict=True):
        rows = reflect_index(np.arange(y, y + TILE), half_dark.shape[0])
        cols = reflect_index(np.arange(x, x + TILE), half_dark.shape[1])
        np.testing.assert_allclose(tile, whole[:, rows][:, :, cols], atol=1e-6,
                                   err_msg=f"tile at ({y}, {x})")
    dark_tiles = [t for t, (_, x) in zip(tiles, origins, strict=True) if x + TILE <= 65]
    assert dark_tiles and max(float(t.max()) for t in dark_tiles) < float(whole.max()) - 1

    # What the user sees: the per-pixel result is the whole image's, with no step at tile edges.
    assert probabilities.shape == (3, *half_dark.shape)
    np.testing.assert_allclose(probabilities, expected_probabilities(whole), atol=2e-3)
