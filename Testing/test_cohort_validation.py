"""External and internal validation statistics (``VCFDiagnosisLib.cohort.validation``) against computations
written here: direct maximum likelihood (scipy), hand-counted decision-curve examples, simulated cohorts with a
known calibration, and the optimism of a predictor that carries no information."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import optimize, special
from test_cohort_stats import synthetic_rows

from VCFDiagnosisLib.cohort import analyze_cohort, write_cohort_outputs
from VCFDiagnosisLib.cohort.validation import (
    bootstrap_optimism,
    brier,
    calibration,
    calibration_curve,
    cross_validated_auc,
    decision_curve,
    net_benefit,
    rule_decision_curve,
    stratified_folds,
)

pytest.importorskip("statsmodels")


def _simulated(n: int, slope: float, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Predictions p and outcomes drawn from logit P(y) = shift + slope * logit(p) (so the truth is known)."""
    rng = np.random.default_rng(seed)
    lp = rng.normal(0, 1.5, n)
    y = (rng.random(n) < special.expit(shift + slope * lp)).astype(int)
    return special.expit(lp), y


def test_calibration_equals_direct_maximum_likelihood():
    p, y = _simulated(400, slope=0.6, shift=0.4, seed=1)
    result = calibration(p, y)
    lp = special.logit(p)
    # calibration-in-the-large: the intercept solving sum(y - expit(a + lp)) = 0 (the offset model's score equation)
    citl = optimize.brentq(lambda a: np.sum(y - special.expit(a + lp)), -10, 10)
    assert result["citl"] == pytest.approx(citl, abs=1e-6)

    def negative_log_likelihood(params):
        eta = params[0] + params[1] * lp
        return -np.sum(y * eta - np.logaddexp(0, eta))

    a, b = optimize.minimize(negative_log_likelihood, [0.0, 1.0], method="Nelder-Mead",
                             options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 10000}).x
    assert result["slope"] == pytest.approx(b, abs=1e-4) and result["recalibration_intercept"] == pytest.approx(a, abs=1e-4)
    assert result["slope_ci"][0] < 0.6 < result["slope_ci"][1], "the true slope is inside its 95 % interval"
    assert result["observed_minus_expected"] == pytest.approx(y.mean() - p.mean())


def test_a_well_calibrated_model_has_slope_one_and_citl_zero():
    p, y = _simulated(3000, slope=1.0, shift=0.0, seed=2)
    result = calibration(p, y)
    assert result["citl_ci"][0] < 0 < result["citl_ci"][1]
    assert result["slope_ci"][0] < 1 < result["slope_ci"][1]
    too_extreme = special.expit(2 * special.logit(p))  # overfitted predictions: slope about 1/2
    assert calibration(too_extreme, y)["slope"] == pytest.approx(0.5, abs=0.07)


def test_brier_by_hand():
    p = np.array([0.9, 0.4, 0.6, 0.2, 0.1, math.nan])
    y = np.array([1, 1, 0, 0, 0, 1])
    result = brier(p, y)
    expected = np.mean((p[:5] - y[:5]) ** 2)
    assert result["brier"] == pytest.approx(expected) and result["n"] == 5
    assert result["scaled_brier"] == pytest.approx(1 - expected / (0.4 * 0.6))


def test_decision_curve_on_a_hand_counted_example():
    p = np.array([0.9, 0.4, 0.6, 0.2, 0.1])
    y = np.array([1, 1, 0, 0, 0])
    # t = 0.3: treated 0.9, 0.4, 0.6 -> TP 2, FP 1: 2/5 - 1/5 * 0.3/0.7; treat all: 2/5 - 3/5 * 0.3/0.7
    assert net_benefit(p >= 0.3, y, 0.3) == pytest.approx(0.4 - 0.2 * 3 / 7)
    curve = decision_curve(p, y, thresholds=[0.3, 0.5])
    assert curve["model"] == pytest.approx([0.4 - 0.2 * 3 / 7, 0.2 - 0.2])
    assert curve["treat_all"] == pytest.approx([0.4 - 0.6 * 3 / 7, 0.4 - 0.6])
    rule = rule_decision_curve(np.array([1.0, 0.0, 1.0, 0.0, np.nan]), np.array([1, 1, 0, 0, 1]), [0.5])
    assert rule["model"] == pytest.approx([1 / 4 - 1 / 4])  # the NaN case (no FF) is left out


def test_calibration_curve_bins_and_wilson_intervals():
    p, y = _simulated(500, slope=1.0, shift=0.0, seed=3)
    curve = calibration_curve(p, y, n_bins=5)
    assert sum(b["n"] for b in curve["bins"]) == 500 and len(curve["bins"]) == 5
    first = curve["bins"][0]
    members = p <= np.quantile(p, 0.2)
    assert first["observed"] == pytest.approx(y[members].mean()) and first["n"] == members.sum()
    k, n, z = y[members].sum(), members.sum(), 1.959963984540054
    centre = (k + z * z / 2) / (n + z * z)
    half = z * math.sqrt(k * (n - k) / n + z * z / 4) / (n + z * z)
    assert first["ci"] == pytest.approx([centre - half, centre + half], abs=1e-9)
    assert len(curve["lowess"]["predicted"]) == 500
    # well calibrated but far from 0.5 (bimodal, as the study's probabilities are): the smooth follows the diagonal
    rng = np.random.default_rng(8)
    p2 = special.expit(rng.normal(0, 4, 400))
    y2 = (rng.random(400) < p2).astype(int)
    smooth = calibration_curve(p2, y2)["lowess"]
    assert np.mean(np.abs(np.array(smooth["observed"]) - np.array(smooth["predicted"]))) < 0.08


