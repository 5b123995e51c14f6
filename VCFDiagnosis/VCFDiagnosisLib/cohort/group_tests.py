"""Group comparison: mean +- SD per group and two-sample t-tests with Holm correction.

For each parameter (LWR, FF, D, D*, f, ADC; table units, see :mod:`.tables`) the osteoporotic and metastatic
groups are compared (t > 0 when the metastatic mean is higher) with Welch's t-test (unequal variances; the primary test) and Student's t-test (pooled
variance; what a standard "two-sample t test" such as the study's reports). Cases with a missing value are
left out of that parameter only. p-values are two-sided; the Holm step-down correction over the parameters
tested is applied to each family (Welch, Student) separately (statsmodels ``multipletests``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from .tables import PARAMETERS, CohortTable

#: The optional packages of the cohort statistics (pip names), installed only on a user's request.
EXTRA_PACKAGES = "statsmodels matplotlib highdicom"
STATSMODELS_MISSING = (f"the cohort statistics need statsmodels: `pip install {EXTRA_PACKAGES}` "
                       "(inside Slicer, in its Python console: import VCFDiagnosis; "
                       "VCFDiagnosis.installCohortExtras())")


def holm(p_values: list[float]) -> list[float]:
    """Return Holm-adjusted p-values (NaN entries stay NaN and are not counted), via statsmodels."""
    try:
        from statsmodels.stats.multitest import multipletests
    except ImportError as error:
        raise ImportError(STATSMODELS_MISSING) from error
    p = np.asarray(p_values, float)
    adjusted = np.full(p.shape, math.nan)
    finite = np.isfinite(p)
    if finite.any():
        adjusted[finite] = multipletests(p[finite], method="holm")[1]
    return adjusted.tolist()


def _describe(values: np.ndarray) -> dict:
    return {"n": int(values.size), "mean": float(values.mean()) if values.size else math.nan,
            "sd": float(values.std(ddof=1)) if values.size > 1 else math.nan}


def compare_groups(table: CohortTable) -> dict:
    """Return ``{parameter: {...}}``: per group n/mean/SD (table units), Welch and Student t and p, Holm p.

    Each entry also carries ``unit`` and ``scale`` (multiply to get display units, e.g. 1e3 for D in
    1e-3 mm2/s). A parameter with fewer than 2 finite values in a group has NaN t and p.
    """
    result: dict[str, dict] = {}
    for column, display, unit, scale in PARAMETERS:
        values = table.values[column]
        finite = np.isfinite(values)
        osteo, meta = values[finite & (table.y == 0)], values[finite & (table.y == 1)]
        entry = {"display": display, "unit": unit, "scale": scale,
                 "osteoporotic": _describe(osteo), "metastatic": _describe(meta)}
        for name, equal_var in (("welch", False), ("student", True)):
            if osteo.size >= 2 and meta.size >= 2 and (np.ptp(osteo) > 0 or np.ptp(meta) > 0):
                test = stats.ttest_ind(meta, osteo, equal_var=equal_var)
                entry[name] = {"t": float(test.statistic), "df": float(test.df), "p": float(test.pvalue)}
            else:
                entry[name] = {"t": math.nan, "df": math.nan, "p": math.nan}
        result[column] = entry
    for name in ("welch", "student"):
        adjusted = holm([result[c][name]["p"] for c in result])
        for column, p in zip(result, adjusted):
            result[column][name]["p_holm"] = p
    return result
