"""A water-fat phantom slab of homogeneous patches with known PDFF and R2* (for tests and benchmarks)."""

from __future__ import annotations

import numpy as np


def pdff_r2star_patches(pdff_levels, r2star_levels_per_s, size: int = 16, slices: int = 4) -> tuple:
    """Return (PDFF fraction, R2* in 1/s) grids (slices, rows, cols): one ``size`` x ``size`` patch per pair, PDFF
    changing down the rows and R2* across the columns."""
    levels, r2s = np.asarray(pdff_levels, float), np.asarray(r2star_levels_per_s, float)
    ny, nx = size * levels.size, size * r2s.size
    pdff = np.broadcast_to(np.repeat(levels, size)[:, None] * np.ones((1, nx)), (slices, ny, nx))
    r2 = np.broadcast_to(np.ones((ny, 1)) * np.repeat(r2s, size)[None, :], (slices, ny, nx))
    return pdff, r2
