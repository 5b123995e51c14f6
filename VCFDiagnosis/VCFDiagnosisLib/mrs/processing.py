"""Pre-processing of single-voxel FIDs: frame splitting, alignment and averaging, coil combination,
noise estimation and the automatic labelling of water and fat (phase and frequency referencing).

All FIDs follow the convention of :mod:`.model` (``spectrum = fftshift(fft(fid))``, a resonance at
frequency ``f`` Hz sits at ``ppm = center_ppm - f / frequency_mhz``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import model
from .peaks import find_peaks, peak_width

#: Water - methylene separation in ppm (4.7 - 1.3).
WATER_FAT_SEPARATION_PPM = model.WATER_PPM - model.METHYLENE_PPM
#: Tolerance on that separation when pairing peaks (ppm).
PAIR_TOLERANCE_PPM = 0.25


def level_ratio(frames: np.ndarray) -> float:
    """Return the ratio of the strongest to the weakest frame's initial FID magnitude (mean of 8 points)."""
    level = np.abs(frames[:, :8]).mean(axis=1)
    return float(level.max() / max(level.min(), 1e-300))


def split_reference_frames(frames: np.ndarray, ratio: float = 10.0) -> tuple[np.ndarray, np.ndarray | None, int]:
    """Split frames into (spectrum frames, strong reference frames or None, number of spectrum frames).

    Frames whose initial FID magnitude exceeds ``ratio`` times the weakest frame's are taken for an
    unsuppressed water reference stored beside a water-suppressed acquisition.
    """
    frames = np.atleast_2d(frames)
    if frames.shape[0] < 2:
        return frames, None, frames.shape[0]
    level = np.abs(frames[:, :8]).mean(axis=1)
    strong = level > ratio * max(level.min(), 1e-300)
    if not strong.any():
        return frames, None, frames.shape[0]
    return frames[~strong], frames[strong], int((~strong).sum())


def noise_sd_of_spectrum(spectrum: np.ndarray) -> float:
    """Return a robust estimate of the noise SD of the real (= imaginary) part of a complex spectrum.

    Uses the median absolute deviation of first differences (insensitive to broad peaks):
    ``SD = MAD(diff) / 0.6745 / sqrt(2)`` pooled over the real and imaginary parts.
    """
    d = np.diff(spectrum)
    mad = np.median(np.abs(np.concatenate([d.real, d.imag])))
    return float(mad / 0.6745 / np.sqrt(2.0))


def _shift_bins(reference_mag: np.ndarray, mag: np.ndarray, max_bins: int) -> float:
    """Return the (sub-bin) shift of ``mag`` relative to ``reference_mag`` from their cross-correlation."""
    n = reference_mag.size
    xc = np.fft.ifft(np.fft.fft(mag - mag.mean()) * np.conj(np.fft.fft(reference_mag - reference_mag.mean()))).real
    lags = np.fft.fftfreq(n, 1.0 / n)
    allowed = np.abs(lags) <= max_bins
    k = np.flatnonzero(allowed)[np.argmax(xc[allowed])]
    y0, y1, y2 = xc[k - 1], xc[k], xc[(k + 1) % n]
    denom = y0 - 2 * y1 + y2
    frac = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
    return float(lags[k] + np.clip(frac, -0.5, 0.5))


