"""The pixel size from the image itself: a line drawn over a bar of known length, or the scale
bar burned into the picture.

Most SEM exports to JPEG or PNG lose the vendor's calibration tags and keep only the bar drawn
in the info band. `find_scale_bar` looks for it by its geometry (a solid, thin, horizontal
rectangle, much longer than tall, bright on dark or dark on bright, or a line with end ticks),
measures its length to a fraction of a pixel, points at where its label probably is and reads
the label when OCR is available. It only proposes: nothing is applied.

Coordinates are continuous image coordinates: pixel column i spans [i, i + 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from matlab_gui.errors import UserError
from matlab_gui.imaging.calibration import unit_to_metres
from matlab_gui.imaging.scale_label import (
    ScaleLabel,
    ocr_available,
    parse_scale_label,
    prepare_for_ocr,
    read_text,
)

# thresholds, as fractions of the image's range, at which bright and dark bars are looked for
_LEVELS = {"bright": (0.5, 0.75, 0.9), "dark": (0.5, 0.25, 0.1)}
MIN_ASPECT = 5  # length / thickness of the thinnest-looking bar accepted
MIN_CONTRAST = 0.35  # bar against what is just above and below it, in the image's range
MIN_LENGTH_FRACTION = 0.03  # of the image width
MAX_LENGTH_FRACTION = 0.9  # a line across the whole image is a frame, not a scale bar
MIN_SCORE = 0.3  # below this a candidate is more likely a straight feature of the micrograph


@dataclass(frozen=True)
class ScaleBar:
    """A scale bar found in an image, and its label when it was read."""

    row: float  # the bar's centre line
    x0: float  # its left and right ends (sub-pixel; the outer edges of end ticks)
    x1: float
    thickness: int  # rows of the bar (the line, without end ticks)
    polarity: str  # "bright" (on a dark background) or "dark"
    box: tuple[int, int, int, int]  # y0, x0, y1, x1 (exclusive) of the bar, ticks included
    label_box: tuple[int, int, int, int]  # y0, x0, y1, x1 where its label probably is
    score: float  # 0..1: how clearly it stands out as a scale bar
    label_text: str | None = None  # what OCR read (None: not read)
    label: ScaleLabel | None = None  # that text as a length

    @property
    def length_px(self) -> float:
        return self.x1 - self.x0

    @property
    def pixel_size_m(self) -> float | None:
        """Metres per pixel when the label was read, else None."""
        return None if self.label is None else self.label.metres / self.length_px


# -- a line over a bar of known length --------------------------------------------------------


def length_to_metres(length: float, unit: str) -> float:
    """A length typed by the user ("10", "µm") in metres; UserError for a bad one."""
    scale = unit_to_metres(str(unit))
    if scale is None:
        raise UserError(f"unknown length unit {unit!r} (use nm, µm/um, mm or m)")
    if not math.isfinite(length) or length <= 0:
        raise UserError(f"the known length must be a positive number, not {length:g}")
    return float(length) * scale


def pixel_size_from_length(length_px: float, length: float, unit: str) -> float:
    """Metres per pixel of a bar `length_px` pixels long that is `length` `unit` long."""
    if not math.isfinite(length_px) or length_px <= 0:
        raise UserError("the line is 0 px long: drag along the whole scale bar")
    metres = length_to_metres(length, unit) / length_px
    if not 0 < metres < 1:
        raise UserError(f"{length:g} {unit} over {length_px:.1f} px is {metres:g} m per pixel: "
                        "not a plausible pixel size")
    return metres


def line_length(p0: tuple[float, float], p1: tuple[float, float]) -> float:
    """Length in pixels of the line from `p0` to `p1` ((y, x) or (x, y): the same length)."""
    return math.hypot(p1[0] - p0[0], p1[1] - p0[1])


def pixel_size_from_line(p0: tuple[float, float], p1: tuple[float, float], length: float,
                         unit: str) -> float:
    """Metres per pixel from a line drawn over a bar of known `length` in `unit` (nm, µm, mm…)."""
    return pixel_size_from_length(line_length(p0, p1), length, unit)


# -- the burned-in scale bar ------------------------------------------------------------------


def _grey(image: np.ndarray) -> np.ndarray | None:
    """The image as float32 in [0, 1] over its own range (None when it is flat)."""
    a = np.asarray(image)
    if a.ndim == 3:
        a = a[..., :3].mean(axis=2) if a.shape[2] >= 3 else a[..., 0]
    if a.ndim != 2 or a.size == 0:
        raise UserError(f"an image of shape {np.shape(image)} cannot hold a scale bar")
    a = a.astype(np.float32)
    lo, hi = float(a.min()), float(a.max())
    return None if hi - lo <= 0 else (a - lo) / (hi - lo)


@dataclass
class _Candidate:
    box: tuple[int, int, int, int]
    spine: tuple[int, int]  # first and last row of the line
    polarity: str
    level: float
    score: float


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of every run of True."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2], edges[1::2] - 1, strict=True))


def _extent(flags: np.ndarray) -> int:
    """Rows from the first True to the last."""
    where = np.flatnonzero(flags)
    return int(where[-1] - where[0] + 1) if where.size else 0


def _shape_of(comp: np.ndarray) -> tuple[tuple[int, int], str] | None:
    """The rows of the line (relative to `comp`) and its kind ("solid" or "ticks") when a
    component is a straight horizontal bar, perhaps with end ticks; None otherwise."""
    h, w = comp.shape
    cover = comp.sum(axis=1)
    runs = _runs(cover >= 0.8 * w)
    if not runs:
        return None
    r0, r1 = max(runs, key=lambda r: r[1] - r[0])
    thickness = r1 - r0 + 1
    if w < MIN_ASPECT * thickness:
        return None
    spine = comp[r0 : r1 + 1]
    if spine.mean() < 0.9:
        return None
    # straight ends: every row of the line starts and ends in the same column (give or take one)
    first = spine.argmax(axis=1)
    last = w - 1 - spine[:, ::-1].argmax(axis=1)
    if np.ptp(first) > 2 or np.ptp(last) > 2:
        return None
    rest = comp.copy()
    rest[r0 : r1 + 1] = False
    end = max(3, thickness, int(0.04 * w))
    if rest[:, end : w - end].sum() > 0.1 * w * thickness + 2:
        return None  # something hangs off the middle of the line: text, texture
    tall = [_extent(side.any(axis=1)) for side in (comp[:, :end], comp[:, w - end :])]
    if min(tall) >= thickness + 2:
        return (r0, r1), "ticks"
    if max(tall) > thickness + 2:  # a tick at one end only: not a scale bar's shape
        return None
    return (r0, r1), "solid"


def _surround(grey: np.ndarray, rows: tuple[int, int], cols: tuple[int, int],
              reach: int) -> np.ndarray:
    """The pixels just above and just below a bar's line."""
    (r0, r1), (c0, c1) = rows, cols
    above = grey[max(0, r0 - reach) : r0, c0:c1]
    below = grey[r1 + 1 : r1 + 1 + reach, c0:c1]
    return np.concatenate([above.ravel(), below.ravel()])


