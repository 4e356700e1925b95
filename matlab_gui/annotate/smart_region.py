"""Smart click: the particle, grain or phase region under a click (or inside a dragged box),
found from the image alone by a marker-controlled watershed on the intensity gradient.

Markers come from the image: Otsu's threshold on the window splits it into the clicked phase
(the majority around the click) and the other. The deep part of the clicked phase (deeper than
half the click's own depth in it) falls into pieces, one per particle even where particles
touch: the piece under the click is the seed, the other pieces and the eroded other phase are
background. The watershed then puts the edge on the gradient ridge between them. GrabCut
(cv2.grabCut) was measured as the alternative and lost on micrographs: it fills a synthetic disk
but leaves real particles of nasa_super and uhcs all background (benchmarks/smart_click.py).

Work is bounded: a click looks at a window around it that doubles while the region reaches the
window's edge, up to MAX_HALF; a box looks at the box and a margin. So the cost does not grow
with the image (a 4096 x 4096 image costs what a 512 x 512 one does)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.filters import gaussian, sobel, threshold_otsu
from skimage.segmentation import watershed

from matlab_gui.annotate.rect import EMPTY, Rect, bounding
from matlab_gui.annotate.regions import grey

START_HALF = 32  # first click window: 65 x 65 pixels
MAX_HALF = 512  # largest click window: 1025 x 1025 pixels
BOX_MARGIN = 8  # pixels of context around a dragged box
SMOOTH = 1.5  # Gaussian sigma (px) before thresholding and the gradient: noise is not an edge
ERODE = 2  # erosion (px) of each phase into markers: the band between them is left to the edge
SEED = 1  # half-size of the square always seeded under the click
NEAR = 3  # half-size of the square whose majority says which phase was clicked
CORE = 0.5  # a seed is the clicked phase deeper than this share of the click's depth in it:
#              a particle touching another of the same phase keeps its own seed
EDGE_SHARE = 0.3  # a window shows an edge when its split is this share of the image's


def normalised(window: np.ndarray) -> np.ndarray:
    """float32 0..1 grey of an image window (any dtype, grey or RGB), stretched between its own
    1st and 99th percentiles: a narrow 16-bit range (1000-1400) spans the same 0..1 as a full
    8-bit one, and a few hot pixels cannot squeeze the data into one of Otsu's 256 histogram
    bins. NaN and inf become the low end."""
    g = np.asarray(grey(window), np.float32)
    finite = np.isfinite(g)
    if not finite.all():
        g = np.where(finite, g, np.nan)
    if not finite.any():
        return np.zeros(g.shape, np.float32)
    lo, hi = np.nanpercentile(g, [1, 99])
    if hi <= lo:
        lo, hi = float(np.nanmin(g)), float(np.nanmax(g))
    if hi <= lo:
        return np.zeros(g.shape, np.float32)
    return np.nan_to_num(np.clip((g - lo) / (hi - lo), 0, 1), nan=0.0).astype(np.float32)


def _watershed(smooth: np.ndarray, seeds: np.ndarray, background: np.ndarray) -> np.ndarray:
    markers = background.astype(np.int32) * 2
    markers[seeds] = 1
    return watershed(sobel(smooth), markers) == 1


def _component_at(region: np.ndarray, y: int, x: int) -> np.ndarray:
    labels, _ = ndimage.label(region)
    return labels == labels[y, x] if labels[y, x] else np.zeros_like(region)


def _phase_markers(smooth: np.ndarray, inside: np.ndarray, y: int, x: int):
    """(seeds, background) of the phase under (y, x) among the pixels `inside`. The phase is
    the majority of the pixels around the click, so a speck under the pointer does not count."""
    if smooth.max() <= smooth.min():
        return np.ones_like(inside), np.zeros_like(inside)  # a flat window is all one region
    near = (slice(max(0, y - NEAR), y + NEAR + 1), slice(max(0, x - NEAR), x + NEAR + 1))
    above = smooth > threshold_otsu(smooth[inside])
    like = (above == (above[near].mean() >= 0.5)) & inside
    depth = ndimage.distance_transform_edt(like)
    cores, _ = ndimage.label(depth > max(ERODE, CORE * depth[near].max()))
    mine = np.bincount(cores[near].ravel(), minlength=2)
    mine[0] = 0
    seeds = cores == mine.argmax() if mine.any() else np.zeros_like(like)
    seeds[max(0, y - SEED) : y + SEED + 1, max(0, x - SEED) : x + SEED + 1] = True
    background = ndimage.binary_erosion(~like & inside, iterations=ERODE)
    background |= (cores > 0) & ~seeds
    return seeds, background


def _split_contrast(smooth: np.ndarray) -> float:
    """How far apart Otsu's two classes of these (smoothed, grey) values lie; 0 when flat."""
    if smooth.size == 0 or smooth.max() <= smooth.min():
        return 0.0
    above = smooth > threshold_otsu(smooth)
    if above.all() or not above.any():
        return 0.0
    return float(smooth[above].mean() - smooth[~above].mean())


def image_phases(image: np.ndarray) -> tuple[float, float, float]:
    """(lo, hi, contrast) of the whole image, in its units: its 1st and 99th percentiles and
    Otsu's split of its values clipped to them, from a strided sample of about 512 x 512
    pixels (a few ms on a 4096 x 4096 image). Hot pixels change neither."""
    step = max(1, int(np.ceil(max(image.shape[:2]) / 512)))
    g = np.asarray(grey(image[::step, ::step]), np.float32)
    finite = g[np.isfinite(g)]
    if finite.size == 0:
        return 0.0, 1.0, 0.0
    lo, hi = (float(v) for v in np.percentile(finite, [1, 99]))
    return lo, hi, _split_contrast(np.clip(finite, lo, hi))


