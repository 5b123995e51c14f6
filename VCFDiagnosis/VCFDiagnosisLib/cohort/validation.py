"""How well the models transfer to a user's cohort (TRIPOD): calibration, Brier score, decision curves, and an
honest internal validation of the refitted models (bootstrap optimism correction, stratified cross-validation).

Outcome 1 = metastatic; ``p`` a predicted probability of metastasis. Definitions (Steyerberg, *Clinical
Prediction Models*, 2nd ed., ch. 15; Van Calster et al. 2019, BMC Med 17:230; Vickers & Elkin 2006, Med Decis
Making 26:565):

* calibration-in-the-large (CITL): ``a`` of ``logit P(y) = a + logit(p)`` (logit p as an offset); 0 is ideal,
  > 0 means the model under-predicts metastasis on this cohort. Also observed minus expected rate.
* calibration slope: ``b`` of ``logit P(y) = a + b logit(p)``; 1 is ideal, < 1 means predictions too extreme
  (overfitting), > 1 too modest.
* Brier score ``mean((p - y)^2)`` and its scaled form ``1 - Brier / (ybar (1 - ybar))``.
* calibration curve: observed rate against mean prediction in quantile bins (Wilson 95 % intervals), and a
  LOWESS smooth of y on p (statsmodels).
* decision curve: net benefit ``TP/n - FP/n * t / (1 - t)`` of "treat as metastatic when p >= t" over threshold
  probabilities t, beside "treat all" and "treat none" (0); a fixed rule (FF < 23.2 %) is one strategy.
* Harrell's bootstrap optimism: refit on B bootstrap resamples (seeded), optimism = mean(performance on the
  resample - performance of that refit on the original cohort); corrected = apparent - optimism.
* stratified k-fold cross-validated AUC (each case predicted by a model that did not see it).

Logistic fits use statsmodels (:func:`.logistic.fit_logit`, GLM with offset); AUC is :mod:`.roc`'s.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy.special import expit

from .group_tests import STATSMODELS_MISSING
from .logistic import fit_logit
from .roc import auc_with_ci, structural_components

#: Threshold probabilities of the decision curves.
DECISION_THRESHOLDS = np.round(np.arange(0.02, 0.96, 0.02), 2)
#: Probabilities are clipped to [EPS, 1 - EPS] before the logit (a published model can give 0 or 1 exactly).
EPS = 1e-9


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, float), EPS, 1 - EPS)
    return np.log(p / (1 - p))


def _complete(p, y) -> tuple[np.ndarray, np.ndarray]:
    p, y = np.asarray(p, float), np.asarray(y, int)
    ok = np.isfinite(p)
    return p[ok], y[ok]


def brier(p, y) -> dict:
    """Return the Brier score and the scaled Brier score (1 - Brier / Brier of the prevalence alone)."""
    p, y = _complete(p, y)
    score = float(np.mean((p - y) ** 2))
    reference = float(y.mean() * (1 - y.mean()))
    return {"brier": score, "scaled_brier": 1 - score / reference if reference > 0 else math.nan, "n": int(y.size)}


def calibration(p, y, alpha: float = 0.05) -> dict:
    """Return calibration-in-the-large (offset logistic), the calibration slope with their CIs, O - E."""
    try:
        import statsmodels.api as sm
    except ImportError as error:
        raise ImportError(STATSMODELS_MISSING) from error
    p, y = _complete(p, y)
    out = {"n": int(y.size), "observed_rate": float(y.mean()), "expected_rate": float(p.mean()),
           "observed_minus_expected": float(y.mean() - p.mean())}
    if y.size < 5 or y.sum() in (0, y.size):
        out["message"] = "not enough cases of each group"
        return out
    lp = _logit(p)
    citl = sm.GLM(y, np.ones((y.size, 1)), family=sm.families.Binomial(), offset=lp).fit()
    slope = _slope_fit(lp, y)
    ci_citl, ci_slope = np.asarray(citl.conf_int(alpha)), np.asarray(slope.conf_int(alpha))
    out.update(citl=float(citl.params[0]), citl_ci=[float(ci_citl[0, 0]), float(ci_citl[0, 1])],
               slope=float(slope.params[1]), slope_ci=[float(ci_slope[1, 0]), float(ci_slope[1, 1])],
               recalibration_intercept=float(slope.params[0]))
    return out


def calibration_curve(p, y, n_bins: int | None = None) -> dict:
    """Return binned (quantile bins) and LOWESS-smoothed calibration curves of predictions ``p``."""
    from statsmodels.nonparametric.smoothers_lowess import lowess
    from statsmodels.stats.proportion import proportion_confint

    p, y = _complete(p, y)
    n_bins = n_bins or int(max(2, min(10, y.size // 10)))
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    bins = []
    for b in range(max(len(edges) - 1, 1)):
        members = index == b
        if not members.any():
            continue
        events, total = int(y[members].sum()), int(members.sum())
        low, high = proportion_confint(events, total, method="wilson")
        bins.append({"mean_predicted": float(p[members].mean()), "observed": events / total, "n": total,
                     "ci": [float(low), float(high)]})
    # no robustness iterations (it=0): with 0/1 outcomes they would treat one group as outliers (as rms val.prob)
    smooth = lowess(y, p, frac=2 / 3, it=0, return_sorted=True) if y.size >= 10 else np.empty((0, 2))
    smooth[:, 1] = np.clip(smooth[:, 1], 0, 1)
    return {"bins": bins, "lowess": {"predicted": smooth[:, 0].tolist(), "observed": smooth[:, 1].tolist()}}


def net_benefit(treat: np.ndarray, y: np.ndarray, threshold: float) -> float:
    """Return the net benefit of treating the cases where ``treat`` is True at threshold probability t."""
    n = y.size
    tp = float(np.sum(treat & (y == 1)))
    fp = float(np.sum(treat & (y == 0)))
    return tp / n - fp / n * threshold / (1 - threshold)


def decision_curve(p, y, thresholds=DECISION_THRESHOLDS) -> dict:
    """Return the net benefit of "p >= t" over thresholds t, with "treat all" (and "treat none" = 0)."""
    p, y = _complete(p, y)
    return {"thresholds": [float(t) for t in thresholds],
            "model": [net_benefit(p >= t, y, t) for t in thresholds],
            "treat_all": [net_benefit(np.ones(y.size, bool), y, t) for t in thresholds]}


def rule_decision_curve(positive, y, thresholds=DECISION_THRESHOLDS) -> dict:
    """Return the net benefit of a fixed rule (``positive`` = called metastatic) over thresholds t."""
    positive = np.asarray(positive)
    ok = ~np.isnan(positive.astype(float))
    treat, t_y = positive[ok].astype(bool), np.asarray(y, int)[ok]
    return {"thresholds": [float(t) for t in thresholds], "model": [net_benefit(treat, t_y, t) for t in thresholds],
            "treat_all": [net_benefit(np.ones(t_y.size, bool), t_y, t) for t in thresholds]}


def external_validation(p, y, alpha: float = 0.05) -> dict:
    """Return every external-validation figure of a probability: AUC, calibration, Brier, curves."""
    p_c, y_c = _complete(p, y)
    out = {"n": int(y_c.size)}
    if y_c.size < 5 or y_c.sum() in (0, y_c.size):
        out["message"] = "not enough cases of each group with this probability"
        return out
    out.update(auc=auc_with_ci(p_c, y_c, alpha), calibration=calibration(p_c, y_c, alpha), **brier(p_c, y_c),
               calibration_curve=calibration_curve(p_c, y_c), decision_curve=decision_curve(p_c, y_c))
    return out


def _performance(p: np.ndarray, y: np.ndarray) -> dict:
    """AUC, calibration slope and Brier score of predictions p (NaN where undefined)."""
    if y.sum() in (0, y.size) or not np.all(np.isfinite(p)):
        return {"auc": math.nan, "slope": math.nan, "brier": math.nan}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # a bootstrap refit can be near-separated: its slope is then NaN
        try:
            params = np.asarray(_slope_fit(_logit(p), y).params, float)
        except (ValueError, np.linalg.LinAlgError):
            params = np.full(2, math.nan)
    return {"auc": float(structural_components(p, y)[0][0]),
            "slope": float(params[1]) if np.all(np.isfinite(params)) else math.nan,
            "brier": float(np.mean((p - y) ** 2))}


def _slope_fit(lp: np.ndarray, y: np.ndarray):
    """Return the statsmodels fit of ``logit P(y) = a + b lp`` (the calibration slope is ``b``)."""
    import statsmodels.api as sm

    return sm.GLM(y, sm.add_constant(lp, has_constant="add"), family=sm.families.Binomial()).fit()


def _predict(fit: dict, x: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """Return the probabilities of a :func:`fit_logit` result (study units) for the rows of ``x``."""
    coefficients = fit["coefficients"]
    eta = coefficients["const"]["coef"] + sum(coefficients[n]["coef"] * x[:, i] for i, n in enumerate(names))
    return expit(eta)


def bootstrap_optimism(x, y, names: tuple[str, ...], n_boot: int = 200, seed: int = 0) -> dict:
    """Return Harrell's optimism-corrected AUC, calibration slope and Brier of a refitted logistic model.

    ``x`` N x p in table units (complete cases only are used), ``y`` 0/1. Resamples whose refit fails
    (separation, a single group) are skipped and counted.
    """
    x, y = np.asarray(x, float).reshape(len(y), len(names)), np.asarray(y, int)
    complete = np.isfinite(x).all(axis=1)
    x, y = x[complete], y[complete]
    fit = fit_logit(x, y, names)
    if not math.isfinite(fit["coefficients"]["const"]["coef"]):
        return {"n": int(y.size), "message": fit["message"] or "the model could not be fitted"}
    apparent = _performance(_predict(fit, x, names), y)
    rng = np.random.default_rng(seed)
    optimism = {k: [] for k in apparent}
    skipped = 0
    with warnings.catch_warnings(), np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # near-separated resamples: reported by the skip count
        for _ in range(n_boot):
            skipped += _resample_optimism(x, y, names, rng, optimism)
    mean_optimism = {k: float(np.nanmean(v)) if v else math.nan for k, v in optimism.items()}
    return {"n": int(y.size), "n_boot": n_boot, "seed": seed, "skipped": skipped, "apparent": apparent,
            "optimism": mean_optimism,
            "corrected": {k: apparent[k] - mean_optimism[k] for k in apparent}}


def _resample_optimism(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], rng, optimism: dict) -> int:
    """Add one bootstrap resample's optimism to ``optimism``; return 1 if its refit failed (skipped), else 0."""
    sample = rng.integers(0, y.size, y.size)
    xb, yb = x[sample], y[sample]
    refit = fit_logit(xb, yb, names)
    if not math.isfinite(refit["coefficients"]["const"]["coef"]):
        return 1
    on_sample = _performance(_predict(refit, xb, names), yb)
    on_original = _performance(_predict(refit, x, names), y)
    for key in optimism:
        optimism[key].append(on_sample[key] - on_original[key])
    return 0


