"""The in-memory multi-b DWI: b-values, a 4D array and its geometry.

Conventions shared by every loader, the IVIM engine and the MRML glue:

* ``data`` is indexed ``[b, k, j, i]`` (the order of ``slicer.util.arrayFromVolume`` and
  ``SimpleITK.GetArrayFromImage``), one 3D volume per distinct b-value, float32;
* ``bvalues_s_mm2`` holds the b-values in s/mm2, sorted ascending, one per volume;
* ``ijk_to_ras`` is the 4x4 matrix from voxel index (i, j, k, 1) to RAS millimetres (Slicer's and
  NIfTI's world space; DICOM's LPS is converted by negating the first two rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: DICOM patient space (LPS) to Slicer/NIfTI world space (RAS), and back (it is its own inverse).
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass
class DwiVolume:
    """A multi-b diffusion series on one grid: ``data[b, k, j, i]`` with ``bvalues_s_mm2[b]``."""

    bvalues_s_mm2: np.ndarray
    data: np.ndarray
    ijk_to_ras: np.ndarray
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bvalues_s_mm2 = np.asarray(self.bvalues_s_mm2, dtype=float).reshape(-1)
        self.ijk_to_ras = np.asarray(self.ijk_to_ras, dtype=float)
        if self.data.ndim != 4:
            raise ValueError(f"DWI data must be 4D [b, k, j, i], got shape {self.data.shape}")
        if self.data.shape[0] != self.bvalues_s_mm2.size:
            raise ValueError(
                f"DWI has {self.data.shape[0]} volumes but {self.bvalues_s_mm2.size} b-values"
            )
        if self.ijk_to_ras.shape != (4, 4):
            raise ValueError(f"ijk_to_ras must be 4x4, got {self.ijk_to_ras.shape}")

    @property
    def shape_kji(self) -> tuple[int, int, int]:
        """Return the 3D grid shape as (k, j, i)."""
        return tuple(int(n) for n in self.data.shape[1:])

    @property
    def spacing_mm(self) -> np.ndarray:
        """Return the voxel spacing (i, j, k) in millimetres."""
        return np.linalg.norm(self.ijk_to_ras[:3, :3], axis=0)

    @property
    def origin_ras(self) -> np.ndarray:
        """Return the RAS position (mm) of the centre of voxel (0, 0, 0)."""
        return self.ijk_to_ras[:3, 3].copy()

    def signal_last(self) -> np.ndarray:
        """Return the data as ``[k, j, i, b]`` (b-values on the last axis, as the IVIM fit expects)."""
        return np.moveaxis(self.data, 0, -1)