def _clipped_grey(window: np.ndarray, lo: float, hi: float) -> np.ndarray:
    g = np.asarray(grey(window), np.float32)
    return np.clip(np.nan_to_num(g, nan=lo, posinf=hi, neginf=lo), lo, hi)


def _click_window(image: np.ndarray, y: int, x: int, phases) -> np.ndarray | None:
    """The region under (y, x) in this window; None when the window shows no edge: inside one
    particle or grain only noise and texture split it, much less than the image's phases do,
    and the window has to grow before its split means anything."""
    lo, hi, contrast = phases
    if _split_contrast(gaussian(_clipped_grey(image, lo, hi), SMOOTH)) < EDGE_SHARE * contrast:
        return None
    g = gaussian(normalised(image), SMOOTH)
    seeds, background = _phase_markers(g, np.ones(g.shape, bool), y, x)
    background[[0, -1], :] = background[:, [0, -1]] = True  # the window's frame is outside
    return ndimage.binary_fill_holes(_component_at(_watershed(g, seeds, background), y, x))


def smart_region(
    image: np.ndarray, click: tuple[int, int], max_half: int = MAX_HALF
) -> tuple[Rect, np.ndarray]:
    """The region under `click` (row, column) as (rect, footprint), like the Fill tool's;
    (EMPTY, empty) for a click outside the image."""
    h, w = image.shape[:2]
    y, x = int(click[0]), int(click[1])
    if not (0 <= y < h and 0 <= x < w):
        return EMPTY, np.zeros((0, 0), bool)
    half, phases = START_HALF, image_phases(image)
    while True:
        win = Rect(y - half, x - half, y + half + 1, x + half + 1).clip(image.shape)
        region = _click_window(image[win.slices], y - win.y0, x - win.x0, phases)
        if region is None:
            if half >= max_half or win == Rect(0, 0, h, w):
                return EMPTY, np.zeros((0, 0), bool)  # nothing stands out around the click
            half *= 2
            continue
        local, near = bounding(region), ERODE + 1  # the frame and its eroded band are background
        reaches = (
            (local.y0 <= near and win.y0 > 0)
            or (local.y1 >= win.y1 - win.y0 - near and win.y1 < h)
            or (local.x0 <= near and win.x0 > 0)
            or (local.x1 >= win.x1 - win.x0 - near and win.x1 < w)
        )
        if not reaches or half >= max_half or win == Rect(0, 0, h, w):
            return _crop(region, win)
        half *= 2


def smart_box_region(image: np.ndarray, box: tuple[int, int, int, int]) -> tuple[Rect, np.ndarray]:
    """The object inside `box` (y0, x0, y1, x1, half-open; any corner order) as (rect,
    footprint): what lies outside the box is background, the phase that fills the middle of
    the box is the object. (EMPTY, empty) when the box misses the image or is under 3 px."""
    y0, y1 = sorted((int(box[0]), int(box[2])))
    x0, x1 = sorted((int(box[1]), int(box[3])))
    inner = Rect(y0, x0, y1, x1).clip(image.shape)
    if inner.y1 - inner.y0 < 3 or inner.x1 - inner.x0 < 3:
        return EMPTY, np.zeros((0, 0), bool)
    win = inner.grow(BOX_MARGIN, image.shape)
    g = gaussian(normalised(image[win.slices]), SMOOTH)
    inside = np.zeros(g.shape, bool)
    inside[inner.relative_to(win).slices] = True
    middle = np.zeros(g.shape, bool)
    b = inner.relative_to(win)
    qy, qx = (b.y1 - b.y0) // 4, (b.x1 - b.x0) // 4
    middle[b.y0 + qy : b.y1 - qy, b.x0 + qx : b.x1 - qx] = True
    cy, cx = _middle_phase_pixel(g, inside, middle)
    seeds, background = _phase_markers(g, inside, cy, cx)
    background |= ~inside
    region = _component_at(_watershed(g, seeds & inside, background), cy, cx)
    return _crop(ndimage.binary_fill_holes(region), win)


def _middle_phase_pixel(g: np.ndarray, inside: np.ndarray, middle: np.ndarray) -> tuple[int, int]:
    """A pixel of the phase that covers most of the box's middle, nearest the box centre: the
    object a user draws a box around fills the box's middle."""
    if g.max() > g.min():
        above = g > threshold_otsu(g[inside])
        majority = above[middle].mean() >= 0.5
        candidates = middle & (above == majority)
    else:
        candidates = middle
    ys, xs = np.nonzero(candidates if candidates.any() else middle)
    my, mx = np.nonzero(middle)
    cy, cx = my.mean(), mx.mean()
    k = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return int(ys[k]), int(xs[k])


def _crop(region: np.ndarray, window: Rect) -> tuple[Rect, np.ndarray]:
    """(rect, footprint) in image coordinates of a region found in `window`."""
    local = bounding(region)
    if local.empty:
        return EMPTY, np.zeros((0, 0), bool)
    rect = Rect(window.y0 + local.y0, window.x0 + local.x0, window.y0 + local.y1,
                window.x0 + local.x1)
    return rect, region[local.slices]
