"""Geometry of the phantom's oblique sagittal DWI slab (DICOM LPS and Slicer/NIfTI RAS).

Voxel index (i, j, k): i runs along a DICOM row (the row direction cosine, roughly anterior -> posterior,
+Y in LPS), j down the columns (roughly head -> foot, -Z in LPS), k across slices along the slice
normal ``row x column`` (roughly towards the patient's right, -X in LPS). Arrays are indexed [k, j, i].

The slab is tilted from the true sagittal plane by a few degrees about all three patient axes, so the
geometry is genuinely oblique. ``ijk_to_lps`` maps (i, j, k, 1) to LPS millimetres (the centre of voxel
(0, 0, 0) is ImagePositionPatient of slice 0); ``ijk_to_ras = LPS_TO_RAS @ ijk_to_lps``.

Local anatomy coordinates (mm, relative to the slab centre): ``u`` along the row, ``v`` along the
column, ``w`` along the normal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..dwi.volume import LPS_TO_RAS


def rotation_matrix_xyz(angles_deg: tuple[float, float, float]) -> np.ndarray:
    """Return Rx(a) @ Ry(b) @ Rz(c) for angles (a, b, c) in degrees about the LPS x, y, z axes."""
    a, b, c = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rx @ ry @ rz


#: Exact sagittal orientation before the tilt: row +Y (A->P), column -Z (H->F), normal -X (L->R).
SAGITTAL_ROW_LPS = np.array([0.0, 1.0, 0.0])
SAGITTAL_COL_LPS = np.array([0.0, 0.0, -1.0])


@dataclass(frozen=True)
class SlabGeometry:
    """An oblique sagittal multi-slice grid: shape [k, j, i], spacing (i, j, k) mm, LPS orientation."""

    shape_kji: tuple[int, int, int]
    pixel_spacing_mm: float
    slice_thickness_mm: float
    slice_spacing_mm: float
    row_lps: np.ndarray
    col_lps: np.ndarray
    centre_lps: np.ndarray
    tilt_deg: tuple[float, float, float]

    @classmethod
    def oblique_sagittal(
        cls,
        *,
        matrix: int,
        n_slices: int,
        fov_mm: float,
        slice_thickness_mm: float,
        slice_gap_mm: float,
        centre_lps: np.ndarray,
        tilt_deg: tuple[float, float, float],
    ) -> SlabGeometry:
        """Return a square ``matrix`` x ``matrix`` grid over ``fov_mm`` with ``n_slices`` slices."""
        if matrix < 16 or n_slices < 1:
            raise ValueError(f"phantom grid needs matrix >= 16 and slices >= 1 (got {matrix}, {n_slices})")
        if fov_mm <= 0 or slice_thickness_mm <= 0 or slice_gap_mm < 0:
            raise ValueError("phantom grid needs fov > 0, slice thickness > 0 and slice gap >= 0 (mm)")
        rot = rotation_matrix_xyz(tilt_deg)
        return cls(
            shape_kji=(int(n_slices), int(matrix), int(matrix)),
            pixel_spacing_mm=float(fov_mm) / int(matrix),
            slice_thickness_mm=float(slice_thickness_mm),
            slice_spacing_mm=float(slice_thickness_mm) + float(slice_gap_mm),
            row_lps=rot @ SAGITTAL_ROW_LPS,
            col_lps=rot @ SAGITTAL_COL_LPS,
            centre_lps=np.asarray(centre_lps, dtype=float),
            tilt_deg=tuple(float(a) for a in tilt_deg),
        )

    @property
    def normal_lps(self) -> np.ndarray:
        """Return the unit slice normal row x column (LPS), the direction of increasing k."""
        return np.cross(self.row_lps, self.col_lps)

    @property
    def spacing_ijk_mm(self) -> np.ndarray:
        """Return the voxel spacing along i, j, k in mm (k: slice spacing, thickness + gap)."""
        return np.array([self.pixel_spacing_mm, self.pixel_spacing_mm, self.slice_spacing_mm])

    @property
    def direction_lps(self) -> np.ndarray:
        """Return the 3x3 matrix whose columns are the unit i, j, k axes in LPS."""
        return np.column_stack([self.row_lps, self.col_lps, self.normal_lps])

    @property
    def origin_lps(self) -> np.ndarray:
        """Return the LPS position (mm) of the centre of voxel (0, 0, 0)."""
        half = (np.array(self.shape_kji[::-1], dtype=float) - 1.0) / 2.0
        return self.centre_lps - self.direction_lps @ (half * self.spacing_ijk_mm)

    @property
    def ijk_to_lps(self) -> np.ndarray:
        """Return the 4x4 matrix from (i, j, k, 1) to LPS mm."""
        m = np.eye(4)
        m[:3, :3] = self.direction_lps * self.spacing_ijk_mm
        m[:3, 3] = self.origin_lps
        return m

    @property
    def ijk_to_ras(self) -> np.ndarray:
        """Return the 4x4 matrix from (i, j, k, 1) to RAS mm (Slicer / NIfTI world)."""
        return LPS_TO_RAS @ self.ijk_to_lps

    def slice_position_lps(self, k: int) -> np.ndarray:
        """Return ImagePositionPatient (LPS mm, centre of the first pixel) of slice k."""
        return self.origin_lps + k * self.slice_spacing_mm * self.normal_lps

    def local_axes_mm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return broadcastable local coordinates (u[1,1,i], v[1,j,1], w[k,1,1]) in mm from the centre."""
        nk, nj, ni = self.shape_kji
        u = (np.arange(ni) - (ni - 1) / 2.0) * self.pixel_spacing_mm
        v = (np.arange(nj) - (nj - 1) / 2.0) * self.pixel_spacing_mm
        w = (np.arange(nk) - (nk - 1) / 2.0) * self.slice_spacing_mm
        return u[None, None, :], v[None, :, None], w[:, None, None]

    def to_json(self) -> dict:
        """Return the geometry as plain JSON types (both LPS and RAS)."""
        return {
            "shape_kji": [int(n) for n in self.shape_kji],
            "spacing_ijk_mm": [float(x) for x in self.spacing_ijk_mm],
            "pixel_spacing_mm": float(self.pixel_spacing_mm),
            "slice_thickness_mm": float(self.slice_thickness_mm),
            "slice_spacing_mm": float(self.slice_spacing_mm),
            "ijk_to_ras": self.ijk_to_ras.tolist(),
            "ijk_to_lps": self.ijk_to_lps.tolist(),
            "row_cosine_lps": self.row_lps.tolist(),
            "column_cosine_lps": self.col_lps.tolist(),
            "slice_normal_lps": self.normal_lps.tolist(),
            "slab_centre_lps": self.centre_lps.tolist(),
            "tilt_deg_about_lps_xyz": list(self.tilt_deg),
        }
