"""MR spectroscopy engine (pure numpy / scipy / pydicom): readers, processing, water-fat fit, results.

Typical use::

    from VCFDiagnosisLib.mrs import read_spectrum, quantify_spectrum
    result = quantify_spectrum(read_spectrum("voxel.rda"))
    result.lwr, result.ff_percent, result.ff_sd, result.warnings
"""

from .fit import FitOptions, SpectralFit, fit_water_fat
from .reader import looks_like_spectrum, read_spectrum
from .result import MRSResult, quantify_spectrum
from .spectrum import Spectrum

__all__ = ["FitOptions", "MRSResult", "SpectralFit", "Spectrum", "fit_water_fat", "looks_like_spectrum",
           "quantify_spectrum", "read_spectrum"]
