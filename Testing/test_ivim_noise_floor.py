"""The Rician noise floor (its mean, its inversion, the background noise estimate) and the ROI-mean fit built on it.

Truth: Monte Carlo draws of complex Gaussian noise, phantom images with a known noise SD, and the study's
Table 3 group means; the ROI prior's median must stay the geometric mean of the study's two D* means.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from VCFDiagnosisLib.analysis.case_analysis import analyze_roi
from VCFDiagnosisLib.analysis.study_models import METASTATIC, OSTEOPOROTIC, TABLE3
from VCFDiagnosisLib.ivim import (
    ROI_DSTAR_PRIOR,
    VOXEL_DSTAR_PRIOR,
    DstarPrior,
    background_noise_sigma,
    dwi_background_noise,
    fit_ivim,
    fit_roi_signals,
    images_per_bvalue,
    ivim_signal,
    rician_mean,
    rician_mean_to_signal,
)
from VCFDiagnosisLib.phantom import simulate_patient
from VCFDiagnosisLib.phantom.dwi_signal import noise_sigma_for_snr

B = np.array([0, 50, 100, 150, 200, 400, 600, 800.0])


@pytest.mark.parametrize("signal", [0.0, 0.5, 1.0, 2.0, 5.0, 30.0])
def test_rician_mean_equals_the_monte_carlo_mean_and_inverts(signal):
    rng = np.random.default_rng(7)
    draws = np.abs(signal + rng.standard_normal(400_000) + 1j * rng.standard_normal(400_000))
    assert rician_mean(signal, 1.0) == pytest.approx(draws.mean(), abs=4 * draws.std() / math.sqrt(draws.size))
    assert rician_mean_to_signal(rician_mean(signal, 1.0), 1.0) == pytest.approx(signal, abs=1e-9)
    assert rician_mean(0.0, 1.0) == pytest.approx(math.sqrt(math.pi / 2))


def test_inversion_per_b_value_keeps_unknown_noise_and_nan():
    means = np.array([[1.0, 2.0, np.nan, 0.5]])
    out = rician_mean_to_signal(means, np.array([0.0, 0.5, 1.0, 1.0]))
    assert out[0, 0] == 1.0  # sigma 0: unchanged
    assert out[0, 1] == pytest.approx(1.934, abs=1e-3) and rician_mean(out[0, 1], 0.5) == pytest.approx(2.0)
    assert np.isnan(out[0, 2])
    assert out[0, 3] == 0.0  # below the pure-noise mean sigma sqrt(pi/2): no signal
    np.testing.assert_array_equal(rician_mean_to_signal(means, np.nan), means)  # unknown noise: unchanged


@pytest.mark.parametrize("signal", [0.0, 1.0, 3.0, 10.0])
def test_trace_mean_of_three_directions_equals_the_monte_carlo_mean_and_inverts(signal):
    rng = np.random.default_rng(9)
    draws = np.abs(signal + rng.standard_normal((3, 300_000)) + 1j * rng.standard_normal((3, 300_000)))
    trace = np.exp(np.log(draws).mean(axis=0))
    assert rician_mean(signal, 1.0, 3) == pytest.approx(trace.mean(), abs=4 * trace.std() / math.sqrt(trace.size))
    assert rician_mean_to_signal(rician_mean(signal, 1.0, 3), 1.0, 3) == pytest.approx(signal, abs=1e-9)
    if signal == 0.0:  # pure noise: its coefficient of variation is the shape check's reference
        from VCFDiagnosisLib.ivim.noise_floor import background_cv

        assert trace.std() / trace.mean() == pytest.approx(float(background_cv(3)), rel=0.01)


def test_images_per_bvalue_reads_how_each_image_was_made():
    combination = {"0": "single image", "0.5": "mean of 2 repeats", "50": "scanner trace",
                   "800": "geometric mean of 6 directional images (trace)"}
    np.testing.assert_array_equal(images_per_bvalue(combination, [0, 0.5, 50, 800]), [1, 1, 3, 6])
    assert images_per_bvalue(None, [0, 50]) is None
    assert images_per_bvalue({"0": "single image"}, [0, 50]) is None  # a b-value without a record: unknown


@pytest.mark.parametrize("snr", [20, 80])
def test_background_noise_sd_of_a_phantom_is_its_true_sd(snr):
    """The phantom's b > 0 images are 3-direction traces, as its DICOM says: the estimate knows it."""
    patient = simulate_patient(seed=4, group=METASTATIC, snr=snr, matrix=64, n_slices=6)
    noise = dwi_background_noise(patient.dwi)
    assert noise is not None and noise.sigma.shape == (B.size,)
    np.testing.assert_array_equal(noise.images, [1] + [3] * (B.size - 1))
    np.testing.assert_allclose(noise.sigma, noise_sigma_for_snr(snr), rtol=0.03)
    np.testing.assert_allclose(noise.image_sd[1:], noise.sigma[1:] / math.sqrt(3))


