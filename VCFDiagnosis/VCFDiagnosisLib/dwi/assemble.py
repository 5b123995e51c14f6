"""Indexed diffusion images (any file layout) plus their pixels -> one :class:`~.volume.DwiVolume`.

Rules (facts: ``design/FORMATS.md``):

* slices are found by position along the slice normal (row x column direction of ImageOrientationPatient),
  never by file name or InstanceNumber; every image must share one orientation, matrix and pixel spacing,
  and all images of a slice one position (else the field of view moved between b-values: an error);
* every b-value must be plausible (:func:`~.bvalues.bvalue_problem`: a negative b is an error naming the file, never
  merged into b = 0); every position, orientation and pixel spacing finite (else an error naming the file and
  the element); the same image (SOPInstanceUID, frame) in two files is an error naming the copy and the original;
* b-values are grouped into shells (:func:`~.bvalues.group_bvalues`: Philips' 0.001-0.004 "b0" join b = 0);
  every shell must have the same number of images (source volumes) at every slice (a missing slice is an error
  naming it; a slice with an extra image names its files);
* at a b > 0 where the scanner mixed a computed isotropic image into directional images (Philips), the
  isotropic image is dropped; a shell of isotropic images only is used as the trace;
* several directional images of one shell and slice are combined by geometric mean (the trace); repeats of
  b = 0 or of a trace are averaged (arithmetic mean);
* the grid is regular: ``ijk_to_ras = LPS_TO_RAS @ ijk_to_lps`` with columns row direction x column spacing,
  column direction x row spacing, slice normal x slice spacing (from positions) and the corner of the first
  slice as origin. ``data[b, k, j, i]``: k along the normal (ascending), j = image row, i = image column.
"""

from __future__ import annotations

import numpy as np

from .bvalues import bvalue_problem, group_bvalues
from .errors import DicomDwiError
from .frames import DicomFrame
from .volume import LPS_TO_RAS, DwiVolume

#: images whose positions along the normal differ by less than this (mm) are one slice
SLICE_TOLERANCE_MM = 0.05
#: images of one slice must agree in position within this (mm)
POSITION_TOLERANCE_MM = 0.1
ORIENTATION_TOLERANCE = 1e-3
#: floor (signal units) before the logarithm of the geometric mean: a zero in one direction gives ~0
GEOMETRIC_MEAN_FLOOR = 1e-6


def _fmt_b(b: float) -> str:
    return f"{b:g}"


def raise_inconsistent(frames: list[DicomFrame], attribute: str, what: str, label: str,
                       tolerance: float | None = None) -> None:
    """Raise :class:`DicomDwiError` if ``attribute`` differs between images (message names file and b-value)."""
    raw = np.array([np.nan if f.bvalue_s_mm2 is None else f.bvalue_s_mm2 for f in frames], dtype=float)
    _check_same(frames, raw, attribute, what, label, tolerance)


def _check_same(frames: list[DicomFrame], bvalues: np.ndarray, attribute: str, what: str, label: str,
                tolerance: float | None = None) -> None:
    """Raise if ``attribute`` differs between images; the message names a file and the b-values involved."""
    reference = np.asarray(getattr(frames[0], attribute), dtype=float)
    for frame, b in zip(frames, bvalues):
        value = np.asarray(getattr(frame, attribute), dtype=float)
        same = (np.allclose(value, reference, atol=tolerance) if tolerance is not None
                else np.array_equal(value, reference))
        if not same:
            raise DicomDwiError(
                f"{label}: inconsistent {what} across images: {frame.path} (b = {_fmt_b(b)}) has "
                f"{np.round(value, 4).tolist()} but {frames[0].path} (b = {_fmt_b(bvalues[0])}) has "
                f"{np.round(reference, 4).tolist()}")


def _check_bvalues(frames: list[DicomFrame], raw_b: np.ndarray, label: str) -> None:
    """Refuse a negative, non-finite or implausible b-value naming the file and the value (never merged into 0)."""
    for frame, b in zip(frames, raw_b):
        problem = bvalue_problem(float(b))
        if problem:
            raise DicomDwiError(f"{frame.path}: {problem} in its header ({label})")


