"""Write a DwiVolume as a 4D NIfTI (x, y, z, b) with an FSL ``.bval`` next to it, fast.

* Geometry: the NIfTI affine (sform and qform, written by SimpleITK from LPS origin/spacing/direction) equals
  ``dwi.ijk_to_ras``; volume t holds ``data[t]`` and the ``.bval`` line holds ``bvalues_s_mm2[t]`` (s/mm2).
* Voxel type: the source's integer type is kept when it is exact. When every value of ``dwi.data`` is an
  integer within the range of the type the pixels were stored as (``metadata["stored_pixel_type"]``, e.g. the
  DICOM uint16 or int16), else of uint16, else of int16, the file holds that integer type (``scl_slope`` 1,
  ``scl_inter`` 0): the values read back are exactly ``dwi.data``. Otherwise (averaged repeats with a
  non-integer mean, a geometric-mean trace, a rescale slope, NaN) it holds float32, as the data are in memory.
* Compression (``.nii.gz``): SimpleITK writes the uncompressed ``.nii``; it is then gzipped at level
  :data:`GZIP_LEVEL` (1, fastest) by Python's ``gzip`` (:func:`gzip_file`). ITK's own NIfTI gzip ignores the
  level it is given (measured: the same bytes for levels 0 to 9) and takes ~2.4 s for a 160-image float32
  series; level 1 takes ~0.3 s for the same series in uint16.
* Safety: both files are written under their final names in a hidden staging folder next to the target and
  moved into place with ``os.replace`` (:func:`~VCFDiagnosisLib.outputs.atomic.atomic_output`: a reader never
  sees half a file); existing files are refused unless ``force=True``.
"""

from __future__ import annotations

import gzip
import os
import shutil
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..outputs.atomic import atomic_output
from .errors import DwiInputError
from .volume import LPS_TO_RAS, DwiVolume

#: deflate level of written ``.nii.gz`` files (1 = fastest; dcm2niix's ``-z y`` runs pigz at level 6)
GZIP_LEVEL = 1
#: bytes read per step while compressing
GZIP_COPY_BYTES = 4 << 20
#: integer voxel types tried, in this order, after the source's own type
FALLBACK_INTEGER_TYPES = ("uint16", "int16")


def bval_path_for_output(nifti_path: str | os.PathLike) -> Path:
    """Return the ``.bval`` path that goes with ``nifti_path`` (``x.nii.gz`` / ``x.nii`` -> ``x.bval``)."""
    path = Path(nifti_path)
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.lower().endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".bval")
    raise DwiInputError(f"{path}: output must end in .nii.gz or .nii")


def _integer_candidates(preferred: str | None) -> list[np.dtype]:
    """Return the integer types to try: ``preferred`` (when it names an integer type) then the fallbacks."""
    names = [preferred] if preferred else []
    names += [name for name in FALLBACK_INTEGER_TYPES if name != preferred]
    out = []
    for name in names:
        try:
            dtype = np.dtype(name)
        except TypeError:
            continue
        if dtype.kind in "iu":
            out.append(dtype)
    return out


def exact_integer_voxels(data: np.ndarray, preferred: str | None = None) -> np.ndarray | None:
    """Return ``data`` converted to the first integer type that holds every value exactly, or None.

    Tried in order: ``preferred`` (the source's stored type, e.g. 'uint16'), then
    :data:`FALLBACK_INTEGER_TYPES`. A value that is not a whole number, NaN or infinite gives None.
    """
    if data.size == 0:
        return None
    low, high = float(np.min(data)), float(np.max(data))  # NaN propagates: the range test below fails
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    for dtype in _integer_candidates(preferred):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            converted = data.astype(dtype)
            if np.array_equal(converted, data):
                return converted
    return None


def output_voxels(dwi: DwiVolume) -> np.ndarray:
    """Return the voxels ``[b, k, j, i]`` as written: exact integers (source type kept) or float32."""
    exact = exact_integer_voxels(dwi.data, dwi.metadata.get("stored_pixel_type"))
    return exact if exact is not None else np.ascontiguousarray(dwi.data, dtype=np.float32)


def dwi_to_sitk(dwi: DwiVolume, voxels: np.ndarray | None = None) -> sitk.Image:
    """Return the DWI as a 4D SimpleITK image (size i, j, k, b; LPS geometry, unit spacing along b).

    ``voxels`` (``[b, k, j, i]``, any scalar type) replaces ``dwi.data`` (written as float32) when given.
    """
    values = np.ascontiguousarray(dwi.data, dtype=np.float32) if voxels is None else np.ascontiguousarray(voxels)
    image = sitk.GetImageFromArray(values, isVector=False)
    lps = LPS_TO_RAS @ dwi.ijk_to_ras
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    direction = np.eye(4)
    direction[:3, :3] = lps[:3, :3] / spacing[None, :]
    image.SetSpacing([*(float(s) for s in spacing), 1.0])
    image.SetOrigin([*(float(v) for v in lps[:3, 3]), 0.0])
    image.SetDirection([float(v) for v in direction.reshape(-1)])
    return image


def gzip_file(source: str | os.PathLike, target: str | os.PathLike, level: int = GZIP_LEVEL) -> None:
    """Write ``target`` as the gzip of the file ``source`` at deflate ``level`` (mtime 0: reproducible bytes)."""
    with open(source, "rb") as handle, open(target, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", compresslevel=level, fileobj=raw, mtime=0) as out:
        shutil.copyfileobj(handle, out, GZIP_COPY_BYTES)


def write_nifti_image(image: sitk.Image, path: str | os.PathLike) -> None:
    """Write ``image`` as NIfTI at ``path``: gzipped (:func:`gzip_file`) when the name ends in ``.gz``.

    SimpleITK writes the header and voxels uncompressed to ``image.nii`` in the folder of ``path`` (a
    staging folder: the caller removes what is left there).
    """
    path = Path(path)
    raw = path.with_name("image.nii")
    sitk.WriteImage(image, str(raw), False)
    if path.name.lower().endswith(".gz"):
        gzip_file(raw, path)
        raw.unlink()
    elif raw != path:
        os.replace(raw, path)


def write_dwi_nifti(dwi: DwiVolume, path: str | os.PathLike, *, force: bool = False) -> tuple[Path, Path]:
    """Write ``dwi`` as a 4D NIfTI plus ``.bval``; return (nifti path, bval path).

    The voxel type is the source's integer type when exact, else float32 (see the module docstring).
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
    image = dwi_to_sitk(dwi, output_voxels(dwi))
    bval_text = " ".join(f"{b:g}" for b in dwi.bvalues_s_mm2) + "\n"
    try:
        with atomic_output(nifti_path, overwrite=True) as tmp:
            write_nifti_image(image, tmp)
        with atomic_output(bval_path, overwrite=True) as tmp:
            tmp.write_text(bval_text)
    except (OSError, RuntimeError) as error:
        raise DwiInputError(f"{nifti_path}: cannot write ({str(error).strip().splitlines()[-1]})") from error
    return nifti_path, bval_path
