"""IVIM engine: exact recovery on noiseless signals, ADC known answers, conventions, API contract."""

from __future__ import annotations

import numpy as np
import pytest

from VCFDiagnosisLib.ivim import (
    DEFAULT_METHOD,
    METHODS,
    FitStatus,
    IvimBounds,
    dstar_pseudo_from_total,
    dstar_total_from_pseudo,
    fit_ivim,
    ivim_signal,
    monoexp_signal,
)

B_STUDY = np.array([0, 50, 100, 150, 200, 400, 600, 800], dtype=float)


def _truth(n: int, seed: int, dstar=(0.01, 0.1)):
    rng = np.random.default_rng(seed)
    return {
        "D": rng.uniform(0.3e-3, 3e-3, n),
        "Dstar": rng.uniform(*dstar, n),
        "f": rng.uniform(0.02, 0.4, n),
        "S0": rng.uniform(500, 2000, n),
    }


def _check(maps, t, rtol):
    np.testing.assert_allclose(maps.D_mm2_s, t["D"], rtol=rtol)
    np.testing.assert_allclose(maps.Dstar_mm2_s, t["Dstar"], rtol=rtol)
    np.testing.assert_allclose(maps.f_fraction, t["f"], rtol=rtol)
    np.testing.assert_allclose(maps.S0, t["S0"], rtol=rtol)


@pytest.mark.parametrize("method", ["nlls", "map"])
def test_full_fits_recover_noiseless_parameters_exactly(method):
    t = _truth(3000, seed=1)
    y = ivim_signal(B_STUDY, t["S0"], t["D"], t["Dstar"], t["f"])
    maps = fit_ivim(B_STUDY, y, method=method)
    assert (maps.status == FitStatus.OK).all()
    _check(maps, t, rtol=1e-6)
    np.testing.assert_allclose(maps.R2, 1.0, atol=1e-12)


@pytest.mark.parametrize("method", ["segmented", "seg-nlls"])
def test_segmented_fits_recover_noiseless_parameters_when_perfusion_has_decayed(method):
    # exact only if the perfusion term is gone at b >= threshold: D* >= 0.06 gives exp(-12) at b = 200
    t = _truth(2000, seed=2, dstar=(0.06, 0.15))
    y = ivim_signal(B_STUDY, t["S0"], t["D"], t["Dstar"], t["f"])
    maps = fit_ivim(B_STUDY, y, method=method)
    assert (maps.status == FitStatus.OK).all()
    np.testing.assert_allclose(maps.D_mm2_s, t["D"], rtol=2e-4)
    np.testing.assert_allclose(maps.f_fraction, t["f"], rtol=2e-3)
    np.testing.assert_allclose(maps.Dstar_mm2_s, t["Dstar"], rtol=5e-3)
    np.testing.assert_allclose(maps.S0, t["S0"], rtol=1e-6)


def test_segmented_threshold_is_configurable_and_changes_the_d_estimate():
    y = ivim_signal(B_STUDY, 1000.0, 1.2e-3, 0.02, 0.2)  # slow D*: residual perfusion at b = 200
    d200 = fit_ivim(B_STUDY, y, method="segmented", b_threshold_s_mm2=200).D_mm2_s
    d400 = fit_ivim(B_STUDY, y, method="segmented", b_threshold_s_mm2=400).D_mm2_s
    assert abs(d400 - 1.2e-3) < 1e-6 < abs(d200 - 1.2e-3)


def test_study_worked_examples_are_recovered_by_the_default_method():
    # Tan et al. 2019 Fig. 2 (osteoporotic) and Fig. 3 (metastatic)
    d = np.array([1.65e-3, 1.17e-3])
    ds = np.array([1.84e-2, 6.44e-2])
    f = np.array([0.128, 0.092])
    maps = fit_ivim(B_STUDY, ivim_signal(B_STUDY, 900.0, d, ds, f))
    assert maps.method == DEFAULT_METHOD == "map"
    np.testing.assert_allclose(maps.D_mm2_s, d, rtol=1e-6)
    np.testing.assert_allclose(maps.Dstar_mm2_s, ds, rtol=1e-6)
    np.testing.assert_allclose(maps.f_fraction, f, rtol=1e-6)


