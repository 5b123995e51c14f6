"""Mono-exponential apparent diffusion coefficient, ``S(b) = S0 exp(-b ADC)``, vectorised.

ADC is the slope of a weighted log-linear fit (weights ``S^2``, two passes; see
:func:`.linear.loglinear_fit`) over all b-values or a chosen closed range ``[b_low, b_high]`` s/mm2.
A negative slope (signal rising with b, i.e. noise) is clipped to ADC = 0 and flagged HIT_BOUND.
"""

from __future__ import annotations

import numpy as np

from .linear import loglinear_fit
from .status import FitStatus


def adc_range_mask(bvalues_s_mm2: np.ndarray, b_range_s_mm2: tuple[float, float] | None) -> np.ndarray:
    """Return the boolean selection of b-values inside ``b_range_s_mm2`` (all if None)."""
    b = np.asarray(bvalues_s_mm2, dtype=float)
    if b_range_s_mm2 is None:
        return np.ones(b.shape, dtype=bool)
    lo, hi = (float(v) for v in b_range_s_mm2)
    if not lo <= hi:
        raise ValueError(f"ADC b-value range must satisfy low <= high, got ({lo}, {hi})")
    return (b >= lo) & (b <= hi)


def fit_adc_rows(bk: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit every row of ``y`` (b in internal units ms/um2 = 1e3 s/mm2); return ``(ADC_k, S0, status)``.

    ``ADC_k`` is in um2/ms (= 1e-3 mm2/s).
    """
    k, s0, _ = loglinear_fit(bk, y)
    status = np.full(y.shape[0], FitStatus.OK, dtype=np.uint8)
    neg = k < 0
    status[neg] = FitStatus.HIT_BOUND
    k = np.where(neg, 0.0, k)
    if neg.any():
        # intercept of a flat line: weighted mean of the signal
        w = np.square(np.clip(y[neg], 0, None))
        s0[neg] = (w * y[neg]).sum(1) / np.maximum(w.sum(1), 1e-300)
    bad = ~np.isfinite(k) | ~np.isfinite(s0)
    status[bad] = FitStatus.INVALID_INPUT
    k[bad] = np.nan
    s0[bad] = np.nan
    return k, s0, status
