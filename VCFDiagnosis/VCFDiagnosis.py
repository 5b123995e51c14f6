"""VCFDiagnosis: IVIM diffusion and MR spectroscopy of vertebral compression fractures (3D Slicer module).

This file holds only what needs the Slicer application: the module description, the Qt panel (thin,
bound to a parameter node) and the self-test entry point. Every computation is in ``VCFDiagnosisLib``
(the Logic in ``VCFDiagnosisLib.logic``), which Slicer's Python console, the ``vcfdiagnosis`` command and
the tests call the same way. Results are research outputs, never a diagnosis.
"""

import os
import tempfile

import qt

import slicer
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.parameterNodeWrapper import parameterNodeWrapper
from slicer.util import VTKObservationMixin
from slicer import vtkMRMLSequenceNode

from VCFDiagnosisLib import selftests
from VCFDiagnosisLib.logic import RESEARCH_USE_NOTE, VCFDiagnosisLogic


class VCFDiagnosis(ScriptedLoadableModule):
    """Module description shown in Slicer's module list and help panel."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("VCF Diagnosis")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Quantification")]
        self.parent.dependencies = []
        self.parent.contributors = ["VCFDiagnosis developers"]
        self.parent.helpText = _(
            "Quantitative IVIM diffusion (D, D*, f, ADC) and single-voxel MR spectroscopy (LWR, FF) of a "
            "vertebral compression fracture, with the logistic models of Tan et al. 2019 (J Orthop Surg Res "
            "14:299). <b>Research use only: not a diagnosis.</b> See the README of the extension."
        )
        self.parent.acknowledgementText = _(
            "Reproduces the methods of Tan et al. 2019. Built on 3D Slicer's MRML layer."
        )


@parameterNodeWrapper
class VCFDiagnosisParameterNode:
    """The panel's choices, saved with the scene.

    dwiSequence - the multi-b DWI (volume sequence indexed by b-value, s/mm2).
    caseId - the case identifier written into results instead of the patient's name.
    """

    dwiSequence: vtkMRMLSequenceNode
    caseId: str = ""


class VCFDiagnosisWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The module panel: loads inputs and shows results; every action is one Logic call."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/VCFDiagnosis.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = VCFDiagnosisLogic()
        self.ui.researchUseLabel.text = RESEARCH_USE_NOTE

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.loadDwiFolderButton.connect("clicked(bool)", self.onLoadDwiFolder)
        self.ui.loadPhantomButton.connect("clicked(bool)", self.onLoadPhantom)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.removeObservers()

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self._parameterNodeGuiTag = None

    def onSceneStartClose(self, caller, event) -> None:
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(VCFDiagnosisParameterNode(self.logic.getParameterNode()))

    def setParameterNode(self, inputParameterNode) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
        self._parameterNode = inputParameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)

    def onLoadDwiFolder(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(None, _("Select a DWI DICOM folder"))
        if not folder:
            return
        with slicer.util.tryWithErrorDisplay(_("Could not load the DWI."), waitCursor=True):
            sequence, _browser = self.logic.loadDwi(folder)
            self._parameterNode.dwiSequence = sequence
            self.ui.statusLabel.text = _("Loaded {name}: b = {labels} s/mm2").format(
                name=sequence.GetName(), labels=sequence.GetAttribute("MultiVolume.FrameLabels"))

    def onLoadPhantom(self) -> None:
        with slicer.util.tryWithErrorDisplay(_("Could not create the synthetic patient."), waitCursor=True):
            outputDir = tempfile.mkdtemp(prefix="VCFDiagnosisPhantom-", dir=slicer.app.temporaryPath)
            caseNodes = self.logic.createPhantomCase(outputDir, seed=1, group="metastatic")
            self._parameterNode.dwiSequence = caseNodes.dwi_sequence
            self._parameterNode.caseId = caseNodes.case_id
            self.ui.statusLabel.text = _("Synthetic patient {case} loaded from {folder}").format(
                case=caseNodes.case_id, folder=os.path.join(outputDir, caseNodes.case_id))


class VCFDiagnosisTest(ScriptedLoadableModuleTest):
    """Self-tests: the bodies in ``VCFDiagnosisLib.selftests`` (the same ones pytest runs headless)."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        for check in selftests.SELF_TESTS:
            self.setUp()
            self.delayDisplay(f"Running {check.__name__}")
            with tempfile.TemporaryDirectory() as workDir:
                check(VCFDiagnosisLogic(), workDir, log=self.delayDisplay)
        self.delayDisplay("VCFDiagnosis self-tests passed")
