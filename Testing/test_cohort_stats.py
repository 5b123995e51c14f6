"""Cohort statistics (``VCFDiagnosisLib.cohort``, ``vcfdiagnosis cohort``) against independent computations.

Pure core: no Slicer runtime needed. Every check compares with a computation written here or with a
published number (Shrout & Fleiss 1979), so a wrong formula fails.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from VCFDiagnosisLib.analysis.results import empty_row, write_results_tsv
from VCFDiagnosisLib.analysis.study_models import P_IVIM, RESEARCH_USE_NOTE, TABLE3, predict
from VCFDiagnosisLib.app.cli import main
from VCFDiagnosisLib.cohort import analyze_cohort, select_cases, write_cohort_outputs
from VCFDiagnosisLib.cohort.group_tests import compare_groups, holm
from VCFDiagnosisLib.cohort.icc import anova_mean_squares, icc
from VCFDiagnosisLib.cohort.logistic import fit_logit
from VCFDiagnosisLib.cohort.outputs import OUTPUT_FILES
from VCFDiagnosisLib.cohort.roc import (
    auc_with_ci,
    delong_covariance,
    delong_test,
    midranks,
    performance,
    roc_curve,
    youden_point,
)

MODULE_DIR = Path(__file__).resolve().parents[1] / "VCFDiagnosis"

#: Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


def synthetic_rows(seed: int = 0, n_osteo: int = 38, n_meta: int = 32, readers=("R1", "R2")) -> list[dict]:
    """Results rows drawn from Table 3 (normal per group, clipped to physical ranges), one row per reader.

    Reader 2 re-measures D (5 % noise), D* (10 %) and f (0.01 absolute); FF comes from the one spectrum.
    P_IVIM and P_combined are the published models applied to each reader's values.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for group, n in (("osteoporotic", n_osteo), ("metastatic", n_meta)):
        table = TABLE3[group]
        for i in range(n):
            ff = float(np.clip(rng.normal(*table["FF_percent"]), 0.5, 95.0))
            d = float(max(rng.normal(*table["D_mm2_s"]), 0.15e-3))
            dstar = float(max(rng.normal(*table["Dstar_mm2_s"]), 3e-3))
            f = float(np.clip(rng.normal(*table["f_fraction"]), 0.01, 0.6))
            for r, reader in enumerate(readers):
                d_r = d * (1 + 0.05 * rng.standard_normal()) if r else d
                dstar_r = dstar * (1 + 0.1 * rng.standard_normal()) if r else dstar
                f_r = float(np.clip(f + 0.01 * rng.standard_normal(), 0.005, 0.6)) if r else f
                p = predict(d_r, dstar_r, f_r, ff)
                row = empty_row(f"{group[:4]}{i:02d}", f"lesion {reader}")
                row.update(D=d_r, Dstar=dstar_r, f=f_r, ADC=d_r * (1 - f_r) + 0.1 * f_r * dstar_r, FF=ff,
                           LWR=ff / (100 - ff), P_IVIM=p.P_IVIM, P_combined=p.P_combined, prediction=p.prediction,
                           label=group, reader=reader)
                rows.append(row)
    return rows


@pytest.fixture(scope="module")
def cohort_rows():
    return synthetic_rows(seed=3)


@pytest.fixture(scope="module")
def cohort_stats(cohort_rows):
    return analyze_cohort(cohort_rows, source="synthetic.tsv")


def _group_values(rows, column, label, reader="R1"):
    return np.array([r[column] for r in rows if r["label"] == label and r["reader"] == reader], float)


