"""Structural checks of the Qt layer (VCFDiagnosis.py + Resources/UI/VCFDiagnosis.ui), which cannot run here.

The module file is parsed (its syntax tree, not its text) and the .ui read as XML. Checked: every ``self.ui.<name>``
exists in the .ui; every custom widget class is a real Slicer/CTK class; every ``SlicerParameterName`` is an input
of the parameter node and the inputs are exactly ``PanelInputs``; the settings part of the parameter node and its
widgets are generated from the settings model (no setting is named in the module file or the .ui); every signal
connected, every method called on a Slicer widget, every ``slicer.util`` function and every
``slicer.parameterNodeWrapper`` name exists in Slicer's source (recorded in ``Testing/Data/slicer_api.json`` by
``Utilities/extract_slicer_api.py``); Apply is the one Logic call the self-test also makes; nothing is
pip-installed except on the user's request.
"""

from __future__ import annotations

import ast
import dataclasses
import json
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


#: Qt signals used on plain Qt widgets (Qt 5 documentation: QAbstractButton, QComboBox, QLineEdit).
QT_SIGNALS = {
    "QPushButton": {"clicked()", "clicked(bool)", "pressed()", "released()", "toggled(bool)"},
    "QComboBox": {"currentIndexChanged(int)", "currentTextChanged(QString)", "activated(int)"},
    "QLineEdit": {"textChanged(QString)", "editingFinished()", "returnPressed()"},
}
SLICER_API = json.loads((ROOT / "Testing" / "Data" / "slicer_api.json").read_text())


def _ui_tree() -> ET.Element:
    return ET.parse(UI_FILE).getroot()


def _ui_widget_classes() -> dict[str, str]:
    return {w.get("name"): w.get("class") for w in _ui_tree().iter() if w.tag in ("widget", "layout", "spacer")
            and w.get("name")}


def _module_ast() -> ast.Module:
    return ast.parse(MODULE_FILE.read_text())


def _widget_class() -> ast.ClassDef:
    return next(n for n in _module_ast().body if isinstance(n, ast.ClassDef) and n.name == "VCFDiagnosisWidget")


def _ui_attribute(node: ast.AST) -> str | None:
    """Return X for an expression ``self.ui.X``, else None."""
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "ui"
            and isinstance(node.value.value, ast.Name) and node.value.value.id == "self"):
        return node.attr
    return None


def _slicer_classes(name: str) -> list[dict]:
    """Return the recorded API of a Slicer class and of its recorded bases."""
    chain = []
    while name:
        entry = SLICER_API["classes"][name]
        chain.append(entry)
        name = entry["base"]
    return chain


def _settings_names() -> set[str]:
    from VCFDiagnosisLib.analysis.settings import CaseSettings

    return {f.name for f in dataclasses.fields(CaseSettings)}


def test_every_self_ui_attribute_exists_in_the_ui_file():
    used = {name for node in ast.walk(_module_ast()) if (name := _ui_attribute(node))}
    assert len(used) > 10, "the widget should use self.ui"
    missing = sorted(used - set(_ui_widget_classes()))
    assert not missing, f"self.ui names not defined in {UI_FILE.name}: {missing}"


def test_every_custom_widget_class_is_a_real_slicer_or_ctk_class():
    declared = {cw.findtext("class") for cw in _ui_tree().iter("customwidget")}
    used_classes = {w.get("class") for w in _ui_tree().iter("widget")}
    unknown = sorted(declared - set(SLICER_CUSTOM_WIDGETS))
    assert not unknown, f"custom widget classes not in Slicer/CTK: {unknown}"
    undeclared = sorted(c for c in used_classes if not c.startswith("Q") and c not in declared)
    assert not undeclared, f"widget classes used but not declared as custom widgets: {undeclared}"


def _assignment(name: str) -> ast.AST:
    for node in _module_ast().body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return node.value
    raise AssertionError(f"VCFDiagnosis.py assigns no {name}")