def test_adc_known_answers():
    # mono-exponential: ADC and S0 exactly
    y = monoexp_signal(B_STUDY, [1000.0, 250.0], [1.0e-3, 2.5e-3])
    maps = fit_ivim(B_STUDY, y, method="adc")
    np.testing.assert_allclose(maps.ADC_mm2_s, [1.0e-3, 2.5e-3], rtol=1e-12)
    np.testing.assert_allclose(maps.S0, [1000.0, 250.0], rtol=1e-12)
    assert np.isnan(maps.D_mm2_s).all() and (maps.status == FitStatus.OK).all()
    np.testing.assert_allclose(maps.R2, 1.0)
    # two points: ADC = ln(S1/S2) / (b2 - b1)
    two = fit_ivim([0, 800], [1000.0, 400.0], method="adc")
    assert two.ADC_mm2_s == pytest.approx(np.log(1000 / 400) / 800, rel=1e-12)
    # bi-exponential signal: the documented estimator = log-linear fit weighted by the model^2
    y = ivim_signal(B_STUDY, 1000.0, 1.0e-3, 0.05, 0.2)
    c1 = np.polynomial.polynomial.polyfit(B_STUDY, np.log(y), 1, w=y)  # weights y^2 on squared residuals
    model = np.exp(c1[0] + c1[1] * B_STUDY)
    c2 = np.polynomial.polynomial.polyfit(B_STUDY, np.log(y), 1, w=model)
    assert fit_ivim(B_STUDY, y, method="adc").ADC_mm2_s == pytest.approx(-c2[1], rel=1e-10)


def test_adc_range_selects_b_values():
    y = ivim_signal(B_STUDY, 1000.0, 1.0e-3, 0.05, 0.2)
    maps = fit_ivim(B_STUDY, y, method="nlls", adc_b_range_s_mm2=(200, 800))
    hi = B_STUDY >= 200
    expected = -np.polyfit(B_STUDY[hi], np.log(y[hi]), 1, w=y[hi])[0]
    # two-pass weights; at b >= 200 the signal is nearly mono-exponential (D = 1e-3)
    assert maps.ADC_mm2_s == pytest.approx(expected, rel=1e-4)
    assert maps.ADC_mm2_s == pytest.approx(1.0e-3, rel=2e-3)
    assert fit_ivim(B_STUDY, y, method="nlls").ADC_mm2_s > 1.2e-3  # all b: perfusion raises the ADC


def test_dstar_convention_conversion_round_trip():
    d, ds_total = 1.0e-3, 0.03
    pseudo = dstar_pseudo_from_total(ds_total, d)
    assert pseudo == pytest.approx(0.029)
    assert dstar_total_from_pseudo(pseudo, d) == pytest.approx(ds_total)
    b = B_STUDY
    other = 1000 * (0.9 * np.exp(-b * d) + 0.1 * np.exp(-b * (d + pseudo)))
    np.testing.assert_allclose(ivim_signal(b, 1000, d, ds_total, 0.1), other, rtol=1e-14)


def test_any_leading_shape_and_b_on_last_axis():
    t = _truth(24, seed=5)
    y = ivim_signal(B_STUDY, t["S0"], t["D"], t["Dstar"], t["f"]).reshape(2, 3, 4, B_STUDY.size)
    maps = fit_ivim(B_STUDY, y, method="nlls")
    assert maps.D_mm2_s.shape == (2, 3, 4) and maps.status.dtype == np.uint8
    np.testing.assert_allclose(maps.D_mm2_s.reshape(-1), t["D"], rtol=1e-6)
    scalar = fit_ivim(B_STUDY, y[1, 2, 3], method="nlls")
    assert scalar.D_mm2_s.shape == () and scalar.D_mm2_s == pytest.approx(t["D"][-1], rel=1e-6)


