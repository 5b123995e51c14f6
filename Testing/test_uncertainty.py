"""How sure is a probability (``analysis.uncertainty``): 95 % intervals of P_IVIM / P_combined from resampled ROI
voxels, ``indeterminate`` when the deciding interval contains 0.5, and the intervals' coverage of the truth on
phantoms with known parameters (the full per-SNR table is ``Testing/Benchmarks/bench_probability_coverage.py``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from VCFDiagnosisLib.analysis import study_models
from VCFDiagnosisLib.analysis.case_analysis import analyze_roi
from VCFDiagnosisLib.analysis.settings import CaseSettings
from VCFDiagnosisLib.analysis.uncertainty import probability_intervals, resampled_inputs
from VCFDiagnosisLib.dwi.volume import DwiVolume
from VCFDiagnosisLib.ivim import ivim_signal
from VCFDiagnosisLib.phantom import simulate_patient

B = np.array([0, 50, 100, 150, 200, 400, 600, 800], float)


def _dwi(d: float, dstar: float, f: float, sigma: float, voxels: int = 100, seed: int = 0) -> tuple[DwiVolume, np.ndarray]:
    """A 1 x 10 x 10 DWI of one tissue with Gaussian noise ``sigma`` (S0 1000) and its all-voxel mask."""
    rng = np.random.default_rng(seed)
    clean = ivim_signal(B, 1000.0, d, dstar, f)
    data = clean[:, None, None, None] + rng.normal(0, sigma, (B.size, 1, 10, voxels // 10))
    return DwiVolume(B, np.abs(data).astype(np.float32), np.diag([1.5, 1.5, 5.0, 1.0])), np.ones((1, 10, voxels // 10), bool)


def test_noiseless_roi_gives_a_point_interval_at_the_probability():
    dwi, mask = _dwi(1.2e-3, 0.05, 0.15, sigma=0.0)
    samples = resampled_inputs(B, dwi.signal_last()[mask], CaseSettings())
    intervals = probability_intervals(samples, 18.0, 0.0, study_models.PUBLISHED_MODELS)
    p = study_models.P_IVIM.probability({"D_mm2_s": 1.2e-3, "Dstar_mm2_s": 0.05, "f_fraction": 0.15})
    assert intervals["P_IVIM_lo"] == pytest.approx(p, abs=1e-4)  # float32 signal
    assert intervals["P_IVIM_hi"] - intervals["P_IVIM_lo"] < 1e-6 and intervals["Dstar_sd"] < 1e-6


def test_intervals_are_reproducible_and_widen_with_noise_and_ff_uncertainty():
    settings = CaseSettings()
    widths = []
    for sigma in (10.0, 40.0):
        dwi, mask = _dwi(1.2e-3, 0.05, 0.15, sigma=sigma)
        samples = resampled_inputs(B, dwi.signal_last()[mask], settings)
        first = probability_intervals(samples, 18.0, 1.0, study_models.PUBLISHED_MODELS)
        again = probability_intervals(resampled_inputs(B, dwi.signal_last()[mask], settings), 18.0, 1.0,
                                      study_models.PUBLISHED_MODELS)
        assert first == again, "seeded: the same case gives the same interval"
        widths.append(first["P_IVIM_hi"] - first["P_IVIM_lo"])
        assert first["P_IVIM_lo"] < first["P_IVIM_hi"] and first["Dstar_sd"] > 0
    assert widths[1] > widths[0]
    dwi, mask = _dwi(1.2e-3, 0.05, 0.15, sigma=10.0)
    samples = resampled_inputs(B, dwi.signal_last()[mask], settings)
    narrow = probability_intervals(samples, 18.0, 0.0, study_models.PUBLISHED_MODELS)
    wide = probability_intervals(samples, 18.0, 8.0, study_models.PUBLISHED_MODELS)
    assert (wide["P_combined_hi"] - wide["P_combined_lo"]) > (narrow["P_combined_hi"] - narrow["P_combined_lo"])
    assert math.isnan(probability_intervals(samples, None, None, study_models.PUBLISHED_MODELS)["P_combined_lo"])


def test_a_probability_near_one_half_is_indeterminate():
    """D, D*, f chosen so that the published logit P_IVIM is 0: with noise the interval straddles 0.5."""
    d, f = 1.2e-3, 0.12
    dstar = -(study_models.P_IVIM.intercept + study_models.P_IVIM.coefficients["D_mm2_s"] * d
              + study_models.P_IVIM.coefficients["f_fraction"] * f) / study_models.P_IVIM.coefficients["Dstar_mm2_s"]
    dwi, mask = _dwi(d, dstar, f, sigma=25.0)
    row = analyze_roi(dwi, mask, "lesion", "near-half")
    assert row["prediction"] == "indeterminate" and row["prediction_model"] == "P_IVIM"
    assert row["P_IVIM_lo"] < 0.5 < row["P_IVIM_hi"]
    assert "indeterminate: the 95 % interval of P_IVIM" in row["flags"] and row["status"] == "warning"
    clear = analyze_roi(*_dwi(0.6e-3, 0.08, 0.08, sigma=25.0), "lesion", "clear")
    assert clear["prediction"] == "metastatic" and clear["P_IVIM_lo"] > 0.5


def test_intervals_cover_the_truth_on_phantoms():
    """24 phantoms at voxel SNR 40 with known D, D*, f: the 95 % interval of P_IVIM holds the truth's P_IVIM
    in at least 19 (the seeded cohort gives 19 every run; at a true coverage of 90 %, 19 or more of 24 happen
    with 97 % probability; bench_probability_coverage.py has the per-SNR table on 160 phantoms per band)."""
    covered = 0
    for seed in range(24):
        patient = simulate_patient(seed=seed, group="metastatic" if seed % 2 else "osteoporotic", snr=40,
                                   matrix=64, n_slices=6)
        row = analyze_roi(patient.dwi, patient.lesion_mask, "lesion", patient.case_id)
        lesion = patient.lesion
        truth = study_models.P_IVIM.probability({"D_mm2_s": lesion.D_mm2_s, "Dstar_mm2_s": lesion.Dstar_mm2_s,
                                                 "f_fraction": lesion.f_fraction})
        covered += row["P_IVIM_lo"] <= truth <= row["P_IVIM_hi"]
    assert covered >= 19, covered
