"""IVIM maps through the Logic: volume nodes on the DWI's exact (oblique) grid, names, units, statuses."""

from __future__ import annotations

import math

import numpy as np
import pytest
import slicer

from VCFDiagnosisLib.dwi.volume import DwiVolume
from VCFDiagnosisLib.ivim import FitStatus, ivim_signal
from VCFDiagnosisLib.mrml import nodes
from VCFDiagnosisLib.mrml.selftests import oblique_ijk_to_ras

BVALUES = np.array([0, 50, 100, 150, 200, 400, 600, 800], float)


def _synthetic_dwi(shape=(3, 6, 5)):
    rng = np.random.default_rng(4)
    truth = {"D": rng.uniform(0.5e-3, 2.0e-3, shape), "Dstar": rng.uniform(0.02, 0.08, shape),
             "f": rng.uniform(0.05, 0.3, shape), "S0": rng.uniform(500, 1500, shape)}
    signal = ivim_signal(BVALUES, truth["S0"], truth["D"], truth["Dstar"], truth["f"])
    return DwiVolume(BVALUES, np.moveaxis(signal, -1, 0).astype(np.float32), oblique_ijk_to_ras()), truth


def test_maps_have_the_dwi_grid_names_units_and_values(logic, scene):
    dwi, truth = _synthetic_dwi()
    sequence, _ = logic.addDwi(dwi, "IVIM series")
    created = logic.computeIvimMaps(sequence, method="nlls")
    assert set(created) == {"S0", "D", "Dstar", "f", "ADC", "R2", "status"}
    for stem, node in created.items():
        np.testing.assert_allclose(nodes.ijk_to_ras(node), dwi.ijk_to_ras, atol=1e-9, err_msg=stem)
        assert slicer.util.arrayFromVolume(node).shape == dwi.shape_kji
    assert created["D"].GetName() == "IVIM series D [mm2/s]"
    assert created["Dstar"].GetName() == "IVIM series D* [mm2/s]"
    assert created["f"].GetAttribute(nodes.UNIT_ATTRIBUTE) == "fraction"
    assert created["D"].GetAttribute("VCFDiagnosis.FitMethod") == "nlls"
    assert created["status"].IsA("vtkMRMLLabelMapVolumeNode")
    colors = created["status"].GetDisplayNode().GetColorNode()
    assert colors.GetColorName(int(FitStatus.HIT_BOUND)) == "converged on a parameter bound"
    display = created["D"].GetDisplayNode()
    assert (display.GetWindowLevelMin(), display.GetWindowLevelMax()) == pytest.approx((0.0, 3e-3))
    default = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")  # Slicer's own default display
    default.CreateDefaultDisplayNodes()  # the maps' display is Slicer's default but for the fixed window
    for stem in ("D", "Dstar", "f", "ADC", "R2"):
        shown = created[stem].GetDisplayNode()
        assert shown.IsA("vtkMRMLScalarVolumeDisplayNode") and not shown.GetAutoWindowLevel(), stem
        assert shown.GetColorNodeID() == default.GetDisplayNode().GetColorNodeID(), stem
        assert created[stem].GetNumberOfDisplayNodes() == 1, stem
    assert created["S0"].GetDisplayNode().GetAutoWindowLevel()  # no fixed range: Slicer's automatic window
    status = slicer.util.arrayFromVolume(created["status"])
    ok = status == FitStatus.OK
    assert ok.mean() > 0.9
    for stem, key, rtol in (("D", "D", 1e-4), ("f", "f", 1e-4), ("Dstar", "Dstar", 1e-3), ("S0", "S0", 1e-4)):
        np.testing.assert_allclose(slicer.util.arrayFromVolume(created[stem])[ok], truth[key][ok], rtol=rtol,
                                   err_msg=stem)


def test_roi_only_fit_on_a_phantom_leaves_the_rest_nan_with_status(logic, scene, tmp_path):
    case = logic.createPhantomCase(str(tmp_path), seed=8, group="metastatic", vendor="philips", snr=math.inf,
                                   matrix=48, n_slices=5)
    created = logic.computeIvimMaps(case.dwi_sequence, case.roi_segmentation, roiOnly=True)
    d = slicer.util.arrayFromVolume(created["D"])
    status = slicer.util.arrayFromVolume(created["status"])
    dwi = logic.dwiFromNode(case.dwi_sequence)
    mask = nodes.segment_mask_on_grid(case.roi_segmentation, "lesion", dwi.ijk_to_ras, dwi.shape_kji)
    assert np.isnan(d[~mask]).all() and (status[~mask] == FitStatus.NOT_FITTED).all()
    import json

    lesion = json.loads((tmp_path / case.case_id / "truth.json").read_text())["lesion"]
    assert np.nanmedian(d[mask]) == pytest.approx(lesion["D_mm2_s"], rel=0.02)
    assert np.nanmedian(slicer.util.arrayFromVolume(created["f"])[mask]) == pytest.approx(lesion["f_fraction"],
                                                                                          abs=0.01)


def test_roi_errors_are_clear(logic, scene):
    dwi, _ = _synthetic_dwi()
    sequence, _ = logic.addDwi(dwi, "IVIM series")
    with pytest.raises(ValueError, match="needs an ROI"):
        logic.computeIvimMaps(sequence, roiOnly=True)
    far = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "far away")
    reference = slicer.util.addVolumeFromArray(np.ones((2, 2, 2), np.uint8), np.diag([1, 1, 1, 1.0]) @ np.array(
        [[1, 0, 0, 500], [0, 1, 0, 500], [0, 0, 1, 500], [0, 0, 0, 1]], float))
    far.SetReferenceImageGeometryParameterFromVolumeNode(reference)
    segment = far.GetSegmentation().AddEmptySegment("lesion")
    slicer.util.updateSegmentBinaryLabelmapFromArray(np.ones((2, 2, 2), np.uint8), far, segment, reference)
    with pytest.raises(ValueError, match="no voxel inside the DWI"):
        logic.computeIvimMaps(sequence, far, roiOnly=True)
