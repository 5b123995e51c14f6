"""Static checks of the Qt layer (VCFDiagnosis.py + Resources/UI/VCFDiagnosis.ui), which cannot run here.

Checked: every ``self.ui.<name>`` exists in the .ui; every custom widget class of the .ui is a real
Slicer/CTK class; every ``SlicerParameterName`` is a field of the parameter-node class; the module file
defines Slicer's Module / Widget / Test classes and passes ruff (pyflakes rules).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE_FILE = ROOT / "VCFDiagnosis" / "VCFDiagnosis.py"
UI_FILE = ROOT / "VCFDiagnosis" / "Resources" / "UI" / "VCFDiagnosis.ui"

#: Custom widget classes allowed in the .ui, each with where it is defined. Checked against Slicer's source
#: (GitHub Slicer/Slicer, main of 2026-08-21): the qMRML headers, and the CTK widgets that Slicer's own
#: .ui files use as custom widgets (CTK: GitHub commontk/CTK, Libs/Widgets and Libs/Visualization/VTK/Widgets).
SLICER_CUSTOM_WIDGETS = {
    "qMRMLWidget": "Libs/MRML/Widgets/qMRMLWidget.h",
    "qMRMLNodeComboBox": "Libs/MRML/Widgets/qMRMLNodeComboBox.h",
    "qMRMLCheckableNodeComboBox": "Libs/MRML/Widgets/qMRMLCheckableNodeComboBox.h",
    "qMRMLSegmentSelectorWidget": "Libs/MRML/Widgets/qMRMLSegmentSelectorWidget.h",
    "qMRMLTableView": "Libs/MRML/Widgets/qMRMLTableView.h",
    "qMRMLPlotWidget": "Libs/MRML/Widgets/qMRMLPlotWidget.h",
    "qMRMLPlotView": "Libs/MRML/Widgets/qMRMLPlotView.h",
    "qMRMLSpinBox": "Libs/MRML/Widgets/qMRMLSpinBox.h",
    "qMRMLSliderWidget": "Libs/MRML/Widgets/qMRMLSliderWidget.h",
    "qMRMLSegmentEditorWidget": "Modules/Loadable/Segmentations/Widgets/qMRMLSegmentEditorWidget.h",
    "qMRMLSubjectHierarchyComboBox": "Modules/Loadable/SubjectHierarchy/Widgets/qMRMLSubjectHierarchyComboBox.h",
    "ctkCollapsibleButton": "CTK Libs/Widgets/ctkCollapsibleButton.h",
    "ctkCollapsibleGroupBox": "CTK Libs/Widgets/ctkCollapsibleGroupBox.h",
    "ctkSliderWidget": "CTK Libs/Widgets/ctkSliderWidget.h",
    "ctkDoubleSpinBox": "CTK Libs/Widgets/ctkDoubleSpinBox.h",
    "ctkRangeWidget": "CTK Libs/Widgets/ctkRangeWidget.h",
    "ctkComboBox": "CTK Libs/Widgets/ctkComboBox.h",
    "ctkCheckBox": "CTK Libs/Widgets/ctkCheckBox.h",
    "ctkPushButton": "CTK Libs/Widgets/ctkPushButton.h",
    "ctkPathLineEdit": "CTK Libs/Widgets/ctkPathLineEdit.h",
    "ctkDirectoryButton": "CTK Libs/Widgets/ctkDirectoryButton.h",
    "ctkMenuButton": "CTK Libs/Widgets/ctkMenuButton.h",
    "ctkFittedTextBrowser": "CTK Libs/Widgets/ctkFittedTextBrowser.h",
}


def _ui_tree() -> ET.Element:
    return ET.parse(UI_FILE).getroot()


def _ui_widget_names() -> set[str]:
    return {w.get("name") for w in _ui_tree().iter() if w.tag in ("widget", "layout", "spacer") and w.get("name")}


def _module_ast() -> ast.Module:
    return ast.parse(MODULE_FILE.read_text())


def test_every_self_ui_attribute_exists_in_the_ui_file():
    used = set(re.findall(r"self\.ui\.([A-Za-z_]\w*)", MODULE_FILE.read_text()))
    assert used, "the widget should use self.ui"
    missing = sorted(used - _ui_widget_names())
    assert not missing, f"self.ui names not defined in {UI_FILE.name}: {missing}"


def test_every_custom_widget_class_is_a_real_slicer_or_ctk_class():
    declared = {cw.findtext("class") for cw in _ui_tree().iter("customwidget")}
    used_classes = {w.get("class") for w in _ui_tree().iter("widget")}
    unknown = sorted(declared - set(SLICER_CUSTOM_WIDGETS))
    assert not unknown, f"custom widget classes not in Slicer/CTK: {unknown}"
    qt_prefixes = ("Q",)
    undeclared = sorted(c for c in used_classes if not c.startswith(qt_prefixes) and c not in declared)
    assert not undeclared, f"widget classes used but not declared as custom widgets: {undeclared}"


def _parameter_node_fields() -> dict[str, str]:
    for node in _module_ast().body:
        if isinstance(node, ast.ClassDef) and any(
                isinstance(d, ast.Name) and d.id == "parameterNodeWrapper" for d in node.decorator_list):
            return {stmt.target.id: ast.unparse(stmt.annotation) for stmt in node.body
                    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)}
    raise AssertionError("no @parameterNodeWrapper class in VCFDiagnosis.py")


def test_every_slicer_parameter_name_is_a_parameter_node_field():
    fields = _parameter_node_fields()
    bound = [p.findtext("string") for p in _ui_tree().iter("property") if p.get("name") == "SlicerParameterName"]
    assert bound, "the .ui should bind widgets to the parameter node"
    unknown = sorted(set(bound) - set(fields))
    assert not unknown, f"SlicerParameterName without a parameter-node field: {unknown} (fields: {sorted(fields)})"
    assert len(bound) == len(set(bound)), "a parameter is bound to two widgets"


def test_module_file_defines_slicer_classes_and_reuses_the_lib_logic():
    classes = {n.name: [ast.unparse(b) for b in n.bases] for n in _module_ast().body if isinstance(n, ast.ClassDef)}
    assert classes["VCFDiagnosis"] == ["ScriptedLoadableModule"]
    assert "ScriptedLoadableModuleWidget" in classes["VCFDiagnosisWidget"]
    assert classes["VCFDiagnosisTest"] == ["ScriptedLoadableModuleTest"]
    text = MODULE_FILE.read_text()
    assert "from VCFDiagnosisLib.mrml.logic import" in text and "VCFDiagnosisLogic" in text
    assert "selftests.SELF_TESTS" in text
    assert "tryWithErrorDisplay" in text
    assert "pip_install" not in text and "pip_ensure" not in text, "nothing may be pip-installed at import"


def test_the_ui_file_is_loaded_by_its_resource_path():
    assert 'self.resourcePath("UI/VCFDiagnosis.ui")' in MODULE_FILE.read_text()
    assert _ui_tree().find("widget").get("class") == "qMRMLWidget"


@pytest.mark.skipif(shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
                    reason="ruff is not installed (pip install -e .[test])")
def test_module_file_and_lib_pass_ruff():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "check", "--select", "F,E9", "--line-length", "120", str(MODULE_FILE),
                             str(ROOT / "VCFDiagnosis" / "VCFDiagnosisLib"), str(ROOT / "Testing")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_parameter_node_fields_are_exactly_the_panel_settings():
    """Apply builds PanelSettings from the parameter node field by field: the two must list the same names."""
    import dataclasses

    from VCFDiagnosisLib.mrml.logic import PanelSettings

    assert set(_parameter_node_fields()) == {f.name for f in dataclasses.fields(PanelSettings)}


def test_file_reader_and_sample_data_follow_slicer_conventions():
    """qSlicerScriptedFileReader looks for <ModuleName>FileReader with these methods (qSlicerScriptedFileReader.cxx,
    ImportItkSnapLabel.py); SampleData sources register with registerCustomSampleDataSource (SampleData.py)."""
    classes = {n.name: {f.name for f in n.body if isinstance(f, ast.FunctionDef)}
               for n in _module_ast().body if isinstance(n, ast.ClassDef)}
    assert {"__init__", "description", "fileType", "extensions", "canLoadFile", "load"} <= classes[
        "VCFDiagnosisFileReader"]
    text = MODULE_FILE.read_text()
    assert "SampleData.SampleDataLogic.registerCustomSampleDataSource(" in text
    assert 'slicer.app.connect("startupCompleted()", registerSampleData)' in text
    assert "self.logic.applySettings(settings" in text, "Apply must be the one Logic call the self-test also runs"
