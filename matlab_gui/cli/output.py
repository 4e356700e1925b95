"""How the commands talk: results on stdout, everything else on stderr, bars only on a terminal.

A script reads stdout (`--json` prints one JSON object there, nothing else); progress, notes and
per-file errors go to stderr. Progress bars are drawn only when stderr is a terminal: in a log
file each redraw would be a new line. `--quiet` leaves only the result and the errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars or notes; only the result and errors")
    parser.add_argument("--json", action="store_true",
                        help="print the result as one JSON object on stdout")


def add_engine_option(parser: argparse.ArgumentParser) -> None:
    from matlab_gui.ml.engine_choice import ENGINES, HELP

    parser.add_argument("--engine", choices=ENGINES, default="auto", help=HELP)


def add_dask_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--dask", metavar="SCHEDULER",
        help=f"share the {what} over a Dask cluster: a scheduler address (tcp://host:8786) or "
             "local:N (N worker processes on this machine); the output folder must be one the "
             "workers can reach")


def model_export_place(args: argparse.Namespace, outputs: Path) -> Path | None:
    """Where a project's model (`PROJECT.mgp:NAME`) is exported for the run: the system's
    temporary folder, except with a remote Dask cluster, whose workers read it beside the
    outputs (on the file system they must share anyway)."""
    from matlab_gui.jobs.dask_runner import LOCAL_PREFIX

    remote = args.dask is not None and not args.dask.startswith(LOCAL_PREFIX)
    return outputs if remote else None


def lost_workers_note(lost: list[str]) -> None:
    """Dead workers are said on stderr: their files were rerun elsewhere."""
    if lost:
        error_line(f"note: {len(lost)} Dask worker(s) died during the run ({', '.join(lost)}); "
                   "their files were rerun on other workers")


def engine_note(args: argparse.Namespace, note_text: str) -> None:
    """A fallback to torch is said on stderr (also with --quiet: the user asked for speed)."""
    if note_text:
        error_line(f"note: {note_text}")


def bars_wanted(quiet: bool) -> bool:
    """Progress bars on an interactive terminal only (never in a log file or a pipe)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return not quiet and bool(isatty and isatty())


def note(args: argparse.Namespace, text: str) -> None:
    """A line for the person watching, on stderr; silent with --quiet."""
    if not getattr(args, "quiet", False):
        print(text, file=sys.stderr, flush=True)


def error_line(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def result(args: argparse.Namespace, summary: dict, lines: list[str]) -> None:
    """The command's result: `summary` as JSON with --json, else `lines` of text."""
    if getattr(args, "json", False):
        print(json.dumps(summary, ensure_ascii=False, default=str))
    else:
        for line in lines:
            print(line)


class StageBars:
    """One tqdm bar per job stage, replaced when a stage starts over (next image); nothing at
    all when bars are not wanted (see `bars_wanted`)."""

    def __init__(self, quiet: bool = False):
        self.enabled, self.bars = bars_wanted(quiet), {}

    def __call__(self, event) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(event.stage)
        if bar is None or bar.total != event.total or event.done < bar.n:
            if bar is not None:
                bar.close()
            bar = self.bars[event.stage] = tqdm(total=event.total, desc=event.stage,
                                                dynamic_ncols=True, leave=False)
        if event.message:
            bar.set_postfix_str(event.message, refresh=False)
        bar.update(event.done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()
