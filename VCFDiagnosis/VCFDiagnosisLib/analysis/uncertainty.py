"""How sure is a probability: 95 % intervals of P_IVIM and P_combined from the uncertainty of their inputs.

Pure core. The ROI's voxels are resampled with replacement (:data:`RESAMPLES` times, seeded, so a case always
gets the same interval): each resample's ROI-mean signal is fitted again (one vectorised :func:`fit_ivim` call,
the settings' method and b threshold), or, with ``model_inputs`` ``map_mean``/``map_median``, each resample's
mean/median of the voxel maps is taken. That gives samples of D, D* and f that carry the noise and the ROI's
heterogeneity. FF is drawn from a normal distribution with the spectrum fit's Cramér-Rao SD. Each sample goes
through the model; the 2.5 and 97.5 percentiles are the interval. D* dominates (its coefficient is about
145 per mm2/s).

What the interval does not include: the uncertainty of the model coefficients themselves (the study did not
publish their standard errors), a bias of the fit (e.g. of D* at low SNR), and anything outside the ROI
(placement, partial volume of the MRS voxel). When the interval of the probability that decides the prediction
contains 0.5, the prediction is ``indeterminate``.
"""

from __future__ import annotations

import math

import numpy as np

from ..ivim import fit_roi_signals
from .study_models import LogisticModel, StudyModels

#: Bootstrap resamples of the ROI's voxels per ROI.
RESAMPLES = 200
#: Seed of the resampling (the same case gives the same interval every run).
SEED = 20190299
#: If more than this fraction of the resampled fits fail, no interval is given.
MAX_FAILED_FRACTION = 0.2
INDETERMINATE = "indeterminate"
COLUMNS = ("D_sd", "Dstar_sd", "f_sd", "P_IVIM_lo", "P_IVIM_hi", "P_combined_lo", "P_combined_hi")


def resampled_inputs(bvalues_s_mm2, voxel_signals: np.ndarray, settings, voxel_maps: dict | None = None,
                     resamples: int = RESAMPLES, seed: int = SEED, noise=None) -> dict[str, np.ndarray]:
    """Return ``{"D_mm2_s", "Dstar_mm2_s", "f_fraction"}`` arrays of ``resamples`` bootstrap samples.

    ``voxel_signals`` is (voxels, b); ``voxel_maps`` (for ``map_mean``/``map_median`` inputs) maps each of the
    three names to the ROI's voxel values; ``noise`` the DWI's
    :class:`~VCFDiagnosisLib.ivim.masking.BackgroundNoise` (or None), whose floor is removed from every
    resampled mean as from the ROI's own (:func:`VCFDiagnosisLib.ivim.fit_roi_signals`).
    """
    rng = np.random.default_rng(seed)
    if voxel_maps is not None:
        n = len(next(iter(voxel_maps.values())))
        draws = rng.integers(0, n, (resamples, n))
        reduce = np.nanmedian if settings.model_inputs == "map_median" else np.nanmean
        with np.errstate(all="ignore"):
            return {name: reduce(np.asarray(values, float)[draws], axis=1) for name, values in voxel_maps.items()}
    finite = np.isfinite(voxel_signals).all(axis=1)
    signals = voxel_signals[finite]
    draws = rng.integers(0, signals.shape[0], (resamples, signals.shape[0]))
    means = signals[draws].mean(axis=1)
    fits = fit_roi_signals(bvalues_s_mm2, means, method=settings.method,
                           noise_sigma=None if noise is None else noise.sigma,
                           images=1 if noise is None else noise.images, b_threshold_s_mm2=settings.b_threshold_s_mm2)
    return {"D_mm2_s": fits.D_mm2_s, "Dstar_mm2_s": fits.Dstar_mm2_s, "f_fraction": fits.f_fraction}


def _probabilities(model: LogisticModel, samples: dict[str, np.ndarray]) -> np.ndarray:
    logit = model.intercept + sum(c * samples[name] for name, c in model.coefficients.items())
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-logit))


def probability_intervals(samples: dict[str, np.ndarray], ff_percent: float | None, ff_sd: float | None,
                          models: StudyModels, seed: int = SEED) -> dict[str, float]:
    """Return the SDs of D, D*, f and the 95 % intervals of P_IVIM and P_combined (NaN where not defined)."""
    out = dict.fromkeys(COLUMNS, math.nan)
    count = len(samples["D_mm2_s"])
    ok = np.all([np.isfinite(samples[k]) for k in ("D_mm2_s", "Dstar_mm2_s", "f_fraction")], axis=0)
    if count == 0 or ok.mean() < 1 - MAX_FAILED_FRACTION:
        return out
    kept = {k: np.asarray(v, float)[ok] for k, v in samples.items()}
    out.update(D_sd=float(np.std(kept["D_mm2_s"], ddof=1)), Dstar_sd=float(np.std(kept["Dstar_mm2_s"], ddof=1)),
               f_sd=float(np.std(kept["f_fraction"], ddof=1)))
    p = _probabilities(models.p_ivim, kept)
    out["P_IVIM_lo"], out["P_IVIM_hi"] = (float(v) for v in np.percentile(p, [2.5, 97.5]))
    if models.p_combined is not None and ff_percent is not None and math.isfinite(ff_percent):
        spread = ff_sd if ff_sd is not None and math.isfinite(ff_sd) else 0.0
        kept["FF_percent"] = ff_percent + spread * np.random.default_rng(seed + 1).standard_normal(ok.sum())
        p = _probabilities(models.p_combined, kept)
        out["P_combined_lo"], out["P_combined_hi"] = (float(v) for v in np.percentile(p, [2.5, 97.5]))
    return out


def decided_interval(row: dict) -> tuple[float, float]:
    """Return the interval of the probability that decides the row's prediction (P_combined if it has one)."""
    key = "P_combined" if row.get("prediction_model") == "P_combined" else "P_IVIM"
    return row[f"{key}_lo"], row[f"{key}_hi"]
