"""`matlab-gui segment`: masks, overlays and probability maps for images of any size."""

from __future__ import annotations

import argparse
from pathlib import Path

from matlab_gui.cli.measure_options import add_measure_options, measure_spec
from matlab_gui.cli.output import (
    StageBars,
    add_dask_option,
    add_engine_option,
    add_output_options,
    engine_note,
    error_line,
    lost_workers_note,
    model_export_place,
    result,
)

NAME = "segment"
HELP = "Segment images (any size, tiled) with a model; write masks, maps and phase fractions."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--model", required=True,
      help="model folder, the name of a shipped model, or PROJECT.mgp:NAME (a project's model)")
    a("paths", nargs="+", type=Path, metavar="PATH", help="image files and/or folders")
    a("--out", type=Path, default=Path("segmented"),
      help="output folder (default ./segmented); images keep their folders below the inputs' "
           "common folder, x.png and x.tif of one folder write x.png_mask.png, x.tif_mask.png")
    a("--format", choices=("png", "tiff", "mat"), default="png",
      help="masks as PNG or TIFF; `mat` puts mask and maps in one MATLAB v7.3 file per image")
    a("--overlay", action="store_true", help="also write class colours over the image (PNG)")
    a("--maps", action="store_true",
      help="also write probability and uncertainty maps (float32 TIFF, or inside the .mat)")
    a("--recursive", action="store_true", help="look into subfolders of folder arguments")
    a("--tile", type=int, help="tile size in pixels (default: the model's input size)")
    a("--overlap", type=int, help="tile overlap in pixels (default: the model card's)")
    a("--batch", type=int, default=4, help="tiles per forward pass (halved on GPU out-of-memory)")
    a("--tta", action="store_true",
      help="flip test-time augmentation; uncertainty becomes the flips' disagreement")
    a("--labels-only", action="store_true",
      help="keep argmax + max probability instead of every class's probability (less memory)")
    a("--device", default="auto")
    a("--measure", action="store_true",
      help="also measure each image's particles (and grains, with --grain-boundary): one row "
           "per image and class in measurements.csv, one row per particle in <image>_particles.csv")
    add_measure_options(parser)
    add_dask_option(parser, "images")
    add_engine_option(parser)
    add_output_options(parser)


def run(args: argparse.Namespace) -> int:
    from matlab_gui.jobs.segment import SegmentRequest, run_segment
    from matlab_gui.ml.model_lookup import model_folder

    bars = StageBars(args.quiet)
    with model_folder(args.model, model_export_place(args, args.out)) as model:
        request = SegmentRequest(
            model=model, inputs=args.paths, out=args.out, format=args.format,
            overlay=args.overlay, maps=args.maps, recursive=args.recursive, device=args.device,
            tile=args.tile, overlap=args.overlap, batch=args.batch, tta=args.tta,
            output="labels" if args.labels_only else "auto", engine=args.engine, dask=args.dask,
            measure=measure_spec(args) if args.measure or args.grain_boundary else None,
        )
        try:
            outcome = run_segment(request, progress=bars)
        finally:
            bars.close()
    engine_note(args, outcome.engine_note)
    lost_workers_note(outcome.lost_workers)
    for item in outcome.images:
        if item.error:
            error_line(f"{item.path}: error: {item.error}")
    summary = {
        "segmented": outcome.segmented, "failed": len(outcome.images) - outcome.segmented,
        "out": str(args.out), "classes": outcome.class_names,
        "fractions_csv": str(outcome.fractions_csv), "wall_s": round(outcome.wall_s, 3),
        "measurements_csv": str(outcome.measurements_csv) if outcome.measurements_csv else None,
        "engine": outcome.engine, "lost_workers": outcome.lost_workers,
        "images": [{"path": str(i.path), "files": [str(f) for f in i.files],
                    "fractions": dict(zip(outcome.class_names, i.fractions, strict=False)),
                    "error": i.error or None} for i in outcome.images],
    }
    result(args, summary, [
        f"segmented {outcome.segmented} of {len(outcome.images)} images into {args.out} "
        f"({outcome.wall_s:.1f} s); phase fractions in {outcome.fractions_csv}"
        + (f", measurements in {outcome.measurements_csv}" if outcome.measurements_csv else "")])
    return 0 if outcome.segmented else 1
