"""Particles of one class: cleanup, separation of touching particles, and per-particle values.

A semantic mask merges touching precipitates into one region; a distance-transform watershed
(the binary watershed of ImageJ, on scikit-image) splits them at their necks. Each particle is
then measured as a set of unit squares, the way ImageJ does it, so nothing is undefined for thin
particles: the ellipse of the same second moments (each pixel adding its own 1/12) gives the
aspect ratio and orientation, and the Feret diameters are taken over the pixel corners.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage import measure as skm
from skimage import morphology, segmentation

from matlab_gui.imaging.particle_options import DEFAULT_DEPTH, DEFAULT_PROMINENCE, ParticleOptions

_SQUARE = 1.0 / 12.0  # second moment of a unit square about its centre
_CORNERS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float64)


@dataclass
class Labelled:
    """One class's particles as a label image (0 = not this class), with what cleanup removed."""

    labels: np.ndarray
    removed_small: int


def split_touching(binary: np.ndarray, prominence: float = DEFAULT_PROMINENCE,
                   depth: float = DEFAULT_DEPTH) -> np.ndarray:
    """Label image of `binary` with touching particles separated at necks where the distance to
    the background dips by more than `prominence` px and by more than `depth` times the smaller
    centre's distance (so the lobes of one irregular particle stay together at any size); a
    particle too thin to hold a centre keeps its own label."""
    binary = np.asarray(binary, bool)
    distance = ndi.distance_transform_edt(binary)
    markers = skm.label(morphology.h_maxima(distance, prominence) & binary, connectivity=2)
    labels = segmentation.watershed(-distance, markers, mask=binary)
    if depth > 0 and labels.max() > 1:
        labels = _merge_shallow_necks(labels, distance, depth)
    unmarked = binary & (labels == 0)
    if unmarked.any():
        extra = skm.label(unmarked, connectivity=2)
        labels[unmarked] = extra[unmarked] + labels.max()
    return labels


def _merge_shallow_necks(labels: np.ndarray, distance: np.ndarray, depth: float) -> np.ndarray:
    """Join neighbouring watershed regions whose shared boundary (its highest distance, the
    saddle) lies less than `depth` x the smaller region's peak below that peak."""
    pairs, saddles = [], []
    for a, b, da, db in ((labels[:, :-1], labels[:, 1:], distance[:, :-1], distance[:, 1:]),
                         (labels[:-1], labels[1:], distance[:-1], distance[1:])):
        cross = (a != b) & (a > 0) & (b > 0)
        pairs.append(np.sort(np.stack([a[cross], b[cross]], 1), axis=1))
        saddles.append(np.minimum(da[cross], db[cross]))
    pairs, saddles = np.concatenate(pairs), np.concatenate(saddles)
    if not len(pairs):
        return labels
    keys, inverse = np.unique(pairs, axis=0, return_inverse=True)
    saddle = np.full(len(keys), -np.inf)
    np.maximum.at(saddle, inverse.ravel(), saddles)
    peak = ndi.maximum(distance, labels, np.arange(labels.max() + 1))
    lower = np.minimum(np.asarray(peak)[keys[:, 0]], np.asarray(peak)[keys[:, 1]])
    parent = np.arange(labels.max() + 1)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for (a, b), keep in zip(keys, lower - saddle >= depth * lower, strict=True):
        if not keep:
            parent[root(a)] = root(b)
    return np.array([root(i) for i in range(len(parent))])[labels]


def label_particles(binary: np.ndarray, options: ParticleOptions | None = None) -> Labelled:
    """Particles of one class after the options' cleanup and splitting (8-connected regions)."""
    options = options or ParticleOptions()
    binary = np.asarray(binary, bool)
    if options.fill_holes:
        binary = ndi.binary_fill_holes(binary)
    labels = skm.label(binary, connectivity=2)
    removed = 0
    if options.min_area_px > 1 and labels.max():
        sizes = np.bincount(labels.ravel())
        small = sizes < options.min_area_px
        small[0] = False
        removed = int(small.sum())
        binary = binary & ~small[labels]
        labels = skm.label(binary, connectivity=2)
    if options.split and labels.max():
        labels = segmentation.relabel_sequential(
            split_touching(binary, options.prominence, options.depth))[0]
    return Labelled(labels, removed)


