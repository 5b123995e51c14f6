"""VCFDiagnosis: IVIM diffusion and MR spectroscopy of vertebral compression fractures (3D Slicer module).

This file holds only what needs the Slicer application: the module description, the Qt panel (thin,
bound to a parameter node), the spectrum file reader, the sample data and the self-test entry point.
Every computation is in ``VCFDiagnosisLib`` (the Logic in ``VCFDiagnosisLib.mrml.logic``), which Slicer's
Python console, the ``vcfdiagnosis`` command and the tests call the same way. Apply is one Logic call,
``VCFDiagnosisLogic.applySettings``. Results are research outputs, never a diagnosis.

Slicer APIs used here were checked against Slicer's source (main, 2026-08): Utilities/Templates/Modules/
Scripted/TemplateKey.py, Base/Python/slicer/ScriptedLoadableModule.py, Base/Python/slicer/parameterNodeWrapper/
(guiConnectors.py, validators.py), Modules/Scripted/SegmentEditor/SegmentEditor.py, Modules/Loadable/
Segmentations/Widgets/qMRMLSegmentEditorWidget.h, Base/QTCore/qSlicerScriptedFileReader.cxx,
Modules/Scripted/ImportItkSnapLabel/ImportItkSnapLabel.py (file reader), Modules/Scripted/SampleData/SampleData.py.
"""

import dataclasses
import hashlib
import json
import logging
import os
import typing
from typing import Annotated

import ctk
import qt
import slicer
import vtk
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, Maximum, Minimum, WithinRange, createGui, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from VCFDiagnosisLib.analysis.settings import GROUPS, CaseSettings, SettingSpec, setting_specs
from VCFDiagnosisLib.mrml import selftests
from VCFDiagnosisLib.mrml.logic import RESEARCH_USE_NOTE, PanelInputs, ProcessingCancelled, VCFDiagnosisLogic

SAMPLE_CATEGORY = "VCFDiagnosis"
SAMPLE_NAME = "VCFDiagnosisSyntheticPatient"


