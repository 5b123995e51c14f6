"""Cohort batch runner: broken rows become error rows, the rest is right, an interrupted batch resumes."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from VCFDiagnosisLib.analysis.results import read_results_tsv
from VCFDiagnosisLib.analysis.settings import CaseSettings, setting
from VCFDiagnosisLib.app.cli import main
from VCFDiagnosisLib.batch.runner import DONE_MARKER, read_manifest
from VCFDiagnosisLib.phantom.cohort import cohort_groups, generate_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cohort")
    generate_cohort(root, 4, seed=200, matrix=48, n_slices=5, snr=math.inf)
    return root


def _broken_manifest(cohort: Path, tmp: Path) -> Path:
    """The good manifest plus one row per failure the issue lists."""
    broken = tmp / "broken"
    broken.mkdir()
    corrupt = broken / "corrupt_dicom"
    corrupt.mkdir()
    for i in range(5):
        (corrupt / f"IM{i}.dcm").write_bytes(b"DICM" + os.urandom(200))
    derived = broken / "adc_series"
    derived.mkdir()
    for path in list((cohort / "cohort-001" / "dwi").iterdir()):
        ds = pydicom.dcmread(path)
        ds.ImageType = ["DERIVED", "PRIMARY", "DIFFUSION", "ADC"]
        ds.save_as(derived / path.name)
    spectrum = (cohort / "cohort-001" / "mrs" / "lesion.rda").read_bytes()
    (broken / "truncated.rda").write_bytes(spectrum[: len(spectrum) // 2])
    label = sitk.ReadImage(str(cohort / "cohort-001" / "roi" / "lesion_label.nii.gz"))
    label.SetOrigin([o + 500.0 for o in label.GetOrigin()])
    sitk.WriteImage(label, str(broken / "roi_elsewhere.nii.gz"))
    lines = (cohort / "manifest.tsv").read_text().splitlines()
    rel = os.path.relpath(cohort, tmp)
    good = [line.split("\t") for line in lines[1:]]
    rows = [[r[0]] + [f"{rel}/{v}" if v and i in (0, 1, 2, 5) else v for i, v in enumerate(r[1:])] for r in good]
    rows += [
        ["missing-files", "nowhere/dwi", "nowhere/roi.nii.gz", "", "metastatic", "r1"],
        ["corrupt-dicom", "broken/corrupt_dicom", f"{rel}/cohort-001/roi/lesion_label.nii.gz", "", "metastatic", "r1"],
        ["derived-adc", "broken/adc_series", f"{rel}/cohort-001/roi/lesion_label.nii.gz", "", "osteoporotic", "r1"],
        ["truncated-spectrum", f"{rel}/cohort-001/dwi", f"{rel}/cohort-001/roi/lesion_label.nii.gz",
         "broken/truncated.rda", "osteoporotic", "r1"],
        ["roi-outside", f"{rel}/cohort-001/dwi", "broken/roi_elsewhere.nii.gz", "", "osteoporotic", "r1"],
        [good[1][0], f"{rel}/cohort-002/dwi", "", "", "metastatic", "r1"],  # duplicate case_id
    ]
    manifest = tmp / "manifest.tsv"
    manifest.write_text("\t".join(lines[0].split("\t")) + "\n" + "\n".join("\t".join(r) for r in rows) + "\n")
    return manifest


def test_cohort_groups_follow_the_study_split():
    groups = cohort_groups(70)
    assert groups.count("osteoporotic") == 38 and groups.count("metastatic") == 32
    assert set(cohort_groups(2)) == {"osteoporotic", "metastatic"}


def test_broken_rows_are_exactly_the_errors_and_the_rest_is_right(scene, cohort, tmp_path, capsys):
    manifest = _broken_manifest(cohort, tmp_path)
    assert main(["batch", str(manifest), "--out", str(tmp_path / "out"), "--jobs", "2", "--no-report"]) == 0
    rows = {(r["case_id"], r["roi"]) : r for r in read_results_tsv(tmp_path / "out" / "results.tsv")}
    by_case = {}
    for (case_id, _), row in rows.items():
        by_case.setdefault(case_id, []).append(row)
    expected_errors = {"missing-files": "no such file", "corrupt-dicom": "corrupt_dicom",
                       "derived-adc": "derived", "truncated-spectrum": "truncated.rda",
                       "roi-outside": "no voxel inside the DWI"}
    for case_id, needle in expected_errors.items():
        (row,) = by_case[case_id]
        assert row["status"] == "error", (case_id, row)
        assert needle.lower() in row["message"].lower(), (case_id, row["message"])
    duplicate = [r for r in read_results_tsv(tmp_path / "out" / "results.tsv") if "duplicate" in r["message"]]
    assert len(duplicate) == 1
    truth_rows = read_manifest(cohort / "manifest.tsv")
    for manifest_row in truth_rows:
        good = [r for r in by_case[manifest_row.case_id] if r["status"] != "error"]
        assert len(good) == 1, manifest_row.case_id
        import json

        truth = json.loads((cohort / manifest_row.case_id / "truth.json").read_text())["lesion"]
        assert good[0]["D"] == pytest.approx(truth["D_mm2_s"], rel=0.05)
        assert good[0]["FF"] == pytest.approx(truth["FF_percent"], abs=1.5)
        assert good[0]["label"] == manifest_row.label
    printed = capsys.readouterr().out
    assert "6 with errors" in printed


def test_killed_batch_resumes_without_redoing_or_losing(cohort, tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, "-m", "VCFDiagnosisLib.app.cli", "batch", str(cohort / "manifest.tsv"), "--out", str(out),
               "--jobs", "1", "--no-report"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob(f"*/{DONE_MARKER}"))) < 2:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = {p.parent.name: p.stat().st_mtime_ns for p in out.glob(f"*/{DONE_MARKER}")}
    assert 2 <= len(finished) < 4, finished
    partial = read_results_tsv(out / "results.tsv")  # the aggregate written before the kill is intact...
    assert {r["case_id"] for r in partial if r["status"] != "error"} <= set(finished)
    assert len(partial) >= len(finished) - 1  # ...and lags at most the case finished at the moment of the kill
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"{len(finished)} already finished (skipped)" in result.stdout
    for case, mtime in finished.items():
        assert (out / case / DONE_MARKER).stat().st_mtime_ns == mtime, f"{case} was processed again"
    rows = read_results_tsv(out / "results.tsv")
    assert sorted(r["case_id"] for r in rows) == [f"cohort-{i:03d}" for i in range(1, 5)]
    assert all(r["status"] != "error" for r in rows)


def test_unusable_manifests_exit_non_zero(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("patient,image\nA,B\n")
    assert main(["batch", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "no case_id, dwi column" in capsys.readouterr().err
    assert main(["batch", str(tmp_path / "none.csv"), "--out", str(tmp_path / "o")]) == 2
    empty = tmp_path / "empty.csv"
    empty.write_text("case_id,dwi\n")
    assert main(["batch", str(empty), "--out", str(tmp_path / "o")]) == 2


def test_console_process_batch_gives_a_table_and_keeps_the_scene_clean(logic, scene, cohort, tmp_path):
    events = []
    extended = dataclasses.make_dataclass(  # a setting added in one place travels to every case's record
        "ExtendedSettings", [("smoothing_fwhm_mm", float, setting(0.0, label="Smoothing", unit="mm", minimum=0.0,
                                                                   maximum=10.0, help="smoothing"))],
        bases=(CaseSettings,), frozen=True)
    summary, table = logic.processBatch(str(cohort / "manifest.tsv"), str(tmp_path / "out"),
                                        settings=extended(smoothing_fwhm_mm=1.5), report=False,
                                        progressCallback=events.append)
    assert summary.processed == 4 and summary.errors == 0 and len(events) == 4
    record = json.loads(next((tmp_path / "out").glob(f"*/{DONE_MARKER}")).read_text())
    assert record["settings"] == {**CaseSettings(report=False).to_dict(), "smoothing_fwhm_mm": 1.5}
    assert record["manifest_row"]["case_id"] == record["case_id"] and record["inputs"]["dwi"]
    assert not list((tmp_path / "out").glob("*/report.pdf"))
    assert table.GetNumberOfRows() == 4 and table.GetColumnIndex("label") >= 0
    assert scene.GetNumberOfNodesByClass("vtkMRMLSequenceNode") == 0  # per-case nodes removed
    again, _ = logic.processBatch(str(cohort / "manifest.tsv"), str(tmp_path / "out"), report=False)
    assert again.skipped == 4 and again.processed == 0
    d_column = np.array([float(table.GetCellText(r, table.GetColumnIndex("D"))) for r in range(4)])
    assert np.all((d_column > 2e-4) & (d_column < 3e-3))
    shutil.rmtree(tmp_path / "out")


def test_published_models_on_recovered_values_agree_with_the_truth(scene, tmp_path):
    """A small noisy phantom cohort through batch: the published models' AUC and sensitivity/specificity on
    the recovered values equal those on the phantom truth (the full 70-patient version is bench_cohort.py)."""
    from VCFDiagnosisLib.cohort.truth_agreement import published_models_recovered_vs_truth

    generate_cohort(tmp_path / "cohort", 12, seed=300, matrix=64, n_slices=6, snr=40)
    assert main(["batch", str(tmp_path / "cohort" / "manifest.tsv"), "--out", str(tmp_path / "out"), "--jobs", "2",
                 "--no-report", "--maps", "none"]) == 0
    rows = read_results_tsv(tmp_path / "out" / "results.tsv")
    agreement = published_models_recovered_vs_truth(rows, tmp_path / "cohort")
    assert agreement["n"] == 12
    combined = agreement["P_combined"]
    assert combined["auc_recovered"] == pytest.approx(combined["auc_truth"], abs=0.1)
    assert combined["prediction_agreement"] >= 11 / 12
    for measure in ("sensitivity", "specificity"):
        assert combined["recovered"][measure] == pytest.approx(combined["truth"][measure], abs=0.2)
