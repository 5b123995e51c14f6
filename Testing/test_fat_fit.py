"""PDFF and R2* from magnitude echoes (VCFDiagnosisLib.fat), against known truth: noiseless signals, and noisy
phantom slabs of homogeneous patches (PDFF 0-60 %, R2* 20-200 1/s) at the echo times of a 3 T 6-echo protocol."""

from __future__ import annotations

import numpy as np
import pytest

from VCFDiagnosisLib.fat.fit import AMBIGUOUS, NOT_FITTED, OK, fit_pdff
from VCFDiagnosisLib.fat.model import fat_phasors, magnitude_signal
from VCFDiagnosisLib.mrs.model import HAMILTON_FAT_PEAKS
from VCFDiagnosisLib.phantom.fat_patches import pdff_r2star_patches

TE_S = np.array([1.2, 2.4, 3.6, 4.8, 6.0, 7.2]) * 1e-3
LEVELS = np.arange(0, 61, 5) / 100.0
R2S = np.array([20.0, 50.0, 100.0, 150.0, 200.0])


def _slab(slices: int = 3, size: int = 12):
    """Return (PDFF fraction, R2* 1/s) grids of the patch phantom (one patch per (PDFF, R2*) pair)."""
    return pdff_r2star_patches(LEVELS, R2S, size=size, slices=slices)


def test_echo_signal_is_the_spectroscopy_engines_fid():
    """The echoes are the spectroscopy engine's own water + multi-peak fat FID (synthesize_fid, no line broadening)
    sampled at the echo times: one fat model for MRS and water-fat imaging."""
    from VCFDiagnosisLib.mrs.model import synthesize_fid

    methylene = next(p.relative_area for p in HAMILTON_FAT_PEAKS if p.name == "methylene")
    for fat in (0.0, 0.2, 0.4, 0.7):
        fid = synthesize_fid(n_points=8, dwell_s=1.2e-3, frequency_mhz=127.74, water_area=1 - fat,
                             lwr=fat * methylene / (1 - fat), water_linewidth_hz=0.0, fat_linewidth_hz=0.0)
        np.testing.assert_allclose(magnitude_signal(np.arange(8) * 1.2e-3, 1 - fat, fat, 0.0), np.abs(fid),
                                   atol=1e-12)
    assert fat_phasors(np.array([0.0]))[0] == pytest.approx(1.0)


def test_noiseless_signals_give_back_their_pdff_and_r2star():
    pdff, r2 = _slab(slices=1, size=2)
    signal = magnitude_signal(TE_S, 1000 * (1 - pdff), 1000 * pdff, r2)
    maps = fit_pdff(TE_S, signal, mask=np.ones(pdff.shape, bool), processes=1)
    assert np.all(maps.status == OK)
    np.testing.assert_allclose(maps.pdff_percent, 100 * pdff, atol=0.05)
    np.testing.assert_allclose(maps.r2star_per_s, r2, rtol=2e-3)


@pytest.mark.parametrize("snr", [20, 40])
def test_noisy_phantom_meets_the_accuracy_targets(snr):
    """|median PDFF error| <= 1.5 points per PDFF level, |median R2* error| <= 10 % per level; swaps (errors over
    20 points) are rare at SNR 20 (spatial resolution) and absent at SNR 40."""
    rng = np.random.default_rng(snr)
    pdff, r2 = _slab()
    clean = magnitude_signal(TE_S, 1000 * (1 - pdff), 1000 * pdff, r2)
    noisy = np.abs(clean + 1000 / snr * (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape)))
    maps = fit_pdff(TE_S, noisy, mask=np.ones(pdff.shape, bool), processes=1)
    error = maps.pdff_percent - 100 * pdff
    for level in LEVELS:
        assert abs(np.median(error[pdff == level])) <= 1.5, level
    for value in R2S:
        assert abs(np.median((maps.r2star_per_s[r2 == value] - value) / value)) <= 0.10, value
    swaps = int((np.abs(error) > 20).sum())
    assert swaps == 0 if snr >= 40 else swaps <= 0.005 * error.size
    single = fit_pdff(TE_S, noisy, mask=np.ones(pdff.shape, bool), spatial=False, processes=1)
    assert int((np.abs(single.pdff_percent - 100 * pdff) > 20).sum()) > 5 * max(swaps, 1)  # space is what fixes them


def test_background_is_nan_with_its_status_and_bad_echo_times_are_refused():
    pdff, r2 = _slab(slices=1, size=4)
    signal = magnitude_signal(TE_S, 1000 * (1 - pdff), 1000 * pdff, r2)
    signal[..., :8] = 0.5  # a background band (the first 8 columns)
    maps = fit_pdff(TE_S, signal, processes=1)
    assert np.all(np.isnan(maps.pdff_percent[..., :8])) and np.all(maps.status[..., :8] == NOT_FITTED)
    assert np.all(np.isin(maps.status[..., 8:], (OK, AMBIGUOUS))) and np.all(np.isfinite(maps.pdff_percent[..., 8:]))
    with pytest.raises(ValueError, match="distinct and positive"):
        fit_pdff(np.array([1.0, 1.0, 2.0]) * 1e-3, signal[:3])
    with pytest.raises(ValueError, match="at least 3 echoes"):
        fit_pdff(TE_S[:2], signal[:2])


