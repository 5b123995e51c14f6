"""The IVIM engine's user-facing choices and defaults (standard library only, so option lists load fast).

:data:`METHODS` names every fit method of :func:`.engine.fit_ivim` with a one-line description;
:data:`DEFAULT_METHOD`, :data:`DEFAULT_B_THRESHOLD_S_MM2` (s/mm2) and :data:`DEFAULT_BACKGROUND_FRACTION`
(fraction of the bright foreground's signal) are the engine's defaults. The settings model
(:mod:`VCFDiagnosisLib.analysis.settings`) and every front end take them from here.
"""

#: Fit methods accepted by :func:`.engine.fit_ivim`, with a one-line description each.
METHODS: dict[str, str] = {
    "map": "Bayesian MAP: nlls, then the bounded fit of all four parameters with a weak log-normal "
           "prior on D* (default; best on the OSIPI benchmark)",
    "nlls": "segmented initialisation, then bounded non-linear least squares on S0, D, f, D*",
    "seg-nlls": "D from b >= threshold, then bounded non-linear least squares on S0, f, D* with D fixed",
    "segmented": "D from b >= threshold, f from the intercept, D* from the low-b residual",
    "adc": "mono-exponential ADC only (IVIM maps NaN)",
}
DEFAULT_METHOD = "map"
#: Segmented-fit split: D from b >= this (s/mm2), where perfusion has decayed.
DEFAULT_B_THRESHOLD_S_MM2 = 200.0
#: Voxels whose mean signal is below this fraction of the bright foreground's are background (not fitted).
DEFAULT_BACKGROUND_FRACTION = 0.05