def test_no_noise_estimate_for_a_zeroed_background_or_a_few_voxels():
    patient = simulate_patient(seed=4, group=METASTATIC, snr=40, matrix=64, n_slices=6)
    signal = patient.dwi.signal_last().reshape(-1, B.size).astype(float)
    body = signal.mean(axis=1) > 0.3 * np.percentile(signal.mean(axis=1), 99)
    masked = np.where(body[:, None], signal, 0.0)  # a scanner's background suppression
    assert background_noise_sigma(masked) is None
    assert background_noise_sigma(signal[:150]) is None
    # a zero-filled background beside a dim tissue that does not decay (fat): a class, but not noise
    fat = np.zeros_like(masked)
    fat[::10] = 40.0 * (1 + 0.07 * np.random.default_rng(3).standard_normal(fat[::10].shape))
    assert background_noise_sigma(np.where(body[:, None], signal, fat)) is None


def _roi_means(group: str, snr: float, voxels: int, reps: int, seed: int = 0) -> tuple[np.ndarray, dict]:
    table = {k: v[0] for k, v in TABLE3[group].items()}
    clean = ivim_signal(B, 1.0, table["D_mm2_s"], table["Dstar_mm2_s"], table["f_fraction"])
    rng = np.random.default_rng(seed)
    noise = (rng.standard_normal((reps, voxels, B.size)) + 1j * rng.standard_normal((reps, voxels, B.size))) / snr
    return np.abs(clean + noise).mean(axis=1), table


def test_removing_the_noise_floor_removes_the_bias_of_the_roi_mean_fit():
    # osteoporotic marrow, voxel SNR 20, 150-voxel ROI: the plain mean decays too slowly at high b
    means, truth = _roi_means(OSTEOPOROTIC, 20, 150, 300)
    plain = fit_ivim(B, means, method="nlls", auto_mask=False)
    corrected = fit_roi_signals(B, means, method="nlls", noise_sigma=1 / 20)
    plain_bias = np.median(plain.D_mm2_s) / truth["D_mm2_s"] - 1
    corrected_bias = np.median(corrected.D_mm2_s) / truth["D_mm2_s"] - 1
    assert plain_bias < -0.012  # about -2 %: the floor is real
    assert abs(corrected_bias) < 0.005
    assert abs(np.median(corrected.f_fraction) / truth["f_fraction"] - 1) < 0.01


@pytest.mark.parametrize("group", [OSTEOPOROTIC, METASTATIC])
def test_roi_fit_median_dstar_is_unbiased_in_both_groups_at_moderate_snr(group):
    # voxel SNR 40, 60 voxels (the grid, where D* is identifiable): |median bias| <= 3 %
    means, truth = _roi_means(group, 40, 60, 1000, seed=3)
    fitted = fit_roi_signals(B, means, noise_sigma=1 / 40).Dstar_mm2_s
    assert np.isfinite(fitted).all()
    assert abs(np.median(fitted) / truth["Dstar_mm2_s"] - 1) <= 0.03


def test_a_prior_centred_on_one_side_biases_metastatic_dstar_low_where_the_roi_prior_does_not():
    means, truth = _roi_means(METASTATIC, 20, 60, 1000, seed=5)
    # the voxel maps' prior before issue 13: log-normal, median 0.03 (the osteoporotic side), log-SD 1
    voxel_prior = fit_ivim(B, means, auto_mask=False, dstar_prior=DstarPrior(0.03, 1.0)).Dstar_mm2_s
    roi_prior = fit_roi_signals(B, means, noise_sigma=1 / 20).Dstar_mm2_s
    assert np.median(voxel_prior) / truth["Dstar_mm2_s"] - 1 < -0.06
    assert abs(np.median(roi_prior) / truth["Dstar_mm2_s"] - 1) < 0.05


