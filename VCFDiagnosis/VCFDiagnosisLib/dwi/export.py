"""Write a DwiVolume as a 4D NIfTI (x, y, z, b) with an FSL ``.bval`` next to it.

The NIfTI affine (sform and qform, written by SimpleITK from LPS origin/spacing/direction) equals
``dwi.ijk_to_ras``; volume t holds ``data[t]`` and the ``.bval`` line holds ``bvalues_s_mm2[t]``.
Both files are written to temporary names in the target folder and moved into place with
``os.replace`` (a reader never sees half a file); existing files are refused unless ``force=True``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .errors import DwiInputError
from .volume import LPS_TO_RAS, DwiVolume


def bval_path_for_output(nifti_path: str | os.PathLike) -> Path:
    """Return the ``.bval`` path that goes with ``nifti_path`` (``x.nii.gz`` / ``x.nii`` -> ``x.bval``)."""
    path = Path(nifti_path)
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".bval")
    raise DwiInputError(f"{path}: output must end in .nii.gz or .nii")


def dwi_to_sitk(dwi: DwiVolume) -> sitk.Image:
    """Return the DWI as a 4D SimpleITK image (size i, j, k, b; LPS geometry, unit spacing along b)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(dwi.data, dtype=np.float32), isVector=False)
    lps = LPS_TO_RAS @ dwi.ijk_to_ras
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    direction = np.eye(4)
    direction[:3, :3] = lps[:3, :3] / spacing[None, :]
    image.SetSpacing([*(float(s) for s in spacing), 1.0])
    image.SetOrigin([*(float(v) for v in lps[:3, 3]), 0.0])
    image.SetDirection([float(v) for v in direction.reshape(-1)])
    return image


def _atomic_write(target: Path, write) -> None:
    """Call ``write(tmp_path)`` for a temporary file next to ``target``, then move it onto ``target``."""
    suffix = ".nii.gz" if target.name.endswith(".nii.gz") else target.suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_dwi_nifti(dwi: DwiVolume, path: str | os.PathLike, *, force: bool = False) -> tuple[Path, Path]:
    """Write ``dwi`` as a 4D NIfTI plus ``.bval``; return (nifti path, bval path).

    Raises :class:`DwiInputError` naming the file if an output exists and ``force`` is False, or the
    folder cannot be written.
    """
    nifti_path = Path(path)
    bval_path = bval_path_for_output(nifti_path)
    existing = [p for p in (nifti_path, bval_path) if p.exists()]
    if existing and not force:
        raise DwiInputError(f"{existing[0]}: output exists; use --force to overwrite")
    if not nifti_path.parent.is_dir():
        raise DwiInputError(f"{nifti_path.parent}: output folder does not exist")
    image = dwi_to_sitk(dwi)
    bval_text = " ".join(f"{b:g}" for b in dwi.bvalues_s_mm2) + "\n"
    try:
        _atomic_write(nifti_path, lambda tmp: sitk.WriteImage(image, tmp, True))
        _atomic_write(bval_path, lambda tmp: Path(tmp).write_text(bval_text))
    except (OSError, RuntimeError) as error:
        raise DwiInputError(f"{nifti_path}: cannot write ({str(error).strip().splitlines()[-1]})") from error
    return nifti_path, bval_path