def test_unsorted_and_duplicated_b_values_are_sorted_and_averaged():
    t = _truth(50, seed=6)
    y = ivim_signal(B_STUDY, t["S0"], t["D"], t["Dstar"], t["f"])
    b_dup = np.concatenate([B_STUDY, [800.0, 0.0]])
    rng = np.random.default_rng(0)
    y_dup = np.concatenate([y, y[:, [-1]] * 1.02, y[:, [0]] * 0.98], axis=1)  # repeats averaged
    order = rng.permutation(b_dup.size)
    maps = fit_ivim(b_dup[order], y_dup[:, order], method="nlls")
    np.testing.assert_array_equal(maps.bvalues_s_mm2, B_STUDY)
    y_avg = y.copy()
    y_avg[:, -1] *= 1.01
    y_avg[:, 0] *= 0.99
    ref = fit_ivim(B_STUDY, y_avg, method="nlls")
    np.testing.assert_allclose(maps.D_mm2_s, ref.D_mm2_s, rtol=1e-9)
    np.testing.assert_allclose(maps.f_fraction, ref.f_fraction, rtol=1e-9)


def test_methods_and_bounds_are_documented_and_respected():
    assert set(METHODS) == {"map", "nlls", "seg-nlls", "segmented", "adc"}
    bounds = IvimBounds()
    assert bounds.D_mm2_s == (0.0, 5e-3) and bounds.Dstar_mm2_s == (5e-3, 0.2)
    rng = np.random.default_rng(9)
    y = ivim_signal(B_STUDY, 1000, 1e-3, 0.03, 0.15) + rng.normal(0, 40, (500, B_STUDY.size))
    tight = IvimBounds(D_mm2_s=(0.8e-3, 1.1e-3), Dstar_mm2_s=(0.02, 0.04), f_fraction=(0.1, 0.2))
    for method in ("segmented", "nlls", "map"):
        maps = fit_ivim(B_STUDY, np.abs(y), method=method, bounds=tight)
        fitted = np.isin(maps.status, [FitStatus.OK, FitStatus.HIT_BOUND, FitStatus.NOT_CONVERGED])
        assert fitted.all()
        for name, (lo, hi) in (("D_mm2_s", tight.D_mm2_s), ("Dstar_mm2_s", tight.Dstar_mm2_s),
                               ("f_fraction", tight.f_fraction)):
            v = getattr(maps, name)
            assert np.nanmin(v) >= lo - 1e-15 and np.nanmax(v) <= hi + 1e-15, (method, name)
        on_bound = (np.isclose(maps.D_mm2_s, 0.8e-3, rtol=1e-9, atol=0)
                    | np.isclose(maps.D_mm2_s, 1.1e-3, rtol=1e-9, atol=0))
        assert on_bound.sum() > 10
        assert np.isin(maps.status[on_bound], [FitStatus.HIT_BOUND, FitStatus.NOT_CONVERGED]).all()
        assert (maps.status[on_bound] == FitStatus.HIT_BOUND).mean() > 0.9
    with pytest.raises(ValueError, match="Dstar"):
        fit_ivim(B_STUDY, y, bounds=IvimBounds(Dstar_mm2_s=(1e-3, 0.1)))