def test_roi_prior_is_flat_between_the_study_groups_mean_dstar():
    dstar = [TABLE3[g]["Dstar_mm2_s"][0] for g in (OSTEOPOROTIC, METASTATIC)]
    assert ROI_DSTAR_PRIOR.flat_lower_mm2_s == pytest.approx(dstar[0], rel=1e-12)
    assert ROI_DSTAR_PRIOR.flat_upper_mm2_s == pytest.approx(dstar[1], rel=1e-12)
    assert ROI_DSTAR_PRIOR.median_mm2_s == pytest.approx(math.sqrt(dstar[0] * dstar[1]), rel=1e-12)
    assert ROI_DSTAR_PRIOR.log_sd > VOXEL_DSTAR_PRIOR.log_sd  # softer tails: a lesion outside is pulled less
    y = ivim_signal(B, 1.0, 1e-3, 0.03, 0.1)
    with pytest.raises(ValueError, match="log_sd"):
        fit_ivim(B, y, dstar_prior=DstarPrior(0.03, 0.0))
    with pytest.raises(ValueError, match="flat_ratio"):
        fit_ivim(B, y, dstar_prior=DstarPrior(0.03, 1.0, 0.5))


def test_flat_prior_keeps_the_unregularised_fit_inside_its_interval_and_pulls_towards_it_outside():
    # the weakest cell of the issue's grid: metastatic lesion, voxel SNR 20, 30 voxels (D*'s Cramer-Rao SD 60 %)
    means, truth = _roi_means(METASTATIC, 20, 30, 4000, seed=7)
    shipped = fit_roi_signals(B, means, noise_sigma=1 / 20).Dstar_mm2_s
    free = fit_roi_signals(B, means, method="nlls", noise_sigma=1 / 20).Dstar_mm2_s
    lo, hi = ROI_DSTAR_PRIOR.flat_lower_mm2_s, ROI_DSTAR_PRIOR.flat_upper_mm2_s
    inside, above, below = (free > lo) & (free < hi), free > hi, free < lo
    assert inside.sum() > 1000 and above.sum() > 1000 and below.sum() > 50
    # inside: the same estimate up to the fits' convergence tolerance (the prior adds nothing there)
    assert np.abs(shipped[inside] / free[inside] - 1).max() < 0.02
    assert np.median(np.abs(shipped[inside] / free[inside] - 1)) < 1e-3
    # outside: pulled towards the interval, never across its edge
    assert np.all(shipped[above] >= 0.98 * hi) and np.all(shipped[above] <= 1.02 * free[above])
    assert np.all(shipped[below] <= 1.02 * lo) and np.all(shipped[below] >= 0.98 * free[below])
    # so the median is the unregularised fit's, with a fifth of its spread
    assert np.isfinite(shipped).all()
    assert abs(np.median(shipped) / truth["Dstar_mm2_s"] - 1) <= 0.03
    assert abs(np.median(shipped) / np.median(free) - 1) <= 0.01
    iqr = {name: np.subtract(*np.percentile(x, [75, 25])) for name, x in (("shipped", shipped), ("free", free))}
    assert iqr["shipped"] < iqr["free"] / 4


def test_case_row_reports_the_noise_sd_and_none_means_no_correction():
    patient = simulate_patient(seed=2, group=OSTEOPOROTIC, snr=30, matrix=64, n_slices=6)
    row = analyze_roi(patient.dwi, patient.lesion_mask, "lesion", patient.case_id)
    assert row["noise_sd"] == pytest.approx(noise_sigma_for_snr(30), rel=0.03)
    plain = analyze_roi(patient.dwi, patient.lesion_mask, "lesion", patient.case_id, noise=None)
    assert math.isnan(plain["noise_sd"])
    assert plain["D"] < row["D"]  # the floor left in flattens the decay
    # unknown provenance (e.g. a NIfTI file): the noise is not used to correct, and the row says so
    unknown = type(patient.dwi)(patient.dwi.bvalues_s_mm2, patient.dwi.data, patient.dwi.ijk_to_ras, {})
    assert math.isnan(analyze_roi(unknown, patient.lesion_mask, "lesion", "x")["noise_sd"])


