"""An ROI's IVIM: the fit of its mean signal (what the study's models take) and statistics of its voxel maps.

The ROI-mean signal is the mean of the ROI's voxels with the Rician noise floor removed when the noise SD is
known (:mod:`.noise_floor`); it is fitted with the ROI prior of the ``map`` method (:data:`.prior.ROI_DSTAR_PRIOR`,
neutral between the study's two diagnoses). The uncertainty bootstrap fits its resampled means through
:func:`fit_roi_signals` too, so a case's value and its interval come from one estimator.
"""

from __future__ import annotations

import numpy as np

from .engine import F_UNDEFINED_TOL, IvimMaps, fit_ivim
from .noise_floor import rician_mean_to_signal
from .options import DEFAULT_METHOD
from .prior import ROI_DSTAR_PRIOR
from .status import FitStatus


def roi_voxel_signals(signal, mask) -> np.ndarray:
    """Return the (voxels, b) float64 signals inside ``mask`` (leading shape of ``signal``) with all values finite.

    Raises ValueError for a mask of the wrong shape or an ROI with no finite voxel.
    """
    y = np.asarray(signal)
    m = np.asarray(mask).astype(bool)
    if y.ndim == 0 or m.shape != y.shape[:-1]:
        raise ValueError(f"mask shape {m.shape} does not match the signal's voxel shape {y.shape[:-1]}")
    roi = y[m].astype(np.float64)
    roi = roi[np.isfinite(roi).all(axis=1)]
    if roi.shape[0] == 0:
        raise ValueError("the ROI contains no voxel with a finite signal")
    return roi


def fit_roi_signals(bvalues_s_mm2, mean_signals, method: str = DEFAULT_METHOD, noise_sigma=None, images=1,
                    **kwargs) -> IvimMaps:
    """Fit ROI-mean magnitude signals (b on the last axis, any leading shape) as ROI means are fitted.

    ``noise_sigma``: the noise SD per channel (signal units; scalar or one per b-value, or None: unknown) and
    ``images`` how many magnitudes each image is the geometric mean of (1, or one per b-value; 3 for scanner
    traces): the noise floor they imply is removed first (:mod:`.noise_floor`). The ``map`` method uses
    :data:`.prior.ROI_DSTAR_PRIOR`; where f is fitted at 0, D* is NaN (undefined: the models get no D*, not the
    prior's). ``kwargs`` go to :func:`.engine.fit_ivim` (``auto_mask`` off: the ROI is the user's choice).
    """
    y = np.asarray(mean_signals, dtype=np.float64)
    if noise_sigma is not None:
        y = rician_mean_to_signal(y, noise_sigma, images)
    kwargs.setdefault("auto_mask", False)
    kwargs.setdefault("dstar_prior", ROI_DSTAR_PRIOR)
    maps = fit_ivim(bvalues_s_mm2, y, method=method, **kwargs)
    # no perfusion: D* is undefined here (a model input must never be the prior's value), as for every method
    maps.Dstar_mm2_s = np.where(maps.f_fraction <= F_UNDEFINED_TOL, np.nan, maps.Dstar_mm2_s)
    return maps


def fit_roi_mean_signal(bvalues_s_mm2, signal, mask, method: str = DEFAULT_METHOD, noise_sigma=None, images=1,
                        **kwargs) -> IvimMaps:
    """Fit the mean signal of the voxels inside ``mask`` (leading shape of ``signal``); 0-d maps.

    Voxels with any non-finite value are left out of the mean; ``noise_sigma``, ``images`` and ``kwargs`` as in
    :func:`fit_roi_signals`. Raises ValueError for an empty ROI.
    """
    roi = roi_voxel_signals(signal, mask)
    return fit_roi_signals(bvalues_s_mm2, roi.mean(axis=0), method=method, noise_sigma=noise_sigma, images=images,
                           **kwargs)

_STAT_MAPS = ("S0", "D_mm2_s", "Dstar_mm2_s", "f_fraction", "ADC_mm2_s", "R2")


def roi_statistics(maps: IvimMaps, mask, ok_only: bool = False) -> dict:
    """Return per-map statistics over the voxels inside ``mask`` (same shape as the maps).

    For each of S0, D_mm2_s, Dstar_mm2_s, f_fraction, ADC_mm2_s and R2: ``mean``, ``median``, ``sd``
    (sample SD, ddof=1; NaN below 2 voxels), ``iqr`` (75th - 25th percentile, linear interpolation)
    and ``n`` (voxels with a finite value), computed over the finite values inside the ROI (D* leaves out voxels
    without perfusion, f = 0, whose D* the ``map`` method fills with its prior's median)
    (``ok_only=True``: only voxels with status OK). Also ``n_voxels`` (ROI size) and ``status_counts``.
    """
    m = np.asarray(mask).astype(bool)
    if m.shape != maps.status.shape:
        raise ValueError(f"mask shape {m.shape} does not match the map shape {maps.status.shape}")
    sel = m & (maps.status == FitStatus.OK) if ok_only else m
    out: dict = {"n_voxels": int(m.sum()),
                 "status_counts": {s.name: int(np.count_nonzero(maps.status[m] == s)) for s in FitStatus}}
    no_perfusion = np.asarray(maps.f_fraction, dtype=float) <= F_UNDEFINED_TOL
    for name in _STAT_MAPS:
        values = np.asarray(getattr(maps, name), dtype=float)
        if name == "Dstar_mm2_s":  # where f = 0 the map shows the prior's D* (map method): not a measurement
            values = np.where(no_perfusion, np.nan, values)
        v = values[sel]
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