# ------------------------------------------------------------------------------------------- group tests
def test_t_tests_equal_scipy_and_holm_equals_statsmodels(cohort_rows):
    from statsmodels.stats.multitest import multipletests

    groups = compare_groups(select_cases(cohort_rows))
    welch_p, student_p = [], []
    for column in ("LWR", "FF", "D", "Dstar", "f", "ADC"):
        meta, osteo = _group_values(cohort_rows, column, "metastatic"), _group_values(cohort_rows, column, "osteoporotic")
        welch = stats.ttest_ind(meta, osteo, equal_var=False)
        student = stats.ttest_ind(meta, osteo, equal_var=True)
        entry = groups[column]
        assert entry["welch"]["t"] == pytest.approx(welch.statistic, rel=1e-12)
        assert entry["welch"]["p"] == pytest.approx(welch.pvalue, rel=1e-10)
        assert entry["student"]["p"] == pytest.approx(student.pvalue, rel=1e-10)
        assert entry["metastatic"]["mean"] == pytest.approx(meta.mean())
        assert entry["osteoporotic"]["sd"] == pytest.approx(osteo.std(ddof=1))
        assert entry["metastatic"]["n"] == 32 and entry["osteoporotic"]["n"] == 38
        welch_p.append(welch.pvalue)
        student_p.append(student.pvalue)
    for name, raw in (("welch", welch_p), ("student", student_p)):
        expected = multipletests(raw, method="holm")[1]
        got = [groups[c][name]["p_holm"] for c in ("LWR", "FF", "D", "Dstar", "f", "ADC")]
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    # D* is far higher in the metastatic group (Table 3): t > 0 by convention (metastatic minus osteoporotic)
    assert groups["Dstar"]["welch"]["t"] > 5 and groups["FF"]["welch"]["t"] < 0


def test_holm_by_hand_and_nan_passthrough():
    # sorted 0.01, 0.03, 0.04 -> 3*0.01, max(2*0.03, 0.03), max(1*0.04, 0.06)
    np.testing.assert_allclose(holm([0.01, 0.04, math.nan, 0.03]), [0.03, 0.06, math.nan, 0.06])


# ------------------------------------------------------------------------------------------- ICC
def test_icc_reproduces_shrout_fleiss_1979():
    result = icc(SHROUT_FLEISS)
    assert round(result["ICC2_1"]["icc"], 2) == 0.29
    assert round(result["ICC3_1"]["icc"], 2) == 0.71
    for kind in ("ICC2_1", "ICC3_1"):
        entry = result[kind]
        assert -1 < entry["ci_low"] < entry["icc"] < entry["ci_high"] < 1
    # the absolute-agreement interval is wider and lower: the judges differ systematically (MSC >> MSE)
    assert result["ICC2_1"]["ci_low"] < result["ICC3_1"]["ci_low"]
    assert result["ICC2_1"]["ci_low"] == pytest.approx(0.019, abs=0.001)
    assert result["ICC2_1"]["ci_high"] == pytest.approx(0.761, abs=0.001)
    assert result["ICC3_1"]["ci_low"] == pytest.approx(0.342, abs=0.001)
    assert result["ICC3_1"]["ci_high"] == pytest.approx(0.946, abs=0.001)


def test_icc_mean_squares_equal_a_direct_two_way_anova():
    import pandas as pd
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm

    x = np.asarray(SHROUT_FLEISS, float)
    n, k = x.shape
    frame = pd.DataFrame({"rating": x.ravel(), "target": np.repeat(np.arange(n), k), "judge": np.tile(np.arange(k), n)})
    table = anova_lm(ols("rating ~ C(target) + C(judge)", data=frame).fit())
    msr, msc, mse = table.loc["C(target)", "mean_sq"], table.loc["C(judge)", "mean_sq"], table.loc["Residual", "mean_sq"]
    ms = anova_mean_squares(x)
    assert (ms["MSR"], ms["MSC"], ms["MSE"]) == pytest.approx((msr, msc, mse), rel=1e-10)
    result = icc(x)
    assert result["ICC3_1"]["icc"] == pytest.approx((msr - mse) / (msr + (k - 1) * mse), rel=1e-12)
    assert result["ICC2_1"]["icc"] == pytest.approx((msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n), rel=1e-12)
    # ICC(3,1) interval: bounds of F0 = MSR/MSE divided/multiplied by the F quantiles
    f0 = msr / mse
    f_low, f_high = f0 / stats.f.ppf(0.975, n - 1, (n - 1) * (k - 1)), f0 * stats.f.ppf(0.975, (n - 1) * (k - 1), n - 1)
    assert result["ICC3_1"]["ci_low"] == pytest.approx((f_low - 1) / (f_low + k - 1))
    assert result["ICC3_1"]["ci_high"] == pytest.approx((f_high - 1) / (f_high + k - 1))
    assert result["p"] == pytest.approx(stats.f.sf(f0, n - 1, (n - 1) * (k - 1)))


