"""The particle and grain options `measure` and batch `segment` share, as typed."""

from __future__ import annotations

import argparse

from matlab_gui.imaging.particle_options import DEFAULT_DEPTH, DEFAULT_PROMINENCE


def add_measure_options(parser: argparse.ArgumentParser) -> None:
    p = parser.add_argument_group("particles")
    p.add_argument("--split", nargs="+", metavar="CLASS", default=[],
                   help="separate touching particles of these classes (names or values) by a "
                        "distance-transform watershed")
    p.add_argument("--prominence", type=float, default=DEFAULT_PROMINENCE, metavar="PX",
                   help="how deep (px of distance) a neck must be to split there "
                        f"(default {DEFAULT_PROMINENCE:g}; larger splits less)")
    p.add_argument("--neck-depth", type=float, default=DEFAULT_DEPTH, metavar="FRACTION",
                   help="... and by this fraction of the smaller particle's half-width "
                        f"(default {DEFAULT_DEPTH:g}: lobes of one particle stay together)")
    p.add_argument("--fill-holes", action="store_true", help="fill holes in particles first")
    p.add_argument("--min-area", metavar="AREA", default="0",
                   help="remove smaller particles first: pixels ('20') or an area ('0.5um2')")
    p.add_argument("--keep-edge", action="store_true",
                   help="count particles cut by the image edge in the size statistics "
                        "(default: left out, and said so)")
    parser.add_argument(
        "--scale-bar", nargs="?", const="auto", metavar="LENGTH",
        help="the pixel size from the scale bar burned into the image: its length as given "
             "('10um'), or read from its label by OCR when Tesseract is installed (no value); "
             "what was found is printed")
    g = parser.add_argument_group("grain size")
    g.add_argument("--grain-boundary", nargs="+", metavar="CLASS", default=[],
                   help="ASTM E112 grain size (planimetric and lineal intercept G, grain size "
                        "distribution) of the grains between these boundary classes (names or values)")


def measure_spec(args: argparse.Namespace):
    from matlab_gui.jobs.measure import MeasureSpec

    return MeasureSpec(tuple(args.split), args.min_area, args.fill_holes, not args.keep_edge,
                       args.prominence, args.neck_depth, tuple(args.grain_boundary),
                       args.scale_bar)
