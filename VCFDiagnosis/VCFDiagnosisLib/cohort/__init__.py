"""Cohort statistics of Tan et al. 2019 on any labelled results table (pure core: numpy, scipy, statsmodels).

:func:`analyze_cohort` takes results-table rows (``case_id``, ``roi``, ``status``, optional ``reader``,
``label`` = ``metastatic``/``osteoporotic``, D, Dstar, f, ADC, LWR, FF, P_IVIM, P_combined, ...) and returns
a dict of plain Python values: group means and t-tests (Holm-corrected), inter-reader ICC, refitted logistic
models, ROC/AUC with DeLong CIs and pairwise tests, sensitivity/specificity/accuracy at P > 0.5, at the
Youden point and (FF) at the derived published rule FF < 23.2 %, and the published values beside them.
 The validation section (:mod:`.validation`) adds, for the published probabilities, calibration-in-the-large,
the calibration slope, Brier scores, calibration and decision curves (the FF rule as a strategy too), and for
the refitted models bootstrap optimism-corrected AUC / slope / Brier and stratified cross-validated AUC.
:func:`write_cohort_outputs` writes ``stats.json``, ``stats.md``, ``roc.png``, ``boxplots.png``,
``calibration.png``, ``decision_curve.png`` and ``stats.pdf``. statsmodels and matplotlib are optional extras imported when needed. Research use only:
not a diagnosis.
"""

from __future__ import annotations

import math

import numpy as np

from .. import __version__
from ..analysis.study_models import (
    FF_CUTOFF_NOTE,
    FF_CUTOFF_PERCENT,
    METASTATIC,
    OSTEOPOROTIC,
    P_COMBINED,
    P_IVIM,
    PROVENANCE,
    RESEARCH_USE_NOTE,
)
from . import published
from .group_tests import compare_groups
from .icc import icc
from .logistic import MODELS, refit_models
from .outputs import write_cohort_outputs
from .roc import auc_with_ci, delong_test, performance, roc_curve, youden_point
from .tables import CohortTable, select_cases
from .validation import bootstrap_optimism, cross_validated_auc, external_validation, rule_decision_curve

__all__ = ["analyze_cohort", "write_cohort_outputs", "select_cases", "CohortTable", "ICC_PARAMETERS", "SCORES"]

#: ROI-dependent parameters compared between readers (LWR and FF come from the one spectrum per case).
ICC_PARAMETERS = ("D", "Dstar", "f", "ADC")

#: ROC scores: key -> (label, model family for the published Table 4 row, kind).
SCORES: dict[str, tuple[str, str, str]] = {
    "FF": ("MRS: FF (score -FF; lower FF = metastatic)", "MRS", "published"),
    "P_IVIM": ("IVIM: published P_IVIM", "IVIM", "published"),
    "P_combined": ("IVIM+MRS: published P_combined", "combined", "published"),
    "refit_MRS": ("MRS: refitted logistic (FF)", "MRS", "refit"),
    "refit_IVIM": ("IVIM: refitted logistic (D, D*, f)", "IVIM", "refit"),
    "refit_combined": ("IVIM+MRS: refitted logistic (FF, D, D*, f)", "combined", "refit"),
}
PAIRS = (("MRS", "IVIM"), ("MRS", "combined"), ("IVIM", "combined"))
#: Bootstrap resamples of the optimism correction (Harrell: at least 200) and the folds of the cross-validation.
BOOTSTRAP_RESAMPLES = 200
CV_FOLDS = 5


def _published_probability(table: CohortTable, column: str, model) -> np.ndarray:
    """Return the table's probability column; where missing but the inputs are finite, compute it."""
    inputs = {"D_mm2_s": "D", "Dstar_mm2_s": "Dstar", "f_fraction": "f", "FF_percent": "FF"}
    values = table.values[column].copy()
    for i in np.flatnonzero(~np.isfinite(values)):
        case = {k: float(table.values[c][i]) for k, c in inputs.items() if k in model.coefficients}
        if all(math.isfinite(v) for v in case.values()):
            values[i] = model.probability(case)
    return values


def _icc_section(table: CohortTable, alpha: float) -> dict:
    if len(table.readers) < 2:
        return {"readers": table.readers, "message": "fewer than two readers: no ICC", "parameters": {}}
    parameters = {}
    for column in ICC_PARAMETERS:
        entry = {}
        for name, label in (("all", None), (OSTEOPOROTIC, 0), (METASTATIC, 1)):
            matrix, ids = table.reader_matrix(column, label)
            if matrix.shape[0] >= 2:
                entry[name] = icc(matrix, alpha)
            else:
                entry[name] = {"n": matrix.shape[0], "message": "fewer than 2 cases rated by every reader"}
        parameters[column] = entry
    return {"readers": table.readers, "message": "", "parameters": parameters}


