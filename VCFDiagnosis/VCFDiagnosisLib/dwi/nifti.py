"""4D NIfTI + FSL ``.bval`` into a :class:`~.volume.DwiVolume`, and 3D map output on the same grid.

Reading:

* ``dwi.nii.gz`` (or ``.nii``) must be 4D, one volume per entry of ``dwi.bval`` (FSL format: b-values in
  s/mm2 separated by white space, one row) found next to it with the same stem (``.bvals`` also accepted);
  every b-value must be plausible (>= 0, finite, at most 10,000 s/mm2, no GE 1e9 bias left in);
* the file is checked and read by :mod:`.nifti_file` (header sanity, exact voxel data size, size caps,
  streamed gzip): a truncated, corrupt or oversized file is an error naming it, never half an image;
* b-values are sorted ascending; volumes whose b-values differ by at most ``b_tolerance_s_mm2``
  (default 1 s/mm2) are averaged into one (e.g. the directions of a trace acquisition);
* geometry: SimpleITK's LPS origin/spacing/direction of the first three axes (read from the header only),
  converted to RAS (ITK refuses non-orthonormal direction cosines, i.e. sheared affines, with a message);
* NaN samples stay NaN (the fit reports such voxels as invalid input).

Writing: each map is a 3D NIfTI with the input's origin, spacing and direction (float32 maps, uint8
status), written to a temporary file in the target folder and moved into place with ``os.replace`` so a
reader never sees a half-written file. Existing outputs are refused unless ``force=True``.
Every problem is raised as :class:`NiftiDwiError` whose message names the file and the problem.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from .bvalues import bvalue_problem
from .errors import DwiInputError
from .nifti_file import NiftiHeader, read_nifti, read_nifti_header
from .streams import regular_file
from .volume import LPS_TO_RAS, DwiVolume

DEFAULT_B_TOLERANCE_S_MM2 = 1.0
_NIFTI_SUFFIXES = (".nii.gz", ".nii")


class NiftiDwiError(DwiInputError):
    """A NIfTI DWI, b-value file, mask or output path is unusable; the message names the file and why."""

    def __init__(self, path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


def _stem(path: Path) -> str:
    name = path.name
    for suffix in _NIFTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def bval_path_for(nifti_path) -> Path:
    """Return the FSL b-value file next to ``nifti_path`` (same stem, ``.bval`` or ``.bvals``)."""
    path = Path(nifti_path)
    stem = _stem(path)
    for ext in (".bval", ".bvals"):
        candidate = path.with_name(stem + ext)
        if candidate.is_file():
            return candidate
    raise NiftiDwiError(path, f"no b-value file {stem}.bval next to it (FSL format, one b-value per volume)")


#: an FSL .bval is one short line of numbers; a larger file is not one
MAX_BVAL_FILE_BYTES = 1 << 20


def read_fsl_bval(path) -> np.ndarray:
    """Read an FSL ``.bval`` file (white-space separated numbers, s/mm2); every value must be plausible.

    Refused, naming the file and the value: a negative, non-finite or implausible b-value (above
    :data:`~.bvalues.MAX_BVALUE_S_MM2`; a value near 1e9 + b is GE's private-tag bias left in by a converter).
    """
    path = Path(path)
    try:
        regular_file(path, "b-value file")
    except DwiInputError as exc:
        raise NiftiDwiError(path, str(exc).removeprefix(f"{path}: ")) from exc
    if path.stat().st_size > MAX_BVAL_FILE_BYTES:
        raise NiftiDwiError(path, f"b-value file is {path.stat().st_size} bytes: not an FSL .bval (one short line "
                                  "of numbers)")
    try:
        text = path.read_text(encoding="ascii")
    except UnicodeDecodeError as exc:
        raise NiftiDwiError(path, "b-value file is not text (FSL .bval: numbers separated by spaces)") from exc
    except OSError as exc:
        raise NiftiDwiError(path, f"cannot read the b-value file ({exc.strerror or exc.__class__.__name__})") from exc
    try:
        b = np.array([float(tok) for tok in text.split()], dtype=float)
    except ValueError as exc:
        raise NiftiDwiError(path, "b-value file holds something that is not a number") from exc
    if b.size == 0:
        raise NiftiDwiError(path, "b-value file is empty")
    for index, value in enumerate(b):
        problem = bvalue_problem(float(value))
        if problem:
            raise NiftiDwiError(path, f"{problem} (volume {index})")
    return b


def _itk_reason(exc: Exception) -> str:
    """Return ITK's own one-line reason from a SimpleITK exception text (or a generic phrase)."""
    text = str(exc)
    if "ITK ERROR:" in text:
        return text.split("ITK ERROR:", 1)[1].strip().splitlines()[0].split(": ", 1)[-1].strip()
    return "not a readable image"


def _geometry_ras(image) -> np.ndarray:
    """Return the 4x4 ijk -> RAS matrix of the first three axes of a SimpleITK image or image file reader."""
    dim = image.GetDimension()
    direction = np.array(image.GetDirection(), dtype=float).reshape(dim, dim)[:3, :3]
    spacing = np.array(image.GetSpacing(), dtype=float)[:3]
    origin = np.array(image.GetOrigin(), dtype=float)[:3]
    lps = np.eye(4)
    lps[:3, :3] = direction * spacing[None, :]
    lps[:3, 3] = origin
    return LPS_TO_RAS @ lps


def _group_bvalues(b: np.ndarray, tol: float) -> list[np.ndarray]:
    """Return index groups of b-values (sorted ascending) closer than ``tol`` to their neighbour."""
    order = np.argsort(b, kind="stable")
    groups, current = [], [order[0]]
    for i in order[1:]:
        if b[i] - b[current[-1]] <= tol:
            current.append(i)
        else:
            groups.append(np.array(current))
            current = [i]
    groups.append(np.array(current))
    return groups


def _itk_geometry(path: Path, what: str = "NIfTI image") -> sitk.ImageFileReader:
    """Return an ITK reader holding the header of ``path`` (geometry as ITK reads it; no voxel is read)."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.SetImageIO("NiftiImageIO")
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise NiftiDwiError(path, f"not a readable {what} ({_itk_reason(exc)})") from exc
    return reader


def _read_header(path: Path, what: str) -> NiftiHeader:
    """Return the checked NIfTI header of ``path`` as :class:`NiftiDwiError` (the file and the problem)."""
    if not path.exists() and not path.is_symlink():
        raise NiftiDwiError(path, f"{'mask ' if what == 'mask' else ''}file not found")
    try:
        header = read_nifti_header(path)
    except DwiInputError as exc:
        raise NiftiDwiError(path, _problem(exc, path)) from exc
    if header.version != 1:  # ITK's NIfTI reader (the geometry) reads NIfTI-1 only
        raise NiftiDwiError(path, "a NIfTI-2 file: not supported, convert it to NIfTI-1 (e.g. nibabel, dcm2niix)")
    return header


def _read_voxels(path: Path) -> np.ndarray:
    try:
        return read_nifti(path)[1]
    except DwiInputError as exc:
        raise NiftiDwiError(path, _problem(exc, path)) from exc


def _problem(exc: Exception, path: Path) -> str:
    text = str(exc)
    return text[len(str(path)) + 2:] if text.startswith(f"{path}: ") else text


def _dwi_dims(path: Path, header: NiftiHeader) -> tuple[int, ...]:
    """Return the (i, j, k, b) dimensions of a DWI header (trailing dimensions of size 1 dropped)."""
    dims = list(header.dims)
    while len(dims) > 4 and dims[-1] == 1:
        dims.pop()
    if len(dims) != 4:
        raise NiftiDwiError(path, f"expected a 4D DWI (x, y, z, b), got a {len(dims)}D image ({header.describe()})")
    return tuple(dims)


def read_dwi_nifti(path, bval_path=None, b_tolerance_s_mm2: float = DEFAULT_B_TOLERANCE_S_MM2) -> DwiVolume:
    """Read a 4D NIfTI DWI and its ``.bval`` into a :class:`DwiVolume` (sorted, duplicates averaged).

    The header, the ``.bval`` and their agreement are checked before the voxels are read (see
    :mod:`.nifti_file` for the checks on the file itself).
    """
    path = Path(path)
    header = _read_header(path, "DWI")
    bval_file = Path(bval_path) if bval_path is not None else bval_path_for(path)
    b = read_fsl_bval(bval_file)
    dims = _dwi_dims(path, header)
    if dims[3] != b.size:
        raise NiftiDwiError(path, f"has {dims[3]} volumes but {bval_file.name} lists {b.size} b-values")
    data = _read_voxels(path).reshape(dims[::-1])  # [t, k, j, i]; checks the whole file (gzip CRC) before ITK
    geometry = _itk_geometry(path)
    groups = _group_bvalues(b, float(b_tolerance_s_mm2))
    averaged = np.empty((len(groups),) + data.shape[1:], dtype=np.float32)
    b_out = np.empty(len(groups))
    for g, idx in enumerate(groups):
        averaged[g] = data[idx].mean(axis=0, dtype=np.float64) if idx.size > 1 else data[idx[0]]
        b_out[g] = b[idx].mean()
    meta = {"source": str(path), "bval_file": str(bval_file), "volumes_per_b": [len(g) for g in groups],
            "stored_pixel_type": None if header.scaled or header.dtype.kind not in "iu" else header.dtype.name}
    return DwiVolume(b_out, averaged, _geometry_ras(geometry), meta)


def read_mask_nifti(path, dwi: DwiVolume, atol_mm: float = 1e-3) -> np.ndarray:
    """Read a 3D mask NIfTI (non-zero = inside) that must lie on the DWI's grid; return bool [k, j, i]."""
    path = Path(path)
    header = _read_header(path, "mask")
    dims = list(header.dims)
    while len(dims) > 3 and dims[-1] == 1:
        dims.pop()
    if tuple(dims[::-1]) != dwi.shape_kji:
        raise NiftiDwiError(path, f"mask grid {tuple(dims)} (i, j, k) differs from the DWI grid "
                                  f"{dwi.shape_kji[::-1]}")
    arr = _read_voxels(path).reshape(dwi.shape_kji)  # checks the whole file before ITK reads its header
    geometry = _itk_geometry(path, "NIfTI mask")
    if not np.allclose(_geometry_ras(geometry), dwi.ijk_to_ras, atol=atol_mm):
        raise NiftiDwiError(path, "mask has the DWI's matrix size but a different position/orientation/spacing")
    return np.asarray(arr != 0)


def _image_on_grid(array_kji: np.ndarray, ijk_to_ras: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array_kji)
    lps = LPS_TO_RAS @ np.asarray(ijk_to_ras, dtype=float)
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    image.SetSpacing([float(s) for s in spacing])
    image.SetDirection([float(v) for v in (lps[:3, :3] / spacing[None, :]).reshape(-1)])
    image.SetOrigin([float(v) for v in lps[:3, 3]])
    return image


def write_map_image(path, array_kji: np.ndarray, ijk_to_ras: np.ndarray) -> Path:
    """Write one 3D map (array ``[k, j, i]``, its dtype kept) atomically on the grid ``ijk_to_ras``.

    The format follows the name: ``.nii.gz``/``.nii`` (NIfTI) or ``.nrrd`` (NRRD), both in LPS as ITK writes them.
    """
    path = Path(path)
    image = _image_on_grid(np.ascontiguousarray(array_kji), ijk_to_ras)
    suffix = path.name[len(_stem(path)):] if path.name.lower().endswith(_NIFTI_SUFFIXES) else path.suffix
    # a hidden sibling created by the writer itself (normal permissions), then an atomic rename
    tmp = str(path.with_name(f".{_stem(path)}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{suffix}"))
    try:
        sitk.WriteImage(image, tmp, True)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def refuse_existing_outputs(out_dir, names, force: bool) -> None:
    """Raise NiftiDwiError if ``out_dir`` is a file, or, without ``force``, if any ``out_dir/<name>`` exists (the
    first named, with how many of the outputs exist); before a command reads or writes anything."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NiftiDwiError(out, "output path exists and is not a folder")
    existing = [out / name for name in names if (out / name).exists()]
    if existing and not force:
        raise NiftiDwiError(existing[0], f"output exists ({len(existing)} of {len(names)} outputs); "
                                         "use --force to overwrite")


def write_maps(out_dir, maps: dict[str, np.ndarray], ijk_to_ras: np.ndarray, force: bool = False,
               suffix: str = ".nii.gz") -> list[Path]:
    """Write ``{stem: array [k, j, i]}`` as ``out_dir/<stem><suffix>``; status maps (stems ending in ``status``)
    as uint8, the rest float32.

    The one map writer of the ``fit`` command (NIfTI) and of case folders (``.nrrd``). Refuses (NiftiDwiError,
    nothing written) if any target exists and ``force`` is False.
    """
    out = Path(out_dir)
    targets = {stem: out / f"{stem}{suffix}" for stem in maps}
    refuse_existing_outputs(out, [path.name for path in targets.values()], force)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NiftiDwiError(out, f"cannot create the output folder ({exc.strerror})") from exc
    written = []
    for stem, array in maps.items():
        dtype = np.uint8 if stem.endswith("status") else np.float32  # status, fat_status: label maps
        written.append(write_map_image(targets[stem], np.asarray(array).astype(dtype), ijk_to_ras))
    return written