def _check_geometry_values(frames: list[DicomFrame], label: str) -> None:
    """Refuse an image whose position, orientation or pixel spacing is not finite or not sane, naming the file."""
    checks = (("position_lps", "ImagePositionPatient"), ("orientation", "ImageOrientationPatient"),
              ("pixel_spacing", "PixelSpacing"))
    for attribute, element in checks:
        values = np.array([getattr(f, attribute) for f in frames], dtype=float)
        bad = ~np.isfinite(values).all(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            raise DicomDwiError(f"{frames[i].path}: {element} is not finite ({_numbers(values[i])}) ({label})")
    spacing = np.array([f.pixel_spacing for f in frames], dtype=float)
    bad = (spacing <= 0).any(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        raise DicomDwiError(f"{frames[i].path}: PixelSpacing {_numbers(spacing[i])} must be positive ({label})")
    orientation = np.array([f.orientation for f in frames], dtype=float)
    row, col = orientation[:, :3], orientation[:, 3:]
    bad = ((np.abs(np.linalg.norm(row, axis=1) - 1) > 0.01) | (np.abs(np.linalg.norm(col, axis=1) - 1) > 0.01)
           | (np.abs((row * col).sum(axis=1)) > 0.01))
    if bad.any():
        i = int(np.argmax(bad))
        raise DicomDwiError(f"{frames[i].path}: ImageOrientationPatient {_numbers(orientation[i])} is not two "
                            f"orthogonal unit vectors ({label})")


def _numbers(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def _check_duplicates(frames: list[DicomFrame], label: str) -> None:
    """Refuse the same image (SOPInstanceUID, frame, tile) in two files: name the copy and the file it copies.

    Files are taken in path order: the first is the original, a later one its duplicate.
    """
    first: dict[tuple, str] = {}
    for frame in sorted(frames, key=lambda f: f.path):
        if not frame.sop_uid:
            continue
        key = (frame.sop_uid, frame.frame, frame.tile)
        original = first.setdefault(key, frame.path)
        if original != frame.path:
            raise DicomDwiError(f"{frame.path}: duplicate of {original} (same SOPInstanceUID {frame.sop_uid}); "
                                f"remove one of the two files ({label})")


def _check_counts(frames: list[DicomFrame], counts: np.ndarray, shells: np.ndarray, shell_of: np.ndarray,
                  slice_of: np.ndarray, label: str) -> None:
    """Refuse a b-value with a different number of images at some slices: say which slice has too many (naming
    its files) or too few."""
    for s, b in enumerate(shells):
        row = counts[s]
        if len(set(row)) == 1:
            continue
        usual = int(np.bincount(row).argmax())
        extra = np.flatnonzero(row > usual)
        if extra.size:
            k = int(extra[0])
            files = sorted({frames[i].path for i in np.flatnonzero((shell_of == s) & (slice_of == k))})
            raise DicomDwiError(
                f"{label}: b = {_fmt_b(b)} has {row[k]} images at slice {k} but {usual} at the other slices "
                f"(an extra or duplicated file among {', '.join(files[:4])}{' ...' if len(files) > 4 else ''})")
        k = int(np.flatnonzero(row < usual)[0])
        raise DicomDwiError(f"{label}: b = {_fmt_b(b)} has {usual} images at most slices but {row[k]} at slice {k} "
                            f"(an image of this b-value is missing)")


def _cluster_sorted(values: np.ndarray, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Return (cluster index per value, cluster means ascending) for 1D ``values``."""
    order = np.argsort(values, kind="stable")
    ids_sorted = np.cumsum(np.r_[0, np.diff(values[order]) > tolerance])
    ids = np.empty_like(ids_sorted)
    ids[order] = ids_sorted
    means = np.bincount(ids, weights=values) / np.bincount(ids)
    return ids, means


def combine_shell(stack: np.ndarray, axis: int, bvalue: float, trace_only: bool) -> tuple[np.ndarray, str]:
    """Return (one image from the images of one b-value stacked along ``axis``, how it was made).

    One image is used as is; at b > 0 several directional (or unknown) images give their geometric mean
    (the trace, each value floored at :data:`GEOMETRIC_MEAN_FLOOR`); b = 0 repeats and repeated scanner
    traces (``trace_only``) give their arithmetic mean. Float32 out, float64 arithmetic.
    """
    count = stack.shape[axis]
    if count == 1:
        return np.take(stack, 0, axis=axis).astype(np.float32, copy=False), (
            "scanner trace" if trace_only and bvalue > 0 else "single image")
    if bvalue > 0 and not trace_only:
        logs = np.log(np.maximum(stack, GEOMETRIC_MEAN_FLOOR, dtype=np.float64))
        return np.exp(logs.mean(axis=axis)).astype(np.float32), f"geometric mean of {count} directional images (trace)"
    return stack.mean(axis=axis, dtype=np.float64).astype(np.float32), f"mean of {count} repeats"


def assemble_dwi(frames: list[DicomFrame], pixels: np.ndarray, *, label: str, min_bvalues: int = 2,
                 single_slice_spacing_mm: float | None = None, metadata: dict | None = None) -> DwiVolume:
    """Return the DWI made of ``frames`` (non-derived images) with ``pixels[n, rows, cols]`` (signal units).

    ``label`` names the series in messages; ``min_bvalues`` is the number of distinct b-values required
    (2 for IVIM; 1 to accept a single trace series); ``single_slice_spacing_mm`` is the slice spacing used
    when there is only one slice.
    """
    metadata = dict(metadata or {})
    warnings = list(metadata.pop("warnings", []))
    excluded = list(metadata.pop("excluded_images", []))
    if not frames:
        raise DicomDwiError(f"{label}: no diffusion images")
    missing = [f.path for f in frames if f.bvalue_s_mm2 is None]
    if missing:
        raise DicomDwiError(f"{missing[0]}: no b-value in any known tag ({len(missing)} images like it in {label})")
    raw_b = np.array([f.bvalue_s_mm2 for f in frames], dtype=float)
    _check_bvalues(frames, raw_b, label)
    _check_geometry_values(frames, label)
    _check_duplicates(frames, label)
    shells_b = group_bvalues(raw_b)

    # Philips: a computed isotropic image mixed into directional images of the same b is dropped
    keep = np.ones(len(frames), dtype=bool)
    kinds = np.array([f.kind for f in frames])
    for b in np.unique(shells_b[shells_b > 0]):
        in_shell = shells_b == b
        isotropic = in_shell & (kinds == "isotropic")
        if isotropic.any() and (in_shell & ~isotropic).any():
            keep &= ~isotropic
            excluded.append(f"{int(isotropic.sum())} scanner isotropic image(s) at b = {_fmt_b(b)} mixed into "
                            f"{int((in_shell & ~isotropic).sum())} directional images (not used)")
    if not keep.all():
        index = np.flatnonzero(keep)
        frames = [frames[i] for i in index]
        pixels, raw_b, shells_b, kinds = pixels[index], raw_b[index], shells_b[index], kinds[index]

    _check_same(frames, shells_b, "orientation", "orientation (ImageOrientationPatient)", label,
                ORIENTATION_TOLERANCE)
    _check_same(frames, shells_b, "shape", "matrix (Rows x Columns)", label)
    _check_same(frames, shells_b, "pixel_spacing", "pixel spacing", label, 1e-3)

    shells = np.unique(shells_b)
    if shells.size < min_bvalues:
        raise DicomDwiError(f"{label}: only {shells.size} b-value ({', '.join(map(_fmt_b, shells))} s/mm2); "
                            f"at least {min_bvalues} needed (IVIM needs several b-values)")
    orientation = np.array(frames[0].orientation, dtype=float)
    row_dir, col_dir = orientation[:3], orientation[3:]
    normal = np.cross(row_dir, col_dir)
    normal /= np.linalg.norm(normal)
    positions = np.array([f.position_lps for f in frames], dtype=float)
    distance = positions @ normal
    slice_of, slice_distance = _cluster_sorted(distance, SLICE_TOLERANCE_MM)
    n_slices = slice_distance.size
    shell_of = np.searchsorted(shells, shells_b)

    # reference image of each slice: its lowest-b image; every other image of the slice must sit on it
    by_slice_then_b = np.lexsort((shells_b, slice_of))
    first_of_slice = by_slice_then_b[np.r_[True, np.diff(slice_of[by_slice_then_b]) > 0]]
    deviation = np.linalg.norm(positions - positions[first_of_slice][slice_of], axis=1)
    if deviation.max() > POSITION_TOLERANCE_MM:
        worst = int(np.argmax(deviation))
        reference = first_of_slice[slice_of[worst]]
        raise DicomDwiError(
            f"{label}: inconsistent geometry across images: {frames[worst].path} (b = {_fmt_b(shells_b[worst])}) "
            f"is {deviation[worst]:.2f} mm off the b = {_fmt_b(shells_b[reference])} image of slice "
            f"{slice_of[worst]} (field of view changed between b-values?)")
    slice_position = np.zeros((n_slices, 3))
    np.add.at(slice_position, slice_of, positions)
    slice_position /= np.bincount(slice_of, minlength=n_slices)[:, None]

    counts = np.zeros((shells.size, n_slices), dtype=int)
    np.add.at(counts, (shell_of, slice_of), 1)
    if (counts == 0).any():
        b_missing, k_missing = np.argwhere(counts == 0)[0]
        raise DicomDwiError(f"{label}: b = {_fmt_b(shells[b_missing])} has no image at slice {k_missing} of "
                            f"{n_slices} ({int((counts == 0).sum())} slice images missing)")
    _check_counts(frames, counts, shells, shell_of, slice_of, label)

    if n_slices > 1:
        gaps = np.diff(slice_distance)
        spacing = float(np.median(gaps))
        if np.abs(gaps - spacing).max() > max(0.1 * spacing, SLICE_TOLERANCE_MM):
            raise DicomDwiError(f"{label}: slice positions are not evenly spaced (gaps {gaps.min():.3f} to "
                                f"{gaps.max():.3f} mm along the normal): slices missing for every b-value?")
        shear = (slice_position[-1] - slice_position[0]) - normal * (slice_distance[-1] - slice_distance[0])
        if np.linalg.norm(shear) > max(0.1 * spacing, POSITION_TOLERANCE_MM):
            raise DicomDwiError(f"{label}: slices are sheared ({np.linalg.norm(shear):.2f} mm in-plane offset from "
                                "first to last slice, gantry tilt?): not a regular grid")
    else:
        spacing = float(single_slice_spacing_mm or 1.0)

    rows, cols = frames[0].shape
    data = np.empty((shells.size, n_slices, rows, cols), dtype=np.float32)
    combination = {}
    for s, b in enumerate(shells):
        index = np.flatnonzero(shell_of == s)
        index = index[np.argsort(slice_of[index], kind="stable")].reshape(n_slices, -1)
        trace_only = set(kinds[index.ravel()]) == {"isotropic"}
        data[s], combination[_fmt_b(b)] = combine_shell(pixels[index], axis=1, bvalue=b, trace_only=trace_only)

    row_spacing, col_spacing = frames[0].pixel_spacing
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, 0] = row_dir * col_spacing
    ijk_to_lps[:3, 1] = col_dir * row_spacing
    ijk_to_lps[:3, 2] = normal * spacing
    ijk_to_lps[:3, 3] = slice_position[0]
    if shells[0] > 0:
        warnings.append(f"{label}: no b = 0 image (lowest b = {_fmt_b(shells[0])} s/mm2)")
    metadata.update(
        images_used=len(frames),
        volumes_per_bvalue={_fmt_b(b): int(counts[s, 0]) for s, b in enumerate(shells)},
        combination=combination,
        bvalues_in_headers=sorted({round(float(b), 3) for b in raw_b}),
        excluded_images=excluded,
        warnings=warnings,
    )
    return DwiVolume(bvalues_s_mm2=shells, data=data, ijk_to_ras=LPS_TO_RAS @ ijk_to_lps, metadata=metadata)
