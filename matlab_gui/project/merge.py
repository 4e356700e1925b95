"""Three-way merge of a project's metadata, for a save onto a file another process saved since.

`base` is the metadata as this process last read or wrote it, `ours` its unsaved state, `theirs`
what is on disk now. A change made on one side only is kept; the same change on both sides is
kept once; different changes to the same thing (one image's label, the class list) are a
conflict, and nothing is merged: the caller refuses the save and keeps the user's work.
"""

from __future__ import annotations

from dataclasses import fields, replace

from matlab_gui.errors import ProjectConflictError
from matlab_gui.project.schema import ImageRecord, Meta

_MISSING = object()


class MergeConflict(ProjectConflictError):
    """Both this process and another one changed the same part of the project."""

    def __init__(self, conflicts: list[str], path=None):
        self.conflicts = conflicts
        shown = "; ".join(conflicts[:5]) + (f"; and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
        super().__init__(
            "another program saved changes to this project since you opened it, to the same "
            f"things you changed ({shown}). Nothing was saved and your changes are kept: use "
            "Save As to keep them in a new project file",
            path,
        )


def _pick(what: str, base, ours, theirs, conflicts: list[str]):
    """The merged value of one item (any of them may be _MISSING)."""
    if ours == base or ours == theirs:
        return theirs
    if theirs == base:
        return ours
    conflicts.append(what)
    return ours


def _merge_record(image_id: str, base, ours, theirs, conflicts: list[str]):
    """One image's record, field by field; _MISSING when the merged result removes it."""
    if _MISSING in (base, ours, theirs):
        name = next(r.name for r in (ours, theirs, base) if r is not _MISSING)
        return _pick(f"image {name!r} (added, removed or edited)", base, ours, theirs, conflicts)
    merged = {}
    for f in fields(ImageRecord):
        merged[f.name] = _pick(
            f"image {ours.name!r}: {f.name}",
            getattr(base, f.name), getattr(ours, f.name), getattr(theirs, f.name), conflicts,
        )
    return replace(theirs, **merged)


def merge(base: Meta, ours: Meta, theirs: Meta, path=None, prefer_ours: bool = False) -> Meta:
    """`theirs` with every change `ours` made since `base`; MergeConflict where both changed,
    unless `prefer_ours` (Save As after a conflict: the user keeps their version)."""
    conflicts: list[str] = []
    records = {}
    for image_id in [*theirs.records, *(i for i in ours.records if i not in theirs.records)]:
        record = _merge_record(
            image_id,
            base.records.get(image_id, _MISSING),
            ours.records.get(image_id, _MISSING),
            theirs.records.get(image_id, _MISSING),
            conflicts,
        )
        if record is not _MISSING:
            records[image_id] = record
    models = {}
    for name in [*theirs.models, *(n for n in ours.models if n not in theirs.models)]:
        files = _pick(f"model {name!r}", base.models.get(name, _MISSING),
                      ours.models.get(name, _MISSING), theirs.models.get(name, _MISSING), conflicts)
        if files is not _MISSING:
            models[name] = files
    merged = Meta(
        classes=_pick("the class list", base.classes, ours.classes, theirs.classes, conflicts),
        records=records,
        models=models,
        current_model=_pick("the current model", base.current_model, ours.current_model,
                            theirs.current_model, conflicts),
        # view state (last image, zoom) is not worth refusing a save for: ours wins
        settings=_pick("view settings", base.settings, ours.settings, theirs.settings, []),
        generation=theirs.generation,
    )
    if merged.current_model not in merged.models:
        merged.current_model = None
    if conflicts and not prefer_ours:
        raise MergeConflict(conflicts, path)
    return merged
