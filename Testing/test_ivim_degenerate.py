"""IVIM engine: degenerate voxels give NaN + the right status (never a crash); invalid calls raise."""

from __future__ import annotations

import numpy as np
import pytest

from VCFDiagnosisLib.ivim import (
    METHODS,
    VOXEL_DSTAR_PRIOR,
    DstarPrior,
    FitStatus,
    IvimBounds,
    fit_ivim,
    ivim_signal,
    monoexp_signal,
)

B = np.array([0, 50, 100, 150, 200, 400, 600, 800], dtype=float)
GOOD = ivim_signal(B, 1000.0, 1.2e-3, 0.04, 0.15)
FLOAT_MAPS = ("S0", "D_mm2_s", "Dstar_mm2_s", "f_fraction", "ADC_mm2_s", "R2")


def _batch():
    """Return named voxels: valid ones and every degenerate kind."""
    rows = {
        "good": GOOD,
        "good2": ivim_signal(B, 800.0, 0.8e-3, 0.06, 0.25),
        "zeros": np.zeros(B.size),
        "nan": np.where(B == 400, np.nan, GOOD),
        "inf": np.where(B == 100, np.inf, GOOD),
        "negative_b0": np.where(B == 0, -5.0, GOOD),
        "all_negative": -GOOD,
        "constant": np.full(B.size, 700.0),
        "single_positive_b": np.where(B == 0, 900.0, 0.0),
    }
    return list(rows), np.array(list(rows.values()))


def _assert_nan(maps, i, which=FLOAT_MAPS):
    for name in which:
        assert np.isnan(getattr(maps, name)[i]), name


@pytest.mark.parametrize("method", sorted(METHODS))
def test_degenerate_voxels_get_nan_and_a_status(method):
    names, y = _batch()
    maps = fit_ivim(B, y, method=method, auto_mask=False)
    st = dict(zip(names, maps.status.tolist(), strict=True))
    for name in ("good", "good2"):
        assert st[name] == FitStatus.OK, (method, name)
    for name in ("zeros", "nan", "inf", "negative_b0", "all_negative", "constant"):
        assert st[name] == FitStatus.INVALID_INPUT, (method, name)
        _assert_nan(maps, names.index(name))
    i = names.index("single_positive_b")
    if method == "adc":
        assert st["single_positive_b"] == FitStatus.INVALID_INPUT
        _assert_nan(maps, i)
    else:
        assert st["single_positive_b"] == FitStatus.INVALID_INPUT
        _assert_nan(maps, i, ("D_mm2_s", "Dstar_mm2_s", "f_fraction", "S0", "ADC_mm2_s"))


def test_zero_voxels_are_background_with_the_automatic_mask():
    names, y = _batch()
    maps = fit_ivim(B, y)
    assert maps.status[names.index("zeros")] == FitStatus.NOT_FITTED
    assert maps.status[names.index("nan")] == FitStatus.INVALID_INPUT  # foreground invalid stays invalid
    assert maps.status[names.index("good")] == FitStatus.OK


def test_noise_only_background_is_skipped_and_user_mask_respected():
    rng = np.random.default_rng(1)
    sigma = 1000 / 30
    tissue = np.abs(GOOD + rng.normal(0, sigma, (400, B.size)) + 1j * rng.normal(0, sigma, (400, B.size)))
    noise = np.abs(rng.normal(0, sigma, (600, B.size)) + 1j * rng.normal(0, sigma, (600, B.size)))
    maps = fit_ivim(B, np.concatenate([tissue, noise]), method="nlls")
    bg = maps.status[400:] == FitStatus.NOT_FITTED
    assert bg.mean() > 0.99 and (maps.status[:400] != FitStatus.NOT_FITTED).all()
    assert np.isnan(maps.D_mm2_s[400:][bg]).all()
    mask = np.zeros(1000, bool)
    mask[:10] = True
    masked = fit_ivim(B, np.concatenate([tissue, noise]), method="nlls", mask=mask)
    assert (masked.status[10:] == FitStatus.NOT_FITTED).all() and np.isnan(masked.f_fraction[10:]).all()
    np.testing.assert_allclose(masked.D_mm2_s[:10], maps.D_mm2_s[:10], rtol=1e-12)


