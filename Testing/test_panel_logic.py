"""What the module panel triggers, headless: Apply (applySettings), ROI buttons, the spectrum file reader's
logic, progress and cancel. The Qt widget itself is checked statically in test_qt_static.py."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import slicer
import vtk

from VCFDiagnosisLib.analysis.settings import CaseSettings
from VCFDiagnosisLib.ivim import FitStatus
from VCFDiagnosisLib.mrml import nodes
from VCFDiagnosisLib.mrml.logic import PanelInputs, ProcessingCancelled


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    from VCFDiagnosisLib.phantom import generate_patient

    return generate_patient(tmp_path_factory.mktemp("panel"), seed=41, group="osteoporotic", vendor="philips",
                            matrix=64, n_slices=6, snr=math.inf)


def _multivolume_style_sequence(logic, patient):
    """A sequence as Slicer's MultiVolumeImporter makes it: index = frame number, b-values in FrameLabels."""
    loaded, _ = logic.loadDwi(str(patient.dwi_dir))
    dwi = logic.dwiFromNode(loaded)
    sequence = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSequenceNode", "MultiVolume DWI")
    sequence.SetIndexName("frame")
    sequence.SetIndexUnit("")
    for frame in range(loaded.GetNumberOfDataNodes()):
        sequence.SetDataNodeAtValue(loaded.GetNthDataNode(frame), str(frame))
    sequence.SetAttribute("MultiVolume.FrameLabels", ",".join(f"{b:g}" for b in dwi.bvalues_s_mm2))
    browser = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode")
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    slicer.modules.sequences.logic().UpdateProxyNodesFromSequences(browser)
    return sequence