def _candidates(grey: np.ndarray, polarity: str, level: float) -> list[_Candidate]:
    height, width = grey.shape
    mask = (grey > level) if polarity == "bright" else (grey < level)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    x, y, w, h, area = (stats[1:, i] for i in range(5))
    keep = ((w >= max(12, MIN_LENGTH_FRACTION * width)) & (w <= MAX_LENGTH_FRACTION * width)
            & (w >= MIN_ASPECT * 0.5 * h) & (h <= 0.25 * height) & (x > 0) & (x + w < width)
            & (area >= 0.3 * w))
    found = []
    for index in np.flatnonzero(keep) + 1:
        bx, by, bw, bh = (int(v) for v in stats[index, :4])
        comp = labels[by : by + bh, bx : bx + bw] == index
        shape = _shape_of(comp)
        if shape is None:
            continue
        (r0, r1), kind = shape
        rows, thickness = (by + r0, by + r1), r1 - r0 + 1
        inside = grey[rows[0] : rows[1] + 1, bx : bx + bw]
        around = _surround(grey, rows, (bx, bx + bw), max(2, thickness))
        if around.size < bw:  # at the very top or bottom edge: nothing to compare with
            continue
        contrast = abs(float(np.median(inside)) - float(np.median(around)))
        if contrast < MIN_CONTRAST:
            continue
        # an info band is plain (the label's glyphs aside), a micrograph is not
        plain = float(np.mean(np.abs(around - np.median(around)) < 0.15))
        long = min(1.0, max(0.4, bw / (0.08 * width)))  # short straight lines are everywhere
        thin = 0.7 if thickness <= 2 and kind == "solid" else 1.0
        score = contrast * (0.7 + 0.3 * plain) * long * thin
        score += (0.1 if rows[0] > 0.6 * height else 0.0) + (0.05 if kind == "ticks" else 0.0)
        if score >= MIN_SCORE:
            found.append(_Candidate((by, bx, by + bh, bx + bw), rows, polarity, level,
                                    min(1.0, score)))
    return found


