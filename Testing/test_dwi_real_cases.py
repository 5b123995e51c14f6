"""The DICOM DWI loader on real scanner files against independent reference conversions.

Cases: ``Testing/Data/dwi-dicom/cases.json`` (copied with their READMEs and licenses from the project's
shared reference set: dcm_qa_* by Chris Rorden, BSD-2-Clause; dicom2nifti test data, MIT). References were
made by dcm2niix or dicom2nifti, not by this project.

Per ``dwi``/``trace`` case: the b-values equal the reference ``.bval`` grouped the way the loader groups
them (shells within 1 s/mm2, b < 1 -> 0); the grid is the reference grid up to an axis permutation/flip
(same voxel size, corners within 0.1 mm); every volume correlates (Pearson r >= 0.99) with the reference
volumes of its b-value combined the same way (geometric mean of directions at b > 0, mean of b = 0
repeats). ``reject_derived`` cases (scanner ADC maps) must be refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from VCFDiagnosisLib.dwi.assemble import combine_shell
from VCFDiagnosisLib.dwi.bvalues import group_bvalues
from VCFDiagnosisLib.dwi.dicom import DicomDwiError, load_dwi_dicom

nib = pytest.importorskip("nibabel")

DATA = Path(__file__).parent / "Data" / "dwi-dicom"
CASES = json.loads((DATA / "cases.json").read_text())["cases"]
MIN_R = 0.99


def _case(case_id: str) -> dict:
    return next(c for c in CASES if c["id"] == case_id)


def reference_bvalues(case: dict) -> np.ndarray | None:
    """Return the reference b-value of every reference volume (None when the case has none)."""
    if case.get("ref_bval"):
        return np.array((DATA / case["ref_bval"]).read_text().split(), dtype=float)
    if case.get("expected_bvals") is not None:
        return np.array(case["expected_bvals"], dtype=float)
    return None


def grid_on_reference(dwi, ref_affine_ras: np.ndarray, ref_shape: tuple) -> tuple[list[int], list[bool], float]:
    """Return (loader axis for each reference axis, flips, corner position error in mm).

    The loader grid (ijk -> RAS) must be the reference grid up to a permutation and flips of the axes.
    """
    transform = np.linalg.inv(ref_affine_ras) @ dwi.ijk_to_ras
    rounded = np.round(transform[:3, :3])
    assert np.abs(transform[:3, :3] - rounded).max() < 0.01, "loader grid is not a permutation/flip of the reference"
    assert (np.abs(rounded).sum(axis=0) == 1).all() and (np.abs(rounded).sum(axis=1) == 1).all()
    shape_ijk = np.array(dwi.shape_kji[::-1])
    corners = np.array([[i, j, k] for i in (0, shape_ijk[0] - 1) for j in (0, shape_ijk[1] - 1)
                        for k in (0, shape_ijk[2] - 1)], dtype=float)
    mapped = corners @ transform[:3, :3].T + transform[:3, 3]
    residual = mapped - np.round(mapped)
    error_mm = float(np.linalg.norm(residual @ ref_affine_ras[:3, :3].T, axis=1).max())
    order = [int(np.argmax(np.abs(rounded[r]))) for r in range(3)]
    flips = [bool(rounded[r, order[r]] < 0) for r in range(3)]
    assert np.round(mapped).min(axis=0).tolist() == [0, 0, 0], "loader grid is shifted against the reference"
    assert tuple(shape_ijk[order]) == tuple(ref_shape[:3])
    return order, flips, error_mm


def volume_on_reference(volume_kji: np.ndarray, order: list[int], flips: list[bool]) -> np.ndarray:
    """Return one loader volume [k, j, i] re-indexed as the reference array [x, y, z]."""
    ijk = np.transpose(volume_kji, (2, 1, 0))
    out = np.transpose(ijk, order)
    for axis, flip in enumerate(flips):
        if flip:
            out = np.flip(out, axis=axis)
    return out


DATA_CASES = [c["id"] for c in CASES if c["expect"] in ("dwi", "trace")]
DERIVED_CASES = [c["id"] for c in CASES if c["expect"] == "reject_derived"]


@pytest.mark.parametrize("case_id", DATA_CASES)
def test_real_case_matches_reference(case_id):
    case = _case(case_id)
    dwi = load_dwi_dicom(DATA / case["dicom_dir"], min_bvalues=1)
    ref_b = reference_bvalues(case)
    assert ref_b is not None
    grouped = group_bvalues(ref_b)
    np.testing.assert_allclose(dwi.bvalues_s_mm2, np.unique(grouped), atol=1.0)
    assert dwi.data.dtype == np.float32 and np.isfinite(dwi.data).all()
    if case.get("expected_slices"):
        assert dwi.shape_kji[0] == case["expected_slices"]
    if not case.get("ref_nifti"):
        return
    image = nib.load(DATA / case["ref_nifti"])
    reference = np.asarray(image.dataobj, dtype=np.float64)
    if reference.ndim == 3:
        reference = reference[..., None]
    order, flips, error_mm = grid_on_reference(dwi, image.affine, reference.shape)
    assert error_mm < 0.1
    np.testing.assert_allclose(dwi.spacing_mm[order], image.header.get_zooms()[:3], atol=1e-3)
    if case.get("ref_compare_data") is False:
        return
    for s, b in enumerate(dwi.bvalues_s_mm2):
        in_shell = np.abs(grouped - b) <= 1.0
        stack = np.moveaxis(reference[..., in_shell], -1, 0)
        expected, _ = combine_shell(stack, axis=0, bvalue=b, trace_only=in_shell.sum() == 1)
        mine = volume_on_reference(dwi.data[s], order, flips)
        r = np.corrcoef(mine.ravel(), expected.ravel())[0, 1]
        assert r >= MIN_R, f"b = {b:g}: r = {r:.4f}"


@pytest.mark.parametrize("case_id", DERIVED_CASES)
def test_real_derived_map_is_refused(case_id):
    case = _case(case_id)
    with pytest.raises(DicomDwiError, match="derived"):
        load_dwi_dicom(DATA / case["dicom_dir"], min_bvalues=1)


def test_real_ge_bvalues_from_private_tag_and_directions_combined():
    dwi = load_dwi_dicom(DATA / _case("ge_dti_R2")["dicom_dir"])
    assert dwi.bvalues_s_mm2.tolist() == [0, 1000]
    assert dwi.metadata["volumes_per_bvalue"] == {"0": 1, "1000": 6}
    assert "geometric mean" in dwi.metadata["combination"]["1000"]
    assert dwi.metadata["vendor"].startswith("GE")


def test_real_philips_b0_like_values_and_non_image_objects():
    dwi = load_dwi_dicom(DATA / _case("philips_57_classic_dti_trim4")["dicom_dir"])
    assert dwi.bvalues_s_mm2.tolist() == [0, 1000]
    assert dwi.metadata["volumes_per_bvalue"] == {"0": 5, "1000": 12}
    assert {0.001, 0.002, 0.003, 0.004} <= set(dwi.metadata["bvalues_in_headers"])
    # the Presentation State and two Philips private objects are skipped, not fatal
    assert sum("no SeriesInstanceUID" in s or "not an image" in s for s in dwi.metadata["skipped_files"]) >= 3


def test_real_folder_with_trace_and_adc_series_needs_the_single_b_trace_allowed():
    folder = DATA / "dcm_qa_xa30"
    with pytest.raises(DicomDwiError, match="no multi-b diffusion series"):
        load_dwi_dicom(folder)
    trace = load_dwi_dicom(folder, min_bvalues=1)
    assert trace.metadata["series_number"] == 12 and trace.bvalues_s_mm2.tolist() == [2500]
    assert trace.metadata["combination"]["2500"] == "scanner trace"
    with pytest.raises(DicomDwiError, match="derived"):
        load_dwi_dicom(folder, series=11, min_bvalues=1)


def test_real_folder_with_several_series_lists_them_and_loads_the_chosen_one():
    folder = DATA / "dicom2nifti"
    with pytest.raises(DicomDwiError, match="several DWI series") as error:
        load_dwi_dicom(folder)
    assert "series 601" in str(error.value) and "series 501" in str(error.value)
    ivim = load_dwi_dicom(folder, series=601)
    assert ivim.bvalues_s_mm2.tolist() == [0, 40, 273, 800]
    assert ivim.metadata["dicom_layout"] == "classic"
    enhanced = load_dwi_dicom(folder, series="501")
    assert enhanced.bvalues_s_mm2.tolist() == [0, 1300] and enhanced.metadata["dicom_layout"] == "enhanced"


def test_independent_checker_passes_every_case(tmp_path):
    """The shared reference set's own checker (``check_loader.py``, written independently of this loader) run on
    the loader through ``Testing/dwi_checker_adapter.py``: no case fails. Its only warnings are the multi-direction
    shells, which it compares with the arithmetic mean of the directions while the loader combines them into the
    trace (geometric mean); the comparison with the same combination is the test above (r >= 0.99)."""
    import os
    import subprocess
    import sys

    report = tmp_path / "checker.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "VCFDiagnosis"),
                                                        os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, str(DATA / "check_loader.py"),
                             f"{Path(__file__).parent / 'dwi_checker_adapter.py'}:load", "--json", str(report)],
                            capture_output=True, text=True, timeout=600, env=env, cwd=DATA)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    cases = json.loads(report.read_text())
    assert len(cases) >= 14 and not [c["id"] for c in cases if c["status"] == "FAIL"]
    warnings = [text for case in cases for level, text in case["lines"] if level == "WARN"]
    assert all(text.startswith("grouped volume") and "vs mean of reference volumes" in text for text in warnings), \
        warnings
