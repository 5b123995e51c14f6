"""Summary statistics of IVIM maps inside a region of interest."""

from __future__ import annotations

import numpy as np

from .engine import IvimMaps
from .status import FitStatus

_STAT_MAPS = ("S0", "D_mm2_s", "Dstar_mm2_s", "f_fraction", "ADC_mm2_s", "R2")


def roi_statistics(maps: IvimMaps, mask, ok_only: bool = False) -> dict:
    """Return per-map statistics over the voxels inside ``mask`` (same shape as the maps).

    For each of S0, D_mm2_s, Dstar_mm2_s, f_fraction, ADC_mm2_s and R2: ``mean``, ``median``, ``sd``
    (sample SD, ddof=1; NaN below 2 voxels), ``iqr`` (75th - 25th percentile, linear interpolation)
    and ``n`` (voxels with a finite value), computed over the finite values inside the ROI
    (``ok_only=True``: only voxels with status OK). Also ``n_voxels`` (ROI size) and ``status_counts``.
    """
    m = np.asarray(mask).astype(bool)
    if m.shape != maps.status.shape:
        raise ValueError(f"mask shape {m.shape} does not match the map shape {maps.status.shape}")
    sel = m & (maps.status == FitStatus.OK) if ok_only else m
    out: dict = {"n_voxels": int(m.sum()),
                 "status_counts": {s.name: int(np.count_nonzero(maps.status[m] == s)) for s in FitStatus}}
    for name in _STAT_MAPS:
        v = np.asarray(getattr(maps, name), dtype=float)[sel]
        v = v[np.isfinite(v)]
        if v.size == 0:
            out[name] = {"mean": np.nan, "median": np.nan, "sd": np.nan, "iqr": np.nan, "n": 0}
            continue
        q25, q75 = np.percentile(v, [25, 75])
        out[name] = {
            "mean": float(v.mean()),
            "median": float(np.median(v)),
            "sd": float(v.std(ddof=1)) if v.size > 1 else np.nan,
            "iqr": float(q75 - q25),
            "n": int(v.size),
        }
    return out
