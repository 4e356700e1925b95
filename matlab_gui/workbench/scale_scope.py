"""Which images a pixel size measured on one image is given to: that image, the images selected
in the list, or every image of the project with the same width and height (a series taken at
one magnification exports at one size; the user decides whether that holds)."""

from __future__ import annotations

from collections.abc import Iterable

from matlab_gui.project import Project

SCOPES = ("image", "selected", "same_size")


def same_size_images(project: Project, image_id: str) -> list[str]:
    """Every image of the project as wide and as tall as `image_id` (itself included)."""
    size = tuple(project.record(image_id).shape[:2])
    return [i for i in project.image_ids if tuple(project.record(i).shape[:2]) == size]


def images_in_scope(project: Project, image_id: str, scope: str,
                    selected: Iterable[str] = ()) -> list[str]:
    """The ids `scope` names, in the project's order. "selected" falls back to `image_id`
    when nothing (still in the project) is selected."""
    if scope == "image":
        return [image_id]
    if scope == "same_size":
        return same_size_images(project, image_id)
    if scope == "selected":
        chosen = set(selected)
        return [i for i in project.image_ids if i in chosen] or [image_id]
    raise ValueError(f"unknown scope {scope!r} (one of {', '.join(SCOPES)})")
