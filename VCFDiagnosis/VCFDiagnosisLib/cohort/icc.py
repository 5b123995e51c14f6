"""Intraclass correlation between readers from the two-way ANOVA mean squares (numpy + scipy F quantiles).

``ratings`` is an n targets x k readers matrix (no missing values). Mean squares:
``MSR`` between targets (df n-1), ``MSC`` between readers (df k-1), ``MSE`` residual (df (n-1)(k-1)).

* ICC(2,1), two-way random effects, absolute agreement, single measures (Shrout & Fleiss 1979 case 2;
  McGraw & Wong 1996 ICC(A,1)): ``(MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n)``; confidence
  interval with Satterthwaite's approximate degrees of freedom (McGraw & Wong 1996, table 7, case 2A).
* ICC(3,1), two-way mixed, consistency, single measures (Shrout & Fleiss case 3; McGraw & Wong ICC(C,1)):
  ``(MSR - MSE) / (MSR + (k-1) MSE)``; exact F-based interval from ``F0 = MSR / MSE``.

The F test of ``H0: ICC = 0`` (``F0`` on n-1, (n-1)(k-1) df) is reported with both.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def anova_mean_squares(ratings) -> dict:
    """Return the two-way ANOVA (targets x readers, one rating per cell) mean squares and degrees of freedom."""
    x = np.asarray(ratings, float)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2 or not np.isfinite(x).all():
        raise ValueError(f"ICC needs a finite targets x readers matrix with at least 2 x 2 entries, got {x.shape}")
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * np.sum((x.mean(axis=1) - grand) ** 2)
    ss_cols = n * np.sum((x.mean(axis=0) - grand) ** 2)
    ss_error = np.sum((x - grand) ** 2) - ss_rows - ss_cols
    df_rows, df_cols, df_error = n - 1, k - 1, (n - 1) * (k - 1)
    return {"n": n, "k": k, "MSR": ss_rows / df_rows, "MSC": ss_cols / df_cols, "MSE": ss_error / df_error,
            "df_rows": df_rows, "df_cols": df_cols, "df_error": df_error}


def icc(ratings, alpha: float = 0.05) -> dict:
    """Return ICC(2,1) and ICC(3,1) with (1 - alpha) confidence intervals, the F test and the mean squares.

    Keys: ``ICC2_1`` and ``ICC3_1`` (each ``{"icc", "ci_low", "ci_high"}``), ``F``, ``p`` (H0: ICC = 0),
    ``n``, ``k``, ``MSR``, ``MSC``, ``MSE``. A matrix without between-target or residual variance gives NaN.
    """
    ms = anova_mean_squares(ratings)
    n, k, msr, msc, mse = ms["n"], ms["k"], ms["MSR"], ms["MSC"], ms["MSE"]
    df_r, df_e = ms["df_rows"], ms["df_error"]
    nan_ci = {"icc": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    out = {**ms, "ICC2_1": dict(nan_ci), "ICC3_1": dict(nan_ci), "F": math.nan, "p": math.nan, "alpha": alpha}
    if not (mse > 0 and msr > 0):
        return out
    q = 1 - alpha / 2
    f0 = msr / mse
    out["F"], out["p"] = f0, float(stats.f.sf(f0, df_r, df_e))
    # ICC(3,1), consistency
    icc3 = (msr - mse) / (msr + (k - 1) * mse)
    f_low = f0 / stats.f.ppf(q, df_r, df_e)
    f_high = f0 * stats.f.ppf(q, df_e, df_r)
    out["ICC3_1"] = {"icc": float(icc3), "ci_low": float((f_low - 1) / (f_low + k - 1)),
                     "ci_high": float((f_high - 1) / (f_high + k - 1))}
    # ICC(2,1), absolute agreement
    icc2 = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    a = k * icc2 / (n * (1 - icc2))
    b = 1 + k * icc2 * (n - 1) / (n * (1 - icc2))
    v = (a * msc + b * mse) ** 2 / ((a * msc) ** 2 / (k - 1) + (b * mse) ** 2 / df_e)
    f_star = stats.f.ppf(q, df_r, v)
    f_star_high = stats.f.ppf(q, v, df_r)
    low = n * (msr - f_star * mse) / (f_star * (k * msc + (k * n - k - n) * mse) + n * msr)
    high = n * (f_star_high * msr - mse) / (k * msc + (k * n - k - n) * mse + n * f_star_high * msr)
    out["ICC2_1"] = {"icc": float(icc2), "ci_low": float(low), "ci_high": float(high)}
    return {key: (float(value) if isinstance(value, np.floating) else value) for key, value in out.items()}
