"""Image data for msglance: embedded sample sets (read from installed wheels, never
downloaded) and readers for users' own images and NIfTI volumes."""

from msglance.data.embedded import (
    Sample,
    available_datasets,
    load_dataset,
    load_image_folder,
    square_resize,
)
from msglance.data.readers import (
    SUPPORTED_EXTENSIONS,
    UnreadableFileError,
    list_images,
    read_image,
    read_nifti,
)

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "Sample",
    "UnreadableFileError",
    "available_datasets",
    "list_images",
    "load_dataset",
    "load_image_folder",
    "read_image",
    "read_nifti",
    "square_resize",
]
