"""GUI zoom latency on a huge micrograph: the display pyramid against the old path (offscreen Qt,
or Xvfb).

Opens a SIZE x SIZE uint16 image in the real MainWindow and times, from the input to the frame
painted (events processed until no wheel zoom is pending, then a forced viewport repaint):
  * wheel: one wheel click at the centre of the canvas, zoomed out (clicks in, then back out),
  * fit: Fit from a zoomed-in view,
  * burst: ten wheel clicks delivered as fast as the window takes them, to the last frame,
  * levels ladder: from the fitted view, a jump to each pyramid level's zoom in turn, down to
    100 % (a 30k montage's fine levels are hundreds of megapixels),
  * levels: a change of the display levels,
  * 100 %: Actual size from the fitted view (the old path windows the whole image once, the
    new one the part around the view),
  * pan: at 100 %, a move by half a view (the new path windows a new part now and then),
in alternating rounds of the old path (the whole image, pyqtgraph's own downsampling on every
view change, a render per wheel click) and the new one (pyramid levels, wheel clicks summed).
Then, new path only: the same with the whole image labelled (every mask overlay tile present)
and with an RGBA prediction shown, and the time from opening the file to the first frame and to
the exact level. The montage is written as one uncompressed block (`--tiff contiguous`: the app
memory-maps it when it is larger than 8k x 8k) or in compressed 512 px tiles (`--tiff tiled`:
decoded whole when opened). Results per size, layout and platform go into
benchmarks/results/gui_zoom.json.

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_zoom.py --size 8000
    python benchmarks/gui_zoom.py --size 30000 --tiff tiled --paths new --extra overlay
    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1400x900x24" python benchmarks/gui_zoom.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import tifffile  # noqa: E402
from gui_paint import PaintCounter  # noqa: E402
from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402

from matlab_gui.gui.app import application  # noqa: E402
from matlab_gui.gui.main_window import MainWindow  # noqa: E402

RESULT = Path(__file__).parent / "results" / "gui_zoom.json"
GOAL_P95_MS = 150
PATHS = ("old", "new")


def micrograph(size: int) -> np.ndarray:
    """A synthetic 16-bit SEM-like image (grains plus noise), made in bands of rows so a 16k
    image needs no float copy of itself."""
    rng = np.random.default_rng(0)
    grains = rng.random((-(-size // 64), -(-size // 64))).astype(np.float32)
    out = np.empty((size, size), np.uint16)
    for y in range(0, size, 1024):
        rows = np.repeat(np.repeat(grains[y // 64: (y + 1024) // 64 + 1], 64, 0), 64, 1)
        band = 8000 + 30000 * rows[: min(1024, size - y), :size]
        band += rng.normal(0, 800, band.shape).astype(np.float32)
        out[y: y + 1024] = band.clip(0, 65535)
    return out


def settle(app, canvas) -> None:
    """Until the frame is on screen: events (a pending wheel zoom fires), then a paint."""
    deadline = time.perf_counter() + 30
    app.processEvents()
    while canvas.wheel_zoom.pending and time.perf_counter() < deadline:
        app.processEvents(QtCore.QEventLoop.AllEvents, 2)
    canvas.viewport().repaint()


def timed(app, canvas, action) -> float:
    t0 = time.perf_counter()
    action()
    settle(app, canvas)
    return 1000 * (time.perf_counter() - t0)


def wheel_click(canvas, clicks: int = 1) -> None:
    vp = canvas.viewport()
    centre = QtCore.QPointF(vp.width() / 2, vp.height() / 2)
    ev = QtGui.QWheelEvent(centre, QtCore.QPointF(vp.mapToGlobal(centre.toPoint())),
                           QtCore.QPoint(), QtCore.QPoint(0, 120 * clicks), QtCore.Qt.NoButton,
                           QtCore.Qt.NoModifier, QtCore.Qt.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(vp, ev)


def zoom_to(canvas, zoom: float) -> None:
    """The view at this zoom (screen pixels per image pixel), around the image's centre."""
    h, w = canvas.image_item.image.shape[:2] if canvas.image_layer.pyramid is None else \
        canvas.image_layer.pyramid.base.shape[:2]
    vw, vh = canvas.view.width() / zoom, canvas.view.height() / zoom
    canvas.set_view_rect([w / 2 - vw / 2, w / 2 + vw / 2, h / 2 - vh / 2, h / 2 + vh / 2])


def burst(app, canvas, n: int) -> None:
    """`n` clicks, each followed by one pass of the event loop (what a spun wheel delivers)."""
    for _ in range(n):
        wheel_click(canvas)
        app.processEvents()