class VCFDiagnosis(ScriptedLoadableModule):
    """Module description shown in Slicer's module list and help panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("VCF Diagnosis")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = ["Segmentations", "Sequences", "Plots", "Markups"]
        self.parent.contributors = ["VCFDiagnosis developers (VCFDiagnosis project)"]
        self.parent.helpText = _(
            "Quantitative IVIM diffusion (D, D*, f, ADC) and single-voxel MR spectroscopy (LWR, FF) of a "
            "vertebral compression fracture, with the logistic models of Tan et al. 2019 (J Orthop Surg Res "
            "14:299). <b>Research use only: not a diagnosis.</b> See the README of the extension."
        )
        self.parent.acknowledgementText = _("Reproduces the methods of Tan et al. 2019. Built on 3D Slicer.")
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    """Register a synthetic patient in the Sample Data module: generated on demand, so it works offline."""
    import SampleData

    iconsPath = os.path.join(os.path.dirname(__file__), "Resources", "Icons")
    SampleData.SampleDataLogic.registerCustomSampleDataCategory(SAMPLE_CATEGORY, title=_("VCF Diagnosis"))
    SampleData.SampleDataLogic.registerCustomSampleDataSource(
        category=SAMPLE_CATEGORY,
        sampleName=SAMPLE_NAME,
        thumbnailFileName=os.path.join(iconsPath, "VCFDiagnosis.png"),
        uris=[],  # generated on demand, offline (SampleDataSource requires the lists)
        fileNames=[],
        customDownloader=loadSyntheticPatient,
    )


def installCohortExtras():
    """Install the optional packages (statsmodels, matplotlib, highdicom) into Slicer's Python, on request only.

    Run it from Slicer's Python console (``import VCFDiagnosis; VCFDiagnosis.installCohortExtras()``) before the
    cohort statistics; nothing is installed at import time.
    """
    from VCFDiagnosisLib.cohort.group_tests import EXTRA_PACKAGES

    slicer.util.pip_install(EXTRA_PACKAGES)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def loadSyntheticPatient(source=None):
    """Generate (once) the synthetic sample patient, verify its files against their checksums, load it.

    Called by the Sample Data button (SampleData ignores the return value and errors, so they are shown here).
    """
    with slicer.util.tryWithErrorDisplay(_("Could not load the VCFDiagnosis sample patient."), waitCursor=True):
        return _loadSyntheticPatient()


def _loadSyntheticPatient():
    from VCFDiagnosisLib.phantom import generate_patient

    folder = os.path.join(slicer.app.temporaryPath, "VCFDiagnosisSample")
    caseDir = os.path.join(folder, "phantom-metastatic-1")
    checksumsPath = os.path.join(folder, "checksums.json")
    if not os.path.isfile(checksumsPath):
        patient = generate_patient(folder, seed=1, group="metastatic", vendor="siemens", force=True)
        files = [p for p in sorted(patient.case_dir.rglob("*")) if p.is_file()]
        checksums = {str(p.relative_to(folder)): _sha256(p) for p in files}
        with open(checksumsPath, "w") as handle:
            json.dump(checksums, handle, indent=1)
    with open(checksumsPath) as handle:
        checksums = json.load(handle)
    changed = [name for name, digest in checksums.items()
               if not os.path.isfile(os.path.join(folder, name)) or _sha256(os.path.join(folder, name)) != digest]
    if changed:
        os.remove(checksumsPath)
        raise RuntimeError(_("Sample files changed on disk ({files}); load the sample again to regenerate it.")
                           .format(files=", ".join(changed[:3])))
    caseNodes = VCFDiagnosisLogic().loadPhantomCase(caseDir)
    return caseNodes.all_nodes()


#: The settings the panel shows, from the one settings model (VCFDiagnosisLib.analysis.settings.CaseSettings).
PANEL_SETTINGS = setting_specs(panel_only=True)
_PYTHON_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def settingParameterType(spec: SettingSpec):
    """Return the parameter-node type of one setting: its Python type annotated with Slicer's validators."""
    valueType = _PYTHON_TYPES[spec.type]
    if spec.choices:
        return Annotated[valueType, Choice(list(spec.choices))]
    if spec.minimum is not None and spec.maximum is not None:
        return Annotated[valueType, WithinRange(valueType(spec.minimum), valueType(spec.maximum))]
    if spec.minimum is not None:
        return Annotated[valueType, Minimum(valueType(spec.minimum))]
    if spec.maximum is not None:
        return Annotated[valueType, Maximum(valueType(spec.maximum))]
    return valueType


#: The panel's parameter node, saved with the scene: the Logic's PanelInputs (node types and defaults, bound by name
#: to the .ui) plus one typed, validated parameter per setting of the settings model (its name, default, choices
#: and range), so neither a new input nor a new setting needs an edit here.
VCFDiagnosisParameterNode = parameterNodeWrapper(type("VCFDiagnosisParameterNode", (), {
    "__module__": __name__,
    "__doc__": "The panel's inputs and settings (see PanelInputs and CaseSettings for meanings and units).",
    "__annotations__": {**typing.get_type_hints(PanelInputs),
                        **{spec.name: settingParameterType(spec) for spec in PANEL_SETTINGS}},
    **{f.name: f.default for f in dataclasses.fields(PanelInputs) if f.default is not None},  # nodes: no default
    **{spec.name: spec.default for spec in PANEL_SETTINGS},
}))


class VCFDiagnosisWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module panel: every button is one Logic call; the Logic never touches the GUI."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._lastCase = None  # the CaseResult of the last Apply (for Export DICOM results)
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/VCFDiagnosis.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        self.ui.segmentEditorWidget.setMRMLSegmentEditorNode(self._segmentEditorNode())  # as SegmentEditor.py
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = VCFDiagnosisLogic()
        self.ui.researchUseLabel.text = RESEARCH_USE_NOTE
        self._addSettingWidgets()
        slicer.qSlicerSegmentEditorEffectFactory.instance().connect(
            "effectRegistered(QString)", self.ui.segmentEditorWidget.updateEffectList)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.loadDwiFolderButton.connect("clicked(bool)", self.onLoadDwiFolder)
        self.ui.loadSpectrumButton.connect("clicked(bool)", self.onLoadSpectrum)
        self.ui.loadFatButton.connect("clicked(bool)", self.onLoadFat)
        self.ui.loadPhantomButton.connect("clicked(bool)", self.onLoadPhantom)
        self.ui.createRoiButton.connect("clicked(bool)", self.onCreateRoi)
        self.ui.roiFromMrsVoxelButton.connect("clicked(bool)", self.onRoiFromMrsVoxel)
        self.ui.applyButton.connect("clicked(bool)", self.onApplyButton)
        self.ui.exportDicomButton.connect("clicked(bool)", self.onExportDicom)
        self.ui.dwiSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.onDwiSelected)
        self.initializeParameterNode()

    def _addSettingWidgets(self) -> None:
        """Add one widget per setting, made by Slicer's parameterNodeWrapper from the setting's parameter type
        (combo box for choices, slider with spin box for a range, spin box for one bound), with the model's label,
        help, unit, decimals and step. The "fit" group goes to the Settings section (its "advanced" settings in a
        collapsed sub-section), the "outputs" group to the Outputs section above Apply. connectGui binds them by
        their SlicerParameterName. Decimals and step are set on the widget, not as Decimals/SingleStep
        annotations, which the wrapper's class check would report as unused."""
        settingsForm = self.ui.optionsCollapsibleButton.layout()
        advanced = ctk.ctkCollapsibleButton()
        advanced.text = _(GROUPS["advanced"])
        advanced.collapsed = True
        outputsForm = self.ui.outputsCollapsibleButton.layout()
        forms = {"fit": settingsForm, "advanced": qt.QFormLayout(advanced), "outputs": outputsForm}
        settingsForm.addRow(advanced)
        nextOutputRow = 1  # below the results table selector, above the keep-outputs box and Apply
        for spec in PANEL_SETTINGS:
            widget = createGui(VCFDiagnosisParameterNode.dataType(spec.name))
            widget.setProperty("SlicerParameterName", spec.name)
            widget.toolTip = spec.tooltip
            if spec.type == "float":
                widget.decimals = spec.decimals
                widget.singleStep = spec.step
            if spec.unit and spec.unit != "fraction" and hasattr(widget, "suffix"):
                widget.suffix = f" {spec.unit}"
            if spec.group == "outputs":
                outputsForm.insertRow(nextOutputRow, _(spec.label) + ":", widget)
                nextOutputRow += 1
            else:
                forms[spec.group].addRow(_(spec.label) + ":", widget)
            setattr(self.ui, f"{spec.name}Setting", widget)  # connectGui binds the widgets it finds in self.ui

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()
        self.ui.segmentEditorWidget.installKeyboardShortcuts()

    def exit(self) -> None:
        self.ui.segmentEditorWidget.setActiveEffect(None)
        self.ui.segmentEditorWidget.uninstallKeyboardShortcuts()
        self.ui.segmentEditorWidget.removeViewObservations()
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)
        self.ui.segmentEditorWidget.setSegmentationNode(None)
        self.ui.segmentEditorWidget.removeViewObservations()
        self.ui.diagnosisLabel.text = ""
        self.ui.statusLabel.text = ""

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def _segmentEditorNode(self):
        tag = "VCFDiagnosisSegmentEditor"
        node = slicer.mrmlScene.GetSingletonNode(tag, "vtkMRMLSegmentEditorNode")
        if node is None:
            node = slicer.mrmlScene.CreateNodeByClass("vtkMRMLSegmentEditorNode")
            node.UnRegister(None)
            node.SetSingletonTag(tag)
            node = slicer.mrmlScene.AddNode(node)
        return node

    def initializeParameterNode(self) -> None:
        self.setParameterNode(VCFDiagnosisParameterNode(self.logic.getParameterNode()))
        if not self._parameterNode.dwiSequence:
            sequences = slicer.util.getNodesByClass("vtkMRMLSequenceNode")
            volumes = [s for s in sequences if s.GetDataNodeClassName() == "vtkMRMLScalarVolumeNode"]
            if volumes:
                self._parameterNode.dwiSequence = volumes[0]

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._onParameterNodeModified)
            self._onParameterNodeModified()

    def _onParameterNodeModified(self, caller=None, event=None) -> None:
        """Keep the segment editor and the buttons in step with the parameter node (cheap: no data read)."""
        parameters = self._parameterNode
        dwi = parameters.dwiSequence
        editor = self.ui.segmentEditorWidget
        if editor.segmentationNode() is not parameters.roiSegmentation:
            editor.setSegmentationNode(parameters.roiSegmentation)
        # the editor follows the segmentation's reference volume: point it at the current b-image every time
        proxy = self.logic.dwiProxyNode(dwi) if dwi and dwi.IsA("vtkMRMLSequenceNode") else None
        if proxy is not None and editor.sourceVolumeNode() is not proxy:
            editor.setSourceVolumeNode(proxy)
        ready = bool(dwi and parameters.roiSegmentation)
        self.ui.applyButton.enabled = ready
        self.ui.applyButton.toolTip = _("Fit, quantify and tabulate") if ready else _("Select a DWI and an ROI")
        self.ui.roiFromMrsVoxelButton.enabled = bool(dwi and parameters.spectrumPath)
        self.ui.createRoiButton.enabled = bool(dwi)

    def onDwiSelected(self, node) -> None:
        """The user picked a DWI: show its b-values (volume order); browse a DWI volume node as a b-sequence."""
        if self._parameterNode is None:
            return
        with slicer.util.tryWithErrorDisplay(_("This node cannot be used as a DWI.")):
            if node is not None and not node.IsA("vtkMRMLSequenceNode"):
                node = self.logic.asDwiSequence(node)
                self._parameterNode.dwiSequence = node
            self._parameterNode.bValues = (", ".join(f"{b:g}" for b in self.logic.bValuesOfNode(node))
                                           if node is not None else "")

    def onLoadDwiFolder(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(None, _("Select a DWI DICOM folder"))
        if not folder:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not load the DWI."), waitCursor=True):
            sequence, _browser = self.logic.loadDwi(folder)
            self._parameterNode.dwiSequence = sequence
            self.ui.statusLabel.text = _("Loaded {name}").format(name=sequence.GetName())

    def onLoadSpectrum(self) -> None:
        path = qt.QFileDialog.getOpenFileName(None, _("Select a single-voxel spectrum"), "",
                                              _("Spectra (*.rda *.dcm *.IMA *.ima *.SPAR *.spar *.SDAT *.sdat "
                                                "*.nii *.nii.gz);;All files (*)"))
        if not path:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not load the spectrum."), waitCursor=True):
            loaded = self.logic.loadSpectrum(path, waterT2ms=self._parameterNode.water_t2_ms or None,
                                             fatT2ms=self._parameterNode.fat_t2_ms or None)
            self._parameterNode.spectrumPath = path
            if loaded.chart:
                slicer.modules.plots.logic().ShowChartInLayout(loaded.chart)
            self.ui.statusLabel.text = _("Spectrum: LWR {lwr:.3g}, FF {ff:.3g} %").format(
                lwr=loaded.result.lwr, ff=loaded.result.ff_percent)

    def onLoadFat(self) -> None:
        """Read a water-fat folder (fit its echoes or read the scanner's maps) and show PDFF over the anatomy."""
        folder = qt.QFileDialog.getExistingDirectory(None, _("Select a water-fat DICOM folder (multi-echo GRE or "
                                                             "the scanner's PDFF/R2* maps)"))
        if not folder:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not read the water-fat folder."), waitCursor=True):
            settings = CaseSettings.from_object(self._parameterNode)
            maps = self.logic.computeFatMaps(folder, settings=settings)
            self._parameterNode.fatPath = folder
            slicer.util.setSliceViewerLayers(foreground=maps["PDFF"], foregroundOpacity=0.6)
            self.ui.statusLabel.text = maps["PDFF"].GetAttribute("VCFDiagnosis.FatMaps")

    def onLoadPhantom(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not create the synthetic patient."), waitCursor=True):
            outputDir = os.path.join(slicer.app.temporaryPath, "VCFDiagnosisPhantoms")
            caseNodes = self.logic.createPhantomCase(outputDir, seed=1, group="metastatic", force=True)
            self._parameterNode.dwiSequence = caseNodes.dwi_sequence
            self._parameterNode.roiSegmentation = caseNodes.roi_segmentation
            self._parameterNode.caseId = caseNodes.case_id
            self._parameterNode.spectrumPath = os.path.join(outputDir, caseNodes.case_id, "mrs", "lesion.rda")
            self._parameterNode.fatPath = os.path.join(outputDir, caseNodes.case_id, "fat", "echoes")
            self.ui.statusLabel.text = _("Synthetic patient {case} loaded").format(case=caseNodes.case_id)

    def onCreateRoi(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not create the ROI."), waitCursor=True):
            name = f"{self._parameterNode.caseId or self._parameterNode.dwiSequence.GetName()} ROI"
            self._parameterNode.roiSegmentation = self.logic.createRoiSegmentation(self._parameterNode.dwiSequence,
                                                                                  name)

    def onRoiFromMrsVoxel(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not create the ROI from the MRS voxel."), waitCursor=True):
            spectrum = self.logic.loadSpectrum(self._parameterNode.spectrumPath,
                                               waterT2ms=self._parameterNode.water_t2_ms or None,
                                               fatT2ms=self._parameterNode.fat_t2_ms or None)
            self._parameterNode.roiSegmentation = self.logic.roiFromMrsVoxel(spectrum,
                                                                             self._parameterNode.dwiSequence)

    def onApplyButton(self) -> None:
        inputs = PanelInputs.from_object(self._parameterNode)
        progress = slicer.util.createProgressDialog(labelText=_("Processing..."), maximum=100,
                                                    windowModality=qt.Qt.ApplicationModal, autoClose=False,
                                                    autoReset=False)

        def report(fraction, message):
            progress.labelText = message
            progress.value = int(100 * fraction)
            slicer.app.processEvents()
            return not progress.wasCanceled

        case = None
        with slicer.util.tryWithErrorDisplay(_("Processing failed.")):
            try:
                settings = CaseSettings.from_object(self._parameterNode)  # validated: a bad value is a message
                case = self.logic.applySettings(inputs, settings, progressCallback=report)
            except ProcessingCancelled:
                logging.info("VCFDiagnosis: processing cancelled by the user")
            finally:
                progress.close()
        if case is None:
            return
        self._lastCase = case
        self._parameterNode.outputTable = case.table
        self.ui.resultsTableView.setMRMLTableNode(case.table)
        self.ui.diagnosisLabel.text = "<br>".join(
            _("<b>{roi}</b>: P_IVIM {pivim:.3g} ({pivimLo:.2f}-{pivimHi:.2f}), P_combined {pcomb:.3g} "
              "({pcombLo:.2f}-{pcombHi:.2f}) &rarr; {prediction} ({status})").format(
                roi=row["roi"], pivim=row["P_IVIM"], pivimLo=row["P_IVIM_lo"], pivimHi=row["P_IVIM_hi"],
                pcomb=row["P_combined"], pcombLo=row["P_combined_lo"], pcombHi=row["P_combined_hi"],
                prediction=row["prediction"] or "-", status=row["status"])
            + (_("; FF {ff:.3g} % from PDFF {pdff:.3g} % (the model was fitted on MRS FF)").format(
                ff=row["FF"], pdff=row["PDFF"]) if row["FF_source"] == "pdff" else "") for row in case.rows)
        self.ui.diagnosisLabel.toolTip = _("95 % intervals from the uncertainty of the inputs (model coefficients "
                                           "fixed); 'indeterminate' when the deciding interval contains 0.5. "
                                           "Research use only: not a diagnosis.")
        slicer.modules.plots.logic().ShowChartInLayout(case.decay_chart)
        if case.spectrum and case.spectrum.chart:
            self.ui.statusLabel.text = _("Plot view: ROI signal decay. The spectrum fit is the chart "
                                         "'{chart}' (choose it in the plot view).").format(
                                             chart=case.spectrum.chart.GetName())
        if "D" in case.map_nodes:
            proxy = self.logic.dwiProxyNode(case.dwi_sequence)
            slicer.util.setSliceViewerLayers(background=proxy if proxy is not None else "keep-current",
                                             foreground=case.map_nodes["D"], foregroundOpacity=0.6)


    def onExportDicom(self) -> None:
        """Write the last Apply's results as DICOM (logic.exportDicom) into an empty folder the user picks."""
        if self._lastCase is None:
            slicer.util.errorDisplay(_("Apply first: the DICOM results are those of the last Apply."))
            return
        folder = qt.QFileDialog.getExistingDirectory(None, _("Select an empty folder for the DICOM results"))
        if not folder:
            return
        with slicer.util.tryWithErrorDisplay(_("DICOM export failed."), waitCursor=True):
            written = self.logic.exportDicom(self._lastCase, folder)
            self.ui.statusLabel.text = _("{count} DICOM objects written to {folder}").format(
                count=len(written) - 1, folder=folder)


class VCFDiagnosisFileReader:
    """Lets users drag single-voxel spectra (.rda, spectroscopy DICOM/.IMA, SPAR/SDAT, NIfTI-MRS) into Slicer."""

    def __init__(self, parent):
        self.parent = parent

    def description(self):
        return _("MR spectroscopy (single voxel)")

    def fileType(self):
        return "VCFDiagnosisSpectrum"

    def extensions(self):
        return [_("MR spectroscopy") + " (*.rda *.RDA *.IMA *.ima *.dcm *.SPAR *.spar *.SDAT *.sdat *.nii.gz *.nii)"]

    def canLoadFile(self, filePath):
        if not self.parent.supportedNameFilters(filePath):
            return False
        return VCFDiagnosisLogic.canLoadSpectrumFile(filePath)  # header sniff; never raises

    def canLoadFileConfidence(self, filePath):
        # a spectrum in .nii.gz / .dcm must win over the Volumes and DICOM readers (0.5 + 0.01 per extension char)
        return 0.7 if self.canLoadFile(filePath) else 0.0

    def load(self, properties):
        try:
            loaded = VCFDiagnosisLogic().loadSpectrum(properties["fileName"])
        except Exception as error:  # noqa: BLE001 - report any reader failure to the user, load nothing
            logging.error(_("Failed to load the spectrum: ") + str(error))
            return False
        self.parent.loadedNodes = [n.GetID() for n in (loaded.voxel_roi, loaded.table, loaded.chart) if n]
        return True


class VCFDiagnosisTest(ScriptedLoadableModuleTest):
    """Self-tests: the bodies in ``VCFDiagnosisLib.mrml.selftests`` (the same ones pytest runs headless)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        import tempfile

        for check in selftests.SELF_TESTS:
            self.setUp()
            self.delayDisplay(f"Running {check.__name__}")
            with tempfile.TemporaryDirectory() as workDir:
                check(VCFDiagnosisLogic(), workDir, log=self.delayDisplay)
        self.delayDisplay("VCFDiagnosis self-tests passed")
