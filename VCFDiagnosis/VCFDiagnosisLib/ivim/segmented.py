"""Segmented IVIM fit (the MITK Diffusion style three-step fit), vectorised over voxels.

1. ``D`` and the intercept ``A = S0 (1 - f)`` from a weighted log-linear fit of the signal at
   ``b >= b_threshold`` (where the perfusion term has decayed);
2. ``S0`` is the signal at the lowest b-value, and ``f = 1 - A / S0``;
3. ``D*`` from the low-b residual ``S(b) - A exp(-b D) ~= S0 f exp(-b D*)`` at ``b <= b_threshold``:
   a 32-point log-spaced grid search inside the D* bounds followed by a scalar Gauss-Newton/LM polish.

Without a b = 0 image (``s0_free=True``) step 2 cannot use a measured S0: the perfusion amplitude
``P = S0 f`` and D* are fitted together to the residual at ``b < b_threshold`` (for every D* of the grid
the best P is a linear least-squares fit; the D* of least cost wins), then ``S0 = A + P`` and
``f = P / S0``; step 3 polishes D* as above. This needs at least two b-values below the threshold.

Works in the internal units of :mod:`.nlls` (b in ms/um2, D in um2/ms, S0 relative).
Parameters clipped to a bound are reported with status HIT_BOUND; D* is NaN when f is 0.
"""

from __future__ import annotations

import numpy as np

from .linear import loglinear_fit
from .status import FitStatus

N_GRID = 32
MAX_DSTAR_ITERATIONS = 60
#: D* step convergence: relative cost drop below FTOL or a step below XTOL times the bound width
FTOL = 1e-7
XTOL = 1e-7


