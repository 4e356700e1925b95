"""`matlab-gui info PATH [--json]`: what an image or a project holds, without opening the GUI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matlab_gui.errors import UserError
from matlab_gui.file_kinds import is_project

NAME = "info"
HELP = "Show size, type, pixel size and pages of an image, or the classes and images of a project."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", type=Path, help="an image file or a project (.mgp)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def image_info(path: Path) -> dict:
    from matlab_gui.imaging.read import read_header

    meta = read_header(path)
    return {
        "path": str(path),
        "format": meta.format,
        "width": meta.width,
        "height": meta.height,
        "channels": meta.channels,
        "dtype": meta.dtype,
        "pixel_size_m": meta.pixel_size_m,
        "pages": meta.pages,
        "pixel_size_source": meta.pixel_size_source,
        "notes": list(meta.notes),
    }


def _damage(path: Path) -> list:
    """The problems `repair` would list (attributes and dataset shapes only: cheap), or [] when
    the file is no project at all or one from a newer app."""
    from matlab_gui.errors import ProjectError
    from matlab_gui.project.repair import diagnose

    try:
        return diagnose(path)
    except ProjectError:
        return []


def _repair_hint(path: Path, problems: list) -> str:
    return (f"damaged ({len(problems)} problem{'s' if len(problems) != 1 else ''}): "
            f"`matlab-gui repair {path}` lists them and saves a repaired copy")


def project_info(path: Path) -> dict:
    from matlab_gui.errors import ProjectError
    from matlab_gui.project import Project

    try:
        project = Project.open(path)
    except ProjectError as exc:  # a damaged project, or none at all (then no hint)
        problems = _damage(path)
        if problems:
            raise ProjectError(f"{exc.problem}; {_repair_hint(path, problems)}", path) from exc
        raise
    problems = _damage(path)
    with project:
        records = [project.record(i) for i in project.image_ids]
        return {
            "path": str(path),
            "format": "project",
            "classes": [
                {"index": c.index, "name": c.name, "color": list(c.color)} for c in project.classes
            ],
            "images": len(records),
            "labelled_images": sum(r.has_mask for r in records),
            "image_labels": sum(r.label is not None for r in records),
            "models": project.model_names(),
            "notes": list(project.notices) + ([_repair_hint(path, problems)] if problems else []),
        }


def _print_table(info: dict) -> None:
    for key, value in info.items():
        if key == "classes":
            value = ", ".join(f"{c['index']}={c['name']}" for c in value) or "(none)"
        elif key == "notes":
            value = "; ".join(value) or "-"
        elif key == "pixel_size_m" and value is not None:
            value = f"{value:.6g} m ({value * 1e9:.4g} nm)"
        print(f"{key:>18}: {value}")


def run(args: argparse.Namespace) -> int:
    path: Path = args.path
    if not path.exists():
        raise UserError("no such file", path)
    if path.is_dir():
        raise UserError("is a folder, not an image or project file", path)
    info = project_info(path) if is_project(path) else image_info(path)
    if args.json:
        print(json.dumps(info))
    else:
        _print_table(info)
    return 0
