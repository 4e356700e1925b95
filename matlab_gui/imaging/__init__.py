"""Micrograph I/O, calibration and display views (numpy, OpenCV, scikit-image, tifffile only)."""

from matlab_gui.imaging.formats import IMAGE_SUFFIXES, is_image_file, list_images
from matlab_gui.imaging.read import ImageMeta, Micrograph, read_image, read_mask
from matlab_gui.imaging.write import write_image, write_mask

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageMeta",
    "Micrograph",
    "is_image_file",
    "list_images",
    "read_image",
    "read_mask",
    "write_image",
    "write_mask",
]
