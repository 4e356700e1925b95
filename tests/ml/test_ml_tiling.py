"""Tiled segmentation agrees with whole-image inference, shows no seams and bounds its work."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from matlab_gui.errors import ModelError
from matlab_gui.ml.synthetic import TinySegNet
from matlab_gui.ml.tiling import (
    TiledSegmenter,
    TileOptions,
    blend_window,
    reflect_index,
    segment_tiled,
    tile_starts,
)
from matlab_gui.progress import Cancelled, CancelToken


class PoolNet(nn.Module):
    """Conv, pool, conv, upsample: a U-Net in miniature, with a stride like real encoders."""

    def __init__(self, in_channels: int = 1, classes: int = 3):
        super().__init__()
        self.down = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2))
        self.mid = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(8 + in_channels, classes, 3, padding=1)

    def forward(self, x):
        y = nn.functional.interpolate(self.mid(self.down(x)), scale_factor=2, mode="nearest")
        return self.head(torch.cat([y, x], 1))


def _normalise(pixels: np.ndarray) -> np.ndarray:
    x = (pixels.astype(np.float32) - 32768.0) / 16384.0
    return x[None] if x.ndim == 2 else np.moveaxis(x, -1, 0)


def _whole(model: nn.Module, image: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.from_numpy(_normalise(image))[None]).softmax(1)[0].numpy()


@pytest.fixture
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(232, 328)), 0), 1)
    return ((smooth - smooth.min()) / np.ptp(smooth) * 60000).astype(np.uint16)


@pytest.mark.parametrize("net", [TinySegNet, PoolNet])
def test_tiled_matches_whole_image_away_from_borders(net, image):
    torch.manual_seed(0)
    model = net(1, 3)
    options = TileOptions(tile=64, overlap=24, batch=5, output="probabilities")
    tiled = segment_tiled(model, image, _normalise, options=options)
    whole = _whole(model, image)
    assert tiled.probabilities.dtype == np.float16 and tiled.probabilities.shape == whole.shape
    diff = np.abs(tiled.probabilities.astype(np.float32) - whole)[:, 8:-8, 8:-8]
    assert diff.mean() < 1e-3
    assert (tiled.labels[8:-8, 8:-8] != whole.argmax(0)[8:-8, 8:-8]).mean() < 1e-3
    assert tiled.tiles == len(tile_starts(232, 64, 40)) * len(tile_starts(328, 64, 40))


def test_no_seams_at_tile_boundaries(image):
    """The tiled-vs-whole error along the tile grid lines is no larger than between them."""
    torch.manual_seed(1)
    model = PoolNet(1, 2)
    options = TileOptions(tile=64, overlap=16, batch=8, output="probabilities")
    tiled = segment_tiled(model, image, _normalise, options=options).probabilities[1]
    whole = _whole(model, image)[1]
    err = np.abs(tiled.astype(np.float32) - whole)[8:-8, 8:-8]
    # profile across columns of the mean error: a seam would be a spike every stride
    profile = err.mean(0)
    assert profile.max() < 2e-3
    jumps = np.abs(np.diff(tiled.astype(np.float32), axis=1))[8:-8, 8:-8].mean(0)
    ref = np.abs(np.diff(whole, axis=1))[8:-8, 8:-8].mean(0)
    assert np.abs(jumps - ref).max() < 2e-3


def test_any_size_and_rgb():
    torch.manual_seed(0)
    model = TinySegNet(3, 4)
    rng = np.random.default_rng(1)
    for shape in [(1, 1, 3), (5, 200, 3), (70, 9, 3), (31, 37, 3)]:
        img = rng.integers(0, 65535, shape, dtype=np.uint16)
        out = segment_tiled(model, img, _normalise, options=TileOptions(tile=32, overlap=8))
        assert out.labels.shape == shape[:2] and out.probabilities.shape == (4, *shape[:2])
        np.testing.assert_allclose(out.probabilities.astype(np.float32).sum(0), 1.0, atol=5e-3)
        assert np.isfinite(out.uncertainty.astype(np.float32)).all()


def test_labels_only_output_when_memory_is_short(image):
    torch.manual_seed(0)
    model = TinySegNet(1, 3)
    full = segment_tiled(model, image, _normalise, options=TileOptions(tile=64, overlap=16))
    short = segment_tiled(model, image, _normalise,
                          options=TileOptions(tile=64, overlap=16, output="labels"))
    assert short.probabilities is None
    assert np.array_equal(short.labels, full.labels)
    np.testing.assert_array_equal(short.confidence, full.probabilities.max(0))
    assert short.confidence.dtype == np.float16


def test_binary_single_channel_model_gives_two_classes(image):
    model = nn.Conv2d(1, 1, 1)
    out = segment_tiled(model, image, _normalise, options=TileOptions(tile=64, overlap=16))
    assert out.probabilities.shape[0] == 2


def test_flip_tta_disagreement_is_zero_for_a_flip_invariant_model(image):
    model = nn.Conv2d(1, 3, 1)  # per-pixel: flips change nothing
    out = segment_tiled(model, image, _normalise,
                        options=TileOptions(tile=64, overlap=16, tta=True))
    assert float(out.uncertainty.max()) < 1e-3
    torch.manual_seed(0)
    out = segment_tiled(TinySegNet(1, 3), image, _normalise,
                        options=TileOptions(tile=64, overlap=16, tta=True))
    u = out.uncertainty.astype(np.float32)
    assert 0 <= u.min() and u.max() <= 1 and u.max() > 0


class _OomAboveOne(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)

    def forward(self, x):
        if x.shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.conv(x)


def test_out_of_memory_halves_the_tile_batch(image):
    progress = []
    out = segment_tiled(_OomAboveOne(), image, _normalise,
                        options=TileOptions(tile=64, overlap=16, batch=8), progress=progress.append)
    assert out.batch == 1 and out.labels.shape == image.shape
    assert progress[-1].done == progress[-1].total == out.tiles
    assert progress[-1].metrics["tile_batch"] == 1


def test_progress_per_batch_and_cancel(image):
    model = TinySegNet(1, 2)
    events = []
    out = segment_tiled(model, image, _normalise, options=TileOptions(tile=64, overlap=16, batch=4),
                        progress=events.append)
    assert len(events) == 1 + -(-out.tiles // 4)
    token = CancelToken()

    def cancel_after_first(event):
        if event.done:
            token.cancel()

    with pytest.raises(Cancelled):
        segment_tiled(model, image, _normalise, options=TileOptions(tile=64, overlap=16, batch=4),
                      progress=cancel_after_first, cancel=token)


def test_not_a_segmentation_model_is_a_model_error(image):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1))
    with pytest.raises(ModelError, match="not a segmentation model"):
        segment_tiled(model, image, _normalise, options=TileOptions(tile=64))


def test_window_and_grid_helpers():
    w = blend_window(64, 16)
    assert w.min() > 0 and w.max() == 1 and np.allclose(w, w.T) and np.allclose(w, w[::-1])
    assert tile_starts(100, 64, 48) == [0, 36] and tile_starts(10, 64, 48) == [0]
    assert reflect_index(np.arange(-3, 8), 4).tolist() == [3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1]
    assert reflect_index(np.arange(-2, 3), 1).tolist() == [0] * 5


@pytest.mark.parametrize("shape", [(232, 328), (200, 300)])
def test_an_image_within_one_tile_is_predicted_as_a_whole_image_pass(image, shape):
    """No mirrored context is invented around an image that fits a tile: the result is the
    whole-image pass to the border (a 300 px image is mirrored only up to 320, as training's
    padding to the encoder's multiple does)."""
    from matlab_gui.ml.padding import pad_to_multiple

    torch.manual_seed(0)
    model = PoolNet(1, 3)
    small = image[:shape[0], :shape[1]]
    tiled = segment_tiled(model, small, _normalise,
                          options=TileOptions(tile=512, overlap=128, output="probabilities"))
    with torch.no_grad():
        x = pad_to_multiple(torch.from_numpy(_normalise(small))[None], 32)
        whole = model.eval()(x).softmax(1)[0, :, :shape[0], :shape[1]].numpy()
    assert tiled.tiles == 1
    assert np.abs(tiled.probabilities.astype(np.float32) - whole).max() < 2e-3
    assert (tiled.labels == whole.argmax(0)).mean() > 0.999


@pytest.mark.parametrize("length", [300, 1000, 4096, 8192])
def test_the_grid_is_the_fewest_tiles_inside_the_image(length):
    """No tile over a mirrored border and no redundant row or column: at 4096 px with 256 px
    tiles overlapping by 64, 21 x 21 tiles (1.72x the image's pixels), not 22 x 22 (1.89x)."""
    segmenter = TiledSegmenter(nn.Identity(), torch.device("cpu"), TileOptions(tile=256, overlap=64))
    ys, xs = segmenter.grid(length, length)
    stride = 256 - 64
    assert ys == xs and ys[0] == 0 and ys[-1] + 256 == length
    assert len(ys) == math.ceil((length - 256) / stride) + 1
    assert all(b - a <= stride for a, b in zip(ys, ys[1:], strict=False))
    if length == 4096:
        assert len(ys) == 21
