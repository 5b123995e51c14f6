"""Site models: a cohort's refitted logistic models written to a JSON file and used instead of the published ones.

``vcfdiagnosis cohort RESULTS --export-model site.json`` writes :func:`site_model_document`; ``run``, ``batch``,
the panel and the console take it as the ``model`` setting (``--model site.json``). The file holds, per model
(``P_IVIM``: D, D*, f; ``P_combined``: FF, D, D*, f), the intercept and the coefficients with their units and
standard errors; every predictor's unit and training range (outside it a prediction is flagged
"extrapolated"); the cohort's size and class balance; its validation figures (optimism-corrected AUC,
calibration slope, Brier; cross-validated AUC); the software version and the date. :func:`load_site_models`
refuses, naming the file and the problem, a file that is not JSON, has another format or version, an unknown
predictor, a unit other than the one the results table uses, or a coefficient or range that is not a finite
number. Pure core (standard library and the study's model class).
"""

from __future__ import annotations

import datetime
import json
import math
import os
from functools import lru_cache
from pathlib import Path

from .. import __version__
from ..errors import InputError
from .study_models import PREDICTOR_UNITS, PUBLISHED_MODELS, LogisticModel, StudyModels

FORMAT = "vcfdiagnosis-site-model"
FORMAT_VERSION = 1
#: Site model name -> the refitted cohort model it comes from and its predictors (the published model's).
SITE_MODELS = {"P_IVIM": ("IVIM", ("D_mm2_s", "Dstar_mm2_s", "f_fraction")),
               "P_combined": ("combined", ("FF_percent", "D_mm2_s", "Dstar_mm2_s", "f_fraction"))}
#: Results-table column of each predictor.
TABLE_COLUMN = {"D_mm2_s": "D", "Dstar_mm2_s": "Dstar", "f_fraction": "f", "FF_percent": "FF"}
#: File size above which a "model file" is refused unread (a model is a few kB).
MAX_BYTES = 1 << 20


def site_model_document(stats: dict, values: dict, name: str) -> dict:
    """Return the site-model document of a cohort analysis (``analyze_cohort``'s dict).

    ``values`` maps results-table columns (D, Dstar, f, FF) to the cohort's per-case arrays (training ranges).
    Raises ValueError when a refitted model has no coefficients (separation, too few cases).
    """
    models = {}
    for site_name, (refit, predictors) in SITE_MODELS.items():
        fit = stats["logistic"][refit]
        coefficients = fit["coefficients"]
        if not all(math.isfinite(coefficients[t]["coef"]) for t in coefficients):
            raise ValueError(f"the refitted {refit} model has no coefficients ({fit['message'] or 'not fitted'}): "
                             "no site model can be written")
        models[site_name] = {
            "intercept": coefficients["const"]["coef"], "intercept_se": coefficients["const"]["se"],
            "coefficients": {p: {"value": coefficients[TABLE_COLUMN[p]]["coef"],
                                 "se": coefficients[TABLE_COLUMN[p]]["se"],
                                 "unit": f"per {PREDICTOR_UNITS[p]}"} for p in predictors},
            "n": fit["n"], "n_metastatic": fit["n_events"],
            "validation": stats.get("validation", {}).get("internal", {}).get(refit, {}),
        }
    ranges = {}
    for predictor, column in TABLE_COLUMN.items():
        data = [v for v in values[column] if math.isfinite(v)]
        ranges[predictor] = {"unit": PREDICTOR_UNITS[predictor], "training_range": [min(data), max(data)]}
    cohort = stats["cohort"]
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "outcome": "metastatic (1)",
            "models": models, "predictors": ranges,
            "cohort": {"source": str(cohort["source"]), "n_cases": cohort["n_cases"],
                       "n_osteoporotic": cohort["n_osteoporotic"], "n_metastatic": cohort["n_metastatic"]},
            "software": f"vcfdiagnosis {__version__}", "created": datetime.date.today().isoformat(),
            "note": "Research use only: not a diagnosis. Logistic models refitted on this site's cohort; validate "
                    "them before use (see the validation figures)."}


