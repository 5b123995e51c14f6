"""Multivariate logistic regression refitted on the cohort (statsmodels ``Logit``, maximum likelihood).

Models (outcome 1 = metastatic), as in Tan et al. 2019: ``MRS`` (FF), ``IVIM`` (D, D*, f) and ``combined``
(FF, D, D*, f). Coefficients are reported **in the study's units** (per mm2/s for D and D*, per unit
fraction for f, per percent for FF), so they compare directly with the published equations; for numerical
conditioning the fit uses D and D* in 1e-3 mm2/s and the coefficients and SEs are converted back.
Cases with a missing input are left out of that model. Perfect or quasi-complete separation (a finite
maximum-likelihood estimate does not exist) is reported as ``separation: true`` with null coefficients,
never an exception; the fitted probabilities are still returned (they separate the groups).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .group_tests import STATSMODELS_MISSING

#: Model name -> input columns (results-table names).
MODELS: dict[str, tuple[str, ...]] = {"MRS": ("FF",), "IVIM": ("D", "Dstar", "f"),
                                      "combined": ("FF", "D", "Dstar", "f")}
#: Scale applied to a column before fitting (coefficients are divided back into study units).
FIT_SCALE = {"FF": 1.0, "D": 1e3, "Dstar": 1e3, "f": 1.0}


def fit_logit(x, y, names: tuple[str, ...], alpha: float = 0.05) -> dict:
    """Fit ``logit P(y = 1) = b0 + sum(b_i x_i)`` on complete cases; return coefficients and diagnostics.

    ``x`` is N x p in table units, ``names`` its column names. Keys: ``n``, ``n_events``, ``converged``,
    ``separation``, ``message``, ``coefficients`` (``{"const"|name: {"coef", "se", "ci_low", "ci_high",
    "p"}}``, Wald statistics), ``llf``, ``aic``, ``pseudo_r2`` (McFadden), ``fitted`` (N probabilities,
    NaN for incomplete cases).
    """
    try:
        import statsmodels.api as sm
        from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning
    except ImportError as error:
        raise ImportError(STATSMODELS_MISSING) from error
    x = np.asarray(x, float).reshape(len(y), len(names))
    y = np.asarray(y).astype(int)
    complete = np.isfinite(x).all(axis=1)
    xc, yc = x[complete], y[complete]
    scale = np.array([FIT_SCALE.get(name, 1.0) for name in names])
    terms = ("const", *names)
    empty = {t: {"coef": math.nan, "se": math.nan, "ci_low": math.nan, "ci_high": math.nan, "p": math.nan}
             for t in terms}
    result = {"inputs": list(names), "n": int(yc.size), "n_events": int(yc.sum()), "converged": False,
              "separation": False, "message": "", "coefficients": empty, "llf": math.nan, "aic": math.nan,
              "pseudo_r2": math.nan, "fitted": np.full(y.size, math.nan)}
    if yc.size < len(terms) + 1 or yc.sum() < 1 or yc.sum() == yc.size:
        result["message"] = (f"not fitted: {yc.size} complete cases ({int(yc.sum())} metastatic) for "
                             f"{len(terms)} parameters")
        return result
    design = sm.add_constant(xc * scale, has_constant="add")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = sm.Logit(yc, design).fit(disp=0, maxiter=100)
        except (PerfectSeparationError, np.linalg.LinAlgError, ValueError) as error:
            result["separation"] = isinstance(error, PerfectSeparationError)
            result["message"] = f"not fitted: {error}"
            return result
    separated = any(issubclass(w.category, PerfectSeparationWarning) for w in caught)
    fitted_c = np.asarray(fit.predict(design), float)
    result["fitted"][complete] = fitted_c
    result["converged"] = bool(fit.mle_retvals.get("converged", False))
    result["llf"], result["aic"], result["pseudo_r2"] = float(fit.llf), float(fit.aic), float(fit.prsquared)
    if separated or np.all(np.abs(fitted_c - yc) < 1e-6):
        result["separation"] = True
        result["message"] = ("perfect or quasi-complete separation: the inputs separate the groups, so finite "
                             "maximum-likelihood coefficients do not exist (coefficients not reported)")
        return result
    if not result["converged"]:
        result["message"] = "maximum likelihood did not converge; estimates unreliable"
    params, bse = np.asarray(fit.params, float), np.asarray(fit.bse, float)
    ci = np.asarray(fit.conf_int(alpha=alpha), float)
    unit = np.r_[1.0, scale]
    result["coefficients"] = {
        t: {"coef": float(params[i] * unit[i]), "se": float(bse[i] * unit[i]), "ci_low": float(ci[i, 0] * unit[i]),
            "ci_high": float(ci[i, 1] * unit[i]), "p": float(np.asarray(fit.pvalues)[i])}
        for i, t in enumerate(terms)}
    return result


def refit_models(values: dict[str, np.ndarray], y, alpha: float = 0.05) -> dict[str, dict]:
    """Return :func:`fit_logit` for each of :data:`MODELS` (``values`` maps column -> per-case array)."""
    return {name: fit_logit(np.column_stack([values[c] for c in columns]), y, columns, alpha)
            for name, columns in MODELS.items()}
