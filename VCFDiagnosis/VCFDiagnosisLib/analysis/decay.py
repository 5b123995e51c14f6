"""The ROI-mean signal decay and its IVIM fit curve, computed once for the decay plot node and the report.

Pure core. ``curve_b_s_mm2`` is a fine b grid (0 to the largest b, s/mm2) on which each ROI's fit
``S0 ((1 - f) exp(-b D) + f exp(-b D*))`` is evaluated from its results row (D and D* in mm2/s, f a fraction);
the fit is None when the row has no finite S0, D, D* and f (e.g. ADC-only or an error row).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..ivim.model import ivim_signal
from ..ivim.noise_floor import rician_mean_to_signal

#: Points of the fit curve between b = 0 and the largest b-value.
CURVE_POINTS = 101


@dataclass
class RoiDecay:
    """One ROI: mean and SD of the signal over its voxels at each b-value, and the fit on the fine b grid.

    ``floor_free`` is the mean with the noise floor removed (what the ROI-mean fit fitted, see
    :mod:`VCFDiagnosisLib.ivim.noise_floor`), or None when no correction was made.
    """

    roi: str
    mean: np.ndarray
    sd: np.ndarray
    fit: np.ndarray | None
    floor_free: np.ndarray | None = None


@dataclass
class DecayCurves:
    """The b-values (s/mm2) of the DWI, the fine b grid of the fit curves, and one :class:`RoiDecay` per ROI."""

    bvalues_s_mm2: np.ndarray
    curve_b_s_mm2: np.ndarray
    rois: list[RoiDecay]


def roi_decay_curves(dwi, masks: dict, rows: list[dict], points: int = CURVE_POINTS, noise=None) -> DecayCurves:
    """Return the decay of every non-empty ROI of ``masks`` ({name: [k, j, i] mask}) with the fit of its row.

    ``noise``: the DWI's :class:`~VCFDiagnosisLib.ivim.masking.BackgroundNoise` used by the case's ROI fits (or
    None); when it corrected them, each ROI also gets its floor-free mean, so the plot shows what was fitted.
    """
    curve_b = np.linspace(0.0, float(np.max(dwi.bvalues_s_mm2)), points)
    rois = []
    for name, mask in masks.items():
        if not np.any(mask):
            continue
        signal = dwi.data[:, mask]
        row = next((r for r in rows if r["roi"] == name), {})
        params = [row.get(key, np.nan) for key in ("S0", "D", "Dstar", "f")]
        fit = ivim_signal(curve_b, *params) if np.all(np.isfinite(params)) else None
        mean = signal.mean(axis=1)
        floor_free = None
        if noise is not None and noise.correctable:
            floor_free = rician_mean_to_signal(mean, noise.sigma, noise.images)
        rois.append(RoiDecay(name, mean, signal.std(axis=1), fit, floor_free))
    return DecayCurves(np.asarray(dwi.bvalues_s_mm2, float), curve_b, rois)
