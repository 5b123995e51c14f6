"""Vectorised weighted log-linear regression, the building block of the ADC and segmented fits.

Fits ``ln y = ln A - x * k`` independently for every row of ``y`` (shape ``(n_voxels, n_points)``)
with per-point weights; points with zero weight or non-positive ``y`` are ignored.
"""

from __future__ import annotations

import numpy as np


def loglinear_wls(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(k, lnA, n_used)`` of the weighted fit ``ln y ~ lnA - k x`` for each row of ``y``.

    ``x`` has shape ``(n,)``; ``y`` and ``weights`` have shape ``(m, n)``. Rows with fewer than two
    usable points or a degenerate design get NaN for ``k`` and ``lnA``.
    """
    usable = (y > 0) & (weights > 0)
    w = np.where(usable, weights, 0.0)
    logy = np.log(np.where(usable, y, 1.0))
    sw = w.sum(axis=-1)
    # einsum, not ``@``: no multi-threaded BLAS inside the worker threads
    sx = np.einsum("ij,j->i", w, x)
    sxx = np.einsum("ij,j->i", w, x * x)
    wl = w * logy
    sy = wl.sum(axis=-1)
    sxy = np.einsum("ij,j->i", wl, x)
    det = sw * sxx - sx * sx
    n_used = usable.sum(axis=-1)
    ok = (n_used >= 2) & (det > 1e-12 * np.maximum(sw * sxx, 1e-300))
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = (sw * sxy - sx * sy) / det
        intercept = (sy - slope * sx) / sw
    k = np.where(ok, -slope, np.nan)
    ln_a = np.where(ok, intercept, np.nan)
    return k, ln_a, n_used


def loglinear_fit(x: np.ndarray, y: np.ndarray, passes: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``y ~ A exp(-k x)`` by log-linear least squares with weights ``S^2``.

    The variance of ``ln S`` is about ``sigma^2 / S^2``, so the weights ``S^2`` make the log-linear fit
    approximate the least-squares fit on the signal itself. The first pass weights by the measured
    ``y^2``, each further pass by the squared model of the previous pass (less noise in the weights).
    Returns ``(k, A, n_used)``.
    """
    k, ln_a, n_used = loglinear_wls(x, y, np.square(np.clip(y, 0.0, None)))
    for _ in range(passes - 1):
        model = np.exp(ln_a[:, None] - k[:, None] * x[None, :])
        model = np.where(np.isfinite(model), model, 0.0)
        k2, ln_a2, _ = loglinear_wls(x, y, model * model)
        good = np.isfinite(k2)
        k = np.where(good, k2, k)
        ln_a = np.where(good, ln_a2, ln_a)
    with np.errstate(over="ignore"):
        return k, np.exp(ln_a), n_used
