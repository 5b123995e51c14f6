"""The diagnostic models of Tan et al. 2019 (J Orthop Surg Res 14:299), with their provenance.

Pure core (no slicer import). Units everywhere: D and D* in mm2/s (e.g. 0.00167), f a fraction (0.16),
FF in percent (24.73), ADC in mm2/s. A probability P > 0.5 means "metastatic". The coefficients were fitted
on 70 patients (38 osteoporotic, 32 osteolytic metastatic) at one 3T site: every output is a research
result, never a diagnosis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

PROVENANCE = ("Tan et al. 2019, J Orthop Surg Res 14:299: multivariate logistic regression on 70 patients "
              "(38 osteoporotic, 32 metastatic), 3T Siemens Skyra, one site")
RESEARCH_USE_NOTE = "Research use only: not a diagnosis. Model of Tan et al. 2019 (n = 70, one 3T site)."

METASTATIC = "metastatic"
OSTEOPOROTIC = "osteoporotic"
#: The study's two groups: the values of a manifest's and a results table's ``label`` column.
LABELS = (OSTEOPOROTIC, METASTATIC)


@dataclass(frozen=True)
class LogisticModel:
    """``logit P = intercept + sum(coefficient * value)``; P > 0.5 predicts ``metastatic``."""

    name: str
    intercept: float
    coefficients: dict
    provenance: str = PROVENANCE

    def logit(self, values: dict) -> float:
        """Return the linear predictor for ``values`` (keys as in ``coefficients``, study units)."""
        missing = [k for k in self.coefficients if values.get(k) is None or not math.isfinite(values[k])]
        if missing:
            raise ValueError(f"{self.name} needs finite {', '.join(missing)}")
        return self.intercept + sum(c * float(values[k]) for k, c in self.coefficients.items())

    def probability(self, values: dict) -> float:
        """Return P(metastatic) in 0..1."""
        z = self.logit(values)
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


#: IVIM only: logit P1 = -3.068 - 736.188 D + 135.729 D* - 8.449 f (Table 4 model, AUC 0.875).
P_IVIM = LogisticModel("P_IVIM", -3.068, {"D_mm2_s": -736.188, "Dstar_mm2_s": 135.729, "f_fraction": -8.449})
#: IVIM + MRS: logit P2 = -0.859 - 0.172 FF - 82.869 D + 144.717 D* - 9.847 f (AUC 0.964 in Table 4).
P_COMBINED = LogisticModel("P_combined", -0.859, {"FF_percent": -0.172, "D_mm2_s": -82.869,
                                                  "Dstar_mm2_s": 144.717, "f_fraction": -9.847})

#: MRS-only rule: FF below this (percent) suggests metastasis. DERIVED, not printed in the study: the
#: cut-off at which a normal model of Table 3 reproduces the reported sensitivity 87.5 % and specificity 57.9 %.
FF_CUTOFF_PERCENT = 23.2
FF_CUTOFF_NOTE = "derived cut-off (not printed in the study): FF < 23.2 % suggests metastasis"
#: Mono-exponential ADC rule cited by the study's discussion (its reference 25): ADC < 1.7e-3 mm2/s
#: suggests a malignant fracture.
ADC_CUTOFF_MM2_S = 1.7e-3
ADC_CUTOFF_NOTE = "cited rule (Tan et al. 2019, ref. 25): ADC < 1.7e-3 mm2/s suggests malignancy"

#: Table 3 group values, mean and SD, in the study's units (LWR in percent as printed).
TABLE3 = {
    OSTEOPOROTIC: {"LWR_percent": (42.22, 21.20), "FF_percent": (24.73, 7.68), "D_mm2_s": (1.67e-3, 0.35e-3),
                   "Dstar_mm2_s": (25.81e-3, 10.02e-3), "f_fraction": (0.16, 0.08)},
    METASTATIC: {"LWR_percent": (27.73, 18.45), "FF_percent": (14.95, 7.26), "D_mm2_s": (1.04e-3, 0.95e-3),
                 "Dstar_mm2_s": (53.84e-3, 15.61e-3), "f_fraction": (0.11, 0.06)},
}

_PHYSICAL_LIMITS = {"FF_percent": (0.0, 100.0), "D_mm2_s": (0.0, math.inf), "Dstar_mm2_s": (0.0, math.inf),
                    "f_fraction": (0.0, 1.0)}


def study_range(parameter: str, n_sd: float = 2.0) -> tuple[float, float]:
    """Return the range (low, high) the study's cohort covered for a model input.

    The study printed no ranges, so this is DERIVED: the union over both groups of mean +- ``n_sd`` SD
    (Table 3), clipped to physical limits. Values outside it make a prediction "extrapolated".
    """
    lows, highs = zip(*((m - n_sd * s, m + n_sd * s) for m, s in (TABLE3[g][parameter] for g in TABLE3)))
    low_limit, high_limit = _PHYSICAL_LIMITS[parameter]
    return max(min(lows), low_limit), min(max(highs), high_limit)


#: The inputs a model may use, with their units (the results table's D, Dstar, f and FF columns).
PREDICTOR_UNITS = {"D_mm2_s": "mm2/s", "Dstar_mm2_s": "mm2/s", "f_fraction": "fraction", "FF_percent": "percent"}


@dataclass(frozen=True)
class StudyModels:
    """The models a prediction uses: P_IVIM (D, D*, f), optionally P_combined (+ FF), their training ranges.

    :data:`PUBLISHED_MODELS` are Tan et al. 2019's; a site's refitted models are read from a file by
    :func:`VCFDiagnosisLib.analysis.site_models.load_site_models`. ``ranges`` maps a predictor to the
    (low, high) its training cohort covered (outside: "extrapolated"); ``label`` names the models in every
    results row and report; ``note`` is the research-use note that goes with them.
    """

    p_ivim: LogisticModel
    p_combined: LogisticModel | None
    ranges: dict
    label: str
    provenance: str
    note: str

    def range_of(self, parameter: str) -> tuple[float, float]:
        """Return the training range of a predictor ((-inf, inf) when unknown)."""
        return tuple(self.ranges.get(parameter, (-math.inf, math.inf)))


@dataclass
class StudyPrediction:
    """The study's models applied to one ROI (None where an input was missing)."""

    P_IVIM: float | None = None
    P_combined: float | None = None
    prediction: str | None = None
    prediction_model: str | None = None
    mrs_rule: str | None = None
    adc_rule: str | None = None
    flags: list = field(default_factory=list)
    note: str = RESEARCH_USE_NOTE
    model: str = "Tan et al. 2019, published"