def test_icc_in_the_cohort_uses_every_reader(cohort_rows, cohort_stats):
    section = cohort_stats["icc"]
    assert section["readers"] == ["R1", "R2"]
    by_case = {}
    for row in cohort_rows:
        by_case.setdefault(row["case_id"], {})[row["reader"]] = row["Dstar"]
    matrix = np.array([[v["R1"], v["R2"]] for v in by_case.values()])
    assert section["parameters"]["Dstar"]["all"]["ICC2_1"]["icc"] == pytest.approx(icc(matrix)["ICC2_1"]["icc"])
    assert section["parameters"]["Dstar"]["all"]["n"] == 70
    assert section["parameters"]["D"]["metastatic"]["n"] == 32
    # the readers agree closely by construction (5 % noise on D)
    assert section["parameters"]["D"]["all"]["ICC2_1"]["icc"] > 0.9


# ------------------------------------------------------------------------------------------- ROC
def _psi(pos, neg):
    return (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])


def test_auc_equals_mann_whitney_with_ties():
    rng = np.random.default_rng(1)
    y = np.r_[np.ones(23, int), np.zeros(31, int)]
    score = np.r_[rng.integers(0, 8, 23) + 1, rng.integers(0, 8, 31)].astype(float)  # many ties
    pos, neg = score[y == 1], score[y == 0]
    brute = _psi(pos, neg).mean()
    result = auc_with_ci(score, y)
    assert result["auc"] == pytest.approx(brute, rel=1e-12)
    assert result["auc"] == pytest.approx(stats.mannwhitneyu(pos, neg).statistic / (pos.size * neg.size), rel=1e-12)
    assert result["ci_low"] < result["auc"] < result["ci_high"]
    np.testing.assert_allclose(midranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0])), [4.0, 1.0, 4.0, 2.0, 4.0])


def _direct_delong(scores, y):
    """O(n^2) structural components (DeLong et al. 1988): AUCs and their covariance matrix."""
    v10, v01, aucs = [], [], []
    for s in scores:
        psi = _psi(s[y == 1], s[y == 0])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
        aucs.append(psi.mean())
    v10, v01 = np.array(v10), np.array(v01)
    m, n = v10.shape[1], v01.shape[1]
    s10 = (v10 - v10.mean(axis=1, keepdims=True)) @ (v10 - v10.mean(axis=1, keepdims=True)).T / (m - 1)
    s01 = (v01 - v01.mean(axis=1, keepdims=True)) @ (v01 - v01.mean(axis=1, keepdims=True)).T / (n - 1)
    return np.array(aucs), s10 / m + s01 / n


def test_delong_covariance_and_test_equal_the_direct_computation():
    rng = np.random.default_rng(7)
    y = np.r_[np.ones(17, int), np.zeros(21, int)]
    latent = rng.normal(size=y.size) + 1.2 * y
    a = np.round(latent + 0.5 * rng.normal(size=y.size), 1)  # correlated with b, with ties
    b = np.round(latent + 0.9 * rng.normal(size=y.size), 1)
    aucs, cov = delong_covariance(np.vstack([a, b]), y)
    direct_aucs, direct_cov = _direct_delong(np.vstack([a, b]), y)
    np.testing.assert_allclose(aucs, direct_aucs, rtol=1e-12)
    np.testing.assert_allclose(cov, direct_cov, rtol=1e-10)
    assert direct_cov[0, 1] > 0  # the two AUCs are positively correlated
    test = delong_test(a, b, y)
    z = (direct_aucs[0] - direct_aucs[1]) / math.sqrt(direct_cov[0, 0] + direct_cov[1, 1] - 2 * direct_cov[0, 1])
    assert test["z"] == pytest.approx(z, rel=1e-10)
    assert test["p"] == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-10)
    assert auc_with_ci(a, y)["se"] == pytest.approx(math.sqrt(direct_cov[0, 0]), rel=1e-10)
    same = delong_test(a, a, y)
    assert same["z"] == 0 and same["p"] == 1