def test_apply_on_a_multivolume_sequence_with_two_segments_and_a_spectrum(logic, patient):
    sequence = _multivolume_style_sequence(logic, patient)
    assert logic.dwiFromNode(sequence).bvalues_s_mm2.tolist() == patient.truth["bvalues_s_mm2"]
    segmentation = logic.loadRoi(str(patient.segmentation_path), "lesion ROI")
    dwi = logic.dwiFromNode(sequence)
    lesion_mask = nodes.segment_mask_on_grid(segmentation, "lesion", dwi.ijk_to_ras, dwi.shape_kji)
    half = np.zeros_like(lesion_mask)
    half[tuple(np.argwhere(lesion_mask)[: lesion_mask.sum() // 2].T)] = True
    reference = logic.dwiProxyNode(sequence)
    second = segmentation.GetSegmentation().AddEmptySegment("reader2", "reader2")
    slicer.util.updateSegmentBinaryLabelmapFromArray(half.astype(np.uint8), segmentation, second, reference)
    assert logic.canLoadSpectrumFile(str(patient.mrs_dicom_path))  # the drag-and-drop reader's check
    assert not logic.canLoadSpectrumFile(str(patient.label_path))
    spectrum = logic.loadSpectrum(str(patient.mrs_dicom_path))  # what the file reader loads
    assert logic.loadSpectrum(str(patient.mrs_dicom_path)) is spectrum  # not loaded twice
    inputs = PanelInputs(dwiSequence=sequence, spectrumPath=str(patient.mrs_dicom_path), caseId="panel",
                         roiSegmentation=segmentation)
    case = logic.applySettings(inputs, CaseSettings(maps="roi"))
    assert [r["roi"] for r in case.rows] == ["lesion", "reader2"]
    assert case.table.GetNumberOfRows() == 2
    lesion = patient.truth["lesion"]
    for row in case.rows:
        assert row["D"] == pytest.approx(lesion["D_mm2_s"], rel=0.02)
        assert row["FF"] == pytest.approx(lesion["FF_percent"], abs=1.0)
    assert case.spectrum is spectrum  # Apply reused the loaded spectrum and its nodes
    assert slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLMarkupsROINode") == 1
    decay = case.decay_table
    assert decay.GetColumnIndex("lesion mean") >= 0 and decay.GetColumnIndex("reader2 fit") >= 0
    mean = slicer.util.arrayFromTableColumn(decay, "lesion mean")[: len(dwi.bvalues_s_mm2)]
    np.testing.assert_allclose(mean, dwi.data[:, lesion_mask].mean(axis=1), rtol=1e-6)
    assert case.decay_chart.GetNumberOfPlotSeriesNodes() == 4


def test_edited_bvalues_are_validated_and_used(logic, patient):
    sequence, _ = logic.loadDwi(str(patient.dwi_dir))
    roi = logic.loadRoi(str(patient.segmentation_path))
    wrong = PanelInputs(dwiSequence=sequence, roiSegmentation=roi, bValues="0, 50, 100")
    with pytest.raises(ValueError, match="3 b-values given for 8 volumes"):
        logic.applySettings(wrong)
    with pytest.raises(ValueError, match="finite and >= 0"):
        logic.applySettings(dataclasses.replace(wrong, bValues="0 50 100 150 200 400 600 -800"))
    doubled = ", ".join(str(2 * b) for b in patient.truth["bvalues_s_mm2"])
    case = logic.applySettings(dataclasses.replace(wrong, bValues=doubled), CaseSettings(maps="none"))
    assert case.rows[0]["D"] == pytest.approx(patient.truth["lesion"]["D_mm2_s"] / 2, rel=0.02)


def test_whole_volume_fit_reports_progress_and_can_be_cancelled(logic, patient, monkeypatch):
    from VCFDiagnosisLib.ivim import engine

    monkeypatch.setattr(engine, "CHUNK_VOXELS", 2048)  # several chunks on the small phantom: cancel mid-fit
    sequence, _ = logic.loadDwi(str(patient.dwi_dir))
    roi = logic.loadRoi(str(patient.segmentation_path))
    inputs = PanelInputs(dwiSequence=sequence, roiSegmentation=roi)
    settings = CaseSettings(maps="volume")
    seen = []
    case = logic.applySettings(inputs, settings, progressCallback=lambda f, m: seen.append((f, m)) or True)
    fitted = int(np.isin(case.maps.status, [FitStatus.OK, FitStatus.HIT_BOUND, FitStatus.NOT_CONVERGED]).sum())
    chunks = -(-fitted // 2048)
    assert chunks >= 3 and len(seen) == chunks + 1 and seen[0][0] == 0.0 and seen[-1][0] == 1.0
    assert [f for f, _ in seen] == sorted(f for f, _ in seen) and f"of {fitted} voxels" in seen[-1][1]
    volume_nodes_before = slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")
    reports = []
    with pytest.raises(ProcessingCancelled):
        logic.applySettings(inputs, settings, progressCallback=lambda f, m: reports.append(f) or f < 0.5)
    assert reports[-1] >= 0.5 and len(reports) < chunks + 1, "cancelled in the middle of the fit"
    assert slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == volume_nodes_before
    # reporting progress leaves every number as the fit without it gives them
    direct = logic._fitMaps(case.dwi, None, settings)
    np.testing.assert_array_equal(direct.status, case.maps.status)
    np.testing.assert_array_equal(direct.D_mm2_s, case.maps.D_mm2_s)
    np.testing.assert_array_equal(direct.Dstar_mm2_s, case.maps.Dstar_mm2_s)


def test_roi_buttons(logic, patient):
    sequence, _ = logic.loadDwi(str(patient.dwi_dir))
    new = logic.createRoiSegmentation(sequence, "drawn ROI")
    assert new.GetSegmentation().GetSegment("lesion").GetName() == "lesion"
    spectrum = logic.loadSpectrum(str(patient.rda_path))
    from_voxel = logic.roiFromMrsVoxel(spectrum, sequence)
    dwi = logic.dwiFromNode(sequence)
    mask = nodes.segment_mask_on_grid(from_voxel, "mrs_voxel", dwi.ijk_to_ras, dwi.shape_kji)
    centroid = dwi.ijk_to_ras @ np.r_[np.argwhere(mask).mean(axis=0)[::-1], 1]
    np.testing.assert_allclose(centroid[:3], spectrum.spectrum.voxel_center_ras, atol=3.0)
    with pytest.raises(ValueError, match="select a DWI"):
        logic.applySettings(PanelInputs())
    with pytest.raises(ValueError, match="ROI segmentation"):
        logic.applySettings(PanelInputs(dwiSequence=sequence))


def test_dwi_volume_node_and_scalar_volumes_become_b_sequences(logic, patient):
    """The other DWI nodes users have: a diffusion-weighted volume node (directions at one b combined into the
    trace by geometric mean) and a list of scalar volumes with b-values."""
    sequence, _ = logic.loadDwi(str(patient.dwi_dir))
    dwi = logic.dwiFromNode(sequence)
    # a DWI node with b=0 and three "directions" at each b > 0 whose geometric mean is the trace
    factors = np.array([0.5, 1.0, 2.0])  # product 1: geometric mean = trace
    volumes, bvalues = [dwi.data[0]], [0.0]
    for b, trace in zip(dwi.bvalues_s_mm2[1:], dwi.data[1:]):
        volumes += [trace * f for f in factors]
        bvalues += [b] * 3
    stack = np.stack(volumes, axis=-1).astype(np.float32)  # [k, j, i, gradient]
    node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLDiffusionWeightedVolumeNode", "DTI-like")
    image = vtk.vtkImageData()
    image.SetDimensions(stack.shape[2], stack.shape[1], stack.shape[0])
    image.AllocateScalars(vtk.VTK_FLOAT, stack.shape[3])
    node.SetAndObserveImageData(image)
    node.SetIJKToRASMatrix(nodes.vtk_matrix(dwi.ijk_to_ras))
    node.SetNumberOfGradients(len(bvalues))
    for i, b in enumerate(bvalues):
        node.SetBValue(i, b)
        node.SetDiffusionGradient(i, [0.0, 0.0, 0.0] if b == 0 else [1.0, 0.0, 0.0])
    slicer.util.arrayFromVolume(node)[:] = stack
    converted = logic.asDwiSequence(node)
    back = logic.dwiFromNode(converted)
    np.testing.assert_array_equal(back.bvalues_s_mm2, dwi.bvalues_s_mm2)
    np.testing.assert_allclose(back.data, dwi.data, rtol=1e-5)
    np.testing.assert_allclose(back.ijk_to_ras, dwi.ijk_to_ras, atol=1e-9)

    scalars = [slicer.util.addVolumeFromArray(v, nodes.vtk_matrix(dwi.ijk_to_ras), name=f"b{b:g}")
               for b, v in zip(dwi.bvalues_s_mm2[::-1], dwi.data[::-1])]
    case = logic.processCase(scalars, str(patient.label_path), bValues=list(dwi.bvalues_s_mm2[::-1]), maps="none")
    assert case.rows[0]["D"] == pytest.approx(patient.truth["lesion"]["D_mm2_s"], rel=0.02)
    with pytest.raises(ValueError, match="needs their b-values"):
        logic.asDwiSequence(scalars)
    with pytest.raises(TypeError, match="is not a DWI"):
        logic.asDwiSequence(case.table)
