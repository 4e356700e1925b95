"""`matlab-gui classify`: every image of a folder through a classifier, into a resumable CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

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

NAME = "classify"
HELP = "Classify every image in a folder; one CSV row per file (resumes an existing CSV)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--model", required=True,
      help="model folder, the name of a shipped model, or PROJECT.mgp:NAME (a project's model)")
    a("folder", type=Path, metavar="FOLDER")
    a("--recursive", action="store_true", help="include subfolders")
    a("--out", type=Path, default=Path("results.csv"),
      help="CSV to write (default results.csv); files it already lists unchanged are skipped, "
           "rows of files not in FOLDER are kept")
    a("--batch", type=int, default=32)
    a("--workers", type=int, default=2, help="background image decoders")
    a("--device", default="auto")
    add_dask_option(parser, "files")
    add_engine_option(parser)
    add_output_options(parser)


def run(args: argparse.Namespace) -> int:
    from matlab_gui.jobs.classify import ClassifyRequest, run_classify
    from matlab_gui.ml.model_lookup import model_folder

    bars = StageBars(args.quiet)
    with model_folder(args.model, model_export_place(args, args.out.parent)) as model:
        request = ClassifyRequest(model=model, folder=args.folder, recursive=args.recursive,
                                  out=args.out, device=args.device, batch=args.batch,
                                  workers=args.workers, engine=args.engine,
                                  dask=args.dask)
        try:
            outcome = run_classify(request, progress=bars)
        finally:
            bars.close()
    engine_note(args, outcome.engine_note)
    lost_workers_note(outcome.lost_workers)
    for row in outcome.rows:
        if row.error:
            error_line(f"{row.path}: error: {row.error}")
    summary = {"classified": outcome.classified, "skipped": outcome.skipped,
               "failed": outcome.failed, "out": str(args.out), "classes": outcome.class_names,
               "wall_s": round(outcome.wall_s, 3), "engine": outcome.engine,
               "lost_workers": outcome.lost_workers}
    result(args, summary, [
        f"classified {outcome.classified}, skipped {outcome.skipped} already done, "
        f"{outcome.failed} unreadable -> {args.out} ({outcome.wall_s:.1f} s)"])
    return 0 if outcome.any_classified else 1
