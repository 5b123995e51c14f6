"""The :class:`MRSResult` of quantifying one marrow spectrum, and :func:`quantify_spectrum` that builds it.

Definitions (Tan et al. 2019): ``LWR = area(1.3 ppm methylene) / area(water 4.7 ppm)``, a plain ratio
(the paper tabulates it x 100 as "%"), and ``FF = 100 * LWR / (LWR + 1)`` percent: T2-weighted at the
acquisition's TE, methylene only, no T2 correction. Areas are FID amplitudes at t = 0 of the fitted
components (proportional to the integrals of the peaks). An optional T2-corrected proton-density fat
fraction uses all fitted fat peaks and user-given mono-exponential T2s (model-dependent).
SNR: height of the tallest fitted peak (water or methylene) in the phased real spectrum divided by the
noise SD of the real spectrum (robust SD of the fit residual).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from . import model, suppression
from .fit import FitOptions, SpectralFit, fit_water_fat
from .spectrum import Spectrum, check_acquisition, check_fid

FF_DEFINITION = "FF = LWR / (LWR + 1), percent; T2-weighted (uncorrected), methylene (1.3 ppm) only (Tan et al. 2019)"
LWR_DEFINITION = "LWR = area(1.3 ppm methylene) / area(water 4.7 ppm), plain ratio, uncorrected"
SNR_DEFINITION = ("height of the tallest fitted peak in the phased real spectrum / SD of the real spectral "
                  "noise (robust SD of the fit residual)")
LOW_SNR = 20.0
POOR_FIT_RATIO = 2.0


@dataclass
class MRSResult:
    """Water/fat quantification of one single-voxel spectrum (see module docstring for definitions).

    ``lwr_sd`` / ``ff_sd`` are Cramer-Rao lower bounds propagated from the fit covariance (same units as
    ``lwr`` / ``ff_percent``). ``fit`` holds the arrays for plotting (ppm axis, phased real spectrum,
    fit, residual, components). ``reliable`` is False when a warning makes the numbers unusable.
    """

    source_path: str
    source_format: str
    vendor: str
    frequency_mhz: float
    spectral_width_hz: float
    points: int
    te_ms: float | None
    tr_ms: float | None
    averages: int | None
    water_suppressed: bool | None
    voxel_center_ras: list[float] | None
    voxel_size_mm: list[float] | None
    water_area: float
    lipid_area: float
    peak_areas: dict[str, float]
    lwr: float
    lwr_sd: float
    ff_percent: float
    ff_sd: float
    snr: float
    water_fwhm_hz: float
    fat_fwhm_hz: float
    water_ppm: float
    phase_deg: float
    shift_hz: float
    residual_ratio: float
    reliable: bool
    warnings: list[str] = field(default_factory=list)
    pdff_t2_corrected_percent: float | None = None
    pdff_definition: str | None = None
    fit: SpectralFit | None = None
    water_suppression_detected: bool = False

    def to_dict(self) -> dict:
        """Return a JSON-ready dict (no arrays; NaN becomes None)."""

        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            if isinstance(v, np.generic):
                return clean(v.item())
            return v

        out = {
            "file": self.source_path, "format": self.source_format, "vendor": self.vendor,
            "frequency_mhz": self.frequency_mhz, "spectral_width_hz": self.spectral_width_hz,
            "points": self.points, "te_ms": self.te_ms, "tr_ms": self.tr_ms, "averages": self.averages,
            "water_suppressed": self.water_suppressed,
            "water_suppression_detected": self.water_suppression_detected, "voxel_center_ras": self.voxel_center_ras,
            "voxel_size_mm": self.voxel_size_mm, "water_area": self.water_area, "lipid_area": self.lipid_area,
            "peak_areas": self.peak_areas, "LWR": self.lwr, "LWR_sd": self.lwr_sd,
            "LWR_definition": LWR_DEFINITION, "FF": self.ff_percent, "FF_sd": self.ff_sd,
            "FF_definition": FF_DEFINITION, "snr": self.snr, "snr_definition": SNR_DEFINITION,
            "water_fwhm_hz": self.water_fwhm_hz, "fat_fwhm_hz": self.fat_fwhm_hz, "water_ppm": self.water_ppm,
            "phase_deg": self.phase_deg, "shift_hz": self.shift_hz, "residual_to_noise": self.residual_ratio,
            "reliable": self.reliable, "warnings": list(self.warnings),
        }
        if self.pdff_t2_corrected_percent is not None:
            out["PDFF_T2_corrected"] = self.pdff_t2_corrected_percent
            out["PDFF_definition"] = self.pdff_definition
        return clean(out)


def t2_corrected_pdff_percent(water_area: float, fat_total_area: float, te_ms: float, water_t2_ms: float,
                              fat_t2_ms: float) -> float:
    """Return ``100 F0 / (F0 + W0)`` with ``X0 = area_X * exp(TE / T2_X)`` (mono-exponential T2, ms)."""
    w0 = water_area * math.exp(te_ms / water_t2_ms)
    f0 = fat_total_area * math.exp(te_ms / fat_t2_ms)
    return 100.0 * f0 / (f0 + w0) if (f0 + w0) > 0 else float("nan")


def _fit_checked(spectrum: Spectrum, options: FitOptions | None) -> SpectralFit:
    """Return the water-fat fit of ``spectrum`` after checking its FID and acquisition (ValueError naming
    the file: an all-zero or non-finite FID, implausible points / dwell time / frequency, too narrow a window)."""
    path = spectrum.source_path or "spectrum"
    fid = check_fid(spectrum.fid, path)
    check_acquisition(fid.shape[-1], spectrum.dwell_s, spectrum.frequency_mhz, path)
    try:
        return fit_water_fat(fid, spectrum.dwell_s, spectrum.frequency_mhz, spectrum.center_ppm, options)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _water_verdict(spectrum: Spectrum, fit: SpectralFit, check: suppression.SuppressionCheck,
                   warnings: list[str]) -> tuple[bool, bool]:
    """Append the warnings about water and fat; return (no LWR/FF at all, numbers reliable)."""
    a = fit.assignment
    if spectrum.water_suppressed:
        warnings.append("water-suppressed acquisition: the water peak is attenuated, so LWR and FF are not "
                        "meaningful (the study used no water suppression); no LWR/FF")
        return True, False
    if not (a.water_seen or a.fat_seen) or fit.snr < 3.0 or (fit.water_area <= 0 and fit.methylene_area <= 0):
        warnings.append("neither water nor fat found above the noise: no LWR/FF")
        return True, False
    if check.suppressed:
        warnings.append(f"water appears suppressed ({check.reason}); no LWR/FF (the study used no water "
                        "suppression; the header does not say)")
        return True, False
    if fit.water_area <= 0:
        warnings.append("the fitted water area is zero: no LWR/FF")
        return True, False
    reliable = True
    if not a.paired:
        if a.water_seen:
            warnings.append("fat (1.3 ppm) not detected above the noise: FF is near 0 and imprecise")
        else:
            warnings.append("water (4.7 ppm) not detected above the noise: LWR is unbounded/imprecise")
            reliable = False
    if check.inconclusive:
        warnings.append(f"water may be suppressed ({check.reason}): FF unreliable")
        reliable = False
    return False, reliable


def quantify_spectrum(spectrum: Spectrum, water_t2_ms: float | None = None, fat_t2_ms: float | None = None,
                      options: FitOptions | None = None) -> MRSResult:
    """Return the :class:`MRSResult` of fitting water + fat to ``spectrum``.

    Problems with the data become warnings and ``reliable = False``; LWR/FF are NaN when there is no usable
    unsuppressed water (water suppression in the header or recognised in the spectrum by
    :func:`.suppression.check_water_suppression`, no water, no signal). ValueError (naming the file) only for
    unusable input: an all-zero or non-finite FID, implausible acquisition parameters, bad T2 options.
    """
    if water_t2_ms is not None or fat_t2_ms is not None:
        if not (water_t2_ms and fat_t2_ms and math.isfinite(water_t2_ms) and math.isfinite(fat_t2_ms)
                and water_t2_ms > 0 and fat_t2_ms > 0):
            raise ValueError("both a positive water T2 and a positive fat T2 (ms) are needed for the T2 correction")
    warnings = list(spectrum.warnings)
    fit = _fit_checked(spectrum, options)
    check = suppression.check_water_suppression(fit)
    if spectrum.apodized:
        warnings.append("apodised data (scanner filter such as the RDA Hamming filter is on): line shapes are "
                        "distorted and areas may be biased; export without filtering")
    no_number, reliable = _water_verdict(spectrum, fit, check, warnings)
    lwr = fit.methylene_area / fit.water_area if fit.water_area > 0 else float("inf")
    lwr_sd = fit.lwr_sd
    if no_number:
        lwr, lwr_sd = float("nan"), float("nan")
    if math.isfinite(fit.snr) and fit.snr < LOW_SNR and math.isfinite(lwr):
        warnings.append(f"low SNR ({fit.snr:.1f} < {LOW_SNR:.0f}): FF uncertain")
    if fit.residual_ratio > POOR_FIT_RATIO and math.isfinite(lwr):
        warnings.append(f"poor fit: residual RMS is {fit.residual_ratio:.1f}x the noise (line shape or "
                        "baseline not modelled, or other resonances)")
    if not fit.success:
        warnings.append("the fit did not converge")
    ff = float(model.fat_fraction_percent_from_lwr(lwr)) if math.isfinite(lwr) else float("nan")
    ff_sd = 100.0 * lwr_sd / (lwr + 1.0) ** 2 if math.isfinite(lwr) else float("nan")
    pdff, pdff_def = None, None
    if water_t2_ms is not None:
        if not math.isfinite(lwr):
            warnings.append("no LWR/FF: T2-corrected PDFF not computed")
        elif spectrum.te_ms is None:
            warnings.append("no echo time in the file: T2-corrected PDFF not computed")
        else:
            fat_total = sum(v for k, v in fit.peak_areas.items() if k != "water")
            pdff = t2_corrected_pdff_percent(fit.water_area, fat_total, spectrum.te_ms, water_t2_ms, fat_t2_ms)
            pdff_def = (f"T2-corrected PDFF, all fitted fat peaks, mono-exponential T2 water {water_t2_ms:g} ms / "
                        f"fat {fat_t2_ms:g} ms at TE {spectrum.te_ms:g} ms; ignores T1 and J-coupling: "
                        "model-dependent, not the study's FF")
    return MRSResult(
        source_path=spectrum.source_path, source_format=spectrum.source_format, vendor=spectrum.vendor,
        frequency_mhz=float(spectrum.frequency_mhz), spectral_width_hz=float(spectrum.spectral_width_hz),
        points=spectrum.points, te_ms=spectrum.te_ms, tr_ms=spectrum.tr_ms, averages=spectrum.averages,
        water_suppressed=spectrum.water_suppressed,
        voxel_center_ras=None if spectrum.voxel_center_ras is None else [float(v) for v in spectrum.voxel_center_ras],
        voxel_size_mm=None if spectrum.voxel_size_mm is None else [float(v) for v in spectrum.voxel_size_mm],
        water_area=fit.water_area, lipid_area=fit.methylene_area, peak_areas=fit.peak_areas,
        lwr=float(lwr), lwr_sd=float(lwr_sd), ff_percent=ff, ff_sd=float(ff_sd), snr=fit.snr,
        water_fwhm_hz=fit.water_fwhm_hz, fat_fwhm_hz=fit.fat_fwhm_hz, water_ppm=fit.water_ppm,
        phase_deg=float(np.rad2deg(fit.params["phase_rad"])), shift_hz=fit.params["shift_hz"],
        residual_ratio=fit.residual_ratio, reliable=reliable, warnings=warnings,
        pdff_t2_corrected_percent=pdff, pdff_definition=pdff_def, fit=fit,
        water_suppression_detected=bool(check.suppressed and not spectrum.water_suppressed))