def test_noisy_fit_is_unbiased_enough_and_threads_do_not_change_results():
    rng = np.random.default_rng(11)
    n = 6000
    clean = ivim_signal(B_STUDY, 1000.0, 1.0e-3, 0.04, 0.15)
    noisy = np.abs(clean + rng.normal(0, 1000 / 50, (n, B_STUDY.size)))
    one = fit_ivim(B_STUDY, noisy, method="nlls", n_threads=1)
    two = fit_ivim(B_STUDY, noisy, method="nlls", n_threads=2, chunk_size=1000)
    np.testing.assert_array_equal(one.status, two.status)
    np.testing.assert_allclose(one.D_mm2_s, two.D_mm2_s, rtol=1e-12)
    assert np.median(one.D_mm2_s) == pytest.approx(1.0e-3, rel=0.03)
    assert np.median(one.f_fraction) == pytest.approx(0.15, abs=0.02)


def test_progress_is_reported_per_chunk_and_cancel_stops_the_fit():
    """A panel's progress bar and Cancel button: one report before each chunk, then 1.0; returning False raises
    FitCancelled; reporting changes no number, the MAP method's chunk-wise noise floor included."""
    from VCFDiagnosisLib.ivim.engine import BLOCK_SIZE, FitCancelled

    rng = np.random.default_rng(3)
    t = _truth(3 * BLOCK_SIZE, seed=5)
    signal = ivim_signal(B_STUDY, t["S0"][:, None], t["D"][:, None], t["Dstar"][:, None], t["f"][:, None])
    signal = np.abs(signal + rng.normal(0, 20, signal.shape))
    seen = []
    maps = fit_ivim(B_STUDY, signal, method="map", chunk_size=BLOCK_SIZE,
                    progress=lambda f, m: seen.append((f, m)) or True)
    assert [round(f, 6) for f, _ in seen] == [0.0, round(1 / 3, 6), round(2 / 3, 6), 1.0]
    assert seen[1][1] == f"IVIM fit: {BLOCK_SIZE} of {3 * BLOCK_SIZE} voxels"
    direct = fit_ivim(B_STUDY, signal, method="map", chunk_size=BLOCK_SIZE)
    np.testing.assert_array_equal(maps.status, direct.status)
    for attribute in ("D_mm2_s", "Dstar_mm2_s", "f_fraction"):
        np.testing.assert_array_equal(getattr(maps, attribute), getattr(direct, attribute))
    calls = []
    with pytest.raises(FitCancelled):
        fit_ivim(B_STUDY, signal, method="map", chunk_size=BLOCK_SIZE,
                 progress=lambda f, m: calls.append(f) or f < 0.5)
    assert calls == [0.0, pytest.approx(1 / 3), pytest.approx(2 / 3)]


def test_forked_worker_processes_give_the_threads_results_and_cancel_cleanly():
    """``processes=2`` (the ``fit`` command's default on 2 cores) fits the chunks in forked workers: the same
    numbers as threads, progress per chunk, and a cancel leaves no worker behind."""
    import multiprocessing

    from VCFDiagnosisLib.ivim.engine import BLOCK_SIZE, FitCancelled

    rng = np.random.default_rng(4)
    t = _truth(3 * BLOCK_SIZE, seed=6)
    signal = ivim_signal(B_STUDY, t["S0"][:, None], t["D"][:, None], t["Dstar"][:, None], t["f"][:, None])
    signal = np.abs(signal + rng.normal(0, 20, signal.shape)).astype(np.float32)
    threads = fit_ivim(B_STUDY, signal, chunk_size=BLOCK_SIZE)
    seen = []
    forked = fit_ivim(B_STUDY, signal, chunk_size=BLOCK_SIZE, processes=2, progress=lambda f, m: seen.append(f) or True)
    for name in ("S0", "D_mm2_s", "Dstar_mm2_s", "f_fraction", "ADC_mm2_s", "R2", "status"):
        np.testing.assert_array_equal(getattr(forked, name), getattr(threads, name))
    assert seen == [0.0, pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0]
    with pytest.raises(FitCancelled):
        fit_ivim(B_STUDY, signal, chunk_size=BLOCK_SIZE, processes=2, progress=lambda f, m: f < 0.5)
    assert multiprocessing.active_children() == []
