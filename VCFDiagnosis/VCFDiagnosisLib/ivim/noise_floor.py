"""The noise floor of magnitude images, and its removal from an ROI's mean signal.

A magnitude voxel ``M = |A + n_re + i n_im|`` with Gaussian noise of SD ``sigma`` per channel is Rician; a scanner
trace image is the geometric mean of ``k`` such magnitudes (the diffusion directions, usually 3; ``k = 1`` for a
single image, or for an arithmetic mean of repeated magnitudes, whose mean is the single image's). Its mean is

    ``E[GM_k] = sqrt(2) sigma Gamma(1 + 1/(2k))^k 1F1(-1/(2k); 1; -A^2 / (2 sigma^2))^k``

(the moments ``E[M^nu] = (2 sigma^2)^(nu/2) Gamma(1 + nu/2) 1F1(-nu/2; 1; -A^2 / 2 sigma^2)`` of the Rician
distribution, independent directions with the same A), above A by about ``sigma^2 / (2 k A)`` at high SNR and
by ``sqrt(2) sigma Gamma(1 + 1/(2k))^k`` where there is no signal. Averaging voxels removes the noise's spread
but not this floor, so an ROI-mean signal decays too slowly at high b: at voxel SNR 20 single images of the
study's osteoporotic marrow give D ~1.7 % low and f ~2 % high (``Testing/Benchmarks/bench_roi_fit_methods.py``).
:func:`rician_mean_to_signal` inverts the
mean per b-value, giving the mean of the voxels' true signals (exact for alike voxels, to first order in sigma^2
otherwise). The noise SD comes from the image background (:func:`.masking.background_noise_sigma`), whose mean is
the same formula at A = 0.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, hyp1f1

#: bisection steps of the inversion (the bracket shrinks 2^-60: below float64 resolution)
_STEPS = 60


def background_mean_factor(images: np.ndarray | float = 1) -> np.ndarray:
    """Return ``E[GM_k] / sigma`` of pure noise: ``sqrt(2) Gamma(1 + 1/(2k))^k`` (sqrt(pi/2) for k = 1)."""
    k = np.asarray(images, dtype=float)
    return np.sqrt(2.0) * np.exp(k * gammaln(1.0 + 0.5 / k))


def background_cv(images: np.ndarray | float = 1) -> np.ndarray:
    """Return the coefficient of variation (SD / mean) of pure noise in a geometric mean of ``k`` magnitudes.

    ``sqrt(Gamma(1 + 1/k)^k / Gamma(1 + 1/(2k))^(2k) - 1)``: 0.523 for k = 1 (Rayleigh), 0.341 for k = 3.
    """
    k = np.asarray(images, dtype=float)
    return np.sqrt(np.exp(k * gammaln(1.0 + 1.0 / k) - 2.0 * k * gammaln(1.0 + 0.5 / k)) - 1.0)


def rician_mean(signal: np.ndarray, sigma: np.ndarray | float, images: np.ndarray | float = 1) -> np.ndarray:
    """Return the mean of a geometric mean of ``images`` Rician magnitudes (true signal ``signal`` >= 0, noise SD
    ``sigma`` per channel); broadcasts; ``sigma`` 0 returns ``signal``."""
    a = np.asarray(signal, dtype=float)
    s = np.asarray(sigma, dtype=float)
    k = np.asarray(images, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.where(s > 0, -a * a / (2.0 * s * s), 0.0)
        mean = s * background_mean_factor(k) * hyp1f1(-0.5 / k, 1.0, x) ** k
    return np.where(s > 0, mean, a)


def rician_mean_to_signal(mean_magnitude: np.ndarray, sigma: np.ndarray | float,
                          images: np.ndarray | float = 1) -> np.ndarray:
    """Return the true signal A whose mean magnitude (see :func:`rician_mean`) is ``mean_magnitude``.

    b on the last axis; ``sigma`` (noise SD per channel) and ``images`` (magnitudes per geometric mean) are scalars
    or one value per b-value. A mean at or below the pure-noise mean gives 0; ``sigma`` 0 (or NaN: unknown) returns
    the mean unchanged; NaN means stay NaN. Vectorised bisection on ``[0, mean]`` (the mean exceeds A).
    """
    m = np.asarray(mean_magnitude, dtype=float)
    s = np.broadcast_to(np.nan_to_num(np.asarray(sigma, dtype=float), nan=0.0), m.shape)
    k = np.broadcast_to(np.asarray(images, dtype=float), m.shape)
    low = np.zeros_like(m)
    high = np.where(np.isfinite(m), np.maximum(m, 0.0), 0.0)
    for _ in range(_STEPS):
        mid = 0.5 * (low + high)
        above = rician_mean(mid, s, k) > m
        high = np.where(above, mid, high)
        low = np.where(above, low, mid)
    out = np.where(m <= s * background_mean_factor(k), 0.0, 0.5 * (low + high))
    return np.where(s > 0, np.where(np.isfinite(m), out, np.nan), m)


def image_noise_sd(sigma: np.ndarray | float, images: np.ndarray | float = 1) -> np.ndarray:
    """Return the noise SD of an image (high SNR) that is the geometric mean of ``images`` magnitudes: sigma/sqrt(k)."""
    return np.asarray(sigma, dtype=float) / np.sqrt(np.asarray(images, dtype=float))


def images_per_bvalue(combination: dict | None, bvalues_s_mm2) -> np.ndarray | None:
    """Return how many magnitude images each b-value's image is the geometric mean of, or None when unknown.

    ``combination`` is a DWI's ``metadata["combination"]`` ({b label: how the image was made}, see
    :func:`VCFDiagnosisLib.dwi.assemble.combine_shell`): "single image" and "mean of N repeats" (an arithmetic
    mean keeps a single magnitude's mean) count 1, "geometric mean of N directional images" N, "scanner trace" 3
    (Siemens TRACEW, GE and Philips isotropic images are the geometric mean of three orthogonal directions).
    Anything else, or a b-value without an entry (NIfTI/NRRD input), is unknown: no correction is made then.
    """
    if not combination:
        return None
    out = []
    for b in np.asarray(bvalues_s_mm2, dtype=float):
        how = combination.get(f"{b:g}", "")
        if how == "single image" or how.startswith("mean of "):
            out.append(1.0)
        elif how == "scanner trace":
            out.append(3.0)
        elif how.startswith("geometric mean of "):
            out.append(float(how.split()[3]))
        else:
            return None
    return np.asarray(out)