def test_parameter_node_is_the_inputs_plus_the_generated_settings():
    """The parameter node's inputs are the Logic's PanelInputs (their node types read by get_type_hints, which is
    run here on slicer-core's real MRML classes), each bound to one .ui widget; its settings are generated."""
    import typing

    import slicer

    from VCFDiagnosisLib.mrml.logic import PanelInputs

    inputs = [f.name for f in dataclasses.fields(PanelInputs)]
    hints = typing.get_type_hints(PanelInputs)
    node_fields = {name for name, kind in hints.items()
                   if any(isinstance(k, type) and issubclass(k, slicer.vtkMRMLNode) for k in (kind, *typing.get_args(kind)))}
    assert node_fields == {"dwiSequence", "roiSegmentation", "outputTable"}
    assert typing.get_origin(hints["dwiSequence"]) is typing.Union, "parameterNodeWrapper needs typing.Union, not |"
    bound = [p.findtext("string") for p in _ui_tree().iter("property") if p.get("name") == "SlicerParameterName"]
    assert sorted(bound) == sorted(inputs), "every input is bound to one .ui widget, and nothing else is"
    assert ast.unparse(_assignment("PANEL_SETTINGS")) == "setting_specs(panel_only=True)"
    wrapper = _assignment("VCFDiagnosisParameterNode")
    assert isinstance(wrapper, ast.Call) and ast.unparse(wrapper.func) == "parameterNodeWrapper"
    assert "**typing.get_type_hints(PanelInputs)" in ast.unparse(wrapper), "the inputs come from PanelInputs"
    generated = [c for c in ast.walk(wrapper) if isinstance(c, ast.DictComp)]
    assert any(ast.unparse(c.generators[0].iter) == "PANEL_SETTINGS" and "settingParameterType" in ast.unparse(c.value)
               for c in generated), "the settings' parameter types must be generated from PANEL_SETTINGS"
    assert any(ast.unparse(c.generators[0].iter) == "PANEL_SETTINGS" and ast.unparse(c.value) == "spec.default"
               for c in generated), "the settings' defaults must come from PANEL_SETTINGS"
    # no setting is defined in the module file or bound in the .ui: one definition, in the settings model
    annotated = {s.target.id for n in ast.walk(_module_ast()) if isinstance(n, ast.ClassDef)
                 for s in n.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}
    assert not annotated & _settings_names() and not set(bound) & _settings_names()


def test_setting_widgets_are_made_from_the_parameter_types_and_bound_by_name():
    method = next(f for f in _widget_class().body if isinstance(f, ast.FunctionDef) and f.name == "_addSettingWidgets")
    text = ast.unparse(method)
    assert "for spec in PANEL_SETTINGS" in text
    assert "createGui(VCFDiagnosisParameterNode.dataType(spec.name))" in text
    assert "widget.setProperty('SlicerParameterName', spec.name)" in text
    assert "setattr(self.ui," in text, "connectGui(self.ui) binds only widgets found in self.ui"
    setup = next(f for f in _widget_class().body if isinstance(f, ast.FunctionDef) and f.name == "setup")
    calls = [ast.unparse(c.func) for c in ast.walk(setup) if isinstance(c, ast.Call)]
    assert calls.index("self._addSettingWidgets") < calls.index("self.initializeParameterNode"), (
        "the setting widgets must exist before connectGui binds the parameter node")


def _connect_calls():
    for node in ast.walk(_module_ast()):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "connect"
                and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.func.value, node.args[0].value, node.args[1] if len(node.args) > 1 else None


def test_every_connected_signal_exists_in_slicer_or_qt():
    classes = _ui_widget_classes()
    handlers = {f.name for f in _widget_class().body if isinstance(f, ast.FunctionDef)}
    functions = {f.name for f in _module_ast().body if isinstance(f, ast.FunctionDef)}
    checked = 0
    for sender, signal, handler in _connect_calls():
        name = _ui_attribute(sender)
        if name is not None:
            widget_class = classes[name]
        elif ast.unparse(sender) == "slicer.app":
            widget_class = "qSlicerApplication"
        elif ast.unparse(sender) == "slicer.qSlicerSegmentEditorEffectFactory.instance()":
            widget_class = "qSlicerSegmentEditorEffectFactory"
        else:
            raise AssertionError(f"unchecked connection {ast.unparse(sender)}.connect({signal!r})")
        known = (QT_SIGNALS[widget_class] if widget_class in QT_SIGNALS
                 else {s for entry in _slicer_classes(widget_class) for s in entry["signals"]})
        assert signal in known, f"{widget_class} has no signal {signal} (known: {sorted(known)})"
        target = ast.unparse(handler)
        assert (target.startswith("self.") and target[5:] in handlers) or target in functions or "." in target, target
        checked += 1
    assert checked >= 8


def test_every_method_called_on_a_slicer_widget_exists():
    """Calls on ``self.ui.X`` and on local names bound to it (``editor = self.ui.segmentEditorWidget``)."""
    classes = _ui_widget_classes()
    checked = 0
    for function in (f for f in ast.walk(_module_ast()) if isinstance(f, ast.FunctionDef)):
        aliases = {target.id: name for node in ast.walk(function) if isinstance(node, ast.Assign)
                   and (name := _ui_attribute(node.value)) for target in node.targets if isinstance(target, ast.Name)}
        for node in ast.walk(function):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = node.func.value
            name = _ui_attribute(receiver) or (aliases.get(receiver.id) if isinstance(receiver, ast.Name) else None)
            if name and classes.get(name) in SLICER_API["classes"] and node.func.attr != "connect":  # QObject
                callables = {c for entry in _slicer_classes(classes[name]) for c in entry["callables"]}
                assert node.func.attr in callables, f"{classes[name]} has no slot/invokable {node.func.attr}"
                checked += 1
    assert checked >= 12