def align_and_average(frames: np.ndarray, dwell_s: float, max_shift_hz: float = 30.0) -> np.ndarray:
    """Return the average of FID frames ``(n_frames, points)`` after frequency and zero-order phase alignment.

    Each frame's frequency offset against the mean is found by cross-correlating line-broadened
    magnitude spectra (up to ``max_shift_hz``), removed by ``exp(-2 pi i df t)``; its phase is then
    aligned to the mean on the first quarter of the FID.
    """
    frames = np.atleast_2d(np.asarray(frames, dtype=complex))
    n = frames.shape[1]
    t = model.time_axis_s(n, dwell_s)
    weight = np.exp(-np.pi * 5.0 * t)
    reference = frames.mean(axis=0)
    ref_mag = np.abs(np.fft.fft(reference * weight))
    bin_hz = 1.0 / (n * dwell_s)
    max_bins = max(1, int(max_shift_hz / bin_hz))
    aligned = np.empty_like(frames)
    for k, fid in enumerate(frames):
        df = _shift_bins(ref_mag, np.abs(np.fft.fft(fid * weight)), max_bins) * bin_hz
        aligned[k] = fid * np.exp(-2j * np.pi * df * t)
    head = slice(0, max(8, n // 4))
    reference = aligned.mean(axis=0)
    phases = np.angle(np.sum(aligned[:, head] * np.conj(reference[head]), axis=1))
    return (aligned * np.exp(-1j * phases)[:, None]).mean(axis=0)


def combine_coils(coils: np.ndarray) -> np.ndarray:
    """Return a coil-combined FID from ``(n_coils, points)`` or ``(n_coils, n_transients, points)`` data.

    Weights are ``conj(s_c) / var_c``: the coil's initial FID value (mean of the first 4 points,
    averaged over transients) over its noise variance (last eighth of the FID); the combined signal
    keeps the scale of a single coil.
    """
    coils = np.asarray(coils, dtype=complex)
    mean_over = tuple(range(1, coils.ndim - 1))
    head = coils[..., :4].mean(axis=-1)
    s = head.mean(axis=mean_over) if mean_over else head
    tail = coils[..., -max(8, coils.shape[-1] // 8):]
    var = np.var(tail.reshape(coils.shape[0], -1), axis=1) + 1e-30
    w = np.conj(s) / var
    w = w / np.sum(np.abs(s) ** 2 / var) * np.sqrt(np.sum(np.abs(s) ** 2))
    return np.tensordot(w, coils, axes=(0, 0))


def _magnitude_wing(mag: np.ndarray, index: int, offset_hz: float, bin_hz: float) -> float:
    """Return the magnitude a Lorentzian line peaking at ``mag[index]`` still has ``offset_hz`` away from it.

    The magnitude of a Lorentzian falls off as ``H gamma / sqrt(gamma^2 + df^2)`` (its dispersion part: ~1/df,
    not 1/df^2); ``gamma`` (half width, Hz) comes from the magnitude FWHM, which is ``2 sqrt(3) gamma``.
    """
    fwhm_bins = peak_width(mag, index, rel_height=0.5)
    gamma = fwhm_bins * bin_hz / (2.0 * np.sqrt(3.0))
    return float(mag[index] * gamma / np.hypot(gamma, offset_hz))


@dataclass
class WaterFatAssignment:
    """Where water and the main fat (methylene) peak were found, and a first phase estimate.

    ``water_hz`` / ``fat_hz`` are frequencies on :func:`model.frequency_axis_hz`; ``shift_hz`` is the
    offset of the observed peaks from where ``center_ppm`` puts them (``f = (center - ppm) f0 + shift``);
    ``phase_rad`` the zero-order phase at the stronger peak's apex; ``paired`` tells whether both peaks
    were seen ~3.4 ppm apart; ``water_seen``/``fat_seen`` whether each rose above the noise.
    """

    water_hz: float
    fat_hz: float
    shift_hz: float
    phase_rad: float
    paired: bool
    water_seen: bool
    fat_seen: bool
    water_height: float
    fat_height: float
    noise_sd: float
    note: str = ""


def assign_water_and_fat(fid: np.ndarray, dwell_s: float, frequency_mhz: float,
                         center_ppm: float = model.WATER_PPM) -> WaterFatAssignment:
    """Return where water and methylene are, found by their ~3.4 ppm separation in the magnitude spectrum.

    Works with any zero-order phase (magnitude) and any receiver offset (water or fat on resonance).
    A pair must contain a peak at least 0.3 x as tall as the tallest one (so that two small side peaks
    of a pure water spectrum are not taken for water and fat).
    When only one peak rises above the noise, it is called water or fat by which hypothesis (receiver
    on water: water 4.7 / fat 1.3 ppm nominal; receiver on fat: water 8.1 / fat 4.7) puts it nearest,
    preferring water at a tie.
    """
    n = fid.size
    f0 = float(frequency_mhz)
    t = model.time_axis_s(n, dwell_s)
    freq = model.frequency_axis_hz(n, dwell_s)
    raw = model.spectrum_from_fid(fid)
    noise = noise_sd_of_spectrum(raw)
    lb = 8.0
    broad = model.spectrum_from_fid(fid * np.exp(-np.pi * lb * t))
    mag = np.abs(broad)
    # noise of the broadened magnitude: scale the raw noise by the broadening's noise gain
    gain = np.sqrt(np.mean(np.exp(-2 * np.pi * lb * t)))
    noise_b = max(noise * gain, 1e-300)
    bin_hz = 1.0 / (n * dwell_s)
    peaks = find_peaks(mag, prominence=4.0 * noise_b, distance=max(1, int(0.15 * f0 / bin_hz)))
    if peaks.size == 0:
        peaks = np.array([int(np.argmax(mag))])
    heights = mag[peaks]
    order = np.argsort(heights)[::-1][:12]
    peaks, heights = peaks[order], heights[order]
    sep_hz = WATER_FAT_SEPARATION_PPM * f0
    tol_hz = PAIR_TOLERANCE_PPM * f0
    best, best_score = None, 0.0
    for a in range(peaks.size):
        for b in range(peaks.size):
            d = freq[peaks[b]] - freq[peaks[a]]  # fat lies at higher frequency (lower ppm) than water
            if abs(d - sep_hz) <= tol_hz and max(heights[a], heights[b]) >= 0.3 * heights[0]:
                score = min(heights[a], heights[b])
                if score > best_score:
                    best, best_score = (a, b), score
    threshold = 5.0 * noise_b
    if best is not None:
        a, b = best
        fat_ppm = center_ppm - freq[peaks[b]] / f0
        wing = _magnitude_wing(mag, int(peaks[b]), abs(freq[peaks[a]] - freq[peaks[b]]), bin_hz)
        if heights[a] - wing < 0.05 * heights[b] and abs(fat_ppm - model.WATER_PPM) < 0.3:
            # a dominant peak on resonance with a tiny "water" 3.4 ppm above it (above the dominant line's own
            # magnitude wing): far more likely water on resonance (receiver on water) with a small artefact or
            # a noise bump on its wing than fat with FF > 95 %
            best = None
    if best is not None and best_score > threshold:
        a, b = best
        w_i, f_i = peaks[a], peaks[b]
        # refine each apex on the broadened magnitude within +-0.15 ppm
        water_hz, fat_hz = float(freq[w_i]), float(freq[f_i])
        shift = water_hz - (center_ppm - model.WATER_PPM) * f0
        fat_shift = fat_hz - (center_ppm - model.METHYLENE_PPM) * f0
        strong = w_i if mag[w_i] >= mag[f_i] else f_i
        return WaterFatAssignment(
            water_hz=water_hz, fat_hz=fat_hz, shift_hz=0.5 * (shift + fat_shift),
            phase_rad=float(np.angle(broad[strong])), paired=True, water_seen=True, fat_seen=True,
            water_height=float(mag[w_i]), fat_height=float(mag[f_i]), noise_sd=noise)
    top = int(peaks[0])
    top_ppm = center_ppm - freq[top] / f0
    hypotheses = {  # (label, receiver offset in ppm): nominal ppm where the peak would sit
        ("water", 0.0): model.WATER_PPM,
        ("water", WATER_FAT_SEPARATION_PPM): model.WATER_PPM + WATER_FAT_SEPARATION_PPM,
        ("fat", 0.0): model.METHYLENE_PPM,
    }
    label, _ = min(hypotheses, key=lambda k: abs(hypotheses[k] - top_ppm) + (0.0 if k[0] == "water" else 1e-6))
    seen = bool(heights[0] > threshold)
    if label == "water":
        water_hz = float(freq[top])
        fat_hz = water_hz + sep_hz
        shift = water_hz - (center_ppm - model.WATER_PPM) * f0
    else:
        fat_hz = float(freq[top])
        water_hz = fat_hz - sep_hz
        shift = fat_hz - (center_ppm - model.METHYLENE_PPM) * f0
    other = int(np.argmin(np.abs(freq - (fat_hz if label == "water" else water_hz))))
    return WaterFatAssignment(
        water_hz=water_hz, fat_hz=fat_hz, shift_hz=float(shift), phase_rad=float(np.angle(broad[top])),
        paired=False, water_seen=seen and label == "water", fat_seen=seen and label == "fat",
        water_height=float(mag[top] if label == "water" else mag[other]),
        fat_height=float(mag[top] if label == "fat" else mag[other]), noise_sd=noise,
        note=f"only one peak found ({label} at nominal {top_ppm:.2f} ppm); its partner was not seen")
