"""One entry point for every DWI input: :func:`load_dwi` (DICOM folder or file, 4D NIfTI + .bval, NRRD).

Dispatch by what ``path`` is: a folder is searched recursively for DICOM; ``*.nii`` / ``*.nii.gz`` is a 4D
NIfTI with an FSL ``.bval`` of the same stem (read by :mod:`.nifti`); ``*.nrrd`` / ``*.nhdr`` is a
Slicer diffusion NRRD (:mod:`.nrrd`); any other file is tried as one DICOM file (e.g. an enhanced
multi-frame file holding a whole series). Every failure is a :class:`~.errors.DwiInputError` whose
message names the file and the problem.

:func:`check_image_file` checks a NIfTI or NRRD file (a label map, a ``.seg.nrrd``) completely (header,
data size, compressed stream) without keeping its voxels: call it before handing a file to a reader that
would accept a truncated or corrupt file (ITK/VTK readers fill the missing voxels with zeros).
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DwiInputError
from .volume import DwiVolume

NIFTI_SUFFIXES = (".nii.gz", ".nii")
NRRD_SUFFIXES = (".nrrd", ".nhdr")


def input_kind(path: str | os.PathLike) -> str:
    """Return 'dicom', 'nifti' or 'nrrd' for ``path`` (a folder is DICOM); raise if it does not exist."""
    path = Path(path)
    if path.is_dir():
        return "dicom"
    if not path.exists():
        raise DwiInputError(f"{path}: file not found: no such file or folder")
    name = path.name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    if name.endswith(NRRD_SUFFIXES):
        return "nrrd"
    return "dicom"


def check_image_file(path: str | os.PathLike) -> None:
    """Raise :class:`DwiInputError` naming ``path`` if a NIfTI/NRRD file is truncated, corrupt or oversized.

    Other files are not checked (DICOM is checked when it is read). Streams through compressed data with the
    caps of :mod:`.limits`; memory stays at one chunk.
    """
    name = Path(path).name.lower()
    if name.endswith(NIFTI_SUFFIXES):
        from .nifti_file import verify_nifti_file

        verify_nifti_file(path)
    elif name.endswith(NRRD_SUFFIXES):
        from .nrrd import verify_nrrd_file

        verify_nrrd_file(path)


def load_dwi(path: str | os.PathLike, series: str | int | None = None, *, min_bvalues: int = 2) -> DwiVolume:
    """Return the multi-b DWI at ``path`` (DICOM folder/file, 4D NIfTI + .bval, or diffusion NRRD).

    ``series`` chooses among several DICOM DWI series (number, UID or description; ignored for NIfTI and
    NRRD). ``min_bvalues`` distinct b-values are required (2 for IVIM; 1 accepts a single trace).
    ``metadata["format"]`` says which reader was used; ``metadata["warnings"]`` lists warnings.
    """
    kind = input_kind(path)
    if kind == "dicom":
        from .dicom import load_dwi_dicom

        dwi = load_dwi_dicom(path, series, min_bvalues=min_bvalues)
        dwi.metadata.setdefault("format", f"dicom-{dwi.metadata.get('dicom_layout', 'classic')}")
    elif kind == "nrrd":
        from .nrrd import load_dwi_nrrd

        dwi = load_dwi_nrrd(path, min_bvalues=min_bvalues)
    else:
        from . import nifti

        try:
            dwi = nifti.read_dwi_nifti(path)
        except ValueError as error:
            raise DwiInputError(str(error)) from error
        if dwi.bvalues_s_mm2.size < min_bvalues:
            raise DwiInputError(f"{path}: only {dwi.bvalues_s_mm2.size} b-value; at least {min_bvalues} needed")
        dwi.metadata.setdefault("format", "nifti")
        dwi.metadata.setdefault("warnings", [] if dwi.bvalues_s_mm2[0] < 1 else
                                [f"{path}: no b = 0 volume (lowest b = {dwi.bvalues_s_mm2[0]:g} s/mm2)"])
    return dwi