@pytest.mark.parametrize("method", ["segmented", "seg-nlls", "nlls", "map"])
def test_f_zero_signal_hits_the_f_bound_and_dstar_is_undefined(method):
    y = monoexp_signal(B, 1000.0, 1.1e-3)
    maps = fit_ivim(B, y, method=method)
    assert maps.status == FitStatus.HIT_BOUND
    assert maps.f_fraction == pytest.approx(0.0, abs=1e-9)
    if method == "map":  # the prior defines D* where the data say nothing; the status marks it
        assert maps.Dstar_mm2_s == VOXEL_DSTAR_PRIOR.median_mm2_s
        assert fit_ivim(B, y, method=method, dstar_prior=DstarPrior(0.05, 2.0)).Dstar_mm2_s == 0.05
    else:
        assert np.isnan(maps.Dstar_mm2_s)
    assert maps.D_mm2_s == pytest.approx(1.1e-3, rel=1e-6)
    assert maps.S0 == pytest.approx(1000.0, rel=1e-6)


def test_missing_b0_with_one_low_b_gives_nan_ivim_with_status_but_adc_is_kept():
    # without b = 0, S0 is fitted from the b-values below the threshold: one is not enough (test_ivim_no_b0.py
    # covers the fitted case)
    b = np.array([100, 200, 400, 600, 800.0])
    y = ivim_signal(b, 1000.0, 1.2e-3, 0.04, 0.15)
    maps = fit_ivim(b, y[None].repeat(3, 0))
    assert (maps.status == FitStatus.INVALID_INPUT).all()
    assert np.isnan(maps.D_mm2_s).all() and np.isnan(maps.f_fraction).all() and np.isnan(maps.S0).all()
    assert np.isfinite(maps.ADC_mm2_s).all()
    assert maps.s0_fitted and "IVIM not fitted" in maps.warnings[0]
    adc = fit_ivim(b, y, method="adc")
    assert adc.status == FitStatus.OK and np.isfinite(adc.ADC_mm2_s) and not adc.warnings


def test_rising_signal_gives_adc_zero_on_bound():
    maps = fit_ivim(B, 1000 * np.exp(B * 1e-4), method="adc")
    assert maps.status == FitStatus.HIT_BOUND and maps.ADC_mm2_s == 0.0


@pytest.mark.parametrize(
    ("b", "y", "kwargs", "match"),
    [
        (B, np.ones((4, 7)), {}, "last axis"),
        (B, np.ones(9), {}, "last axis"),
        (np.array([0, 0, 800.0]), np.array([1.0, 0.9, 0.4]), {}, "at least 3 distinct"),
        (np.array([0, 800.0]), np.array([1.0, 0.4]), {}, "at least 3 distinct"),
        (np.array([800.0]), np.array([0.4]), {"method": "adc"}, "at least 2"),
        (np.array([-50, 0, 400, 800.0]), np.ones(4), {}, ">= 0"),
        (np.array([0, np.nan, 400, 800.0]), np.ones(4), {}, "finite"),
        (B, GOOD, {"method": "bogus"}, "unknown method"),
        (B, GOOD, {"b_threshold_s_mm2": 700}, "at least 2 b-values >= the threshold"),
        (B, GOOD, {"b_threshold_s_mm2": 0}, "positive"),
        (B, np.tile(GOOD, (3, 1)), {"mask": np.ones(4, bool)}, "mask shape"),
        (B, GOOD, {"adc_b_range_s_mm2": (900, 1000)}, "ADC needs"),
    ],
)
def test_invalid_calls_raise_clear_value_errors(b, y, kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_ivim(b, y, **kwargs)


def test_prior_dstar_where_f_is_zero_is_never_a_measurement():
    """``map`` fills D* with its prior's median where f = 0 (a map without holes, status HIT_BOUND); ROI
    statistics and the ROI-mean fit (the models' inputs) treat it as undefined."""
    from VCFDiagnosisLib.ivim import fit_roi_signals, roi_statistics

    y = np.stack([monoexp_signal(B, 1000.0, 1.1e-3), ivim_signal(B, 1000.0, 1.0e-3, 0.05, 0.15)])
    maps = fit_ivim(B, y, method="map", auto_mask=False)
    assert maps.Dstar_mm2_s[0] == VOXEL_DSTAR_PRIOR.median_mm2_s and maps.status[0] == FitStatus.HIT_BOUND
    stats = roi_statistics(maps, np.array([True, True]))
    assert stats["Dstar_mm2_s"]["n"] == 1 and stats["Dstar_mm2_s"]["mean"] == pytest.approx(0.05, rel=1e-4)
    assert np.isnan(fit_roi_signals(B, monoexp_signal(B, 1000.0, 1.1e-3)).Dstar_mm2_s)
    narrow = fit_ivim(B, y[:1], method="map", auto_mask=False, bounds=IvimBounds(Dstar_mm2_s=(0.04, 0.2)))
    assert narrow.Dstar_mm2_s[0] == 0.04  # the prior's median clipped into the user's bounds