def test_roc_curve_points():
    curve = roc_curve([0.9, 0.8, 0.8, 0.3], [1, 0, 1, 0])
    np.testing.assert_allclose(curve["tpr"], [0, 0.5, 1.0, 1.0])
    np.testing.assert_allclose(curve["fpr"], [0, 0.0, 0.5, 1.0])


def test_sensitivity_specificity_accuracy_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    score = np.array([0.9, 0.6, 0.4, 0.7, 0.2, 0.1, 0.3])
    result = performance(score > 0.5, y)
    assert (result["tp"], result["fn"], result["tn"], result["fp"]) == (2, 1, 3, 1)
    assert result["sensitivity"] == pytest.approx(2 / 3)
    assert result["specificity"] == pytest.approx(3 / 4)
    assert result["accuracy"] == pytest.approx(5 / 7)


def test_youden_point_on_a_constructed_example():
    # positives at 4, 6, 7, 8, 9; negatives at 1, 2, 3, 5. J(>= 6) = 0.8 - 0 beats J(>= 4) = 1 - 0.25.
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1, 1])
    point = youden_point(np.arange(1.0, 10.0), y)
    assert point["threshold"] == 6.0
    assert point["youden_j"] == pytest.approx(0.8)
    assert (point["sensitivity"], point["specificity"]) == (pytest.approx(0.8), 1.0)
    # ties in J: the highest threshold (the most specific rule) wins
    tie = youden_point(np.arange(1.0, 9.0), np.array([0, 0, 0, 1, 0, 1, 1, 1]))
    assert tie["threshold"] == 6.0 and tie["youden_j"] == pytest.approx(0.75)


def test_cohort_roc_cutoffs_match_direct_counts(cohort_rows, cohort_stats):
    first = [r for r in cohort_rows if r["reader"] == "R1"]
    y = np.array([r["label"] == "metastatic" for r in first])
    ff = np.array([r["FF"] for r in first])
    rule = cohort_stats["roc"]["FF"]["cutoffs"]["FF < 23.2 % (derived published rule)"]
    assert rule["tp"] == int(np.sum((ff < 23.2) & y)) and rule["tn"] == int(np.sum((ff >= 23.2) & ~y))
    assert cohort_stats["roc"]["FF"]["auc"] == pytest.approx(_psi(-ff[y], -ff[~y]).mean())
    p_ivim = np.array([r["P_IVIM"] for r in first])
    at_half = cohort_stats["roc"]["P_IVIM"]["cutoffs"]["P > 0.5"]
    assert at_half["sensitivity"] == pytest.approx(np.mean(p_ivim[y] > 0.5))
    assert at_half["specificity"] == pytest.approx(np.mean(p_ivim[~y] <= 0.5))
    youden = cohort_stats["roc"]["FF"]["cutoffs"]["Youden"]
    assert youden["sensitivity"] == pytest.approx(np.mean(ff[y] <= youden["threshold"]))
    pair = next(p for p in cohort_stats["pairwise_auc"] if p["kind"] == "published" and p["models"] == "MRS vs IVIM")
    assert pair["p"] == pytest.approx(delong_test(-ff, p_ivim, y.astype(int))["p"])
    assert pair["published_p"] == 0.026


# ------------------------------------------------------------------------------------------- logistic
def test_logistic_coefficients_equal_statsmodels_directly(cohort_rows):
    import statsmodels.api as sm

    first = [r for r in cohort_rows if r["reader"] == "R1"]
    x = np.array([[r["FF"], r["D"], r["Dstar"], r["f"]] for r in first])
    y = np.array([r["label"] == "metastatic" for r in first], int)
    direct = sm.Logit(y, sm.add_constant(x)).fit(disp=0, method="newton", maxiter=200)
    fit = fit_logit(x, y, ("FF", "D", "Dstar", "f"))
    assert not fit["separation"] and fit["converged"]
    for i, term in enumerate(("const", "FF", "D", "Dstar", "f")):
        assert fit["coefficients"][term]["coef"] == pytest.approx(direct.params[i], rel=1e-5, abs=1e-6)
        assert fit["coefficients"][term]["se"] == pytest.approx(direct.bse[i], rel=1e-4)
        assert fit["coefficients"][term]["p"] == pytest.approx(direct.pvalues[i], rel=1e-4, abs=1e-8)
    assert fit["llf"] == pytest.approx(direct.llf, rel=1e-8)


