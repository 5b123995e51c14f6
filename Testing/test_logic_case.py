"""Logic.processCase on phantom patients: files or nodes in, results table, maps, spectrum nodes, .mrb out."""

from __future__ import annotations

import math

import numpy as np
import pytest
import SimpleITK as sitk
import slicer

from VCFDiagnosisLib.analysis import study_models
from VCFDiagnosisLib.analysis.results import CONTRACT_COLUMNS
from VCFDiagnosisLib.mrml import headless, nodes


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    from VCFDiagnosisLib.phantom import generate_patient

    return generate_patient(tmp_path_factory.mktemp("case"), seed=31, group="osteoporotic", vendor="ge",
                            matrix=96, n_slices=8, snr=60)


def patient_combination(patient) -> dict:
    """How the loader reads the phantom's b-images from its DICOM files (the scene must keep it)."""
    from VCFDiagnosisLib.dwi.loader import load_dwi

    return load_dwi(str(patient.dwi_dir)).metadata["combination"]


def _column(table, name):
    return [table.GetCellText(r, table.GetColumnIndex(name)) for r in range(table.GetNumberOfRows())]


def test_process_case_from_files_recovers_truth(logic, patient):
    case = logic.processCase(str(patient.dwi_dir), str(patient.segmentation_path), str(patient.rda_path),
                             caseId="case-31")
    lesion = patient.truth["lesion"]
    assert len(case.rows) == 1
    row = case.rows[0]
    assert row["status"] in ("ok", "warning"), row["message"]
    assert row["roi_voxels"] == patient.truth["roi"]["voxel_count"]
    assert row["D"] == pytest.approx(lesion["D_mm2_s"], rel=0.05)
    assert row["f"] == pytest.approx(lesion["f_fraction"], abs=0.03)
    assert row["FF"] == pytest.approx(lesion["FF_percent"], abs=1.5)
    truth_prediction = study_models.predict(lesion["D_mm2_s"], lesion["Dstar_mm2_s"], lesion["f_fraction"],
                                            lesion["FF_percent"])
    assert row["prediction"] == truth_prediction.prediction
    table = case.table
    assert [table.GetColumnName(i) for i in range(len(CONTRACT_COLUMNS))] == CONTRACT_COLUMNS
    assert table.GetColumnUnitLabel("D") == "mm2/s" and table.GetColumnUnitLabel("FF") == "percent"
    assert _column(table, "case_id") == ["case-31"]
    assert float(_column(table, "P_combined")[0]) == pytest.approx(row["P_combined"], rel=1e-5)
    # maps inside the ROI, on the DWI grid
    assert set(case.map_nodes) == {"S0", "D", "Dstar", "f", "ADC", "R2", "status"}
    np.testing.assert_allclose(nodes.ijk_to_ras(case.map_nodes["D"]), case.dwi.ijk_to_ras, atol=1e-9)
    # spectrum: voxel where the header says, chart with the fit
    voxel = case.spectrum.voxel_roi
    np.testing.assert_allclose(voxel.GetCenter(), patient.truth["mrs"]["voxel_centre_ras"], atol=0.01)
    assert case.spectrum.chart.GetNumberOfPlotSeriesNodes() >= 3
    assert case.spectrum.table.GetColumnIndex("fit") >= 0
    assert row["mrs_roi_distance_mm"] < 3
    # how each b-image was made survives the scene (the sequence node), so the ROI fit removes the noise floor of
    # the scanner traces with the background's noise SD (SNR 60: sigma = 1000 / 60 per channel)
    assert case.dwi.metadata["combination"] == patient_combination(patient)
    assert row["noise_sd"] == pytest.approx(1000.0 / 60, rel=0.12)
    assert case.decay.rois[0].floor_free is not None