def test_duplicated_b_values_with_one_noise_sd_per_column_are_fitted():
    b = np.array([0, 50, 50, 100, 200, 400, 800.0])
    y = ivim_signal(b, 1000.0, 1e-3, 0.03, 0.12)[None].repeat(4, 0)
    maps = fit_ivim(b, y, noise_sigma=np.full(b.size, 10.0))
    assert maps.D_mm2_s == pytest.approx(np.full(4, 1e-3), rel=1e-4)


def test_known_noise_map_fit_of_a_volume_is_as_accurate_and_fit_dwi_volume_uses_the_background():
    """With the noise SD from the background, ``map`` weighs its prior by the true noise and fits once (the
    volume path): its error against the phantom's truth is no worse than with the residual estimate."""
    from VCFDiagnosisLib.dwi.volume import DwiVolume
    from VCFDiagnosisLib.ivim import fit_dwi_volume

    rng = np.random.default_rng(12)
    shape = (4, 64, 64)
    jj, ii = np.meshgrid(np.linspace(-1, 1, 64), np.linspace(-1, 1, 64), indexing="ij")
    body = np.broadcast_to(jj**2 + ii**2 <= 0.8, shape)
    n = int(body.sum())
    truth = {"D_mm2_s": rng.uniform(0.4e-3, 1.8e-3, n), "Dstar_mm2_s": rng.uniform(0.01, 0.08, n),
             "f_fraction": rng.uniform(0.05, 0.3, n)}
    clean = np.zeros(shape + (B.size,))
    clean[body] = ivim_signal(B, 1000.0, truth["D_mm2_s"], truth["Dstar_mm2_s"], truth["f_fraction"])
    sigma = 1000.0 / 30
    noisy = np.abs(clean + sigma * (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape)))
    estimate = background_noise_sigma(noisy.reshape(-1, B.size))
    np.testing.assert_allclose(estimate, sigma, rtol=0.04)
    residual = fit_ivim(B, noisy)
    known = fit_ivim(B, noisy, noise_sigma=estimate)
    for name, values in truth.items():
        rmse = {label: np.sqrt(np.mean((getattr(maps, name)[body] - values) ** 2))
                for label, maps in (("residual", residual), ("known", known))}
        assert rmse["known"] <= 1.02 * rmse["residual"], (name, rmse)
    dwi = DwiVolume(B, np.moveaxis(noisy, -1, 0).astype(np.float32), np.eye(4), {})
    volume = fit_dwi_volume(dwi)
    direct = fit_ivim(B, dwi.signal_last(), noise_sigma=dwi_background_noise(dwi).image_sd)
    np.testing.assert_array_equal(volume.Dstar_mm2_s, direct.Dstar_mm2_s)


def test_decay_curves_show_the_mean_the_fit_fitted():
    """With a noise-floor correction the decay plot gets the floor-free means (what the ROI fit fitted) beside the
    measured ones; the report's decay panel labels them."""
    from VCFDiagnosisLib.analysis import report
    from VCFDiagnosisLib.analysis.decay import roi_decay_curves

    patient = simulate_patient(seed=2, group=OSTEOPOROTIC, snr=20, matrix=64, n_slices=6)
    noise = dwi_background_noise(patient.dwi)
    row = analyze_roi(patient.dwi, patient.lesion_mask, "lesion", patient.case_id, noise=noise)
    curves = roi_decay_curves(patient.dwi, {"lesion": patient.lesion_mask}, [row], noise=noise)
    roi = curves.rois[0]
    np.testing.assert_allclose(roi.floor_free, rician_mean_to_signal(roi.mean, noise.sigma, noise.images))
    assert (roi.floor_free < roi.mean).all()
    # at high b the floor of a 3-direction trace is about sigma^2 / (6 A)
    sigma = float(noise.sigma[-1])
    assert roi.mean[-1] - roi.floor_free[-1] == pytest.approx(sigma**2 / (6 * roi.floor_free[-1]), rel=0.3)
    assert roi_decay_curves(patient.dwi, {"lesion": patient.lesion_mask}, [row]).rois[0].floor_free is None
    figure = report.build_case_figure(case_id="x", dwi=patient.dwi, masks={"lesion": patient.lesion_mask},
                                      rows=[row], decay=curves)
    decay_axes = next(ax for ax in figure.axes if ax.get_label() == "decay")
    labels = [text.get_text() for text in decay_axes.get_legend().get_texts()]
    assert labels == ["lesion mean +- SD, IVIM fit", "lesion mean without noise floor (fitted)"]
