"""Voxel screening before a fit: invalid signals and the automatic background (noise) mask.

Background rule (documented defaults; a voxel is background when its mean signal over all b-values,
the "feature", is below the threshold):

1. relative floor: ``background_fraction`` (default 0.05) times the 99th percentile of the feature over
   all finite voxels;
2. noise class: with at least 200 voxels, Otsu's threshold on log(feature) splits a dim and a bright
   class; if both hold >= 2 % of the voxels, their log-means differ by more than ln 4, and the dim class
   does not decay with b (median ratio of its high-b half to its low-b half > 0.8, as pure noise does),
   the threshold is raised to Otsu's. Dim *tissue* decays with b and is therefore never taken for noise.

Averaging over the b-values shrinks the noise of the feature (a pure-noise voxel's mean of 8
Rician/Rayleigh samples sits near 1.25 sigma with a spread of ~0.25 sigma). On a handful of voxels
(an ROI-mean signal, a test vector) only rule 1 applies and it keeps everything but near-zero signals.
"""

from __future__ import annotations

import numpy as np

from .options import DEFAULT_BACKGROUND_FRACTION

#: the noise-class test needs at least this many voxels (a histogram) ...
MIN_VOXELS_FOR_NOISE_CLASS = 200
#: ... and the dim class must keep this fraction of its low-b signal at high b (noise does not decay)
NOISE_FLATNESS = 0.8


def invalid_signal(y: np.ndarray) -> np.ndarray:
    """Return True for rows of ``y`` (n, n_b) that cannot be fitted.

    Invalid: any NaN/inf, a non-positive signal at the lowest b-value (column 0, the reference), no
    positive value, or a constant signal (no information on decay). Negative values at higher b-values
    are accepted: phase-corrected real-valued data and noise floors produce them, and the least-squares
    fits handle them (log-linear steps simply ignore non-positive points).
    """
    finite = np.isfinite(y).all(axis=-1)
    with np.errstate(invalid="ignore"):
        negative = ~(y[..., 0] > 0)
        ymax = np.max(y, axis=-1)
        constant = ymax == np.min(y, axis=-1)
        no_signal = ~(ymax > 0)
    return ~finite | negative | no_signal | constant


def _otsu(values: np.ndarray, bins: int = 256) -> float:
    """Return Otsu's threshold of ``values`` (maximum between-class variance of a histogram)."""
    hist, edges = np.histogram(values, bins=bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        between = w0 * w1 * (m0 / w0 - (m0[-1] - m0) / w1) ** 2
    between = np.where(np.isfinite(between), between, -1.0)
    return float(edges[1:][np.argmax(between)])


def background_mask(y: np.ndarray, background_fraction: float = DEFAULT_BACKGROUND_FRACTION,
                    considered: np.ndarray | None = None) -> np.ndarray:
    """Return True for rows of ``y`` (n, n_b) whose b-averaged signal is at noise level (see module doc).

    ``considered`` (n,) bool limits the statistics to those rows (e.g. a user mask); rows outside it are
    returned as background.
    """
    if not 0 <= background_fraction < 1:
        raise ValueError(f"background_fraction must be in [0, 1), got {background_fraction}")
    with np.errstate(invalid="ignore"):
        feature = np.mean(y, axis=-1, dtype=np.float64)
    ok = np.isfinite(feature) & (feature > 0)
    if considered is not None:
        ok &= considered
    if not ok.any():
        return np.ones(y.shape[0], dtype=bool)
    threshold = background_fraction * np.percentile(feature[ok], 99)
    if ok.sum() >= MIN_VOXELS_FOR_NOISE_CLASS and y.shape[-1] >= 2:
        logf = np.log(feature[ok])
        t = _otsu(logf)
        low = logf < t
        if low.mean() >= 0.02 and (~low).mean() >= 0.02 and logf[~low].mean() - logf[low].mean() > np.log(4):
            yl = y[np.flatnonzero(ok)[low]].astype(np.float64)
            half = y.shape[-1] // 2
            with np.errstate(divide="ignore", invalid="ignore"):
                flatness = np.median(yl[:, half:].mean(axis=1) / yl[:, :half].mean(axis=1))
            if flatness > NOISE_FLATNESS:  # the dim class does not decay with b: it is noise
                threshold = max(threshold, float(np.exp(t)))
    background = ~(feature >= threshold)
    if considered is not None:
        background |= ~considered
    return background
