"""The one list of data files a release carries, for both the wheel (setup.py) and the
PyInstaller bundle (matlab_gui.spec): sample micrographs, style sheet, icon and the shipped
model folders. They land in `matlab_gui/_bundled/`, where `matlab_gui.resources` looks first.

README screenshots, `models/ship.py` and the training splits stay in the source tree only.
"""

from __future__ import annotations

from pathlib import Path

BUNDLED = "matlab_gui/_bundled"
RESOURCE_FOLDERS = ("samples", "style", "icons")
MODEL_FILES = ("card.json", "model.safetensors")


def bundled_files(root: Path) -> list[tuple[Path, str]]:
    """(source file, path inside the installed package tree) for everything a release ships."""
    files = []
    for folder in RESOURCE_FOLDERS:
        for src in sorted((root / "resources" / folder).glob("*")):
            if src.is_file():
                files.append((src, f"{BUNDLED}/resources/{folder}/{src.name}"))
    for card in sorted((root / "models").glob("*/card.json")):
        for name in MODEL_FILES:
            files.append((card.parent / name, f"{BUNDLED}/models/{card.parent.name}/{name}"))
    missing = [str(src) for src, _ in files if not src.is_file()]
    if missing:
        raise FileNotFoundError(f"release files missing: {', '.join(missing)}")
    return files