def fit_dstar_fixed_amplitude(
    bk: np.ndarray, resid: np.ndarray, amp: np.ndarray, lo: float, hi: float, polish: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``resid ~ amp * exp(-bk * Dstar)`` for each row (amp fixed); return ``(Dstar, converged)``.

    ``polish=False`` returns the best grid value (a start for a full fit, which refines it anyway).
    """
    grid = np.geomspace(lo, hi, N_GRID)
    eg = np.exp(-bk[None, :] * grid[:, None])  # (G, nb)
    # cost(g) = sum (r - a e_g)^2 = sum r^2 - 2 a r.e_g + a^2 e_g.e_g
    cross = np.einsum("ib,gb->ig", resid, eg)  # (m, G); einsum: no BLAS threads in workers
    norm = np.einsum("gb,gb->g", eg, eg)
    cost = -2.0 * amp[:, None] * cross + (amp * amp)[:, None] * norm[None, :]
    ds = grid[np.argmin(cost, axis=1)]
    if not polish:
        return ds, np.ones(ds.shape, dtype=bool)
    lam = np.full(ds.shape, 1e-3)
    conv = np.zeros(ds.shape, dtype=bool)

    def _c(d: np.ndarray, r: np.ndarray, a: np.ndarray) -> np.ndarray:
        res = r - a[:, None] * np.exp(-bk * d[:, None])
        return np.einsum("ij,ij->i", res, res)

    c = _c(ds, resid, amp)
    act = np.arange(ds.size)
    for _ in range(MAX_DSTAR_ITERATIONS):
        d_a, r_a, a_a, c_a, l_a = ds[act], resid[act], amp[act], c[act], lam[act]
        e = np.exp(-bk * d_a[:, None])
        jac = -a_a[:, None] * bk * e
        g = np.einsum("ij,ij->i", jac, r_a - a_a[:, None] * e)
        h = np.einsum("ij,ij->i", jac, jac)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = g / (h * (1.0 + l_a) + 1e-300)
        step = np.where(np.isfinite(step), step, 0.0)
        trial = np.clip(d_a + step, lo, hi)
        ct = _c(trial, r_a, a_a)
        acc = ct < c_a
        done = (np.abs(trial - d_a) <= XTOL * (hi - lo)) | (acc & (c_a - ct <= FTOL * c_a)) | (l_a > 1e10)
        ds[act] = np.where(acc, trial, d_a)
        c[act] = np.where(acc, ct, c_a)
        lam[act] = np.where(acc, l_a / 3.0, l_a * 8.0)
        conv[act[done]] = True
        act = act[~done]
        if act.size == 0:
            break
    return ds, conv


def fit_dstar_free_amplitude(bk: np.ndarray, resid: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Fit ``resid ~ P exp(-bk D*)`` with both P and D* free, for each row; return ``(D*, P)`` (P >= 0).

    Grid search over D* (:data:`N_GRID` log-spaced values in ``[lo, hi]``); for each D* the best P is the
    linear least-squares amplitude, so no logarithm of a noisy residual is taken.
    """
    grid = np.geomspace(lo, hi, N_GRID)
    eg = np.exp(-bk[None, :] * grid[:, None])  # (G, nb)
    cross = np.einsum("ib,gb->ig", resid, eg)  # (m, G)
    norm = np.einsum("gb,gb->g", eg, eg)
    amp = np.clip(cross / norm[None, :], 0.0, None)
    cost = -2.0 * amp * cross + amp * amp * norm[None, :]
    best = np.argmin(cost, axis=1)
    rows = np.arange(resid.shape[0])
    return grid[best], amp[rows, best]


def _measured_s0(y: np.ndarray, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (S0, unclipped f) with S0 the signal at the lowest b-value (a b = 0 image)."""
    s0 = y[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return s0, 1.0 - a / s0


def _extrapolated_s0(bk: np.ndarray, y: np.ndarray, a: np.ndarray, d: np.ndarray, threshold_k: float,
                     lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (S0, unclipped f) without a b = 0 image: S0 = A + P, P fitted to the residual below the threshold."""
    below = bk < threshold_k
    resid = y[:, below] - a[:, None] * np.exp(-bk[below] * d[:, None])
    resid = np.where(np.isfinite(resid), resid, 0.0)
    _, amp = fit_dstar_free_amplitude(bk[below], resid, lower[3], upper[3])
    s0 = a + amp
    with np.errstate(divide="ignore", invalid="ignore"):
        return s0, amp / s0


def fit_segmented(
    bk: np.ndarray,
    y: np.ndarray,
    threshold_k: float,
    lower: np.ndarray,
    upper: np.ndarray,
    s0_free: bool = False,
    polish: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Segmented fit of every row of ``y`` (internal units); return ``(p (n, 4), status (n,))``.

    ``lower``/``upper`` are the (4,) bounds in the order ``[S0, D, f, Dstar]``. ``s0_free``: there is no
    b = 0 image, S0 is extrapolated (module docstring). ``polish=False`` leaves D* at its grid value (step 3
    without the polish): the start of the NLLS/MAP fits, which refine every parameter anyway.
    """
    n = y.shape[0]
    p = np.full((n, 4), np.nan)
    status = np.full(n, FitStatus.OK, dtype=np.uint8)
    hi_b = bk >= threshold_k
    lo_b = bk <= threshold_k
    d, a, _ = loglinear_fit(bk[hi_b], y[:, hi_b])
    bad = ~np.isfinite(d) | ~np.isfinite(a)
    d_cl = np.clip(np.where(bad, lower[1], d), lower[1], upper[1])
    clipped_d = (d_cl != d) & ~bad
    if clipped_d.any():
        # re-estimate the intercept with the slope fixed at the bound (weighted mean of ln y + b D)
        yh = y[:, hi_b]
        w = np.square(np.clip(yh, 0, None))
        lny = np.log(np.where(yh > 0, yh, 1.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            ln_a = (w * (lny + bk[hi_b] * d_cl[:, None])).sum(1) / w.sum(1)
        a = np.where(clipped_d, np.exp(ln_a), a)
    if s0_free:
        s0, f_raw = _extrapolated_s0(bk, y, a, d_cl, threshold_k, lower, upper)
    else:
        s0, f_raw = _measured_s0(y, a)
    f = np.clip(f_raw, lower[2], upper[2])
    s0 = np.clip(s0, lower[0], upper[0])
    amp = s0 * f
    resid = y[:, lo_b] - (a[:, None] * np.exp(-bk[lo_b] * d_cl[:, None]))
    ds, conv = fit_dstar_fixed_amplitude(bk[lo_b], resid, amp, lower[3], upper[3], polish)
    tol = 1e-9
    at_bound = clipped_d | (f <= lower[2] + tol) | (f >= upper[2] - tol)
    at_bound |= (ds <= lower[3] * (1 + tol)) | (ds >= upper[3] * (1 - tol))
    p[:, 0], p[:, 1], p[:, 2], p[:, 3] = s0, d_cl, f, ds
    status[at_bound] = FitStatus.HIT_BOUND
    status[~conv] = FitStatus.NOT_CONVERGED
    invalid = bad | ~np.isfinite(f_raw)
    status[invalid] = FitStatus.INVALID_INPUT
    p[invalid] = np.nan
    return p, status