def _number(value, path, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(path, f"{where} must be a finite number, not {value!r}")
    return float(value)


def models_from_document(document, path) -> StudyModels:
    """Return the :class:`StudyModels` of a site-model document; raise InputError naming the problem."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise InputError(path, f"not a site model file (no \"format\": \"{FORMAT}\")")
    if document.get("format_version") != FORMAT_VERSION:
        raise InputError(path, f"site model format version {document.get('format_version')!r}; this version of "
                               f"vcfdiagnosis reads version {FORMAT_VERSION}")
    name = str(document.get("name") or Path(path).stem)
    predictors = document.get("predictors")
    if not isinstance(predictors, dict):
        raise InputError(path, "no \"predictors\" object")
    ranges = {}
    for predictor, entry in predictors.items():
        if predictor not in PREDICTOR_UNITS:
            raise InputError(path, f"unknown predictor '{predictor}' (known: {', '.join(PREDICTOR_UNITS)})")
        if not isinstance(entry, dict) or entry.get("unit") != PREDICTOR_UNITS[predictor]:
            raise InputError(path, f"predictor '{predictor}' has unit {entry.get('unit') if isinstance(entry, dict) else None!r}; "
                                   f"the results table's is '{PREDICTOR_UNITS[predictor]}'")
        bounds = entry.get("training_range")
        if not isinstance(bounds, list) or len(bounds) != 2:
            raise InputError(path, f"predictors.{predictor}.training_range must be [low, high]")
        low, high = bounds
        low = _number(low, path, f"predictors.{predictor}.training_range[0]")
        high = _number(high, path, f"predictors.{predictor}.training_range[1]")
        if low > high:
            raise InputError(path, f"predictors.{predictor}.training_range is empty ({low:g} > {high:g})")
        ranges[predictor] = (low, high)
    models = document.get("models")
    if not isinstance(models, dict) or "P_IVIM" not in models:
        raise InputError(path, "no \"models\" object with a \"P_IVIM\" model")
    built = {}
    for model_name, entry in models.items():
        if model_name not in SITE_MODELS:
            raise InputError(path, f"unknown model '{model_name}' (known: {', '.join(SITE_MODELS)})")
        coefficients = entry.get("coefficients") if isinstance(entry, dict) else None
        if not isinstance(coefficients, dict) or set(coefficients) != set(SITE_MODELS[model_name][1]):
            raise InputError(path, f"model '{model_name}' needs coefficients for exactly "
                                   f"{', '.join(SITE_MODELS[model_name][1])}")
        values = {}
        for predictor, coefficient in coefficients.items():
            unit = f"per {PREDICTOR_UNITS[predictor]}"
            if not isinstance(coefficient, dict) or coefficient.get("unit") != unit:
                raise InputError(path, f"models.{model_name}.{predictor}: the coefficient's unit must be '{unit}'")
            if predictor not in ranges:
                raise InputError(path, f"models.{model_name}.{predictor}: no training range under \"predictors\"")
            values[predictor] = _number(coefficient.get("value"), path, f"models.{model_name}.{predictor}.value")
        intercept = _number(entry.get("intercept"), path, f"models.{model_name}.intercept")
        built[model_name] = LogisticModel(model_name, intercept, values, provenance=f"site model '{name}'")
    cohort = document.get("cohort", {})
    size = f"n = {cohort.get('n_cases', '?')}" if isinstance(cohort, dict) else "n = ?"
    label = f"site model '{name}'"
    return StudyModels(built["P_IVIM"], built.get("P_combined"), ranges, label,
                       f"{label}, refitted on {size} ({document.get('software', '?')}, {document.get('created', '?')})",
                       f"Research use only: not a diagnosis. {label[0].upper()}{label[1:]} ({size}).")


@lru_cache(maxsize=16)
def _load(path: str, size: int, mtime_ns: int) -> StudyModels:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise InputError(path, f"not a readable site model file ({error})") from None
    return models_from_document(document, path)


def load_site_models(path: str | os.PathLike | None) -> StudyModels:
    """Return the models of a site model file, or the published ones for '' / None (cached per file state)."""
    if not path:
        return PUBLISHED_MODELS
    target = Path(path)
    try:
        info = target.stat()
    except OSError as error:
        raise InputError(target, f"cannot read the site model file ({error.strerror or error})") from None
    if not target.is_file():
        raise InputError(target, "the site model is not a file")
    if info.st_size > MAX_BYTES:
        raise InputError(target, f"{info.st_size} bytes is not a site model file (at most {MAX_BYTES})")
    return _load(str(target.resolve()), info.st_size, info.st_mtime_ns)
