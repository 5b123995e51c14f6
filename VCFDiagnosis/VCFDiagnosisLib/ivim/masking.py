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

from dataclasses import dataclass

import numpy as np

from .options import DEFAULT_BACKGROUND_FRACTION

#: the noise-class test needs at least this many voxels (a histogram) ...
MIN_VOXELS_FOR_NOISE_CLASS = 200
#: ... and the dim class must keep this fraction of its low-b signal at high b (noise does not decay)
NOISE_FLATNESS = 0.8
#: the background rule needs the classes' mean log feature this far apart (a factor 4) ...
MIN_CLASS_SEPARATION = float(np.log(4.0))
#: ... the noise SD estimate a factor 2 (it only reads the dim class, it masks nothing)
MIN_NOISE_SEPARATION = float(np.log(2.0))
#: the dim class is noise when its coefficient of variation is this fraction of pure noise's (averaged repeats
#: lower it by sqrt(repeats): 0.5 for 4; tissue at SNR 15 has ~0.07 / 0.52 = 0.13)
NOISE_CV_RANGE = (0.4, 1.3)


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


def noise_class_threshold(y: np.ndarray, feature: np.ndarray, ok: np.ndarray,
                          min_separation: float = MIN_CLASS_SEPARATION) -> float | None:
    """Return the threshold of the pure-noise class of rule 2 (module doc), or None when there is none.

    ``y`` (n, n_b) signals, ``feature`` (n,) their b-averaged signal, ``ok`` (n,) the rows considered;
    ``min_separation`` the least difference of the two classes' mean log feature.
    """
    if ok.sum() < MIN_VOXELS_FOR_NOISE_CLASS or y.shape[-1] < 2:
        return None
    logf = np.log(feature[ok])
    t = _otsu(logf)
    low = logf < t
    if not (low.mean() >= 0.02 and (~low).mean() >= 0.02 and logf[~low].mean() - logf[low].mean() > min_separation):
        return None
    yl = y[np.flatnonzero(ok)[low]].astype(np.float64)
    half = y.shape[-1] // 2
    with np.errstate(divide="ignore", invalid="ignore"):
        flatness = np.median(yl[:, half:].mean(axis=1) / yl[:, :half].mean(axis=1))
    return float(np.exp(t)) if flatness > NOISE_FLATNESS else None  # noise does not decay with b


def _feature(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore"):
        feature = np.mean(y, axis=-1, dtype=np.float64)
    return feature, np.isfinite(feature) & (feature > 0)


def background_mask(y: np.ndarray, background_fraction: float = DEFAULT_BACKGROUND_FRACTION,
                    considered: np.ndarray | None = None) -> np.ndarray:
    """Return True for rows of ``y`` (n, n_b) whose b-averaged signal is at noise level (see module doc).

    ``considered`` (n,) bool limits the statistics to those rows (e.g. a user mask); rows outside it are
    returned as background.
    """
    if not 0 <= background_fraction < 1:
        raise ValueError(f"background_fraction must be in [0, 1), got {background_fraction}")
    feature, ok = _feature(y)
    if considered is not None:
        ok &= considered
    if not ok.any():
        return np.ones(y.shape[0], dtype=bool)
    threshold = background_fraction * np.percentile(feature[ok], 99)
    noise_threshold = noise_class_threshold(y, feature, ok)
    if noise_threshold is not None:
        threshold = max(threshold, noise_threshold)
    background = ~(feature >= threshold)
    if considered is not None:
        background |= ~considered
    return background


def background_noise_sigma(y: np.ndarray, images=1, max_rows: int = 262144) -> np.ndarray | None:
    """Return the noise SD per channel (signal units, one per column of ``y`` (n, n_b)) from the image background.

    ``images``: how many magnitude images each column's image is the geometric mean of (1, or one per column; see
    :func:`.noise_floor.images_per_bvalue`). The background is rule 2's pure-noise class (module doc; the classes
    need only be a factor 2 apart, as nothing is masked here); exactly-zero rows (zero-filled padding) are left
    out. Each column's SD comes from the class's mean, ``sigma = mean / E[GM_k](A = 0)`` (exact for complex
    Gaussian noise, also for an arithmetic mean of repeated magnitudes). The class must look like noise: in the
    median column its coefficient of variation lies between :data:`NOISE_CV_RANGE` times that of pure noise (a
    dim tissue, e.g. fat in a zero-filled background, is far less variable and is refused). An evenly strided
    subset of at most ``max_rows`` rows is used. Returns None when no such class is found (a masked or
    zero-filled background, too few voxels): callers then make no noise-floor correction.
    """
    from .noise_floor import background_cv, background_mean_factor

    stride = max(1, -(-y.shape[0] // max_rows))
    rows = np.asarray(y[::stride], dtype=np.float64)
    feature, ok = _feature(rows)
    threshold = noise_class_threshold(rows, feature, ok, MIN_NOISE_SEPARATION)
    if threshold is None:
        return None
    noise = rows[ok & (feature < threshold)]
    noise = noise[np.isfinite(noise).all(axis=1)]
    if noise.shape[0] < MIN_VOXELS_FOR_NOISE_CLASS:
        return None
    mean = noise.mean(axis=0)
    cv = noise.std(axis=0) / np.where(mean > 0, mean, np.nan)
    k = np.broadcast_to(np.asarray(images, dtype=float), mean.shape)
    relative = np.nanmedian(cv / background_cv(k))
    if not (NOISE_CV_RANGE[0] <= relative <= NOISE_CV_RANGE[1]):
        return None
    return mean / background_mean_factor(k)


@dataclass(frozen=True)
class BackgroundNoise:
    """A DWI's noise, from its background: ``sigma`` the noise SD per channel for each b-value (signal units), and
    ``images`` how many magnitudes each b-value's image is the geometric mean of (None: unknown provenance, e.g. a
    NIfTI file; then the ROI-mean signal is not corrected, the noise still weighs the map prior)."""

    sigma: np.ndarray
    images: np.ndarray | None

    @property
    def correctable(self) -> bool:
        """True when the noise floor of the ROI-mean signal can be removed (the images' making is known)."""
        return self.images is not None

    @property
    def image_sd(self) -> np.ndarray:
        """The noise SD of each b-value's image (signal units, high SNR): the map prior's weight."""
        from .noise_floor import image_noise_sd

        return image_noise_sd(self.sigma, 1.0 if self.images is None else self.images)


def dwi_background_noise(dwi) -> BackgroundNoise | None:
    """Return the noise of a :class:`VCFDiagnosisLib.dwi.volume.DwiVolume` from its background, or None (no noise
    class found). Uses ``metadata["combination"]`` (:func:`.noise_floor.images_per_bvalue`) for how each image was made."""
    from .noise_floor import images_per_bvalue

    images = images_per_bvalue(dwi.metadata.get("combination"), dwi.bvalues_s_mm2)
    signal = dwi.signal_last()
    sigma = background_noise_sigma(signal.reshape(-1, signal.shape[-1]), 1.0 if images is None else images)
    return None if sigma is None else BackgroundNoise(sigma, images)
