"""Model > Export for ONNX / TorchScript…: the current model as a file that runs without the app.

The window asks for a format and a folder and runs the export job (`ml/export.py`: export,
check against the app's own prediction, write) on a `JobWorker` thread; torch is imported and
run only there. The files go into `<folder>/<model>-onnx` (or `-torchscript`), so card.json and
README.md never land among other files. The end shows in the status bar, a failure in a dialog.
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore

from matlab_gui.errors import UserError
from matlab_gui.gui import dialogs
from matlab_gui.gui.job_worker import JobWorker
from matlab_gui.project import names

TITLE = "Export for ONNX / TorchScript"
FORMATS = {"ONNX": "onnx", "TorchScript": "torchscript"}
SHIPPED, PROJECT = "shipped:", "project:"  # the model keys of gui/model_features.py


def export_job(request: dict, progress=None, cancel=None):
    """In the worker thread: `ml.export.run_export` (the one place torch is imported for it)."""
    from matlab_gui.ml.export import ExportRequest, run_export

    return run_export(ExportRequest(**request), progress=progress, cancel=cancel)


class PortableExport(QtCore.QObject):
    """The menu entry's controller: one export at a time."""

    def __init__(self, features):
        super().__init__(features)
        self.features, self.window = features, features.window
        self.worker = JobWorker(self)
        self.worker.finished.connect(self._done)
        self.worker.failed.connect(self._failed)
        self.worker.cancelled.connect(lambda: self._status("Export cancelled."))

    def _status(self, text: str, ms: int = 10000) -> None:
        self.window.statusBar().showMessage(text, ms)

    def ask(self) -> None:
        """Format, then folder, then the job; nothing runs when either is cancelled."""
        features, key = self.features, self.features.current_key
        if self.worker.busy:
            dialogs.warning(self.window, TITLE, "An export is running: wait for it to finish.")
            return
        project_model = key is not None and key.startswith(PROJECT)
        if key is None or (project_model and features.project is None):
            dialogs.error(self.window, "No model", "There is no current model to export.")
            return
        name = key.split(":", 1)[1] if key.startswith((SHIPPED, PROJECT)) else Path(key).name
        label = dialogs.choice(self.window, TITLE, f"Export model {name} as:", list(FORMATS))
        if label is None:
            return
        dest = dialogs.folder(self.window, f"Export model {name} as {label} into a folder")
        if dest is None:
            return
        fmt = FORMATS[label]
        try:
            out = names.inside(dest, f"{name}-{fmt}", "model name")
            if project_model:
                self.window.session.wait()  # the project's model is read out here, in its thread
            source = features.model_dir(key)
        except (OSError, ValueError, UserError) as exc:
            dialogs.error(self.window, "Cannot export the model", str(exc))
            return
        self.worker.start(export_job, {"model": source, "format": fmt, "out": out})
        self._status(f"Exporting {name} as {label} to {out}…", 0)

    def _done(self, result) -> None:
        self._status(f"Exported {result.model} as {result.format} to {result.model_file} "
                     f"(max difference from the app's prediction {result.max_abs_diff:.1e})")

    def _failed(self, message: str) -> None:
        self._status("Export failed.")
        dialogs.error(self.window, "Cannot export the model", message)
