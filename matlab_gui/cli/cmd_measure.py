"""`matlab-gui measure`: phase fractions and particle statistics of a class-index mask."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matlab_gui.cli.measure_options import add_measure_options, measure_spec

NAME = "measure"
HELP = "Area fraction and particle analysis per class of a mask (µm when the pixel size is known)."


def _bins(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"must be a whole number 1..1000, not {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("mask", type=Path, metavar="MASK", help="class-index mask (0, 1, 2, ...)")
    a("--image", type=Path, metavar="IMG", help="the micrograph, for its pixel size")
    a("--pixel-size", metavar="SIZE", help="e.g. 5nm, 0.5um, 2.3µm, or metres (1e-9)")
    a("--classes", nargs="+", metavar="NAME",
      help="class names for values 0, 1, 2, ... (default: the classes.csv beside the mask)")
    a("--bins", type=_bins, default=10, help="size-distribution histogram bins (1..1000)")
    add_measure_options(parser)
    p = parser.add_argument_group("outputs")
    p.add_argument("--particles", type=Path, metavar="CSV",
                   help="write one row per particle (id, class, area, diameters, Feret, aspect "
                        "ratio, orientation, centroid, edge)")
    p.add_argument("--overlay", type=Path, metavar="PNG",
                   help="write a picture of the particles outlined and numbered as in --particles "
                        "(over --image; value 0 is not outlined)")
    a("--json", action="store_true", help="print one JSON object (with every particle's row)")


def _print_table(out: dict) -> None:
    unit, area = out["length_unit"], out["area_unit"]
    size = f"pixel {out['pixel_size_m']:.4g} m" if out["pixel_size_m"] else "no pixel size: pixels"
    print(f"{out['width']} x {out['height']} px, {size}")
    print(f"{'class':>14} {'fraction':>9} {'count':>7} {'measured':>8} {'mean area':>12} "
          f"{'mean ECD':>10} {'aspect':>7}")
    notes = []
    for c in out["classes"]:
        p = c["particles"]
        if p.get("measured"):
            print(f"{c['name']:>14} {c['area_fraction']:>9.4f} {p['count']:>7} {p['measured']:>8} "
                  f"{p['mean_area']:>9.4g} {area:<2} {p['mean_equivalent_diameter']:>7.4g} {unit:<2} "
                  f"{p['mean_aspect_ratio']:>7.2f}")
        else:
            print(f"{c['name']:>14} {c['area_fraction']:>9.4f} {p['count']:>7} {0:>8}")
        notes += [f"{c['name']}: {n}" for n in p.get("notes", [])]
    for line in notes:
        print(line)


def names_beside(mask: Path) -> list[str] | None:
    """Names by mask value from the class table the app writes beside its masks."""
    from matlab_gui.imaging.class_table import find_class_table, read_class_table

    table = find_class_table(mask.parent)
    if table is None:
        return None
    rows = {c.value: c.name for c in read_class_table(table)}
    return [rows.get(v, str(v)) for v in range(max(rows) + 1)] if rows else None


def write_overlay(path: Path, measurement, image) -> None:
    from matlab_gui.imaging.write import write_image
    from matlab_gui.jobs.measure import overlay_of

    write_image(path, overlay_of(measurement, image), measurement.pixel_size_m)


def run(args: argparse.Namespace) -> int:
    from matlab_gui.cli.output import note
    from matlab_gui.errors import UserError
    from matlab_gui.imaging import read_image, read_mask
    from matlab_gui.imaging.units import parse_pixel_size
    from matlab_gui.imaging.write import check_output, write_csv
    from matlab_gui.jobs.measure import (
        grain_lines,
        particle_rows,
        run_grain_size,
        run_measure,
    )

    mask = read_mask(args.mask)
    names = args.classes or names_beside(args.mask)
    image = read_image(args.image) if args.image else None
    if image is not None and image.data.shape[:2] != mask.shape:
        raise UserError(f"mask {mask.shape} and image {args.image} {image.data.shape[:2]} "
                        "differ in size", args.mask)
    pixel_size = (parse_pixel_size(args.pixel_size) if args.pixel_size
                  else image.meta.pixel_size_m if image else None)
    if names and int(mask.max()) >= len(names):
        raise UserError(f"mask value {int(mask.max())} has no name among {len(names)} "
                        f"classes {names}", args.mask)
    for path in (args.particles, args.overlay):
        if path:
            check_output(path)
    spec = measure_spec(args)
    if spec.scale_bar is not None and args.pixel_size:
        raise UserError("give --pixel-size or --scale-bar, not both")
    try:
        pixel_size, scale_note = spec.pixel_size(image.data if image is not None else None, pixel_size)
    except UserError as exc:
        raise UserError(exc.problem, args.image or args.mask) from None
    if scale_note:
        note(args, scale_note)
    try:
        request = spec.request(mask, names, pixel_size)
        measurement = run_measure(request)
        grains = run_grain_size(request)
    except UserError as exc:
        raise UserError(exc.problem, args.mask) from None
    out = measurement.to_dict(args.bins)
    if grains is not None:
        out["grain_size"] = grains.to_dict()
    out["mask"] = str(args.mask)
    header, rows = particle_rows(measurement, first=0)
    if args.particles:
        write_csv(args.particles, header, rows)
    if args.overlay:
        write_overlay(args.overlay, measurement, image.data if image is not None else None)
    if args.json:
        out["particles"] = {"columns": header, "rows": rows}
        print(json.dumps(out, ensure_ascii=False))
    else:
        _print_table(out)
        for line in grain_lines(grains) if grains is not None else []:
            print(line)
    return 0
