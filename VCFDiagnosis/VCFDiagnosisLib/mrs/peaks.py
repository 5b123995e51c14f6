"""Peaks of a 1D spectrum: local maxima, minimum distance, prominence and width at a relative height.

The definitions are scipy.signal's (``find_peaks``, ``peak_prominences``, ``peak_widths`` with ``wlen=None``),
and the tests check that these functions return exactly what scipy's do. They are written here because importing
``scipy.signal`` costs about 1 s (it loads scipy.stats and scipy.interpolate), half of what a user waits for a
whole case; the spectrum's peak picking needs only these few lines.

* A local maximum is a sample (or the middle, rounded down, of a flat run of samples) higher than both
  neighbours; the first and last samples never are.
* Distance: peaks are visited from the highest; each removes the lower peaks less than ``distance`` samples away.
* Prominence: the height of a peak above the higher of its two bases, a base being the lowest sample between the
  peak and the nearest strictly higher sample on that side (or the end of the spectrum).
* Width: the distance between the two points, linearly interpolated, where the spectrum crosses
  ``height - rel_height * prominence`` on either side of the peak (not beyond its bases), in samples.
"""

from __future__ import annotations

import math

import numpy as np


def local_maxima(x: np.ndarray) -> np.ndarray:
    """Return the indices of the local maxima of ``x`` (flat tops: the middle sample, rounded down)."""
    x = np.asarray(x, dtype=float)
    if x.size < 3:
        return np.zeros(0, dtype=np.intp)
    starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])  # first sample of each run of equal values
    ends = np.r_[starts[1:], x.size] - 1
    values = x[starts]
    inner = np.arange(1, starts.size - 1)
    is_peak = (values[inner] > values[inner - 1]) & (values[inner] > values[inner + 1])
    runs = inner[is_peak]
    return ((starts[runs] + ends[runs]) // 2).astype(np.intp)


def select_by_distance(x: np.ndarray, peaks: np.ndarray, distance: float) -> np.ndarray:
    """Return the peaks kept when each, from the highest, removes lower ones less than ``distance`` samples away."""
    peaks = np.asarray(peaks, dtype=np.intp)
    keep = np.ones(peaks.size, dtype=bool)
    limit = math.ceil(distance)
    for j in np.argsort(x[peaks])[::-1]:
        if not keep[j]:
            continue
        near = np.abs(peaks - peaks[j]) < limit
        near[j] = False
        keep &= ~near
    return peaks[keep]


def _nearest_higher(x: np.ndarray, peaks: np.ndarray, step: int) -> np.ndarray:
    """Return, per peak, the index of the nearest strictly higher sample in direction ``step`` (-1 or n if none)."""
    n = x.size
    out = np.empty(peaks.size, dtype=np.intp)
    for i, p in enumerate(peaks):
        side = x[p + 1:] if step > 0 else x[:p][::-1]
        higher = np.flatnonzero(side > x[p])
        out[i] = (p + 1 + higher[0] if step > 0 else p - 1 - higher[0]) if higher.size else (n if step > 0 else -1)
    return out


def peak_prominences(x: np.ndarray, peaks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(prominences, left_bases, right_bases)`` of ``peaks`` in ``x`` (bases: indices of the minima)."""
    x = np.asarray(x, dtype=float)
    peaks = np.asarray(peaks, dtype=np.intp)
    left_stop = _nearest_higher(x, peaks, -1)
    right_stop = _nearest_higher(x, peaks, +1)
    left_bases = np.empty(peaks.size, dtype=np.intp)
    right_bases = np.empty(peaks.size, dtype=np.intp)
    for i, p in enumerate(peaks):
        left = x[left_stop[i] + 1:p + 1]
        # going outwards from the peak the first minimum wins: on the left, the last index of the minimum
        left_bases[i] = left_stop[i] + 1 + (left.size - 1 - int(np.argmin(left[::-1])))
        right_bases[i] = p + int(np.argmin(x[p:right_stop[i]]))
    prominences = x[peaks] - np.maximum(x[left_bases], x[right_bases])
    return prominences, left_bases, right_bases


def find_peaks(x: np.ndarray, prominence: float = 0.0, distance: float | None = None) -> np.ndarray:
    """Return the indices of the peaks of ``x`` at least ``distance`` samples apart with at least ``prominence``."""
    x = np.asarray(x, dtype=float)
    peaks = local_maxima(x)
    if distance is not None and peaks.size:
        peaks = select_by_distance(x, peaks, distance)
    if peaks.size:
        prominences, _, _ = peak_prominences(x, peaks)
        peaks = peaks[prominences >= prominence]
    return peaks


def peak_width(x: np.ndarray, peak: int, rel_height: float = 0.5) -> float:
    """Return the width (samples) of ``x`` at ``rel_height`` of the prominence of the peak at index ``peak``."""
    x = np.asarray(x, dtype=float)
    prominences, left_bases, right_bases = peak_prominences(x, np.array([peak]))
    height = x[peak] - prominences[0] * rel_height
    i = peak
    while left_bases[0] < i and height < x[i]:
        i -= 1
    left = float(i)
    if x[i] < height:
        left += (height - x[i]) / (x[i + 1] - x[i])
    i = peak
    while i < right_bases[0] and height < x[i]:
        i += 1
    right = float(i)
    if x[i] < height:
        right -= (height - x[i]) / (x[i - 1] - x[i])
    return right - left
