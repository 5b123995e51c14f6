"""One case end to end in the pure core: ROI geometry, ROI-mean IVIM fit, MRS, study models, results file."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import SimpleITK as sitk

from VCFDiagnosisLib.analysis import roi_geometry, study_models
from VCFDiagnosisLib.analysis.case_analysis import MrsVoxel, analyze_roi
from VCFDiagnosisLib.analysis.results import CONTRACT_COLUMNS, read_results_tsv, write_results_tsv
from VCFDiagnosisLib.analysis.settings import CaseSettings
from VCFDiagnosisLib.dwi.dicom import load_dwi_dicom
from VCFDiagnosisLib.ivim import fit_ivim
from VCFDiagnosisLib.mrs import quantify_spectrum, read_spectrum
from VCFDiagnosisLib.phantom import generate_patient


def test_largest_slice_area_and_centroid_known_answers():
    matrix = np.diag([0.8, 0.8, 5.0, 1.0])
    matrix[:3, 3] = [10, 20, 30]
    mask = np.zeros((4, 10, 10), bool)
    mask[1, 2:5, 2:6] = True  # 12 voxels
    mask[2, 2:4, 2:4] = True  # 4 voxels
    area, k = roi_geometry.largest_slice_area_mm2(mask, matrix)
    assert (area, k) == (pytest.approx(12 * 0.64), 1)
    expected = np.mean([[10 + 0.8 * i, 20 + 0.8 * j, 30 + 5.0 * kk] for kk, j, i in np.argwhere(mask)], axis=0)
    np.testing.assert_allclose(roi_geometry.centroid_ras(mask, matrix), expected)


def test_fraction_inside_an_oriented_box():
    mask = np.ones((1, 1, 21), bool)  # 21 voxels along i, 1 mm apart, centred at x = -10..10
    matrix = np.eye(4)
    matrix[0, 3] = -10
    axes = np.array([[np.cos(np.pi / 4), -np.sin(np.pi / 4), 0], [np.sin(np.pi / 4), np.cos(np.pi / 4), 0], [0, 0, 1]])
    # a 10 mm cube rotated 45 degrees about z: on the x axis its local coordinates are (x, -x) / sqrt(2),
    # so it covers |x| <= 5 * sqrt(2)
    fraction = roi_geometry.fraction_inside_box(mask, matrix, [0, 0, 0], [10, 10, 10], axes)
    inside = np.abs(np.arange(-10, 11)) <= 5 * math.sqrt(2)
    assert fraction == pytest.approx(inside.mean())
    assert roi_geometry.fraction_inside_box(mask, matrix, [100, 0, 0], [10, 10, 10]) == 0.0


def test_box_mask_on_grid_equals_testing_every_voxel_of_the_grid():
    """The MRS-voxel mask (report, "ROI from MRS voxel") tests only the voxels near the box: the same mask as
    testing every voxel centre of the grid, on random oblique grids and boxes (orthonormal or skewed axes), partly
    outside or missing."""
    rng = np.random.default_rng(8)
    hits = 0
    for trial in range(60):
        rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        matrix = np.eye(4)
        matrix[:3, :3] = rotation @ np.diag(rng.uniform(0.5, 4.0, 3))
        matrix[:3, 3] = rng.normal(0, 20, 3)
        shape = tuple(int(n) for n in rng.integers(2, 25, 3))
        inside_grid = roi_geometry.voxel_centres_ras(rng.integers(0, shape, (1, 3)), matrix)[0]
        centre = inside_grid + (rng.normal(0, 5, 3) if trial % 4 else rng.normal(0, 60, 3))  # near, or anywhere
        size = rng.uniform(1, 40, 3)
        axes = (None, np.linalg.qr(rng.normal(size=(3, 3)))[0], rng.normal(size=(3, 3)))[trial % 3]  # + skewed
        every = np.argwhere(np.ones(shape, bool))
        brute = roi_geometry.inside_box(roi_geometry.voxel_centres_ras(every, matrix), centre, size, axes)
        np.testing.assert_array_equal(roi_geometry.box_mask_on_grid(shape, matrix, centre, size, axes),
                                      brute.reshape(shape))
        hits += bool(brute.any()) and not brute.all()
    assert hits >= 30  # most boxes cut through their grid


@pytest.fixture(scope="module")
def noiseless_case(tmp_path_factory):
    root = tmp_path_factory.mktemp("case")
    patient = generate_patient(root, seed=21, group="metastatic", vendor="siemens", snr=math.inf, matrix=96,
                               n_slices=8)
    dwi = load_dwi_dicom(patient.dwi_dir)
    mask = sitk.GetArrayFromImage(sitk.ReadImage(str(patient.label_path))) > 0
    spectrum = read_spectrum(patient.rda_path)
    voxel = MrsVoxel(spectrum.voxel_center_ras, spectrum.voxel_size_mm, spectrum.voxel_orientation_ras)
    return patient, dwi, mask, quantify_spectrum(spectrum), voxel


def test_noiseless_phantom_recovers_truth_and_the_truth_prediction(noiseless_case):
    patient, dwi, mask, mrs, voxel = noiseless_case
    truth = patient.truth
    lesion = truth["lesion"]
    row = analyze_roi(dwi, mask, "lesion", patient.case_id, mrs=mrs, mrs_voxel=voxel)
    assert row["status"] in ("ok", "warning"), row["message"]
    assert row["roi_voxels"] == truth["roi"]["voxel_count"]
    assert row["roi_area_mm2"] == pytest.approx(max(truth["roi"]["area_mm2_per_slice"]))
    assert row["D"] == pytest.approx(lesion["D_mm2_s"], rel=0.01)
    assert row["f"] == pytest.approx(lesion["f_fraction"], abs=0.005)
    assert row["Dstar"] == pytest.approx(lesion["Dstar_mm2_s"], rel=0.05)
    assert row["FF"] == pytest.approx(lesion["FF_percent"], abs=1.0)
    expected = study_models.predict(lesion["D_mm2_s"], lesion["Dstar_mm2_s"], lesion["f_fraction"],
                                    lesion["FF_percent"])
    assert row["prediction"] == expected.prediction
    assert row["P_combined"] == pytest.approx(expected.P_combined, abs=0.05)
    assert row["mrs_roi_distance_mm"] < 3.0
    assert 0.0 < row["roi_fraction_in_mrs_voxel"] <= 1.0
    assert "not a diagnosis" in row["note"].lower()


def test_map_inputs_option_and_map_statistics(noiseless_case):
    patient, dwi, mask, mrs, _ = noiseless_case
    maps = fit_ivim(dwi.bvalues_s_mm2, dwi.signal_last(), mask=mask)
    row = analyze_roi(dwi, mask, "lesion", patient.case_id, maps=maps, mrs=mrs,
                      settings=CaseSettings(model_inputs="map_median"))
    d = maps.D_mm2_s[mask]
    assert row["D_map_mean"] == pytest.approx(np.nanmean(d))
    assert row["D_map_median"] == pytest.approx(np.nanmedian(d))
    assert row["model_inputs"] == "map_median"
    expected = study_models.predict(row["D_map_median"], row["Dstar_map_median"], row["f_map_median"], row["FF"])
    assert row["P_combined"] == pytest.approx(expected.P_combined)
    with pytest.raises(ValueError, match="needs voxelwise maps"):
        analyze_roi(dwi, mask, "lesion", "x", settings=CaseSettings(model_inputs="map_mean"))
    with pytest.raises(ValueError, match="--model-inputs: 'best' is not one of"):
        CaseSettings(model_inputs="best")


def test_bad_rois_are_error_rows(noiseless_case):
    _, dwi, mask, _, _ = noiseless_case
    empty = analyze_roi(dwi, np.zeros_like(mask), "empty", "c1")
    assert empty["status"] == "error" and "no voxel inside the DWI" in empty["message"]
    tiny = np.zeros_like(mask)
    tiny[tuple(np.argwhere(mask)[0])] = True
    small = analyze_roi(dwi, tiny, "tiny", "c1")
    assert small["status"] == "error" and "1 voxels" in small["message"]
    with pytest.raises(ValueError, match="not the DWI grid"):
        analyze_roi(dwi, mask[:-1], "cut", "c1")


def test_mrs_voxel_elsewhere_is_a_warning(noiseless_case):
    patient, dwi, mask, mrs, voxel = noiseless_case
    moved = MrsVoxel(np.asarray(voxel.center_ras) + [0, 0, 40], voxel.size_mm, voxel.orientation_ras)
    row = analyze_roi(dwi, mask, "lesion", patient.case_id, mrs=mrs, mrs_voxel=moved)
    assert row["status"] == "warning" and "do not match" in row["message"]
    assert row["mrs_roi_distance_mm"] == pytest.approx(40, abs=3)


def test_results_tsv_keeps_full_precision_and_refuses_overwrite(tmp_path, noiseless_case):
    patient, dwi, mask, mrs, _ = noiseless_case
    row = analyze_roi(dwi, mask, "lesion", patient.case_id, mrs=mrs)
    path = write_results_tsv(tmp_path / "results.tsv", [row])
    header = (tmp_path / "results.tsv").read_text().splitlines()[0].split("\t")
    assert header[: len(CONTRACT_COLUMNS)] == CONTRACT_COLUMNS
    back = read_results_tsv(path)[0]
    for column in ("D", "Dstar", "f", "FF", "P_combined", "roi_area_mm2"):
        assert back[column] == row[column], column  # bit-exact
    assert back["roi_voxels"] == row["roi_voxels"]
    with pytest.raises(FileExistsError):
        write_results_tsv(path, [row])
    assert json.dumps(back, default=str)