def test_refit_recovers_the_published_signs():
    rng = np.random.default_rng(11)
    n = 3000
    d = rng.uniform(0.3e-3, 2.5e-3, n)
    dstar = rng.uniform(10e-3, 80e-3, n)
    f = rng.uniform(0.02, 0.30, n)
    p = np.array([P_IVIM.probability({"D_mm2_s": a, "Dstar_mm2_s": b, "f_fraction": c}) for a, b, c in zip(d, dstar, f)])
    y = (rng.uniform(size=n) < p).astype(int)
    fit = fit_logit(np.column_stack([d, dstar, f]), y, ("D", "Dstar", "f"))
    for term, published in (("const", -3.068), ("D", -736.188), ("Dstar", 135.729), ("f", -8.449)):
        coefficient = fit["coefficients"][term]
        assert math.copysign(1, coefficient["coef"]) == math.copysign(1, published), term
        assert abs(coefficient["coef"] - published) < 4 * coefficient["se"], term


def test_perfect_separation_is_reported_not_raised():
    x = np.r_[np.arange(6.0), np.arange(6.0) + 20].reshape(-1, 1)
    y = np.r_[np.zeros(6, int), np.ones(6, int)]
    fit = fit_logit(x, y, ("FF",))
    assert fit["separation"] and "separation" in fit["message"]
    assert math.isnan(fit["coefficients"]["FF"]["coef"])
    rows = []
    for i in range(6):
        for label, ff in (("osteoporotic", 30.0 + i), ("metastatic", 5.0 + i)):
            row = empty_row(f"{label}{i}", "lesion")
            row.update(label=label, FF=ff, LWR=ff / (100 - ff), D=1.5e-3 - 0.1e-3 * i, Dstar=0.03 + 0.002 * i,
                       f=0.1 + 0.01 * i, ADC=1.6e-3)
            rows.append(row)
    result = analyze_cohort(rows)
    assert result["logistic"]["MRS"]["separation"]
    assert result["roc"]["FF"]["auc"] == 1.0


# ------------------------------------------------------------------------------------------- input checks
def test_bad_input_names_the_problem():
    rows = synthetic_rows(seed=1, n_osteo=3, n_meta=3, readers=("R1",))
    with pytest.raises(ValueError, match=r"cases\.tsv: missing column\(s\) label"):
        analyze_cohort([{k: v for k, v in r.items() if k != "label"} for r in rows], source="cases.tsv")
    with pytest.raises(ValueError, match="at least 2 labelled cases per group, found 3 osteoporotic, 1 metastatic"):
        analyze_cohort(rows[:4], source="few.tsv")
    with pytest.raises(ValueError, match="'benign' is neither"):
        analyze_cohort([{**rows[0], "label": "benign"}, *rows[1:]])
    with pytest.raises(ValueError, match="no labelled|found 0"):
        analyze_cohort([{**r, "label": ""} for r in rows])
    with pytest.raises(ValueError, match="no rows"):
        analyze_cohort([])


def test_exclusions_are_counted():
    rows = synthetic_rows(seed=2, n_osteo=5, n_meta=5, readers=("R1",))
    rows.append({**empty_row("broken", "lesion"), "status": "error", "label": "metastatic"})
    rows.append({**empty_row("unknown", "lesion"), "label": ""})
    table = select_cases(rows)
    assert table.excluded["status error"] == 1 and table.excluded["no label"] == 1
    assert len(table.cases) == 10 and table.readers == []