def use(app, canvas, data, levels, new: bool) -> float:
    """Show `data` the new or the old way, fitted; ms until the exact picture is drawn."""
    canvas.image_layer.enabled = canvas.wheel_zoom.enabled = new
    t0 = time.perf_counter()
    canvas.set_image(data, levels)
    canvas.fit()
    settle(app, canvas)
    while not canvas.image_layer.exact:
        app.processEvents(QtCore.QEventLoop.AllEvents, 2)
    canvas.viewport().repaint()
    return 1000 * (time.perf_counter() - t0)


def wheel_and_fit(app, canvas, steps: int, fits: int) -> dict[str, list[float]]:
    """Wheel clicks in from the fitted view and back out, then Fit from two clicks in."""
    out: dict[str, list[float]] = {"wheel": [], "fit": []}
    for direction in (1, -1):
        for _ in range(steps // 2):
            out["wheel"].append(timed(app, canvas, lambda d=direction: wheel_click(canvas, d)))
    for _ in range(fits):
        wheel_click(canvas, 2)
        settle(app, canvas)
        out["fit"].append(timed(app, canvas, canvas.fit))
    return out


def one_round(app, canvas, steps: int, fits: int, burst_n: int, pans: int = 6
              ) -> dict[str, list[float]]:
    out = wheel_and_fit(app, canvas, steps, fits) | {"burst": [], "levels": [], "actual_size": [],
                                                     "pan_100": [], "ladder": []}
    for k in range(canvas.image_layer.level, -1, -1):
        out["ladder"].append(timed(app, canvas, lambda k=k: zoom_to(canvas, 1.2 / (1 << k))))
    canvas.fit()
    settle(app, canvas)
    if burst_n:
        out["burst"].append(timed(app, canvas, lambda: burst(app, canvas, burst_n)))
        canvas.fit()
        settle(app, canvas)
    lo, hi = canvas.image_item.getLevels()
    for f in (1.02, 1.0):
        out["levels"].append(timed(app, canvas, lambda f=f: canvas.set_levels((lo, hi * f), 1.0)))
    out["actual_size"].append(timed(app, canvas, canvas.actual_size))
    for _ in range(pans):
        x0, x1, y0, y1 = canvas.view_rect()
        step = (x1 - x0) / 2
        out["pan_100"].append(timed(app, canvas, lambda x0=x0, x1=x1, y0=y0, y1=y1, d=step:
                                    canvas.set_view_rect([x0 + d, x1 + d, y0, y1])))
    canvas.fit()
    settle(app, canvas)
    return out


def write_montage(path: Path, size: int, layout: str) -> None:
    data = micrograph(size)
    if layout == "tiled":
        tifffile.imwrite(path, data, tile=(512, 512), compression="zlib", maxworkers=os.cpu_count())
    else:
        tifffile.imwrite(path, data)


def open_file(app, canvas, window, path: Path) -> dict:
    """Add the file to the project as File > Open does: ms to the first frame and to the
    exact level, and whether the app mapped the file or read it."""
    t0 = time.perf_counter()
    window.add_images([path], embed=False)
    settle(app, canvas)
    first = 1000 * (time.perf_counter() - t0)
    while not canvas.image_layer.exact:
        app.processEvents(QtCore.QEventLoop.AllEvents, 2)
    canvas.viewport().repaint()
    return {"first_frame_ms": round(first, 1),
            "exact_level_ms": round(1000 * (time.perf_counter() - t0), 1),
            "memory_mapped": isinstance(window.session.image, np.memmap)}


def stats(ms: list[float]) -> dict:
    if not ms:
        return {}
    return {"p50_ms": round(statistics.median(ms), 1), "p95_ms": round(float(np.percentile(ms, 95)), 1),
            "max_ms": round(max(ms), 1), "n": len(ms)}


def extra_layers(app, canvas, window, steps: int, prediction: bool) -> dict:
    """New path: wheel and Fit with every overlay tile present, then with a prediction shown
    (class colours; a probability map, also through the old path for the prediction only)."""
    s = window.session
    s.editor.mask[:] = 1
    canvas.overlay.set_mask(s.editor.mask)
    settle(app, canvas)
    labelled = wheel_and_fit(app, canvas, steps, 2)
    out = {"mask_overlay_tiles": canvas.overlay.tile_count,
           "wheel_with_full_mask_overlay": stats(labelled["wheel"]),
           "fit_with_full_mask_overlay": stats(labelled["fit"])}
    canvas.overlay.set_mask(None)
    s.editor.mask[:] = 0
    if not prediction:
        return out
    picture = window.model_features.prediction.picture  # as the Prediction dock shows it
    shape = s.image.shape
    classes = np.zeros((*shape, 4), np.uint8)  # class colours (RGBA, no levels)
    classes[..., 0], classes[..., 3] = 200, 255
    for name, new, image, opts in [
        ("classes", True, classes, {"levels": None}),
        ("probability", True, None, {"levels": (0, 1)}),
        ("probability", False, None, {"levels": (0, 1)}),
    ]:
        if image is None:  # a probability map as float32, as the dock shows one
            image = np.broadcast_to(np.linspace(0, 1, shape[1], dtype=np.float32), shape).copy()
        picture.enabled = new
        picture.set_image(image, **opts)
        del image
        canvas.fit()
        settle(app, canvas)
        while not picture.exact:
            app.processEvents(QtCore.QEventLoop.AllEvents, 2)
        shown = wheel_and_fit(app, canvas, 2, 1)
        key = f"{'new' if new else 'old'}_prediction_{name}"
        out[f"wheel_with_{key}"] = stats(shown["wheel"])
        out[f"fit_with_{key}"] = stats(shown["fit"])
        picture.clear()
    del classes
    picture.enabled = True
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6, help="wheel clicks per round (in, out)")
    parser.add_argument("--fits", type=int, default=2, help="Fit operations per round")
    parser.add_argument("--burst", type=int, default=10, help="clicks of the burst (0: none)")
    parser.add_argument("--extra", default="overlay,prediction",
                        help="layers also timed on the new path: overlay, prediction, none")
    parser.add_argument("--tiff", choices=("contiguous", "tiled"), default="contiguous",
                        help="how the montage file is stored")
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=list(PATHS),
                        help="old (whole image) and/or new (pyramid); old takes minutes at 30k")
    args = parser.parse_args()
    paths = tuple(p for p in PATHS if p in args.paths)
    app = application()
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    canvas = window.canvas
    canvas.paint_counter = PaintCounter(canvas.viewport())
    app.processEvents()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "montage.tif"
        write_montage(path, args.size, args.tiff)
        opened = open_file(app, canvas, window, path)
        data, levels = window.session.image, tuple(float(v) for v in canvas.image_item.getLevels())
        result = run_rounds(app, canvas, window, data, levels, args, paths)
        result["open_file"] = opened
    key = f"{args.size}_{os.environ['QT_QPA_PLATFORM']}"
    key += "" if args.tiff == "contiguous" else f"_{args.tiff}"
    window.workbench.close()
    window.close()
    everything = json.loads(RESULT.read_text()) if RESULT.exists() else {}
    everything[key] = result
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(everything, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def run_rounds(app, canvas, window, data, levels, args, paths) -> dict:
    """Alternating rounds of the paths, then the new path's extra layers."""
    times = {p: {} for p in paths}
    open_ms = {p: [] for p in paths}
    for r in range(args.rounds):
        for name in paths if r % 2 == 0 else paths[::-1]:
            open_ms[name].append(use(app, canvas, data, levels, name == "new"))
            for op, ms in one_round(app, canvas, args.steps, args.fits, args.burst).items():
                times[name].setdefault(op, []).extend(ms)
    result = {
        "image": f"{args.size}x{args.size} uint16, {args.tiff} TIFF",
        "canvas_px": [canvas.viewport().width(), canvas.viewport().height()],
        **{f"{op}_ms": {p: stats(times[p][op]) for p in paths} for op in times["new"]
           if times["new"][op]},
        "show_image_until_exact_picture_ms": {p: stats(open_ms[p]) for p in paths},
    }
    use(app, canvas, data, levels, True)
    result["fitted_zoom"] = round(canvas.zoom(), 4)
    result["pyramid_level_at_fit"] = canvas.image_layer.level
    t0 = time.perf_counter()
    canvas.set_image(data, levels)  # the same array: levels already built
    canvas.fit()
    settle(app, canvas)
    result["new_reshow_same_image_ms"] = round(1000 * (time.perf_counter() - t0), 1)
    if "overlay" in args.extra:
        result["new_path_with_layers"] = extra_layers(app, canvas, window, args.steps,
                                                      "prediction" in args.extra)
    zoom_fit = times["new"]["wheel"] + times["new"]["fit"] + times["new"]["ladder"]
    result["goal"] = {"zoom_and_fit_p95_ms": GOAL_P95_MS,
                      "new_p95_ms": round(float(np.percentile(zoom_fit, 95)), 1),
                      "met": bool(np.percentile(zoom_fit, 95) < GOAL_P95_MS)}
    result["method"] = (f"{args.rounds} rounds of {'/'.join(paths)} (order swapped every round); "
                        f"per round {args.steps} wheel clicks, {args.fits} fits, a burst of "
                        f"{args.burst} clicks, 2 levels changes, one 100 %, 6 pans at 100 %, a jump to each "
                        "level's zoom from the fitted view down to 100 %; time from the input to "
                        "the frame painted (events until no zoom is pending, then a forced repaint)")
    result["machine"] = {"platform": platform.platform(), "cpus": os.cpu_count(),
                         "qpa": os.environ["QT_QPA_PLATFORM"]}
    return result


if __name__ == "__main__":
    main()