def test_every_slicer_util_and_parameter_node_wrapper_name_exists():
    util = set(SLICER_API["python"]["slicer.util"])
    wrapper = set(SLICER_API["python"]["slicer.parameterNodeWrapper"])
    used = {node.attr for node in ast.walk(_module_ast()) if isinstance(node, ast.Attribute)
            and ast.unparse(node.value) == "slicer.util"}
    for node in ast.walk(_module_ast()):
        if isinstance(node, ast.ImportFrom) and node.module == "slicer.util":
            used |= {a.name for a in node.names}
        if isinstance(node, ast.ImportFrom) and node.module == "slicer.parameterNodeWrapper":
            missing = {a.name for a in node.names} - wrapper
            assert not missing, f"slicer.parameterNodeWrapper has no {missing}"
    assert len(used) >= 6 and not used - util, f"slicer.util has no {sorted(used - util)}"


def test_apply_is_the_logic_call_the_self_test_makes():
    method = next(f for f in _widget_class().body if isinstance(f, ast.FunctionDef) and f.name == "onApplyButton")
    calls = {ast.unparse(c) for c in ast.walk(method) if isinstance(c, ast.Call)}
    assert "PanelInputs.from_object(self._parameterNode)" in calls
    assert "CaseSettings.from_object(self._parameterNode)" in calls
    assert "self.logic.applySettings(inputs, settings, progressCallback=report)" in calls
    selftests = (ROOT / "VCFDiagnosis" / "VCFDiagnosisLib" / "mrml" / "selftests.py").read_text()
    assert "logic.applySettings(inputs, CaseSettings(" in selftests


def test_nothing_is_installed_except_on_the_users_request():
    for node in ast.walk(_module_ast()):
        if isinstance(node, ast.FunctionDef):
            for call in ast.walk(node):
                if isinstance(call, ast.Call) and ast.unparse(call.func).startswith("slicer.util.pip_"):
                    assert node.name == "installCohortExtras", f"{node.name} installs packages"
    module_level = [n for n in _module_ast().body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert "pip_" not in "".join(ast.unparse(n) for n in module_level)


def test_module_file_defines_slicer_classes_and_reuses_the_lib_logic():
    classes = {n.name: [ast.unparse(b) for b in n.bases] for n in _module_ast().body if isinstance(n, ast.ClassDef)}
    assert classes["VCFDiagnosis"] == ["ScriptedLoadableModule"]
    assert "ScriptedLoadableModuleWidget" in classes["VCFDiagnosisWidget"]
    assert classes["VCFDiagnosisTest"] == ["ScriptedLoadableModuleTest"]
    imports = {(n.module, a.name) for n in ast.walk(_module_ast()) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert ("VCFDiagnosisLib.mrml.logic", "VCFDiagnosisLogic") in imports
    run_test = next(f for c in _module_ast().body if isinstance(c, ast.ClassDef) and c.name == "VCFDiagnosisTest"
                    for f in c.body if isinstance(f, ast.FunctionDef) and f.name == "runTest")
    assert any(ast.unparse(loop.iter) == "selftests.SELF_TESTS" for loop in ast.walk(run_test)
               if isinstance(loop, ast.For))


def test_the_ui_file_is_loaded_by_its_resource_path():
    setup = next(f for f in _widget_class().body if isinstance(f, ast.FunctionDef) and f.name == "setup")
    calls = {ast.unparse(c) for c in ast.walk(setup) if isinstance(c, ast.Call)}
    assert "slicer.util.loadUI(self.resourcePath('UI/VCFDiagnosis.ui'))" in calls
    assert _ui_tree().find("widget").get("class") == "qMRMLWidget"


@pytest.mark.skipif(shutil.which("ruff") is None and not (Path(sys.executable).parent / "ruff").exists(),
                    reason="ruff is not installed (pip install -e .[test])")
def test_module_file_and_lib_pass_ruff():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "check", "--select", "F,E9", "--line-length", "120", str(MODULE_FILE),
                             str(ROOT / "VCFDiagnosis" / "VCFDiagnosisLib"), str(ROOT / "Testing")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_file_reader_and_sample_data_follow_slicer_conventions():
    """qSlicerScriptedFileReader looks for <ModuleName>FileReader with these methods (qSlicerScriptedFileReader.cxx,
    ImportItkSnapLabel.py); SampleData sources register with registerCustomSampleDataSource (SampleData.py)."""
    classes = {n.name: {f.name for f in n.body if isinstance(f, ast.FunctionDef)}
               for n in _module_ast().body if isinstance(n, ast.ClassDef)}
    assert {"__init__", "description", "fileType", "extensions", "canLoadFile", "load"} <= classes[
        "VCFDiagnosisFileReader"]
    calls = {ast.unparse(c.func) for c in ast.walk(_module_ast()) if isinstance(c, ast.Call)}
    assert "SampleData.SampleDataLogic.registerCustomSampleDataSource" in calls
