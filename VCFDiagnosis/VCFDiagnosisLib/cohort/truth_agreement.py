"""The published models on recovered values versus on the phantom's truth (for phantom cohorts)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..analysis.study_models import LABELS, predict
from .roc import auc_with_ci, performance


def published_models_recovered_vs_truth(rows: list[dict], cohort_dir: str | Path) -> dict:
    """Return AUC, sensitivity, specificity (and agreement) of P_IVIM and P_combined on the recovered values
    of ``rows`` and on each case's ``truth.json`` in ``cohort_dir/<case_id>/``, for the ok/warning rows."""
    kept = [r for r in rows if r["status"] != "error" and r.get("label") in LABELS]
    y = np.array([r["label"] == "metastatic" for r in kept])
    truth_p = {"P_IVIM": [], "P_combined": []}
    for row in kept:
        lesion = json.loads((Path(cohort_dir) / row["case_id"] / "truth.json").read_text())["lesion"]
        truth = predict(lesion["D_mm2_s"], lesion["Dstar_mm2_s"], lesion["f_fraction"], lesion["FF_percent"])
        truth_p["P_IVIM"].append(truth.P_IVIM)
        truth_p["P_combined"].append(truth.P_combined)
    out = {"n": len(kept)}
    for model, truth_scores in truth_p.items():
        recovered = np.array([r[model] for r in kept], float)
        truth_scores = np.array(truth_scores, float)
        out[model] = {
            "auc_recovered": auc_with_ci(recovered, y)["auc"], "auc_truth": auc_with_ci(truth_scores, y)["auc"],
            "recovered": performance(recovered > 0.5, y), "truth": performance(truth_scores > 0.5, y),
            "prediction_agreement": float(np.mean((recovered > 0.5) == (truth_scores > 0.5))),
        }
    return out
