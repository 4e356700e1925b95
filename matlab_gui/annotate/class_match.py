"""Which project class each of a model's output classes is: by name, else by position.

A model's outputs are positions 0..N-1 with names; a project's classes are indices with names.
Matching by count alone maps a model trained on (matrix, pore, grain) onto a project listing
(pore, matrix, grain) silently wrong, and Accept then writes that into the annotation. So names
decide; position is used only when no name is shared (a new project still called "Phase 1",
"Phase 2"), and then the result says so; anything else does not fit.
"""

from __future__ import annotations

from dataclasses import dataclass

from matlab_gui.project.schema import ClassDef


def _key(name: str) -> str:
    return " ".join(str(name).casefold().split())


@dataclass(frozen=True)
class ClassMatch:
    """`indices[k]`: the project class index of model output k; None when the model does not
    fit. `note`: what the user should be told (empty for a clean match by name)."""

    indices: tuple[int, ...] | None
    note: str = ""

    @property
    def fits(self) -> bool:
        return self.indices is not None


def match_classes(model_names: list[str], project_classes: list[ClassDef]) -> ClassMatch:
    """How a model's classes land in the project (see the module docstring)."""
    project = sorted(project_classes, key=lambda c: c.index)
    by_name = {_key(c.name): c for c in project}
    found = [by_name.get(_key(n)) for n in model_names]
    model_list = ", ".join(model_names)
    project_list = ", ".join(c.name for c in project) or "none"
    if all(found) and len({c.index for c in found}) == len(found):
        return ClassMatch(tuple(c.index for c in found))
    if not any(found) and len(project) == len(model_names):
        pairs = ", ".join(f"{m} → {c.name}" for m, c in zip(model_names, project, strict=True))
        return ClassMatch(tuple(c.index for c in project),
                          f"No class names in common: matched by position ({pairs}).")
    return ClassMatch(None, f"The model's classes ({model_list}) do not fit the project's "
                            f"({project_list}): rename the project's classes to match, or use "
                            "Model > Use the model's classes.")


def classes_from_model(names: list[str], colors: list[tuple[int, int, int]],
                       current: list[ClassDef], used: set[int]) -> tuple[list[ClassDef], dict[int, int]]:
    """The project classes a model defines (index k+1 for output k) and how painted indices
    move. A current class the model also has (by name) goes to the model's index; one it lacks
    stays, after the model's classes, if anything is painted or labelled with it (`used`), so
    no annotation changes its meaning or is lost; unused ones go."""
    new = [ClassDef(k + 1, name, tuple(color))
           for k, (name, color) in enumerate(zip(names, colors, strict=True))]
    position = {_key(c.name): c.index for c in new}
    mapping = {}
    for c in sorted(current, key=lambda c: c.index):
        if _key(c.name) in position:
            mapping[c.index] = position[_key(c.name)]
        elif c.index in used:
            new.append(ClassDef(len(new) + 1, c.name, c.color))
            mapping[c.index] = len(new)
    return new, {old: to for old, to in mapping.items() if old != to}
