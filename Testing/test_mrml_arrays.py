"""The MRML array helpers (VCFDiagnosisLib.mrml.arrays) against Slicer's own (slicer.util), on a real scene.

Each helper must give what its slicer.util counterpart gives (same voxels, shapes, types, geometry, segment
contents); and a whole case processed headless must not load VTK's umbrella module ``vtk`` (what the helpers
exist for: ~0.4 s of every command).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

MATRIX = np.array([[0.0, 0.8, 0.0, -30.0], [-1.2, 0.0, 0.0, 12.5], [0.0, 0.0, 4.0, 7.0], [0, 0, 0, 1]])


@pytest.fixture
def arrays(scene):
    from VCFDiagnosisLib.mrml import arrays

    return arrays


def _voxels(shape, dtype, seed=0):
    return (np.random.default_rng(seed).random(shape) * 1000).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.uint8, np.float64])
@pytest.mark.parametrize("node_class", ["vtkMRMLScalarVolumeNode", "vtkMRMLLabelMapVolumeNode"])
def test_add_volume_and_read_it_back_as_slicer_util_does(arrays, node_class, dtype):
    import slicer

    values = _voxels((5, 7, 9), dtype)
    ours = arrays.add_volume_from_array(values, MATRIX, "ours", node_class)
    theirs = slicer.util.addVolumeFromArray(values, MATRIX, "theirs", node_class)
    assert ours.GetClassName() == theirs.GetClassName() == node_class
    assert ours.GetImageData().GetScalarType() == theirs.GetImageData().GetScalarType()
    assert ours.GetImageData().GetDimensions() == theirs.GetImageData().GetDimensions() == (9, 7, 5)
    np.testing.assert_array_equal(arrays.array_from_volume(ours), slicer.util.arrayFromVolume(theirs))
    np.testing.assert_array_equal(arrays.array_from_volume(theirs), values)
    assert ours.GetDisplayNode() is not None and theirs.GetDisplayNode() is not None
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    matrix = vtkMatrix4x4()
    ours.GetIJKToRASMatrix(matrix)
    np.testing.assert_allclose(arrays.array_from_vtk_matrix(matrix), MATRIX, atol=1e-12)
    np.testing.assert_array_equal(arrays.array_from_vtk_matrix(matrix), slicer.util.arrayFromVTKMatrix(matrix))


def test_array_from_volume_is_a_writable_view(arrays):
    node = arrays.add_volume_from_array(np.zeros((2, 3, 4), np.float32), MATRIX, "view")
    arrays.array_from_volume(node)[1, 2, 3] = 42.0
    import slicer

    assert slicer.util.arrayFromVolume(node)[1, 2, 3] == 42.0


def test_update_volume_from_array_replaces_shape_and_type_and_notifies(arrays):
    import slicer

    node = arrays.add_volume_from_array(np.zeros((2, 3, 4), np.float32), MATRIX, "update")
    events = []
    tag = node.AddObserver(slicer.vtkMRMLVolumeNode.ImageDataModifiedEvent, lambda caller, event: events.append(event))
    values = _voxels((6, 5, 4), np.int16, seed=1)
    arrays.update_volume_from_array(node, values)
    node.RemoveObserver(tag)
    assert events, "no ImageDataModifiedEvent"
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(node), values)
    vector = _voxels((3, 4, 5, 2), np.float32, seed=2)
    vector_node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLVectorVolumeNode", "vector")
    arrays.update_volume_from_array(vector_node, vector)
    np.testing.assert_array_equal(slicer.util.arrayFromVolume(vector_node), vector)
    np.testing.assert_array_equal(arrays.array_from_volume(vector_node), vector)
    with pytest.raises(ValueError, match="64-bit"):
        arrays.update_volume_from_array(node, np.zeros((2, 2, 2), np.int64))
    with pytest.raises(ValueError, match="shape"):
        arrays.update_volume_from_array(node, np.zeros((2, 2), np.float32))


def test_segment_labelmap_round_trip_matches_slicer_util(arrays):
    import slicer

    reference = arrays.add_volume_from_array(np.zeros((6, 8, 10), np.float32), MATRIX, "reference")
    mask = np.zeros((6, 8, 10), np.uint8)
    mask[2:5, 3:6, 1:9] = 1
    mask[0, 0, 0] = 1
    segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "seg")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(reference)
    ours_id = segmentation.GetSegmentation().AddEmptySegment("ours", "ours")
    theirs_id = segmentation.GetSegmentation().AddEmptySegment("theirs", "theirs")
    arrays.update_segment_binary_labelmap_from_array(mask * 7, segmentation, ours_id, reference)  # non-zero: inside
    slicer.util.updateSegmentBinaryLabelmapFromArray(mask, segmentation, theirs_id, reference)

    def node_ids():
        return {slicer.mrmlScene.GetNthNode(i).GetID() for i in range(slicer.mrmlScene.GetNumberOfNodes())}

    slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)  # the scene's own, made on first use

    before = node_ids()
    ours = arrays.array_from_segment_binary_labelmap(segmentation, ours_id, reference)
    assert node_ids() == before  # the temporary label map, its colours and its display node are gone
    theirs = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, theirs_id, reference)
    assert ours.shape == theirs.shape == mask.shape
    np.testing.assert_array_equal(ours > 0, mask > 0)
    np.testing.assert_array_equal(ours > 0, theirs > 0)
    np.testing.assert_array_equal(slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, ours_id, reference) > 0,
                                  mask > 0)
    with pytest.raises(ValueError, match="has no segment 'no such segment'"):
        arrays.array_from_segment_binary_labelmap(segmentation, "no such segment", reference)
    from VCFDiagnosisLib.mrml import nodes

    before = node_ids()  # slicer.util's export above leaves its display node behind: counted from here
    with pytest.raises(ValueError, match="'seg' has no segment 'no such segment'"):
        nodes.segment_mask_on_grid(segmentation, "no such segment", MATRIX, mask.shape)
    assert node_ids() == before  # nor the grid volume made for the resampling
    np.testing.assert_array_equal(nodes.segment_mask_on_grid(segmentation, ours_id, MATRIX, mask.shape), mask > 0)


def test_a_headless_case_never_loads_the_vtk_umbrella_module(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from VCFDiagnosisLib.mrml import headless
        from VCFDiagnosisLib.phantom import generate_patient

        patient = generate_patient(Path({str(tmp_path)!r}) / "p", seed=2, group="metastatic", matrix=48, n_slices=4,
                                   fat_series=False)
        headless.initialize()
        from VCFDiagnosisLib.mrml.logic import VCFDiagnosisLogic

        case, written = VCFDiagnosisLogic().processCaseFiles(
            str(patient.dwi_dir), str(patient.segmentation_path), str(patient.rda_path), caseId="umbrella",
            outputDir=str(Path({str(tmp_path)!r}) / "out"))
        assert written["scene"] and written["report_png"], written
        print("rows", len(case.rows), "vtk loaded", "vtk" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rows 1 vtk loaded False" in result.stdout, result.stdout + result.stderr[-2000:]
