"""Geometry of a region of interest on an image grid: size, area on its largest slice, centroid, and
its overlap with a spectroscopy voxel. Pure numpy; masks are ``[k, j, i]`` boolean arrays and grids are
4x4 IJK-to-RAS matrices (mm), the conventions of :mod:`VCFDiagnosisLib.dwi.volume`.
"""

from __future__ import annotations

import numpy as np


def voxel_centres_ras(indices_kji: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    """Return the RAS positions (n x 3, mm) of voxel indices given as rows of (k, j, i)."""
    ijk1 = np.c_[np.asarray(indices_kji, float)[:, ::-1], np.ones(len(indices_kji))]
    return (ijk1 @ np.asarray(ijk_to_ras, float).T)[:, :3]


def voxel_volume_mm3(ijk_to_ras: np.ndarray) -> float:
    """Return the volume (mm3) of one voxel of a grid (any orientation or skew)."""
    return float(abs(np.linalg.det(np.asarray(ijk_to_ras, float)[:3, :3])))


def largest_slice_area_mm2(mask_kji: np.ndarray, ijk_to_ras: np.ndarray) -> tuple[float, int]:
    """Return (area in mm2, k) of the acquisition slice (constant k) where the ROI is largest."""
    mask = np.asarray(mask_kji, bool)
    if not mask.any():
        return 0.0, -1
    spacing = np.linalg.norm(np.asarray(ijk_to_ras, float)[:3, :3], axis=0)
    counts = mask.reshape(mask.shape[0], -1).sum(axis=1)
    k = int(np.argmax(counts))
    return float(counts[k] * spacing[0] * spacing[1]), k


def centroid_ras(mask_kji: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    """Return the RAS centroid (mm) of the ROI's voxel centres (NaN for an empty ROI)."""
    indices = np.argwhere(np.asarray(mask_kji, bool))
    if indices.size == 0:
        return np.full(3, np.nan)
    return voxel_centres_ras(indices, ijk_to_ras).mean(axis=0)


def inside_box(points_ras: np.ndarray, center_ras, size_mm, orientation_ras=None) -> np.ndarray:
    """Return which points (n x 3, RAS mm) lie inside an oriented box.

    ``orientation_ras`` is a 3x3 matrix whose columns are the box axes (unit vectors, RAS) matching the
    three entries of ``size_mm`` (full edge lengths); identity if None.
    """
    axes = np.eye(3) if orientation_ras is None else np.asarray(orientation_ras, float)
    axes = axes / np.linalg.norm(axes, axis=0)
    local = (np.asarray(points_ras, float) - np.asarray(center_ras, float)) @ axes
    return np.all(np.abs(local) <= np.asarray(size_mm, float) / 2.0 + 1e-9, axis=1)


def fraction_inside_box(mask_kji: np.ndarray, ijk_to_ras: np.ndarray, center_ras, size_mm,
                        orientation_ras=None) -> float:
    """Return the fraction (0..1) of the ROI's voxel centres that lie inside the oriented box."""
    indices = np.argwhere(np.asarray(mask_kji, bool))
    if indices.size == 0:
        return float("nan")
    return float(inside_box(voxel_centres_ras(indices, ijk_to_ras), center_ras, size_mm, orientation_ras).mean())


def box_mask_on_grid(shape_kji: tuple, ijk_to_ras: np.ndarray, center_ras, size_mm,
                     orientation_ras=None) -> np.ndarray:
    """Return the ``[k, j, i]`` mask of grid voxels whose centres lie inside the oriented box.

    Only the voxels inside the index bounding box of the box's eight corners are tested (the box is convex), so
    the cost is the MRS voxel's size, not the grid's.
    """
    mask = np.zeros(shape_kji, dtype=bool)
    axes = np.eye(3) if orientation_ras is None else np.asarray(orientation_ras, float)
    axes = axes / np.linalg.norm(axes, axis=0)
    half = np.asarray(size_mm, float) / 2.0
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    # the box is {x : |axes^T (x - c)| <= half}: its corners are c + axes^-T (signs * half) (axes^-T = axes for
    # orthonormal axes, the usual case)
    try:
        corners_ras = np.asarray(center_ras, float) + (signs * half) @ np.linalg.inv(axes)
    except np.linalg.LinAlgError:  # degenerate axes: test every voxel
        every = np.indices(shape_kji).reshape(3, -1).T
        return inside_box(voxel_centres_ras(every, ijk_to_ras), center_ras, size_mm,
                          orientation_ras).reshape(shape_kji)
    ras_to_ijk = np.linalg.inv(np.asarray(ijk_to_ras, float))
    corners_ijk = (np.c_[corners_ras, np.ones(8)] @ ras_to_ijk.T)[:, :3]
    low = np.maximum(np.floor(corners_ijk.min(axis=0)).astype(int) - 1, 0)[::-1]  # k, j, i
    high = np.minimum(np.ceil(corners_ijk.max(axis=0)).astype(int) + 2, np.asarray(shape_kji)[::-1])[::-1]
    if np.any(high <= low):
        return mask
    sub = tuple(slice(a, b) for a, b in zip(low, high))
    indices = np.indices(tuple(high - low)).reshape(3, -1).T + low
    mask[sub] = inside_box(voxel_centres_ras(indices, ijk_to_ras), center_ras, size_mm,
                           orientation_ras).reshape(tuple(high - low))
    return mask