def test_the_package_imports_without_statsmodels_and_matplotlib():
    code = ("import sys; sys.modules['statsmodels'] = None; sys.modules['matplotlib'] = None\n"
            "from VCFDiagnosisLib.cohort import analyze_cohort\n"
            "try:\n    analyze_cohort([{'case_id': str(i), 'label': l, 'D': 1e-3, 'Dstar': 0.03, 'f': 0.1, 'FF': 20.0 + i}"
            " for i, l in enumerate(['metastatic', 'osteoporotic'] * 3)])\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install statsmodels matplotlib" in out.stdout
    for path in (MODULE_DIR / "VCFDiagnosisLib" / "cohort").glob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(slicer|qt|ctk|vtk)\b", text, re.M), path
        assert not re.search(r"^(import|from)\s+(statsmodels|matplotlib)\b", text, re.M), path
        assert not re.search(r"import\s+.*pyplot|pyplot\s+import|matplotlib\.use\(", text), path


# ------------------------------------------------------------------------------------------- outputs and CLI
def test_cli_round_trip(cohort_rows, tmp_path, capsys):
    rows = [*cohort_rows, {**empty_row("broken", "lesion"), "status": "error", "label": "metastatic", "reader": "R1"}]
    table = tmp_path / "cohort.tsv"
    write_results_tsv(table, rows)
    out = tmp_path / "stats"
    assert main(["cohort", str(table), "--out", str(out), "--bootstrap", "40", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "optimism-corrected (40 resamples)" in printed and "calibration-in-the-large" in printed
    assert "70 cases (38 osteoporotic, 32 metastatic)" in printed and RESEARCH_USE_NOTE in printed
    for name in ("stats.json", "stats.md", "roc.png", "boxplots.png", "calibration.png", "decision_curve.png",
                 "stats.pdf"):
        assert (out / name).stat().st_size > 1000, name
    data = json.loads((out / "stats.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert data["note"] == RESEARCH_USE_NOTE
    assert data["cohort"]["excluded"]["status error"] == 1
    assert data["published"]["table4"]["combined"]["auc"] == 0.964
    markdown = (out / "stats.md").read_text()
    assert RESEARCH_USE_NOTE in markdown and "87.50 / 57.89 / 71.43" in markdown and "0.964" in markdown
    assert (out / "roc.png").read_bytes()[:4] == b"\x89PNG" and (out / "stats.pdf").read_bytes()[:4] == b"%PDF"
    before = (out / "stats.json").read_text()
    assert main(["cohort", str(table), "--out", str(out)]) == 2  # bad input (output exists)
    assert "exists" in capsys.readouterr().err and (out / "stats.json").read_text() == before
    assert main(["cohort", str(table), "--out", str(out), "--force", "--bootstrap", "40"]) == 0
    assert main(["cohort", str(table), "--out", str(out), "--force", "--bootstrap", "0"]) == 2
    assert "--bootstrap: must be at least 1" in capsys.readouterr().err


def test_cli_refuses_a_table_without_labels(tmp_path, capsys):
    table = tmp_path / "unlabelled.tsv"
    write_results_tsv(table, [{k: v for k, v in r.items() if k != "label"} for r in synthetic_rows(4, 3, 3)])
    assert main(["cohort", str(table), "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "unlabelled.tsv" in error and "label" in error
    assert not (tmp_path / "out").exists()
    assert main(["cohort", str(tmp_path / "nowhere.tsv"), "--out", str(tmp_path / "out")]) == 2
    assert "nowhere.tsv" in capsys.readouterr().err


def test_write_outputs_refuses_before_writing_anything(cohort_rows, cohort_stats, tmp_path):
    (tmp_path / "roc.png").write_bytes(b"old")
    with pytest.raises(FileExistsError, match="roc.png"):
        write_cohort_outputs(cohort_stats, cohort_rows, tmp_path)
    assert not (tmp_path / "stats.json").exists() and (tmp_path / "roc.png").read_bytes() == b"old"


def test_outputs_print_a_file_name_with_dollars_as_typed(cohort_rows, tmp_path):
    # the summary page prints the table's file name; '$...$' in it was parsed as math ('$\frac$' raised)
    stats = analyze_cohort(cohort_rows, source=str(tmp_path / "cohort $\\frac$ 2026.tsv"))
    written = write_cohort_outputs(stats, cohort_rows, tmp_path / "out")
    assert sorted(written) == sorted(OUTPUT_FILES) and all(Path(path).stat().st_size > 1000 for path in written.values())
