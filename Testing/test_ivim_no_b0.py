"""A DWI without b = 0: S0 is a free parameter, D, D*, f and ADC are reported with a warning.

Before the fix every voxel of such a DWI was INVALID_INPUT (no D, D*, f at all). Now the segmented step
extrapolates S0 from the b-values below the threshold and the NLLS/MAP stages fit it; the maps carry
``s0_fitted`` and the warning "no b = 0: S0 fitted, D*/f less reliable", and a results row flags it.
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from VCFDiagnosisLib.analysis.case_analysis import analyze_roi
from VCFDiagnosisLib.app.cli import main
from VCFDiagnosisLib.dwi.volume import DwiVolume
from VCFDiagnosisLib.ivim import FitStatus, fit_ivim, fit_roi_mean_signal, ivim_signal
from VCFDiagnosisLib.ivim.engine import NO_B0_WARNING

nib = pytest.importorskip("nibabel")

B_NO_0 = np.array([50, 100, 200, 400, 600, 800.0])
TRUTH = {"S0": 1000.0, "D": 1.0e-3, "Dstar": 0.03, "f": 0.15}


def _signal(b=B_NO_0, n: int = 1, snr: float = math.inf, seed: int = 0) -> np.ndarray:
    y = ivim_signal(b, TRUTH["S0"], TRUTH["D"], TRUTH["Dstar"], TRUTH["f"])
    y = np.repeat(y[None], n, axis=0)
    if np.isfinite(snr):
        rng = np.random.default_rng(seed)
        sigma = TRUTH["S0"] / snr
        y = np.abs(y + rng.normal(0, sigma, y.shape) + 1j * rng.normal(0, sigma, y.shape))
    return y


@pytest.mark.parametrize("method", ["segmented", "seg-nlls", "nlls", "map"])
def test_noiseless_signal_without_b0_gives_d_dstar_f_and_a_warning(method):
    maps = fit_ivim(B_NO_0, _signal(), method=method, auto_mask=False)
    assert maps.status[0] in (FitStatus.OK, FitStatus.HIT_BOUND)
    assert maps.D_mm2_s[0] == pytest.approx(TRUTH["D"], rel=0.05)
    exact = method in ("nlls", "map")
    assert maps.f_fraction[0] == pytest.approx(TRUTH["f"], rel=1e-3 if exact else 0.1)
    assert maps.Dstar_mm2_s[0] == pytest.approx(TRUTH["Dstar"], rel=1e-3 if exact else 0.1)
    assert maps.S0[0] == pytest.approx(TRUTH["S0"], rel=1e-3 if exact else 0.05)
    assert np.isfinite(maps.ADC_mm2_s[0])
    assert maps.s0_fitted and maps.warnings and maps.warnings[0].startswith(NO_B0_WARNING)


def test_high_snr_without_b0_recovers_d_within_5_percent_and_f_dstar_reasonably():
    maps = fit_ivim(B_NO_0, _signal(n=2000, snr=200), method="map", auto_mask=False)
    ok = maps.status == FitStatus.OK
    assert ok.mean() > 0.9
    assert np.median(maps.D_mm2_s[ok]) == pytest.approx(TRUTH["D"], rel=0.05)
    assert np.median(maps.f_fraction[ok]) == pytest.approx(TRUTH["f"], rel=0.15)
    assert np.nanmedian(maps.Dstar_mm2_s[ok]) == pytest.approx(TRUTH["Dstar"], rel=0.25)
    # ADC over 50..800 s/mm2 includes some perfusion: above D, below D + f D*
    adc = np.median(maps.ADC_mm2_s[ok])
    assert TRUTH["D"] < adc < TRUTH["D"] + TRUTH["f"] * TRUTH["Dstar"]


def test_with_b0_nothing_changes_no_warning():
    b = np.r_[0.0, B_NO_0]
    maps = fit_ivim(b, _signal(b), method="nlls", auto_mask=False)
    assert not maps.s0_fitted and maps.warnings == []
    assert maps.f_fraction[0] == pytest.approx(TRUTH["f"], rel=1e-6)


def test_too_few_low_b_values_without_b0_gives_adc_only_and_says_why():
    b = np.array([150, 200, 400, 800.0])  # one b-value below the threshold: S0, f, D* cannot all be fitted
    maps = fit_ivim(b, _signal(b, n=3))
    assert (maps.status == FitStatus.INVALID_INPUT).all() and np.isnan(maps.D_mm2_s).all()
    assert np.isfinite(maps.ADC_mm2_s).all()
    assert "IVIM not fitted" in maps.warnings[0]


def test_roi_mean_fit_and_results_row_flag_the_missing_b0():
    signal = _signal(n=40).reshape(2, 4, 5, B_NO_0.size).astype(np.float32)
    fit = fit_roi_mean_signal(B_NO_0, signal, np.ones((2, 4, 5), bool))
    assert fit.D_mm2_s == pytest.approx(TRUTH["D"], rel=1e-3) and fit.warnings
    dwi = DwiVolume(B_NO_0, np.moveaxis(signal, -1, 0), np.diag([1.5, 1.5, 4.0, 1.0]))
    row = analyze_roi(dwi, np.ones((2, 4, 5), bool), "lesion", "case")
    assert "no b = 0: S0 fitted, D*/f less reliable" in row["flags"]
    assert row["status"] == "warning" and row["message"].startswith(NO_B0_WARNING)
    for column in ("D", "Dstar", "f", "ADC"):
        assert np.isfinite(row[column]), column
    assert row["D"] == pytest.approx(TRUTH["D"], rel=0.05)


def test_cli_fit_of_a_nifti_without_b0(tmp_path, capsys):
    volume = np.broadcast_to(_signal()[0], (3, 4, 2, B_NO_0.size))  # (i, j, k, b)
    path = tmp_path / "dwi.nii.gz"
    nib.save(nib.Nifti1Image(volume.astype(np.float32), np.diag([1.5, 1.5, 4.0, 1.0])), path)
    (tmp_path / "dwi.bval").write_text(" ".join(f"{b:g}" for b in B_NO_0))
    assert main(["fit", "--dwi", str(path), "--out", str(tmp_path / "maps")]) == 0
    assert NO_B0_WARNING in capsys.readouterr().out
    d = np.asarray(nib.load(tmp_path / "maps" / "D.nii.gz").dataobj)
    f = np.asarray(nib.load(tmp_path / "maps" / "f.nii.gz").dataobj)
    np.testing.assert_allclose(d, TRUTH["D"], rtol=0.05)
    np.testing.assert_allclose(f, TRUTH["f"], rtol=0.05)


def test_cli_fit_of_a_dicom_phantom_without_b0(tmp_path, capsys):
    import json

    import pydicom

    from VCFDiagnosisLib.dwi.bvalues import bvalue_from_header
    from VCFDiagnosisLib.phantom import generate_patient

    patient = generate_patient(tmp_path / "p", seed=3, vendor="standard", matrix=32, n_slices=4, snr=math.inf,
                               case_id="nob0")
    folder = tmp_path / "dwi"
    shutil.copytree(patient.case_dir / "dwi", folder)
    for path in folder.iterdir():
        if bvalue_from_header(pydicom.dcmread(path, stop_before_pixels=True)) == 0:
            path.unlink()
    assert main(["fit", "--dwi", str(folder), "--out", str(tmp_path / "maps"), "--method", "nlls"]) == 0
    assert NO_B0_WARNING in capsys.readouterr().out
    truth = json.loads((patient.case_dir / "truth.json").read_text())["lesion"]
    d = np.asarray(nib.load(tmp_path / "maps" / "D.nii.gz").dataobj)
    close = np.abs(d - truth["D_mm2_s"]) < 0.05 * truth["D_mm2_s"]
    assert close.sum() >= 5, "no lesion voxel has D within 5 % of the truth"
