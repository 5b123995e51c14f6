"""The published results of Tan et al. 2019 (J Orthop Surg Res 14:299) printed beside the cohort's.

Units are the tables' display units: LWR and FF in percent, D and D* in 1e-3 mm2/s, f a fraction;
sensitivity, specificity and accuracy in percent. Table 3 comes from :data:`VCFDiagnosisLib.analysis.study_models.TABLE3`.
"""

from __future__ import annotations

from ..analysis.study_models import METASTATIC, OSTEOPOROTIC, P_COMBINED, P_IVIM, PROVENANCE, TABLE3

SOURCE = PROVENANCE

_TABLE3_KEYS = {"LWR": ("LWR_percent", 1.0), "FF": ("FF_percent", 1.0), "D": ("D_mm2_s", 1e3),
                "Dstar": ("Dstar_mm2_s", 1e3), "f": ("f_fraction", 1.0)}

#: Table 3, mean and SD per group in display units (ADC is not in the table).
TABLE3_DISPLAY: dict[str, dict[str, tuple[float, float]]] = {
    column: {group: (TABLE3[group][key][0] * scale, TABLE3[group][key][1] * scale)
             for group in (OSTEOPOROTIC, METASTATIC)}
    for column, (key, scale) in _TABLE3_KEYS.items()
}
TABLE3_GROUP_N = {OSTEOPOROTIC: 38, METASTATIC: 32}

#: Table 4: sensitivity, specificity, accuracy (percent), AUC and its 95 % CI. MRS: the ROC of FF.
TABLE4: dict[str, dict[str, float]] = {
    "MRS": {"sensitivity": 87.50, "specificity": 57.89, "accuracy": 71.43, "auc": 0.730,
            "auc_ci_low": 0.589, "auc_ci_high": 0.812},
    "IVIM": {"sensitivity": 78.13, "specificity": 89.47, "accuracy": 84.28, "auc": 0.875,
             "auc_ci_low": 0.772, "auc_ci_high": 0.941},
    "combined": {"sensitivity": 90.63, "specificity": 97.37, "accuracy": 94.29, "auc": 0.964,
                 "auc_ci_low": 0.889, "auc_ci_high": 0.994},
}
TABLE4_NOTE = "the text gives AUC 0.94 for the combined model, Table 4 gives 0.964"
#: Table 4, pairwise comparison of the AUCs (P1, P2, P3).
PAIRWISE_P: dict[tuple[str, str], float] = {("MRS", "IVIM"): 0.026, ("MRS", "combined"): 0.000,
                                            ("IVIM", "combined"): 0.046}
#: Table 2, inter-reader ICC (95 % CI) per group, for D, D*, f (ICC type not stated in the paper).
TABLE2_ICC: dict[str, dict[str, tuple[float, float, float]]] = {
    "D": {OSTEOPOROTIC: (0.879, 0.768, 0.937), METASTATIC: (0.968, 0.934, 0.984)},
    "Dstar": {OSTEOPOROTIC: (0.869, 0.710, 0.936), METASTATIC: (0.876, 0.746, 0.940)},
    "f": {OSTEOPOROTIC: (0.957, 0.917, 0.978), METASTATIC: (0.856, 0.705, 0.930)},
}
#: The published equations, coefficients in study units (per mm2/s, per fraction, per percent FF).
COEFFICIENTS: dict[str, dict[str, float]] = {
    "IVIM": {"const": P_IVIM.intercept, "D": P_IVIM.coefficients["D_mm2_s"],
             "Dstar": P_IVIM.coefficients["Dstar_mm2_s"], "f": P_IVIM.coefficients["f_fraction"]},
    "combined": {"const": P_COMBINED.intercept, "FF": P_COMBINED.coefficients["FF_percent"],
                 "D": P_COMBINED.coefficients["D_mm2_s"], "Dstar": P_COMBINED.coefficients["Dstar_mm2_s"],
                 "f": P_COMBINED.coefficients["f_fraction"]},
}


def as_dict() -> dict:
    """Return every published value as plain JSON types (pair keys as 'A vs B')."""
    return {"source": SOURCE, "table3": {c: {g: {"mean": m, "sd": s} for g, (m, s) in groups.items()}
                                         for c, groups in TABLE3_DISPLAY.items()},
            "table3_n": dict(TABLE3_GROUP_N), "table4": TABLE4, "table4_note": TABLE4_NOTE,
            "pairwise_p": {f"{a} vs {b}": p for (a, b), p in PAIRWISE_P.items()},
            "table2_icc": {c: {g: {"icc": v[0], "ci_low": v[1], "ci_high": v[2]} for g, v in groups.items()}
                           for c, groups in TABLE2_ICC.items()},
            "coefficients": COEFFICIENTS}
