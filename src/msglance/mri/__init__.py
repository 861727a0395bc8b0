"""Undersampled MRI reconstruction: k-space, masks, slice datasets and networks.

- :mod:`msglance.mri.fft` — centred orthonormal ``fft2c``/``ifft2c`` and complex helpers;
- :mod:`msglance.mri.masks` — fastMRI random/equispaced column masks, fixed per slice id;
- :mod:`msglance.mri.datasets` — MNI152 (bundled), IXI NIfTI, fastMRI ``.h5``, s1045 slices;
- :mod:`msglance.mri.networks` — fastMRI U-Net, hard data consistency, ``ReconNet``.
"""

from msglance.mri.datasets import (
    DataFileError,
    FastMRISlices,
    IXISlices,
    MNISlices,
    S1045Slice,
    contiguous_split,
    mni_split,
)
from msglance.mri.fft import (
    complex_abs,
    fft2c,
    ifft2c,
    simulate_single_coil,
    to_complex,
    to_real_imag,
)
from msglance.mri.masks import (
    PRESETS,
    achieved_acceleration,
    apply_mask,
    equispaced_mask,
    load_masks,
    make_mask,
    mask_for_slice,
    random_mask,
    save_masks,
)
from msglance.mri.networks import ReconNet, UNet, count_parameters, data_consistency

__all__ = [
    "DataFileError",
    "FastMRISlices",
    "IXISlices",
    "MNISlices",
    "S1045Slice",
    "contiguous_split",
    "mni_split",
    "complex_abs",
    "fft2c",
    "ifft2c",
    "simulate_single_coil",
    "to_complex",
    "to_real_imag",
    "PRESETS",
    "achieved_acceleration",
    "apply_mask",
    "equispaced_mask",
    "load_masks",
    "make_mask",
    "mask_for_slice",
    "random_mask",
    "save_masks",
    "ReconNet",
    "UNet",
    "count_parameters",
    "data_consistency",
]
