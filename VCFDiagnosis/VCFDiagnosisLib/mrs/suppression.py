"""Water suppression recognised from the spectrum itself (Siemens RDA / CSA DICOM and Philips SDAT say nothing).

The study's LWR/FF need the *unsuppressed* water peak. A CHESS/VAPOR-suppressed marrow spectrum still shows
all the fat and a water residue 50-1000x smaller, so a true FF of 26 % reads as 95-99 % and would feed the
diagnosis model. Two signatures are checked on the water-fat fit (:class:`.fit.SpectralFit`):

**1. Too little water for vertebral marrow.** ``w = A_water / A_fat`` with ``A_fat`` all fitted fat peaks
(methylene = 0.642 of it). Vertebral marrow's study FF (T2-weighted, methylene only) spans about 0-90 %;
FF 90 % means ``LWR = 9`` and ``w = 0.642 / 9 = 0.071`` (FF 85 %: 0.113, FF 80 %: 0.161, FF 26 %: 1.80).
Measured: the phantom's spectra (:func:`VCFDiagnosisLib.phantom.mrs_files.simulate_spectrum`, FF 0.5-90 %,
SNR 30 / 150 / noiseless, 140 spectra) give ``w >= 0.071``; 720 more synthetic spectra (Lorentz and Voigt
lines, a 2x olefinic / 1.8x glycerol profile, 123.2 and 63.9 MHz, SNR 20-inf) give ``w >= 0.069`` at FF 90 %;
the same FF 26.3 % marrow with water attenuated 50x gives ``w = 0.034`` (100x: 0.015). The water is called
suppressed when

* the fat is seen: methylene peak >= :data:`MIN_FAT_SNR` (5) x the noise SD, and
* ``w < MAX_WATER_TO_FAT`` (0.05, water < 5 % of the fat: apparent FF > 92.8 %), and
* the shortfall is significant: ``w + 2 SD(w) < MIN_MARROW_WATER_TO_FAT`` (0.0713, FF 90 %), with
  ``SD(w) = CRLB(A_water) / A_fat``. A genuine FF-90 % spectrum passes this one-sided test with
  probability <= 2.3 % at any SNR; FF 80-85 % marrow is 3-5 SD above the threshold at the phantom's SNR.

When ``w < 0.05`` but the SD is too large to be sure, the result is marked *inconclusive*: the caller keeps
the number but marks it unreliable (no P_combined downstream).

**2. A suppression-shaped water residue.** Suppression saturates a band (~60-150 Hz) around water: what
is left of a water line is its wings around a dip, often dispersive or negative; a line-shape fit cannot
follow it. In ``|ppm - water| <= 0.3`` the fit residual's excess RMS over the noise (real part of the phased
spectrum) is compared with the fitted water line's RMS there. Measured: genuine synthetic marrow 0.000-0.005
(Voigt mismatch), real unsuppressed water references (Philips SDAT 3 T, DICOM MRS 1.5 T reference frame,
NIfTI-MRS 7 T) 0.09-0.17; band-stop-suppressed marrow (10-100x, Lorentz wings left) 0.66-1.4, dispersive
or inverted residues > 0.8. Called suppressed when the ratio >= :data:`MIN_RESIDUE_TO_WATER` (0.4) and the
residual there is significant (mean square >= :data:`MIN_RESIDUE_CHI2` (4) x the noise variance).

Outcome on those spectra: 0 of 860 genuine spectra flagged (and 0 of 900 noisy FF-85/90 % draws at SNR 5-50);
of 270 suppressed ones (true FF 5-70 %, water 50-300x down, residue phase 0/60/90/180 deg or band-stop, SNR
30-1000) 231 are flagged, 19 give no FF for another reason (no water fitted / no signal), 5 are inconclusive
and 15 still give an FF (true FF 5-15 %, apparent 73-92 %).

Limit: a marrow whose true FF is low *and* only mildly suppressed (e.g. FF 5 % attenuated 50x reads as
FF ~75 %) is indistinguishable from genuine fatty marrow by either signature; the header (DICOM
SpectrallySelectedSuppression, NIfTI-MRS WaterSuppressed) is then the only evidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import model
from .fit import SpectralFit

#: Least water / total-fat area of vertebral marrow: FF 90 % (LWR 9) with methylene 0.642 of the fat.
MIN_MARROW_WATER_TO_FAT = float(model.HAMILTON_FAT_PEAKS[1].relative_area / model.lwr_from_fat_fraction_percent(90.0))
#: Below this water / total-fat area (apparent FF > 92.8 %) the water is suspect.
MAX_WATER_TO_FAT = 0.05
#: The fat must stand this many noise SDs tall for a missing water to mean anything.
MIN_FAT_SNR = 5.0
#: Half-width (ppm) of the band around water where the residue is measured.
WATER_BAND_PPM = 0.3
#: Excess residual RMS / fitted water-line RMS in the band above which the water line is not a line.
MIN_RESIDUE_TO_WATER = 0.4
#: ... provided the residual's mean square there is at least this many noise variances.
MIN_RESIDUE_CHI2 = 4.0


@dataclass
class SuppressionCheck:
    """Outcome of :func:`check_water_suppression` (ratios are plain numbers, not percent)."""

    suppressed: bool
    inconclusive: bool
    reason: str
    water_to_fat: float
    water_to_fat_sd: float
    residue_to_water: float
    residue_chi2: float


def water_to_fat_ratio(fit: SpectralFit) -> tuple[float, float, float]:
    """Return (water / total fat area, its SD from the water CRLB, methylene height / noise SD)."""
    fat_total = float(sum(v for k, v in fit.peak_areas.items() if k != "water"))
    methylene = fit.components.get("methylene")
    fat_snr = float(np.max(methylene)) / fit.noise_sd if methylene is not None and fit.noise_sd > 0 else 0.0
    if not fat_total > 0:
        return math.inf, math.inf, fat_snr
    water_sd = float(fit.sd.get("water_amplitude", math.inf))
    return max(fit.water_area, 0.0) / fat_total, water_sd / fat_total, fat_snr


def water_residue(fit: SpectralFit) -> tuple[float, float]:
    """Return (excess residual RMS / fitted water RMS, residual mean square / noise variance) near water."""
    band = np.abs(fit.ppm - fit.water_ppm) <= WATER_BAND_PPM
    if band.sum() < 4 or not fit.noise_sd > 0:
        return 0.0, 0.0
    residual = fit.residual[band]
    water = fit.components["water"][band]
    chi2 = float(np.mean(residual**2)) / fit.noise_sd**2
    excess = max(chi2 - 1.0, 0.0) * fit.noise_sd**2
    water_rms = float(np.sqrt(np.mean(water**2)))
    if water_rms <= 0:
        return (math.inf if excess > 0 else 0.0), chi2
    return float(np.sqrt(excess)) / water_rms, chi2


def check_water_suppression(fit: SpectralFit) -> SuppressionCheck:
    """Return whether the fitted spectrum looks water-suppressed (see the module docstring for the rule)."""
    ratio, ratio_sd, fat_snr = water_to_fat_ratio(fit)
    residue, chi2 = water_residue(fit)
    suppressed, inconclusive, reason = False, False, ""
    if fat_snr >= MIN_FAT_SNR and ratio < MAX_WATER_TO_FAT:
        detail = (f"water area {100 * ratio:.1f} % of the fat, vertebral marrow with FF <= 90 % has >= "
                  f"{100 * MIN_MARROW_WATER_TO_FAT:.1f} %")
        if ratio + 2.0 * ratio_sd < MIN_MARROW_WATER_TO_FAT:
            suppressed, reason = True, detail
        else:
            inconclusive, reason = True, f"{detail}, but the noise is too high to be sure"
    if not suppressed and residue >= MIN_RESIDUE_TO_WATER and chi2 >= MIN_RESIDUE_CHI2:
        suppressed, inconclusive = True, False
        reason = (f"the water line has a suppression-shaped residue: fit residual {residue:.1f}x the fitted "
                  f"water line within {WATER_BAND_PPM:g} ppm of water")
    return SuppressionCheck(suppressed=suppressed, inconclusive=inconclusive, reason=reason, water_to_fat=ratio,
                            water_to_fat_sd=ratio_sd, residue_to_water=residue, residue_chi2=chi2)
