"""Spectral model of vertebral marrow: water plus a multi-peak fat profile, and FID synthesis.

Conventions (the NIfTI-MRS on-disk convention, which Siemens ``.rda`` and CSA DICOM also use):

* the FID is complex, sampled every ``dwell_s`` seconds from t = 0;
* ``spectrum = fftshift(fft(fid))`` and the frequency axis is ``f = fftshift(fftfreq(n, dwell_s))`` in Hz;
* chemical shift ``ppm = center_ppm - f / frequency_mhz`` (``center_ppm`` is the ppm at the receiver
  frequency, 4.7 when the receiver sits on water). Standard DICOM MRS and Philips SDAT store the
  complex conjugate of this.

"Area" of a component means its FID amplitude at t = 0 (proportional to the integral of its peak in
the spectrum), so ``LWR = area(1.3 ppm methylene) / area(water 4.7 ppm)`` and
``FF = 100 * LWR / (LWR + 1)`` percent (Tan et al. 2019: T2-weighted, methylene only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WATER_PPM = 4.7
METHYLENE_PPM = 1.3


@dataclass(frozen=True)
class FatPeak:
    """One resonance of the fat multiplet: position in ppm and fraction of the total fat area."""

    name: str
    ppm: float
    relative_area: float


#: Fat profile after Hamilton et al. 2011 (NMR Biomed 24:784), liver triglyceride at 3 T.
#: Relative areas sum to 1; the 1.30 ppm methylene peak carries 0.642 of the fat signal.
HAMILTON_FAT_PEAKS: tuple[FatPeak, ...] = (
    FatPeak("methyl", 0.90, 0.088),
    FatPeak("methylene", 1.30, 0.642),
    FatPeak("beta_carboxyl", 1.59, 0.058),
    FatPeak("alpha_olefinic", 2.03, 0.062),
    FatPeak("alpha_carboxyl", 2.25, 0.058),
    FatPeak("diacyl", 2.75, 0.006),
    FatPeak("glycerol", 4.20, 0.039),
    FatPeak("olefinic", 5.29, 0.047),
)


def fat_fraction_percent_from_lwr(lwr: float | np.ndarray) -> float | np.ndarray:
    """Return the study's fat fraction ``FF = 100 * LWR / (LWR + 1)`` in percent (LWR a plain ratio)."""
    return 100.0 * np.asarray(lwr, dtype=float) / (np.asarray(lwr, dtype=float) + 1.0)


def lwr_from_fat_fraction_percent(ff_percent: float | np.ndarray) -> float | np.ndarray:
    """Return the lipid-water ratio (plain ratio, not percent) for a fat fraction in percent."""
    ff = np.asarray(ff_percent, dtype=float) / 100.0
    return ff / (1.0 - ff)


def time_axis_s(n_points: int, dwell_s: float) -> np.ndarray:
    """Return the FID sampling times in seconds."""
    return np.arange(n_points) * float(dwell_s)


def frequency_axis_hz(n_points: int, dwell_s: float) -> np.ndarray:
    """Return the frequency (Hz) of each point of ``fftshift(fft(fid))``."""
    return np.fft.fftshift(np.fft.fftfreq(n_points, d=dwell_s))


def ppm_axis(n_points: int, dwell_s: float, frequency_mhz: float, center_ppm: float = WATER_PPM) -> np.ndarray:
    """Return the chemical shift (ppm) of each point of ``fftshift(fft(fid))`` (decreasing with index)."""
    return center_ppm - frequency_axis_hz(n_points, dwell_s) / float(frequency_mhz)


def spectrum_from_fid(fid: np.ndarray) -> np.ndarray:
    """Return ``fftshift(fft(fid))`` along the last axis (the RDA / NIfTI-MRS convention)."""
    return np.fft.fftshift(np.fft.fft(fid, axis=-1), axes=-1)


def synthesize_fid(
    *,
    n_points: int,
    dwell_s: float,
    frequency_mhz: float,
    water_area: float,
    lwr: float,
    fat_peaks: tuple[FatPeak, ...] = HAMILTON_FAT_PEAKS,
    water_linewidth_hz: float = 25.0,
    fat_linewidth_hz: float = 30.0,
    phase_deg: float = 0.0,
    shift_hz: float = 0.0,
    center_ppm: float = WATER_PPM,
    gaussian_fraction: float = 0.0,
    noise_sd: float = 0.0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Return a complex FID (RDA / NIfTI-MRS sign convention) of water plus a multi-peak fat signal.

    ``lwr`` is the plain ratio area(methylene 1.3 ppm) / area(water); the other fat peaks follow
    ``fat_peaks`` relative to the methylene peak. Linewidths are full widths at half maximum in Hz
    (Lorentzian; ``gaussian_fraction`` in 0..1 blends in a Gaussian decay of the same FWHM, a Voigt-like
    line shape). ``shift_hz`` moves every peak by the same frequency (positive = towards lower ppm),
    ``phase_deg`` is a zero-order phase, ``noise_sd`` the standard deviation of the complex white noise
    added to each of the real and imaginary parts.
    """
    if n_points < 8 or dwell_s <= 0 or frequency_mhz <= 0:
        raise ValueError("synthesize_fid: n_points >= 8, dwell_s > 0 and frequency_mhz > 0 are required")
    t = time_axis_s(n_points, dwell_s)
    methylene = next((p for p in fat_peaks if abs(p.ppm - METHYLENE_PPM) < 0.05), None)
    if methylene is None:
        raise ValueError("synthesize_fid: the fat profile has no 1.3 ppm methylene peak")
    components = [(WATER_PPM, water_area, water_linewidth_hz)]
    fat_total = lwr * water_area / methylene.relative_area
    components += [(p.ppm, fat_total * p.relative_area, fat_linewidth_hz) for p in fat_peaks]
    fid = np.zeros(n_points, dtype=complex)
    for ppm, area, fwhm in components:
        freq = (center_ppm - ppm) * frequency_mhz + shift_hz
        lorentz = np.exp(-np.pi * fwhm * t)
        gauss = np.exp(-((np.pi * fwhm * t) ** 2) / (4.0 * np.log(2.0)))
        envelope = (1.0 - gaussian_fraction) * lorentz + gaussian_fraction * gauss
        fid += area * envelope * np.exp(2j * np.pi * freq * t)
    fid *= np.exp(1j * np.deg2rad(phase_deg))
    if noise_sd > 0:
        rng = np.random.default_rng() if rng is None else rng
        fid += noise_sd * (rng.standard_normal(n_points) + 1j * rng.standard_normal(n_points))
    return fid
