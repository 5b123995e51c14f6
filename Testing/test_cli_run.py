"""``vcfdiagnosis run``: one case headless, its fallbacks and its refusals."""

from __future__ import annotations

import math

import pytest

from VCFDiagnosisLib.analysis.results import read_results_tsv
from VCFDiagnosisLib.app.cli import main


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    from VCFDiagnosisLib.phantom import generate_patient

    return generate_patient(tmp_path_factory.mktemp("run"), seed=12, group="metastatic", vendor="standard",
                            matrix=80, n_slices=8, snr=math.inf)


def test_run_without_roi_uses_the_mrs_voxel(scene, patient, tmp_path, capsys):
    out = tmp_path / "case"
    assert main(["run", "--dwi", str(patient.dwi_dir), "--spectrum", str(patient.mrs_dicom_path), "--case-id", "c12",
                 "--out", str(out), "--no-report", "--maps", "none"]) == 0
    row = read_results_tsv(out / "results.tsv")[0]
    assert row["roi"] == "MRS voxel" and row["case_id"] == "c12"
    assert row["mrs_roi_distance_mm"] < 3 and row["roi_fraction_in_mrs_voxel"] == pytest.approx(1.0)
    # a 15 mm cube on a ~4.25 mm x 4.25 mm x 5.5 mm grid
    assert 15 <= row["roi_voxels"] <= 60
    assert row["FF"] == pytest.approx(patient.truth["lesion"]["FF_percent"], abs=1.0)
    assert not (out / "report.png").exists() and not (out / "maps").exists()
    assert "P_combined" in capsys.readouterr().out


def test_run_refuses_missing_inputs_and_a_used_folder(scene, patient, tmp_path, capsys):
    # bad input exits 2 with one line "vcfdiagnosis run: error: <what>: <problem>" (the CLI contract)
    assert main(["run", "--dwi", str(patient.dwi_dir), "--out", str(tmp_path / "a")]) == 2
    assert "vcfdiagnosis run: error: --roi/--spectrum: an ROI (--roi) or a spectrum" in capsys.readouterr().err
    used = tmp_path / "used"
    used.mkdir()
    (used / "results.tsv").write_text("old results\n")
    assert main(["run", "--dwi", str(patient.dwi_dir), "--roi", str(patient.label_path), "--out", str(used)]) == 2
    assert "not empty and not a VCFDiagnosis case folder" in capsys.readouterr().err
    # --force never replaces a folder that this program did not write
    assert main(["run", "--dwi", str(patient.dwi_dir), "--roi", str(patient.label_path), "--out", str(used),
                 "--force"]) == 2
    assert "not a VCFDiagnosis case folder" in capsys.readouterr().err
    assert (used / "results.tsv").read_text() == "old results\n"
    assert main(["run", "--dwi", str(tmp_path / "nowhere"), "--roi", str(patient.label_path),
                 "--out", str(tmp_path / "b")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_run_with_force_replaces_outputs(scene, patient, tmp_path):
    out = tmp_path / "forced"
    args = ["run", "--dwi", str(patient.dwi_dir), "--roi", str(patient.label_path), "--out", str(out), "--no-report",
            "--case-id", "forced"]
    assert main(args) == 0
    scene.Clear(0)
    assert main(args + ["--force"]) == 0
    assert read_results_tsv(out / "results.tsv")[0]["case_id"] == "forced"
