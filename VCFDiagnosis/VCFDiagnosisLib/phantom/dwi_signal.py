"""Noiseless IVIM signal of the phantom and Rician noise.

SNR definition used throughout the phantom: ``SNR = S0_lesion / sigma``, where S0_lesion is the lesion's
b = 0 signal (:data:`.tissues.LESION_S0`) and sigma the standard deviation of each of the two Gaussian
channels (real, imaginary) before the magnitude is taken. ``snr = inf`` means no noise. The b > 0 images are
traces (geometric means of three directions' magnitudes, :func:`add_trace_noise`), as the DICOM files say.
"""

from __future__ import annotations

import math

import numpy as np

from .tissues import LESION_S0, Tissue, signal_by_label


def noise_sigma_for_snr(snr: float, lesion_s0: float = LESION_S0) -> float:
    """Return the per-channel Gaussian sigma (scanner units) giving ``snr`` in the lesion at b = 0."""
    if not snr > 0:
        raise ValueError(f"SNR must be > 0 (use inf for no noise), got {snr!r}")
    return 0.0 if math.isinf(snr) else float(lesion_s0) / float(snr)


def noiseless_dwi(labels_kji: np.ndarray, tissues: tuple[Tissue, ...], bvalues_s_mm2: np.ndarray) -> np.ndarray:
    """Return the noiseless signal ``[b, k, j, i]`` (float32, scanner units) of a tissue label map."""
    table = signal_by_label(tissues, bvalues_s_mm2).astype(np.float32)  # [label, b]
    return np.ascontiguousarray(np.moveaxis(table[labels_kji], -1, 0))


def add_rician_noise(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Return ``|signal + n_re + i n_im|`` with n ~ N(0, sigma) per channel (float32); sigma 0 copies."""
    if sigma <= 0:
        return signal.astype(np.float32, copy=True)
    re = rng.standard_normal(signal.shape, dtype=np.float32)
    re *= sigma
    re += signal
    im = rng.standard_normal(signal.shape, dtype=np.float32)
    im *= sigma
    return np.hypot(re, im)


#: diffusion directions whose magnitudes a phantom trace image (b > 0) is the geometric mean of, as a scanner's
TRACE_DIRECTIONS = 3


def add_trace_noise(signal: np.ndarray, sigma: float, rng: np.random.Generator, bvalues_s_mm2) -> np.ndarray:
    """Return the noisy DWI ``[b, k, j, i]`` as a scanner stores it: at b = 0 one Rician magnitude, at b > 0 the
    trace, the geometric mean of :data:`TRACE_DIRECTIONS` independently noisy magnitudes of the same (isotropic)
    signal (Siemens TRACEW, GE and Philips isotropic images); float32. ``sigma`` 0 copies."""
    if sigma <= 0:
        return signal.astype(np.float32, copy=True)
    out = np.empty(signal.shape, dtype=np.float32)
    for index, b in enumerate(np.asarray(bvalues_s_mm2, dtype=float)):
        if b <= 0:
            out[index] = add_rician_noise(signal[index], sigma, rng)
            continue
        logs = np.zeros(signal.shape[1:], dtype=np.float64)
        for _ in range(TRACE_DIRECTIONS):
            logs += np.log(np.maximum(add_rician_noise(signal[index], sigma, rng), np.float32(1e-30)))
        out[index] = np.exp(logs / TRACE_DIRECTIONS)
    return out


def trace_combination(bvalues_s_mm2) -> dict[str, str]:
    """Return the DWI metadata's ``combination`` of a phantom ({b label: "single image" | "scanner trace"})."""
    return {f"{b:g}": "scanner trace" if b > 0 else "single image" for b in np.asarray(bvalues_s_mm2, dtype=float)}
