"""Errors a user can act on.

Every failure caused by the user's input (a file, a folder, a model, a project) is a
`UserError` whose message names the thing and the problem in one line. The CLI prints it
and exits with code 2, the GUI shows it in a dialog and a batch job records it per file.
Anything that is not a `UserError` is a bug and may show a traceback.
"""

from __future__ import annotations

from pathlib import Path


def library_reason(exc: BaseException, limit: int = 120) -> str:
    """A library exception's first line, short enough to quote inside our one-line message."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


class UserError(Exception):
    """A problem with the user's input, explained in one line."""

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        self.problem = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class ImageReadError(UserError):
    """An image file that cannot be read (missing, empty, truncated, corrupt)."""


class UnsupportedImageError(ImageReadError):
    """A file in a format or pixel type the app does not handle."""


class ImageWriteError(UserError):
    """An image or mask that cannot be written where the user asked."""


class ProjectError(UserError):
    """A project file that cannot be opened or saved."""


class ProjectLockedError(ProjectError):
    """The project is open for editing in another window."""


class ProjectConflictError(ProjectError):
    """Another process saved changes to the same things as this one's unsaved changes."""


class SchemaTooNewError(ProjectError):
    """A project written by a newer version of the app."""


class ModelError(UserError):
    """A model folder that cannot be loaded or does not fit the data."""


class DataError(UserError):
    """Training or evaluation data that cannot be used (no labels, bad layout)."""
