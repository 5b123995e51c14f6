"""Noiseless IVIM signal of the phantom and Rician noise.

SNR definition used throughout the phantom: ``SNR = S0_lesion / sigma``, where S0_lesion is the lesion's
b = 0 signal (:data:`.tissues.LESION_S0`) and sigma the standard deviation of each of the two Gaussian
channels (real, imaginary) before the magnitude is taken. ``snr = inf`` means no noise.
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