def _score_entry(key: str, score: np.ndarray, y: np.ndarray, alpha: float) -> dict:
    label, model, kind = SCORES[key]
    ok = np.isfinite(score)
    entry = {"label": label, "model": model, "kind": kind, "n": int(ok.sum())}
    if ok.sum() < 2 or y[ok].sum() < 1 or y[ok].sum() == ok.sum():
        entry["message"] = "not enough cases of each group with this score"
        return entry
    s, t = score[ok], y[ok]
    entry.update(auc_with_ci(s, t, alpha))
    curve = roc_curve(s, t)
    entry["curve"] = {"fpr": curve["fpr"].tolist(), "tpr": curve["tpr"].tolist()}
    cutoffs = {}
    if key == "FF":
        rule = performance(s > -FF_CUTOFF_PERCENT, t)  # s = -FF: FF < 23.2 %
        cutoffs["FF < 23.2 % (derived published rule)"] = {"rule": f"FF < {FF_CUTOFF_PERCENT:g} %",
                                                           "note": FF_CUTOFF_NOTE, **rule}
        best = youden_point(s, t)
        best["rule"] = f"FF <= {-best['threshold']:.4g} %"
        best["threshold"] = -best["threshold"]
        cutoffs["Youden"] = best
    else:
        cutoffs["P > 0.5"] = {"rule": "P > 0.5", **performance(s > 0.5, t)}
        best = youden_point(s, t)
        best["rule"] = f"P >= {best['threshold']:.4g}"
        cutoffs["Youden"] = best
    entry["cutoffs"] = cutoffs
    return entry


def _pairwise(scores: dict[str, np.ndarray], y: np.ndarray, keys: dict[str, str], kind: str) -> list[dict]:
    complete = np.all([np.isfinite(scores[k]) for k in keys.values()], axis=0)
    out = []
    for a, b in PAIRS:
        entry = {"kind": kind, "a": keys[a], "b": keys[b], "models": f"{a} vs {b}", "n": int(complete.sum()),
                 "published_p": published.PAIRWISE_P[(a, b)]}
        t = y[complete]
        if complete.sum() >= 3 and 0 < t.sum() < t.size:
            entry.update(delong_test(scores[keys[a]][complete], scores[keys[b]][complete], t))
        else:
            entry["message"] = "not enough complete cases"
        out.append(entry)
    return out


def _validation_section(table: CohortTable, scores: dict, y: np.ndarray, alpha: float, n_boot: int,
                        seed: int) -> dict:
    """External validation of the published probabilities and the FF rule; internal validation of the refits."""
    external = {key: external_validation(scores[key], y, alpha) for key in ("P_IVIM", "P_combined")}
    ff = table.values["FF"]
    called = np.where(np.isfinite(ff), (ff < FF_CUTOFF_PERCENT).astype(float), np.nan)
    external["FF_rule"] = {"rule": f"FF < {FF_CUTOFF_PERCENT:g} %", "n": int(np.isfinite(called).sum()),
                           "decision_curve": rule_decision_curve(called, y)}
    internal = {}
    for name, columns in MODELS.items():
        x = np.column_stack([table.values[c] for c in columns])
        internal[name] = {"inputs": list(columns),
                          "bootstrap": bootstrap_optimism(x, y, columns, n_boot=n_boot, seed=seed),
                          "cross_validation": cross_validated_auc(x, y, columns, k=CV_FOLDS, seed=seed)}
    predictions = {key: scores[key] for key in ("P_IVIM", "P_combined")}
    return {"external": external, "internal": internal, "predictions": predictions,
            "note": "External: the published models as they are, on this cohort. Internal: the models refitted on "
                    "this cohort, with Harrell's bootstrap optimism correction and stratified cross-validation; "
                    "the in-sample (apparent) figures are optimistic."}


def analyze_cohort(rows: list[dict], source: str = "results table", alpha: float = 0.05,
                   n_boot: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> dict:
    """Return the cohort statistics of labelled results rows as a dict of plain Python values.

    ``source`` names the input in error messages (e.g. the TSV path). Raises ValueError for missing
    columns, unknown labels or fewer than 2 cases per group; ImportError (with the install command) if
    statsmodels is missing. One row per case (the first reader's) feeds the group analyses; all readers
    feed the ICC (see :mod:`.tables`). The refitted models' ROC and cut-offs are in-sample (optimistic); the
    ``validation`` section corrects them (``n_boot`` bootstrap resamples and the folds seeded with ``seed``).
    """
    table = select_cases(rows, source)
    y = table.y
    models = refit_models(table.values, y, alpha)
    scores = {"FF": -table.values["FF"],
              "P_IVIM": _published_probability(table, "P_IVIM", P_IVIM),
              "P_combined": _published_probability(table, "P_combined", P_COMBINED),
              **{f"refit_{name}": fit["fitted"] for name, fit in models.items()}}
    roc = {key: _score_entry(key, scores[key], y, alpha) for key in SCORES}
    pairwise = (_pairwise(scores, y, {"MRS": "FF", "IVIM": "P_IVIM", "combined": "P_combined"}, "published")
                + _pairwise(scores, y, {m: f"refit_{m}" for m in ("MRS", "IVIM", "combined")}, "refit"))
    validation = _validation_section(table, scores, y, alpha, n_boot, seed)
    for name, fit in models.items():
        fit.pop("fitted")
        fit["published"] = published.COEFFICIENTS.get(name)
    return {
        "title": "VCFDiagnosis cohort statistics (Tan et al. 2019 analysis)",
        "note": RESEARCH_USE_NOTE,
        "provenance": PROVENANCE,
        "software": f"vcfdiagnosis {__version__}",
        "alpha": alpha,
        "cohort": {"source": table.source, "n_rows": table.n_rows, "n_cases": len(table.cases),
                   "n_osteoporotic": table.n_osteoporotic, "n_metastatic": table.n_metastatic,
                   "excluded": table.excluded, "n_extra_rows": table.n_extra_rows, "readers": table.readers, "selection": table.selection,
                   "case_ids": [c["case_id"] for c in table.cases]},
        "groups": compare_groups(table),
        "icc": _icc_section(table, alpha),
        "logistic": models,
        "roc": roc,
        "pairwise_auc": pairwise,
        "validation": validation,
        "published": published.as_dict(),
    }