def _ends(grey: np.ndarray, best: _Candidate) -> tuple[float, float]:
    """Left and right ends of the line to a fraction of a pixel: where the profile along the
    line crosses half-way between the bar's level and the background's."""
    r0, r1 = best.spine
    y0, x0, y1, x1 = best.box
    lo, hi = max(0, x0 - 3), min(grey.shape[1], x1 + 3)
    profile = grey[r0 : r1 + 1, lo:hi].mean(axis=0)
    if best.polarity == "dark":
        profile = 1.0 - profile
    inner = float(np.median(profile[x0 - lo : x1 - lo]))
    outer = float(np.median(np.concatenate([profile[: x0 - lo], profile[x1 - lo :]]))) \
        if (x0 > lo or x1 < hi) else 0.0
    half = (inner + outer) / 2
    above = profile >= half
    i = int(np.argmax(above))  # first column at or above half
    j = len(profile) - 1 - int(np.argmax(above[::-1]))  # last
    left = lo + i if i == 0 else lo + i - 0.5 + (half - profile[i - 1]) / (profile[i] - profile[i - 1])
    if j == len(profile) - 1:
        right = float(lo + j + 1)
    else:
        right = lo + j + 0.5 + (profile[j] - half) / (profile[j] - profile[j + 1])
    return float(left), float(right)


Box = tuple[int, int, int, int]  # y0, x0, y1, x1 (exclusive)


def _overlap(a: Box, b: Box) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def _text_lines(labels: np.ndarray, stats: np.ndarray, bar: Box,
                max_height: int) -> list[tuple[Box, list[int]]]:
    """Lines of glyph-sized components (box, component numbers) in a window's labels, in
    window coordinates: components side by side in one row, less than 1.5 heights apart."""
    glyphs = []
    for index, (x, y, w, h, area) in enumerate(stats[1:], start=1):
        box = (int(y), int(x), int(y + h), int(x + w))
        if 4 <= h <= max_height and w <= 3 * h and area >= 6 and not _overlap(box, bar):
            glyphs.append((box, index))
    lines: list[list[tuple[Box, int]]] = []
    for box, index in sorted(glyphs, key=lambda g: g[0][1]):
        for line in lines:
            last = line[-1][0]
            height = max(last[2] - last[0], box[2] - box[0])
            same_row = min(last[2], box[2]) - max(last[0], box[0]) > 0.4 * height
            if same_row and box[1] - last[3] <= 1.5 * height:
                line.append((box, index))
                break
        else:
            lines.append([(box, index)])
    return [((min(b[0] for b, _ in line), min(b[1] for b, _ in line),
              max(b[2] for b, _ in line), max(b[3] for b, _ in line)), [i for _, i in line])
            for line in lines]


