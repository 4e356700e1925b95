"""`matlab-gui`: no arguments opens the GUI, a subcommand runs the same jobs headless.

Each subcommand lives in its own module `matlab_gui/cli/cmd_<name>.py` with `NAME`, `HELP`,
`add_arguments(parser)` and `run(args) -> int`. Modules are discovered, so adding a command
touches no shared file. Heavy imports (torch) happen inside `run`, keeping `--version` fast.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import pkgutil
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from matlab_gui import __version__
from matlab_gui.errors import UserError
from matlab_gui.progress import Cancelled, CancelToken

EXIT_USER_ERROR = 2
EXIT_CANCELLED = 130  # 128 + SIGINT, what shells report for Ctrl+C


def _command_modules() -> list[ModuleType]:
    names = sorted(
        m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("cmd_")
    )
    return [importlib.import_module(f"{__name__}.{n}") for n in names]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matlab-gui",
        description="Label micrographs, fine-tune CNNs and run them. "
        "Without a command, opens the GUI on the given files or project.",
    )
    parser.add_argument("--version", action="version", version=f"matlab-gui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def _gui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="matlab-gui", add_help=False)
    parser.add_argument("--screenshot", metavar="OUT.png")
    parser.add_argument("--size", metavar="WxH")
    parser.add_argument("paths", nargs="*")
    return parser


@contextmanager
def _ctrl_c_cancels() -> Iterator[CancelToken]:
    """A token that Ctrl+C sets, besides raising KeyboardInterrupt as usual.

    The token stays set where the exception does not get through: optional C extensions turn
    any exception raised while they import their dependencies (pybind11's module init, numpy's
    import_array, PyCapsule_Import) into ImportError, which their importers take for "not
    installed". A job passed the token stops at its next check instead of finishing and saving.
    """
    token = CancelToken()
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield token  # started with Ctrl+C ignored (e.g. `nohup`): keep it so
        return

    def on_ctrl_c(signum, frame):
        token.cancel()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield token
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _run_command(parser: argparse.ArgumentParser, argv: list[str]) -> int:
    """Run a subcommand; whatever error follows a Ctrl+C is reported as the Ctrl+C it came from
    (a C extension's ImportError, say, or a job's half-read data)."""
    with _ctrl_c_cancels() as cancel:
        args = parser.parse_args(argv)
        args.cancel = cancel
        try:
            return int(args._run(args) or 0)
        except Exception:
            if cancel.cancelled:
                raise Cancelled() from None
            raise


def gui_arguments(argv: list[str], commands: list[str]) -> argparse.Namespace:
    """The window's arguments. A first word that is neither a command nor a file, folder or
    project to open is a mistyped command: say so (and which was meant) instead of starting
    the window; an unknown option likewise."""
    args, unknown = _gui_parser().parse_known_args(argv)
    first = args.paths[0] if args.paths else None
    if first is not None and not Path(first).exists() and Path(first).suffix.lower() != ".mgp":
        close = difflib.get_close_matches(first, commands, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f" (commands: {', '.join(commands)})"
        raise UserError(f"unknown command or no such file '{first}'{hint}")
    if unknown:
        raise UserError(f"unknown option '{unknown[0]}' (see matlab-gui --help)")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser()
        commands = sorted(parser._subparsers._group_actions[0].choices)  # noqa: SLF001
        wants_gui = not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help", "--version"))
        if wants_gui:
            gui_args = gui_arguments(argv, commands)
            from matlab_gui.gui.app import run_gui

            return run_gui(gui_args.paths, screenshot=gui_args.screenshot, size=gui_args.size)
        return _run_command(parser, argv)
    except UserError as exc:
        print(f"matlab-gui: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except (KeyboardInterrupt, Cancelled):
        print("matlab-gui: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