def test_two_segments_give_two_rows_and_label_map_rois_are_accepted(logic, patient):
    sequence, _ = logic.loadDwi(str(patient.dwi_dir))
    segmentation = logic.loadRoi(str(patient.segmentation_path), "readers")
    dwi = logic.dwiFromNode(sequence)
    proxy = slicer.util.addVolumeFromArray(np.zeros(dwi.shape_kji, np.uint8), nodes.vtk_matrix(dwi.ijk_to_ras))
    first = nodes.segment_mask_on_grid(segmentation, "lesion", dwi.ijk_to_ras, dwi.shape_kji)
    second = np.zeros_like(first)
    second[tuple(np.argwhere(first)[: first.sum() // 2].T)] = True  # reader 2 drew half of it
    reader2 = segmentation.GetSegmentation().AddEmptySegment("reader2", "reader2")
    slicer.util.updateSegmentBinaryLabelmapFromArray(second.astype(np.uint8), segmentation, reader2, proxy)
    case = logic.processCase(sequence, segmentation, caseId="two-readers", maps="none")
    assert [r["roi"] for r in case.rows] == ["lesion", "reader2"]
    assert [r["roi_voxels"] for r in case.rows] == [int(first.sum()), int(second.sum())]
    assert case.table.GetNumberOfRows() == 2 and not case.map_nodes
    assert all(math.isnan(r["FF"]) and r["prediction_model"] == "P_IVIM" for r in case.rows)

    label = slicer.modules.volumes.logic().AddArchetypeVolume(str(patient.label_path), "label", 1)
    from_label = logic.processCase(sequence, label, caseId="from-label", maps="none")
    assert from_label.rows[0]["roi_voxels"] == int(first.sum())


def test_roi_on_another_grid_is_resampled_onto_the_dwi(logic, patient, tmp_path):
    label = sitk.ReadImage(str(patient.label_path))
    fine = sitk.Resample(label, [2 * s for s in label.GetSize()], sitk.Transform(), sitk.sitkNearestNeighbor,
                         label.GetOrigin(), [s / 2 for s in label.GetSpacing()], label.GetDirection(), 0,
                         label.GetPixelID())
    # shift the half-size grid by a quarter voxel so its voxels nest inside the DWI voxels
    fine.SetOrigin([o - 0.25 * s for o, s in zip(label.GetOrigin(),
                    np.array(label.GetDirection()).reshape(3, 3) @ np.array(label.GetSpacing()))])
    fine = sitk.Resample(label, fine, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    path = tmp_path / "fine_label.nii.gz"
    sitk.WriteImage(fine, str(path))
    case = logic.processCase(str(patient.dwi_dir), str(path), caseId="fine-roi", maps="none")
    truth_count = patient.truth["roi"]["voxel_count"]
    assert case.rows[0]["roi_voxels"] == pytest.approx(truth_count, rel=0.15)
    assert case.rows[0]["D"] == pytest.approx(patient.truth["lesion"]["D_mm2_s"], rel=0.1)


def test_case_scene_bundle_reopens_with_everything(logic, patient, tmp_path):
    case = logic.processCase(str(patient.dwi_dir), str(patient.segmentation_path), str(patient.mrs_dicom_path),
                             caseId="bundle-case")
    bundle = logic.saveSceneBundle(str(tmp_path / "bundle-case.mrb"))
    scene = headless.open_scene_bundle(bundle)
    for cls, expected in (("vtkMRMLSegmentationNode", 1), ("vtkMRMLMarkupsROINode", 1), ("vtkMRMLPlotChartNode", 2),
                          ("vtkMRMLLabelMapVolumeNode", 1), ("vtkMRMLSequenceNode", 1)):
        assert scene.GetNumberOfNodesByClass(cls) == expected, cls
    table = scene.GetFirstNode("bundle-case results", "vtkMRMLTableNode")
    assert table is not None and table.GetNumberOfRows() == 1
    d_map = scene.GetFirstNode(f"{case.dwi_sequence.GetName()} D [mm2/s]", "vtkMRMLScalarVolumeNode")
    assert d_map is not None
    np.testing.assert_allclose(nodes.ijk_to_ras(d_map), case.dwi.ijk_to_ras, atol=1e-6)
    original = slicer.util.arrayFromVolume(case.map_nodes["D"])
    assert d_map.GetScene() is not slicer.mrmlScene  # the bundle was read into its own scene
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(d_map), original)  # NaNs where not fitted, too
    roi = scene.GetFirstNodeByClass("vtkMRMLMarkupsROINode")
    np.testing.assert_allclose(roi.GetCenter(), case.spectrum.voxel_roi.GetCenter(), atol=1e-6)


def _counts(scene) -> dict:
    return {cls: scene.GetNumberOfNodesByClass(cls) for cls in (
        "vtkMRMLScalarVolumeNode", "vtkMRMLLabelMapVolumeNode", "vtkMRMLTableNode", "vtkMRMLPlotChartNode",
        "vtkMRMLPlotSeriesNode")}


def test_repeated_apply_updates_its_outputs_and_adds_new_ones_only_when_asked(logic, patient):
    """Apply twice on the same DWI and ROI: the same map, table and chart nodes, holding the second run's numbers;
    with newOutputs the first run's nodes stay and new ones are added; maps=none removes the stale maps."""
    scene = slicer.mrmlScene
    sequence, _ = logic.loadDwi(str(patient.dwi_dir))
    roi = logic.loadRoi(str(patient.segmentation_path))
    first = logic.processCase(sequence, roi, caseId="again", method="nlls")
    counts = _counts(scene)
    second = logic.processCase(sequence, roi, caseId="again", method="adc")
    assert _counts(scene) == counts, "a repeated Apply added nodes"
    assert second.table is first.table and second.decay_chart is first.decay_chart
    assert {s: n.GetID() for s, n in second.map_nodes.items()} == {s: n.GetID() for s, n in first.map_nodes.items()}
    d_now = slicer.util.arrayFromVolume(second.map_nodes["D"])
    assert np.isnan(d_now).all(), "the adc method leaves D NaN: the node must hold the second run's voxels"
    assert second.map_nodes["D"].GetAttribute("VCFDiagnosis.FitMethod") == "adc"
    # the mean, the fit and the mean without the noise floor (the phantom's background gives the noise)
    assert second.decay_chart.GetNumberOfPlotSeriesNodes() == 3 and second.rows[0]["model_inputs"]
    third = logic.processCase(sequence, roi, caseId="again", method="nlls", newOutputs=True)
    assert third.table is not second.table and third.map_nodes["D"] is not second.map_nodes["D"]
    assert _counts(scene)["vtkMRMLScalarVolumeNode"] == counts["vtkMRMLScalarVolumeNode"] + 7  # with the label map
    assert np.isfinite(slicer.util.arrayFromVolume(third.map_nodes["D"])).sum() >= first.rows[0]["roi_voxels"] // 2
    fourth = logic.processCase(sequence, roi, caseId="again", maps="none")
    assert fourth.map_nodes == {} and third.map_nodes["D"].GetScene() is None, "stale maps of this DWI+ROI stay"
    assert second.map_nodes["D"].GetScene() is scene, "the kept outputs of an earlier run are left alone"
