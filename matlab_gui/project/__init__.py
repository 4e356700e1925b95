"""The project file: one HDF5 file (`.mgp`) with images, masks, labels, predictions and models.

No torch and no Qt here: the GUI, the jobs and the CLI all read and write projects through this.
"""

from matlab_gui.project.schema import PROJECT_SUFFIX, SCHEMA_VERSION, ClassDef, ImageRecord
from matlab_gui.project.store import Project

__all__ = ["PROJECT_SUFFIX", "SCHEMA_VERSION", "ClassDef", "ImageRecord", "Project"]
