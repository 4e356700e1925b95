"""`matlab-gui repair PROJECT [--out COPY]`: what is damaged in a project, and a repaired copy.

Without --out it lists every problem (mask values included: one pass over the masks) and exits
1 when it found any, 0 for a healthy project, so a script can check a project. With --out it
writes a repaired copy (the project itself is only read) and lists what the copy did.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from matlab_gui.cli.output import StageBars, add_output_options, note, result

NAME = "repair"
HELP = ("List what is missing or inconsistent in a project (exit 1 when anything is); "
        "with --out, save a repaired copy.")
EXIT_PROBLEMS = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("project", type=Path, help="the project (.mgp)")
    parser.add_argument("--out", type=Path, metavar="COPY",
                        help="write a repaired copy here (a new file; the project is not changed)")
    add_output_options(parser)


def _lines(problems) -> list[str]:
    return [p.line() for p in problems]


def _count(problems) -> str:
    return f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"


def run(args: argparse.Namespace) -> int:
    from matlab_gui.project.repair import diagnose, save_repaired_copy

    if args.out is None:
        problems = diagnose(args.project, read_masks=True)
        summary = {"path": str(args.project), "healthy": not problems,
                   "problems": [p.to_json() for p in problems]}
        result(args, summary, _lines(problems) or [f"{args.project}: no problems found"])
        if problems:
            note(args, f"{_count(problems)}; `matlab-gui repair {args.project} --out COPY"
                 ".mgp` saves a repaired copy")
        return EXIT_PROBLEMS if problems else 0
    bars = StageBars(args.quiet)
    try:
        done = save_repaired_copy(args.project, args.out, progress=bars, cancel=args.cancel)
    finally:
        bars.close()
    kept = f"{done.images} images" + (f", {done.left_out} left out" if done.left_out else "")
    result(args, done.to_json(),
           [*_lines(done.problems), f"repaired copy: {done.copy} ({kept}; "
            f"{_count(done.problems)} resolved)"])
    return 0