def test_worker_processes_give_the_same_maps():
    rng = np.random.default_rng(5)
    pdff, r2 = _slab(slices=2, size=8)
    clean = magnitude_signal(TE_S, 1000 * (1 - pdff), 1000 * pdff, r2)
    noisy = np.abs(clean + 25 * (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape)))
    one = fit_pdff(TE_S, noisy, mask=np.ones(pdff.shape, bool), processes=1, chunk=500)
    two = fit_pdff(TE_S, noisy, mask=np.ones(pdff.shape, bool), processes=2, chunk=500)
    np.testing.assert_array_equal(one.pdff_percent, two.pdff_percent)
    np.testing.assert_array_equal(one.status, two.status)


def test_mixed_fit_with_phase_recovers_pdff_r2star_and_the_field_map():
    """With phase images (the mixed magnitude/complex fit): noiseless echoes give back PDFF, R2* and the field map
    exactly; at SNR 20 the PDFF targets hold and the estimates are less biased than from magnitudes alone."""
    from VCFDiagnosisLib.fat.model import complex_signal

    pdff, r2 = _slab()
    yy, xx = np.mgrid[0:pdff.shape[1], 0:pdff.shape[2]]
    field = np.broadcast_to(40.0 * np.sin(xx / 15.0) + 0.3 * yy, pdff.shape)
    clean = complex_signal(TE_S, 1000 * (1 - pdff), 1000 * pdff, r2) * np.exp(
        1j * (0.5 + 2 * np.pi * field[None] * TE_S[:, None, None, None]))
    exact = fit_pdff(TE_S, np.abs(clean), mask=np.ones(pdff.shape, bool), processes=1, phases_rad=np.angle(clean))
    np.testing.assert_allclose(exact.pdff_percent, 100 * pdff, atol=0.05)
    np.testing.assert_allclose(exact.r2star_per_s, r2, rtol=2e-3)
    np.testing.assert_allclose(exact.field_map_hz, field, atol=0.05)
    rng = np.random.default_rng(20)
    noisy = clean + 50.0 * (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape))
    mixed = fit_pdff(TE_S, np.abs(noisy), mask=np.ones(pdff.shape, bool), processes=1, phases_rad=np.angle(noisy))
    magnitude = fit_pdff(TE_S, np.abs(noisy), mask=np.ones(pdff.shape, bool), processes=1)
    bias = {name: max(abs(np.median(m.pdff_percent[pdff == v] - 100 * v)) for v in LEVELS)
            for name, m in (("mixed", mixed), ("magnitude", magnitude))}
    assert bias["mixed"] <= 1.5 and bias["mixed"] < bias["magnitude"]
    assert np.nanmedian(np.abs(mixed.field_map_hz - field)) < 5.0
    assert np.mean(np.isnan(mixed.field_map_hz)) < 0.05  # NaN: the complex fit left the branch, magnitude result kept


def test_a_conjugated_phase_convention_is_recognised():
    """Scanners differ in the sign of their phase: with the phase conjugated, the fit finds that convention from the
    residuals and gives the same maps (the field map in the images' own convention, so negated)."""
    from VCFDiagnosisLib.fat.model import complex_signal

    pdff, r2 = _slab(slices=1)
    yy, xx = np.mgrid[0:pdff.shape[1], 0:pdff.shape[2]]
    field = np.broadcast_to(30.0 * np.cos(xx / 12.0) - 0.2 * yy, pdff.shape)
    clean = complex_signal(TE_S, 1000 * (1 - pdff), 1000 * pdff, r2) * np.exp(
        1j * (0.3 + 2 * np.pi * field[None] * TE_S[:, None, None, None]))
    rng = np.random.default_rng(7)
    noisy = clean + 25.0 * (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape))
    mask = np.ones(pdff.shape, bool)
    as_stored = fit_pdff(TE_S, np.abs(noisy), mask=mask, processes=1, phases_rad=np.angle(noisy))
    conjugated = fit_pdff(TE_S, np.abs(noisy), mask=mask, processes=1, phases_rad=-np.angle(noisy))
    assert (as_stored.phase_sign, conjugated.phase_sign) == (1, -1)
    np.testing.assert_allclose(conjugated.pdff_percent, as_stored.pdff_percent, atol=1e-6)
    np.testing.assert_allclose(conjugated.field_map_hz, -as_stored.field_map_hz, atol=1e-6)
