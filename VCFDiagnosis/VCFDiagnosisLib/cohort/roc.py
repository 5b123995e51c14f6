"""ROC analysis: AUC with DeLong's variance, DeLong's test for correlated AUCs, cut-off performance.

Conventions: ``y`` is 1 for the positive class (metastatic) and 0 for the negative class (osteoporotic);
a **higher score means more likely positive** (pass ``-FF`` for the fat fraction, whose low values suggest
metastasis). Cases with a non-finite score are left out of that score's analysis. The AUC is the
Mann-Whitney probability ``P(score_pos > score_neg) + 0.5 P(tie)``.

DeLong, DeLong & Clarke-Pearson (1988) variance and covariance of correlated AUCs, computed with the
O(n log n) structural-components algorithm of Sun & Xu (2014, IEEE Signal Process Lett 21:1389) using
mid-ranks for ties. Confidence intervals are Wald intervals ``AUC +- z * SE`` clipped to [0, 1].
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats


def midranks(x: np.ndarray) -> np.ndarray:
    """Return the 1-based ranks of ``x`` with tied values sharing their mean rank (mid-ranks)."""
    x = np.asarray(x, float)
    order = np.argsort(x, kind="mergesort")
    _, starts, counts = np.unique(x[order], return_index=True, return_counts=True)
    ranks = np.empty(x.size, float)
    ranks[order] = np.repeat(starts + (counts + 1) / 2.0, counts)
    return ranks


def _check(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.atleast_2d(np.asarray(scores, float))
    y = np.asarray(y).astype(int).ravel()
    if scores.shape[1] != y.size:
        raise ValueError(f"scores have {scores.shape[1]} cases, labels {y.size}")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite (drop the missing cases first)")
    if y.sum() < 1 or y.sum() == y.size:
        raise ValueError("ROC analysis needs at least one case of each class")
    return scores, y


def structural_components(scores, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (AUCs, V10, V01) for K scores (K x N array) of the same cases.

    ``V10[k, i]`` is the fraction of negatives scored below positive i (ties 1/2), ``V01[k, j]`` the
    fraction of positives scored above negative j; each AUC is the mean of either.
    """
    scores, y = _check(scores, y)
    positives, negatives = scores[:, y == 1], scores[:, y == 0]
    m, n = positives.shape[1], negatives.shape[1]
    tx = np.array([midranks(row) for row in positives])
    ty = np.array([midranks(row) for row in negatives])
    tz = np.array([midranks(row) for row in np.hstack([positives, negatives])])
    aucs = (tz[:, :m].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return aucs, v10, v01


def delong_covariance(scores, y) -> tuple[np.ndarray, np.ndarray]:
    """Return (AUCs, K x K DeLong covariance matrix) for K scores (K x N) of the same cases."""
    aucs, v10, v01 = structural_components(scores, y)
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((len(aucs), len(aucs)))
    s01 = np.atleast_2d(np.cov(v01)) if n > 1 else np.zeros((len(aucs), len(aucs)))
    return aucs, s10 / m + s01 / n


def auc_with_ci(score, y, alpha: float = 0.05) -> dict:
    """Return ``{"auc", "se", "ci_low", "ci_high", "n", "n_pos", "n_neg"}`` (DeLong SE, Wald CI clipped to 0..1)."""
    aucs, cov = delong_covariance(score, y)
    auc, se = float(aucs[0]), float(math.sqrt(max(cov[0, 0], 0.0)))
    z = stats.norm.ppf(1 - alpha / 2)
    y = np.asarray(y).astype(int)
    return {"auc": auc, "se": se, "ci_low": max(0.0, auc - z * se), "ci_high": min(1.0, auc + z * se),
            "n": int(y.size), "n_pos": int(y.sum()), "n_neg": int(y.size - y.sum())}


def delong_test(score_a, score_b, y) -> dict:
    """Return DeLong's two-sided test of ``AUC_a == AUC_b`` for two scores of the same cases.

    Keys: ``auc_a``, ``auc_b``, ``difference`` (a - b), ``se``, ``z``, ``p``, ``correlation`` (of the AUC
    estimates). Identical AUC estimates with zero variance of the difference give z = 0, p = 1.
    """
    aucs, cov = delong_covariance(np.vstack([score_a, score_b]), y)
    variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    difference = float(aucs[0] - aucs[1])
    se = math.sqrt(max(variance, 0.0))
    if se > 0:
        z = difference / se
    else:
        z = 0.0 if difference == 0 else math.copysign(math.inf, difference)
    denominator = math.sqrt(cov[0, 0] * cov[1, 1])
    return {"auc_a": float(aucs[0]), "auc_b": float(aucs[1]), "difference": difference, "se": se, "z": float(z),
            "p": float(2 * stats.norm.sf(abs(z))),
            "correlation": float(cov[0, 1] / denominator) if denominator > 0 else math.nan}


def roc_curve(score, y) -> dict:
    """Return ``{"thresholds", "fpr", "tpr"}``: one point per distinct score (rule ``score >= threshold``),
    thresholds descending, starting at (0, 0) with threshold +inf."""
    score, y = _check(score, y)
    score = score[0]
    order = np.argsort(-score, kind="mergesort")
    s, t = score[order], y[order]
    last_of_value = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    tp = np.cumsum(t)[last_of_value]
    fp = (np.arange(1, s.size + 1) - np.cumsum(t))[last_of_value]
    return {"thresholds": np.r_[np.inf, s[last_of_value]], "tpr": np.r_[0.0, tp / t.sum()],
            "fpr": np.r_[0.0, fp / (t.size - t.sum())]}


def performance(predicted_positive, y) -> dict:
    """Return counts and sensitivity/specificity/accuracy (fractions) of boolean predictions against ``y``."""
    predicted = np.asarray(predicted_positive, bool)
    y = np.asarray(y).astype(int).astype(bool)
    tp, fn = int(np.sum(predicted & y)), int(np.sum(~predicted & y))
    tn, fp = int(np.sum(~predicted & ~y)), int(np.sum(predicted & ~y))
    return {"tp": tp, "fn": fn, "tn": tn, "fp": fp, "n": tp + fn + tn + fp,
            "sensitivity": tp / (tp + fn) if tp + fn else math.nan,
            "specificity": tn / (tn + fp) if tn + fp else math.nan,
            "accuracy": (tp + tn) / (tp + fn + tn + fp) if y.size else math.nan}


def youden_point(score, y) -> dict:
    """Return the cut-off maximising Youden's J = sensitivity + specificity - 1 (rule ``score >= threshold``).

    The threshold is an observed score; among equal J the highest threshold (the most specific rule) wins.
    Keys: ``threshold``, ``youden_j`` and the :func:`performance` entries at that rule.
    """
    curve = roc_curve(score, y)
    j = curve["tpr"][1:] - curve["fpr"][1:]
    best = int(np.argmax(j))
    threshold = float(curve["thresholds"][1 + best])
    result = performance(np.asarray(score, float) >= threshold, y)
    return {"threshold": threshold, "youden_j": float(j[best]), **result}
