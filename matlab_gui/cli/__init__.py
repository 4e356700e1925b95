"""`matlab-gui`: no arguments opens the GUI, a subcommand runs the same jobs headless.

Each subcommand lives in its own module `matlab_gui/cli/cmd_<name>.py` with `NAME`, `HELP`,
`add_arguments(parser)` and `run(args) -> int`. Modules are discovered, so adding a command
touches no shared file. Heavy imports (torch) happen inside `run`, keeping `--version` fast.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from types import ModuleType

from matlab_gui import __version__
from matlab_gui.errors import UserError

EXIT_USER_ERROR = 2


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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices)  # noqa: SLF001
    wants_gui = not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help", "--version"))
    try:
        if wants_gui:
            gui_args = _gui_parser().parse_args(argv)
            from matlab_gui.gui.app import run_gui

            return run_gui(gui_args.paths, screenshot=gui_args.screenshot, size=gui_args.size)
        args = parser.parse_args(argv)
        return int(args._run(args) or 0)
    except UserError as exc:
        print(f"matlab-gui: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("matlab-gui: interrupted", file=sys.stderr)
        return 130