def _label(grey: np.ndarray, best: _Candidate) -> tuple[Box, np.ndarray | None]:
    """Where the bar's label text probably is: the nearest line of glyphs of the bar's own
    polarity above, below or beside it, and a crop of those glyphs alone for OCR.
    Without glyphs near the bar: a guess just above it, and None."""
    height, width = grey.shape
    y0, x0, y1, x1 = best.box
    length, thickness = x1 - x0, best.spine[1] - best.spine[0] + 1
    reach = max(int(0.12 * height), 6 * thickness)
    wy0, wy1 = max(0, y0 - reach), min(height, y1 + reach)
    wx0, wx1 = max(0, x0 - length), min(width, x1 + length)
    window = grey[wy0:wy1, wx0:wx1]
    mask = (window > best.level) if best.polarity == "bright" else (window < best.level)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8)
    bar = (y0 - wy0, x0 - wx0, y1 - wy0, x1 - wx0)
    lines = _text_lines(labels, stats, bar, max(8, int(0.15 * height)))

    def distance(line):
        b = line[0]
        return math.hypot(max(0, b[0] - bar[2], bar[0] - b[2]), max(0, b[1] - bar[3], bar[1] - b[3]))

    near = [line for line in lines if distance(line) <= reach]
    if not near:
        guess = max(3 * thickness, int(0.04 * height))
        return (max(0, y0 - guess), x0, y0, x1), None
    (by0, bx0, by1, bx1), glyphs = min(near, key=distance)
    pad = max(2, (by1 - by0) // 4)
    top = bar[2] if by0 >= bar[2] else 0  # the margin stops short of the bar
    bottom = bar[0] if by1 <= bar[0] else window.shape[0]
    by0, bx0 = max(top, by0 - pad), max(0, bx0 - pad)
    by1, bx1 = min(bottom, by1 + pad), min(window.shape[1], bx1 + pad)
    # the crop with everything but the glyphs and their anti-aliased rims made background
    near_glyphs = cv2.dilate(np.isin(labels[by0:by1, bx0:bx1], glyphs).view(np.uint8),
                             np.ones((3, 3), np.uint8)).view(bool)
    text, ink = window[by0:by1, bx0:bx1].copy(), mask[by0:by1, bx0:bx1]
    text[~near_glyphs] = np.median(text[~ink]) if (~ink).any() else float(best.polarity == "dark")
    return (wy0 + by0, wx0 + bx0, wy0 + by1, wx0 + bx1), text


def _read_label(grey: np.ndarray, best: _Candidate, box: Box,
                glyphs: np.ndarray | None) -> str | None:
    """OCR of the glyphs found, or of the raw crop where the label was guessed to be."""
    y0, x0, y1, x1 = box
    crop = glyphs if glyphs is not None else grey[y0:y1, x0:x1]
    if crop.size == 0:
        return None
    return read_text(prepare_for_ocr(crop, (y1 - y0) * 0.7, best.polarity == "bright"))


def find_scale_bar(image: np.ndarray, read_label: bool = True) -> ScaleBar | None:
    """The burned-in scale bar of a micrograph (uint8 or uint16, grey or RGB, any size), or None
    when nothing in it has a scale bar's shape. With `read_label` and Tesseract installed, its
    label is read too. Proposes only; nothing is applied."""
    grey = _grey(image)
    if grey is None:
        return None
    found: list[_Candidate] = []
    for polarity, levels in _LEVELS.items():
        for level in levels:
            found += _candidates(grey, polarity, level)
    if not found:
        return None
    best = max(found, key=lambda c: c.score)
    left, right = _ends(grey, best)
    label_box, glyphs = _label(grey, best)
    score = min(1.0, best.score * (1.0 if glyphs is not None else 0.8))
    text = _read_label(grey, best, label_box, glyphs) if read_label else None
    return ScaleBar(
        row=(int(best.spine[0]) + int(best.spine[1]) + 1) / 2,
        x0=left,
        x1=right,
        thickness=int(best.spine[1] - best.spine[0] + 1),
        polarity=best.polarity,
        box=tuple(int(v) for v in best.box),
        label_box=label_box,
        score=round(score, 3),
        label_text=text,
        label=parse_scale_label(text),
    )


def pixel_size_from_bar(image: np.ndarray, length: str | None = None) -> tuple[float, str]:
    """Metres per pixel from the image's burned-in scale bar, for scripts that ask for it: the
    bar's length is `length` ("10um") when given, else what OCR reads on its label. Returns the
    pixel size and a sentence saying where it came from (to print: it is never applied
    silently); UserError when there is no bar, or no length for it."""
    stated = None
    if length is not None:
        stated = parse_scale_label(length)
        if stated is None:
            raise UserError(f"scale bar length {length!r} is not a length such as '10um' or '500 nm'")
    bar = find_scale_bar(image, read_label=stated is None)
    if bar is None:
        raise UserError("no scale bar found in the image (a solid horizontal bar, at least "
                        "about 40 px long); give the pixel size instead")
    if stated is None and bar.label is None:
        why = "its label could not be read" if ocr_available() else "Tesseract OCR is not installed"
        raise UserError(f"found a {bar.length_px:.1f} px scale bar but {why}: give its length, "
                        "e.g. --scale-bar 10um")
    label, how = (stated, "as given") if stated is not None else (bar.label, "read by OCR")
    metres = label.metres / bar.length_px
    return metres, (f"scale bar of {bar.length_px:.1f} px at row {bar.row:.0f} = {label} "
                    f"({how}): {metres * 1e9:.4g} nm per pixel")
