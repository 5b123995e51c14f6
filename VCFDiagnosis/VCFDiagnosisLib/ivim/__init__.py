"""IVIM engine (pure numpy): bi-exponential and ADC fits, vectorised over voxels.

Model (MITK convention, D* total): ``S(b) = S0 ((1 - f) exp(-b D) + f exp(-b D*))``, D and D* in
mm2/s. Entry points: :func:`fit_ivim`, :func:`fit_roi_mean_signal`, :func:`roi_statistics`; the methods and
defaults are in :mod:`.options`. The names below are imported on first use (PEP 562), so reading the option
lists (``from VCFDiagnosisLib.ivim.options import METHODS``) does not load numpy or scipy.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    ".options": ("DEFAULT_METHOD", "METHODS", "DEFAULT_B_THRESHOLD_S_MM2", "DEFAULT_BACKGROUND_FRACTION"),
    ".bounds": ("IvimBounds",),
    ".engine": ("FitCancelled", "IvimMaps", "fit_dwi_volume", "fit_ivim", "prepare_bvalues"),
    ".masking": ("BackgroundNoise", "background_noise_sigma", "dwi_background_noise"),
    ".noise_floor": ("images_per_bvalue", "rician_mean", "rician_mean_to_signal"),
    ".prior": ("ROI_DSTAR_PRIOR", "VOXEL_DSTAR_PRIOR", "DstarPrior"),
    ".model": ("dstar_pseudo_from_total", "dstar_total_from_pseudo", "ivim_signal", "monoexp_signal"),
    ".roi": ("fit_roi_mean_signal", "fit_roi_signals", "roi_statistics", "roi_voxel_signals"),
    ".status": ("STATUS_DESCRIPTIONS", "FitStatus"),
}
__all__ = sorted(name for names in _EXPORTS.values() for name in names)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