def stratified_folds(y, k: int, seed: int) -> list[np.ndarray]:
    """Return k test-index arrays that split each group as evenly as possible (seeded shuffle)."""
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    start = 0
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(np.asarray(y) == label))
        for i, index in enumerate(members):
            folds[(start + i) % k].append(int(index))
        start += members.size
    return [np.array(sorted(f), int) for f in folds]


def cross_validated_auc(x, y, names: tuple[str, ...], k: int = 5, seed: int = 0) -> dict:
    """Return the stratified k-fold cross-validated AUC of a refitted logistic model (pooled predictions)."""
    x, y = np.asarray(x, float).reshape(len(y), len(names)), np.asarray(y, int)
    complete = np.isfinite(x).all(axis=1)
    x, y = x[complete], y[complete]
    k = int(min(k, y.sum(), y.size - y.sum()))
    if k < 2:
        return {"n": int(y.size), "k": k, "message": "fewer than 2 cases in a group: no cross-validation"}
    predicted = np.full(y.size, math.nan)
    failed = 0
    for test in stratified_folds(y, k, seed):
        train = np.setdiff1d(np.arange(y.size), test)
        fit = fit_logit(x[train], y[train], names)
        if math.isfinite(fit["coefficients"]["const"]["coef"]):
            predicted[test] = _predict(fit, x[test], names)
        else:
            failed += 1
    ok = np.isfinite(predicted)
    out = {"n": int(y.size), "k": k, "seed": seed, "failed_folds": failed, "n_predicted": int(ok.sum())}
    if ok.sum() >= 4 and 0 < y[ok].sum() < ok.sum():
        out.update(auc_with_ci(predicted[ok], y[ok]))
    return out
