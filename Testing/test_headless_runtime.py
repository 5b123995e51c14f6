"""The headless Slicer runtime: real MRML classes, module logics, base classes, and a clear failure mode."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest


def test_runtime_provides_real_mrml_scene_and_logics(slicer_runtime, scene):
    import slicer

    assert slicer.mrmlScene is scene
    assert scene.IsA("vtkMRMLScene")
    for name, class_name in {"volumes": "vtkSlicerVolumesLogic", "segmentations": "vtkSlicerSegmentationsModuleLogic",
                             "sequences": "vtkSlicerSequencesLogic", "tables": "vtkSlicerTablesLogic"}.items():
        assert getattr(slicer.modules, name).logic().IsA(class_name)
    assert scene.GetNumberOfNodesByClass("vtkMRMLColorTableNode") > 10  # default colour tables


def test_segment_helpers_work_through_module_logic_lookup(scene):
    """Converter rules are registered: segments can be created and filled from numpy."""
    import slicer

    volume = slicer.util.addVolumeFromArray(np.zeros((4, 5, 6), np.float32), np.diag([2.0, 2.0, 3.0, 1.0]))
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    segment_id = segmentation.GetSegmentation().AddEmptySegment("lesion")
    assert segment_id == "lesion"
    mask = np.zeros((4, 5, 6), np.uint8)
    mask[1:3, 2:4, 2:5] = 1
    slicer.util.updateSegmentBinaryLabelmapFromArray(mask, segmentation, segment_id, volume)
    back = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segment_id, volume)
    assert int(back.sum()) == 12
    np.testing.assert_array_equal(back, mask)


def test_scene_is_cleared_between_tests_part1(scene):
    scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "left-over")
    assert scene.GetFirstNodeByName("left-over") is not None


def test_scene_is_cleared_between_tests_part2(scene):
    assert scene.GetFirstNodeByName("left-over") is None


def test_logic_base_class_parameter_node_is_singleton(logic, scene):
    first = logic.getParameterNode()
    assert first.IsA("vtkMRMLScriptedModuleNode")
    assert first.GetAttribute("ModuleName") == "VCFDiagnosis"
    assert logic.getParameterNode() is first or logic.getParameterNode().GetID() == first.GetID()
    assert scene.GetNumberOfNodesByClass("vtkMRMLScriptedModuleNode") == 1


def test_module_and_widget_base_classes_raise_headless(slicer_runtime):
    import slicer

    base = slicer.ScriptedLoadableModule
    for cls in (base.ScriptedLoadableModule, base.ScriptedLoadableModuleWidget):
        with pytest.raises(RuntimeError, match="needs the 3D Slicer application"):
            cls(None)


def test_wrong_slicer_package_fails_fast_with_a_clear_message(tmp_path):
    """A 'slicer' package that is not slicer-core (e.g. PyPI's 'slicer') is named in the error."""
    fake = tmp_path / "slicer"
    fake.mkdir()
    (fake / "__init__.py").write_text("# a package named slicer that is not Slicer\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from VCFDiagnosisLib.mrml.headless import require_slicer, SlicerCoreMissingError\n"
            "try:\n    require_slicer()\nexcept SlicerCoreMissingError as e:\n    print('ERR', e); sys.exit(7)")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 7, result.stderr
    assert "has no vtkMRMLScene" in result.stdout and "slicer-core==5.11.0.6" in result.stdout
