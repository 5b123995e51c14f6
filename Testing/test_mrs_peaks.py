"""The spectrum's peak picking (VCFDiagnosisLib.mrs.peaks) returns exactly what scipy.signal returns.

Truth: scipy.signal.find_peaks / peak_widths (wlen None) on random walks, plateaus, FFT magnitudes and edge cases;
and the run path never imports scipy.signal (its import costs about 1 s).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.signal import find_peaks as scipy_find_peaks
from scipy.signal import peak_widths as scipy_peak_widths

from VCFDiagnosisLib.mrs.peaks import find_peaks, local_maxima, peak_width


def _spectra():
    rng = np.random.default_rng(11)
    for trial in range(150):
        n = int(rng.integers(3, 2500))
        x = np.abs(np.cumsum(rng.standard_normal(n))) + rng.random(n) * (trial % 4)
        if trial % 3 == 0:
            x = np.round(x * 2) / 2  # flat tops and flat valleys
        yield x, float(rng.random() * 3), [None, 1, 3.5, 20][trial % 4]
    yield np.abs(np.fft.fft(rng.standard_normal(4096))), 2.0, 30
    yield np.array([0.0, 1.0, 1.0, 1.0, 0.0, 2.0, 2.0]), 0.0, None  # plateau peak; plateau at the end is none


@pytest.mark.parametrize("case", list(range(152)))
def test_peaks_and_widths_equal_scipy(case):
    x, prominence, distance = list(_spectra())[case]
    expected = scipy_find_peaks(x, prominence=prominence, distance=distance)[0]
    np.testing.assert_array_equal(find_peaks(x, prominence, distance), expected)
    for peak in expected[:4]:
        assert peak_width(x, int(peak)) == pytest.approx(scipy_peak_widths(x, [peak], rel_height=0.5)[0][0],
                                                         rel=1e-12, abs=1e-12)


def test_no_peak_in_short_or_flat_signals():
    assert local_maxima(np.array([1.0, 2.0])).size == 0
    assert find_peaks(np.ones(50)).size == 0
    assert list(local_maxima(np.array([0.0, 1.0, 1.0, 0.0]))) == [1]


def test_the_mrs_engine_does_not_import_scipy_signal():
    code = ("import sys; import VCFDiagnosisLib.mrs.processing, VCFDiagnosisLib.mrs.fit; "
            "print('scipy.signal' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