def feret_diameters(rows: np.ndarray, cols: np.ndarray) -> tuple[float, float]:
    """Largest and smallest caliper width of pixels (as unit squares) at `rows`, `cols`."""
    corners = (np.stack([rows, cols], 1)[:, None, :] + _CORNERS[None]).reshape(-1, 2)
    hull = cv2.convexHull(corners.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    if len(hull) < 3:
        return float(np.ptp(corners, axis=0).max()), 0.0
    gaps = hull[:, None, :] - hull[None, :, :]
    longest = float(np.sqrt((gaps**2).sum(-1)).max())
    edges = np.roll(hull, -1, axis=0) - hull
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    keep = lengths > 0
    normals = np.stack([-edges[keep, 1], edges[keep, 0]], 1) / lengths[keep, None]
    offsets = hull[None, :, :] - hull[keep][:, None, :]  # every vertex from every edge's start
    widths = np.abs((offsets * normals[:, None, :]).sum(-1)).max(axis=1)
    return longest, float(widths.min())


@dataclass
class ParticleTable:
    """One row per particle, lengths in px (the caller scales them)."""

    area: np.ndarray
    equivalent_diameter: np.ndarray
    feret_max: np.ndarray
    feret_min: np.ndarray
    major_axis: np.ndarray
    minor_axis: np.ndarray
    orientation_deg: np.ndarray  # of the major axis, counter-clockwise from the x axis, 0..180
    centroid_x: np.ndarray
    centroid_y: np.ndarray
    touches_edge: np.ndarray

    @property
    def aspect_ratio(self) -> np.ndarray:
        return self.major_axis / self.minor_axis

    def __len__(self) -> int:
        return int(self.area.size)


def particle_table(labels: np.ndarray) -> ParticleTable:
    """Area, equivalent circle diameter, Feret diameters, moment ellipse, centroid and edge
    contact of every label of `labels` (ids 1..n in order)."""
    h, w = labels.shape
    regions = skm.regionprops(labels)
    n = len(regions)
    out = {k: np.zeros(n) for k in ("area", "feret_max", "feret_min", "major", "minor", "angle",
                                    "cx", "cy")}
    edge = np.zeros(n, bool)
    for i, region in enumerate(regions):
        rows, cols = region.coords[:, 0].astype(np.float64), region.coords[:, 1].astype(np.float64)
        r0, c0, r1, c1 = region.bbox
        edge[i] = r0 == 0 or c0 == 0 or r1 == h or c1 == w
        out["area"][i] = rows.size
        out["cy"][i], out["cx"][i] = rows.mean(), cols.mean()
        # moments with y pointing up, so angles read as on a plot; each pixel adds a unit square's
        x, y = cols - cols.mean(), -(rows - rows.mean())
        xx, yy, xy = (x * x).mean() + _SQUARE, (y * y).mean() + _SQUARE, (x * y).mean()
        spread = np.sqrt(((xx - yy) / 2) ** 2 + xy**2)
        out["major"][i] = 4 * np.sqrt((xx + yy) / 2 + spread)
        out["minor"][i] = 4 * np.sqrt(max((xx + yy) / 2 - spread, 0.0))
        out["angle"][i] = np.degrees(0.5 * np.arctan2(2 * xy, xx - yy)) % 180.0
        outline = region.image & ~ndi.binary_erosion(region.image)
        br, bc = np.nonzero(outline)
        out["feret_max"][i], out["feret_min"][i] = feret_diameters(br + r0, bc + c0)
    return ParticleTable(out["area"], np.sqrt(4 * out["area"] / np.pi), out["feret_max"],
                         out["feret_min"], out["major"], out["minor"], out["angle"], out["cx"],
                         out["cy"], edge)


def outlines(labels: np.ndarray) -> np.ndarray:
    """Pixels on the border of a particle, including borders between touching particles."""
    return segmentation.find_boundaries(labels, mode="inner") & (labels > 0)
