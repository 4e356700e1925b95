"""`matlab-gui suggest`: which images to label next, the model's most uncertain first."""

from __future__ import annotations

import argparse
from pathlib import Path

from matlab_gui.cli.output import (
    StageBars,
    add_engine_option,
    add_output_options,
    engine_note,
    error_line,
    note,
    result,
)

NAME = "suggest"
HELP = ("Rank a project's or a folder's images by the model's uncertainty: the ones worth "
        "labelling next first, with the most uncertain tile of each large image.")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from matlab_gui.jobs.suggest import GRID

    a = parser.add_argument
    a("--model", required=True,
      help="model folder, the name of a shipped model, or PROJECT.mgp:NAME (a project's model)")
    a("source", type=Path, metavar="PROJECT_OR_FOLDER",
      help="a project file (.mgp) or a folder of images")
    a("--top", type=_positive, metavar="K", help="list only the K most uncertain images")
    a("--grid", type=_positive, default=GRID, metavar="PX",
      help=f"cell size in pixels for the most uncertain tile of a large image (default {GRID})")
    a("--recursive", action="store_true", help="a folder's subfolders too")
    a("--device", default="auto")
    add_engine_option(parser)
    add_output_options(parser)


def table(rows: list[dict]) -> list[str]:
    """rank, image, score, most uncertain tile (x, y, w, h), one line each."""
    width = max([len("image"), *(len(r["name"]) for r in rows)])
    lines = [f"{'rank':>4}  {'image':<{width}}  {'score':>6}  tile (x, y, w, h)"]
    for r in rows:
        t = r["tile"]
        tile = "-" if t is None else f"{t['x']}, {t['y']}, {t['w']}, {t['h']}"
        lines.append(f"{r['rank']:>4}  {r['name']:<{width}}  {r['score']:>6.4f}  {tile}")
    return lines


def run(args: argparse.Namespace) -> int:
    from matlab_gui.jobs.suggest import SuggestRequest, run_suggest
    from matlab_gui.ml.model_lookup import model_folder

    bars = StageBars(args.quiet)
    with model_folder(args.model) as model:
        request = SuggestRequest(model=model, source=args.source, recursive=args.recursive,
                                 grid=args.grid, device=args.device, engine=args.engine)
        try:
            outcome = run_suggest(request, progress=bars, cancel=getattr(args, "cancel", None))
        finally:
            bars.close()
    engine_note(args, outcome.engine_note)
    for item in outcome.failed:
        error_line(f"{item.name}: error: {item.error}")
    shown = outcome.ranking[:args.top] if args.top else outcome.ranking
    rows = [item.to_json(rank) for rank, item in enumerate(shown, 1)]
    note(args, f"ranked {len(outcome.ranking)} images ({len(outcome.failed)} failed) by the "
               f"{outcome.task} model's uncertainty in {outcome.wall_s:.1f} s; {outcome.engine}")
    result(args, rows, table(rows))
    return 0 if outcome.ranking else 1
