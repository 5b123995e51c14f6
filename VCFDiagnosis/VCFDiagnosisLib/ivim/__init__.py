"""IVIM engine (pure numpy): bi-exponential and ADC fits, vectorised over voxels.

Model (MITK convention, D* total): ``S(b) = S0 ((1 - f) exp(-b D) + f exp(-b D*))``, D and D* in
mm2/s. Entry points: :func:`fit_ivim`, :func:`fit_roi_mean_signal`, :func:`roi_statistics`.
"""

from .bounds import IvimBounds
from .engine import (
    DEFAULT_METHOD,
    METHODS,
    IvimMaps,
    fit_dwi_volume,
    fit_ivim,
    fit_roi_mean_signal,
    prepare_bvalues,
)
from .model import dstar_pseudo_from_total, dstar_total_from_pseudo, ivim_signal, monoexp_signal
from .roi import roi_statistics
from .status import STATUS_DESCRIPTIONS, FitStatus

__all__ = [
    "DEFAULT_METHOD",
    "METHODS",
    "STATUS_DESCRIPTIONS",
    "FitStatus",
    "IvimBounds",
    "IvimMaps",
    "dstar_pseudo_from_total",
    "dstar_total_from_pseudo",
    "fit_dwi_volume",
    "fit_ivim",
    "fit_roi_mean_signal",
    "ivim_signal",
    "monoexp_signal",
    "prepare_bvalues",
    "roi_statistics",
]