def _label(probability: float) -> str:
    return METASTATIC if probability > 0.5 else OSTEOPOROTIC


def predict(D_mm2_s: float | None, Dstar_mm2_s: float | None, f_fraction: float | None,
            FF_percent: float | None = None, ADC_mm2_s: float | None = None,
            models: StudyModels | None = None) -> StudyPrediction:
    """Return the predictions of ``models`` (default: the study's, :data:`PUBLISHED_MODELS`) for one ROI.

    ``prediction`` comes from P_combined when FF is given (and the models have one), else from P_IVIM; inputs
    outside the models' training ranges are listed in ``flags`` as "extrapolated". Non-finite inputs give None.
    """
    models = models or PUBLISHED_MODELS
    result = StudyPrediction(note=models.note, model=models.label)
    values = {"D_mm2_s": D_mm2_s, "Dstar_mm2_s": Dstar_mm2_s, "f_fraction": f_fraction, "FF_percent": FF_percent}
    finite = {k: v for k, v in values.items() if v is not None and math.isfinite(v)}
    for parameter, value in finite.items():
        low, high = models.range_of(parameter)
        if not low <= value <= high:
            result.flags.append(f"extrapolated: {parameter} = {value:.4g} outside the training range "
                                f"{low:.4g}..{high:.4g} of {models.label}")
    if all(k in finite for k in models.p_ivim.coefficients):
        result.P_IVIM = models.p_ivim.probability(finite)
        result.prediction, result.prediction_model = _label(result.P_IVIM), P_IVIM.name
    if models.p_combined is not None and all(k in finite for k in models.p_combined.coefficients):
        result.P_combined = models.p_combined.probability(finite)
        result.prediction, result.prediction_model = _label(result.P_combined), P_COMBINED.name
    if "FF_percent" in finite:
        result.mrs_rule = METASTATIC if finite["FF_percent"] < FF_CUTOFF_PERCENT else OSTEOPOROTIC
    if ADC_mm2_s is not None and math.isfinite(ADC_mm2_s):
        result.adc_rule = METASTATIC if ADC_mm2_s < ADC_CUTOFF_MM2_S else OSTEOPOROTIC
    return result


#: Tan et al. 2019's models with the derived training ranges of :func:`study_range` (Table 3 mean +- 2 SD).
PUBLISHED_MODELS = StudyModels(P_IVIM, P_COMBINED, {k: study_range(k) for k in PREDICTOR_UNITS},
                               "Tan et al. 2019, published", PROVENANCE, RESEARCH_USE_NOTE)