def test_stratified_folds_split_each_group_evenly():
    y = np.array([0] * 23 + [1] * 12)
    folds = stratified_folds(y, 5, seed=4)
    assert sorted(np.concatenate(folds).tolist()) == list(range(35))
    for label, total in ((0, 23), (1, 12)):
        counts = [int(np.sum(y[f] == label)) for f in folds]
        assert sum(counts) == total and max(counts) - min(counts) <= 1


def test_bootstrap_optimism_equals_harrells_definition_computed_directly():
    """Same resamples (same seed), fits by statsmodels Logit directly, AUC by Mann-Whitney U (scipy)."""
    import statsmodels.api as sm
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(6)
    y = np.array([0] * 30 + [1] * 25)
    x = np.column_stack([y * 0.8 + rng.normal(size=55), rng.normal(size=55)])
    result = bootstrap_optimism(x, y, ("a", "b"), n_boot=30, seed=11)

    def auc(p, t):
        return mannwhitneyu(p[t == 1], p[t == 0]).statistic / ((t == 1).sum() * (t == 0).sum())

    def fit_predict(xf, yf, xp):
        model = sm.Logit(yf, sm.add_constant(xf)).fit(disp=0)
        return model.predict(sm.add_constant(xp, has_constant="add"))

    apparent = auc(fit_predict(x, y, x), y)
    draws = np.random.default_rng(11)
    optimism = []
    for _ in range(30):
        s = draws.integers(0, 55, 55)
        optimism.append(auc(fit_predict(x[s], y[s], x[s]), y[s]) - auc(fit_predict(x[s], y[s], x), y))
    assert result["apparent"]["auc"] == pytest.approx(apparent, abs=1e-9)
    assert result["optimism"]["auc"] == pytest.approx(np.mean(optimism), abs=1e-9)
    assert result["corrected"]["auc"] == pytest.approx(apparent - np.mean(optimism), abs=1e-9)
    assert bootstrap_optimism(x, y, ("a", "b"), n_boot=30, seed=11) == result, "seeded: reproducible"


def test_validation_shrinks_the_overfit_of_useless_predictors():
    """Noise predictors (truth AUC 0.5), six cohorts of 70: the corrected AUC is well below the in-sample one and
    the calibration slope far below 1; cross-validation is centred on 0.5; a real predictor keeps its AUC."""
    y = np.array([0] * 38 + [1] * 32)
    apparent, corrected, slope, cv = [], [], [], []
    for seed in range(6):
        noise = np.random.default_rng(seed).normal(size=(70, 4))
        result = bootstrap_optimism(noise, y, ("a", "b", "c", "d"), n_boot=200, seed=0)
        apparent.append(result["apparent"]["auc"])
        corrected.append(result["corrected"]["auc"])
        slope.append(result["corrected"]["slope"])
        cv.append(cross_validated_auc(noise, y, ("a", "b", "c", "d"), k=5, seed=0)["auc"])
    assert np.mean(apparent) > 0.62 and np.mean(corrected) < np.mean(apparent) - 0.06
    assert np.mean(slope) < 0.75, "a useless model's predictions are far too extreme"
    assert abs(np.mean(cv) - 0.5) < 0.06
    rng = np.random.default_rng(5)
    signal = np.column_stack([y + rng.normal(0, 0.7, 70)])
    strong = bootstrap_optimism(signal, y, ("s",), n_boot=200, seed=0)
    assert strong["corrected"]["auc"] > 0.8 and strong["optimism"]["auc"] < 0.02


def test_cohort_statistics_carry_the_validation_sections(tmp_path):
    rows = synthetic_rows(seed=7)
    stats = analyze_cohort(rows, source="synthetic.tsv", n_boot=50, seed=1)
    validation = stats["validation"]
    for key in ("P_IVIM", "P_combined"):
        entry = validation["external"][key]
        assert entry["n"] == 70 and 0 <= entry["brier"] <= 0.25
        assert entry["auc"]["auc"] == pytest.approx(stats["roc"][key]["auc"])
        assert math.isfinite(entry["calibration"]["slope"]) and len(entry["decision_curve"]["model"]) > 20
    assert validation["external"]["FF_rule"]["n"] == 70
    for name in ("MRS", "IVIM", "combined"):
        internal = validation["internal"][name]
        assert internal["bootstrap"]["n_boot"] == 50
        assert internal["bootstrap"]["corrected"]["auc"] <= internal["bootstrap"]["apparent"]["auc"] + 1e-9
        assert 0.5 < internal["cross_validation"]["auc"] <= 1
    written = write_cohort_outputs(stats, rows, tmp_path)
    assert {"calibration.png", "decision_curve.png"} <= set(written)
    markdown = (tmp_path / "stats.md").read_text()
    assert "## External validation of the published models on this cohort" in markdown
    assert "## Internal validation of the refitted models" in markdown
    assert (tmp_path / "stats.pdf").read_bytes().count(b"/Type /Page\n") + \
        (tmp_path / "stats.pdf").read_bytes().count(b"/Type /Page ") >= 2
    assert json.loads((tmp_path / "stats.json").read_text())["validation"]["internal"]["IVIM"]["bootstrap"]["seed"] == 1
