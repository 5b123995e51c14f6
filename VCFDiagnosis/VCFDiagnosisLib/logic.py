"""VCFDiagnosisLogic: what the module panel, Slicer's Python console, the CLI and the self-tests call.

The Logic takes plain nodes, paths and values, creates MRML nodes in ``slicer.mrmlScene`` and returns
them; it never touches qt or ``slicer.app``. Inside Slicer it subclasses Slicer's own
``ScriptedLoadableModuleLogic``; headless call :func:`VCFDiagnosisLib.headless.initialize` first.

Console example (inside Slicer or headless)::

    from VCFDiagnosisLib.logic import VCFDiagnosisLogic
    logic = VCFDiagnosisLogic()
    nodes = logic.loadPhantomCase("/data/phantoms/phantom-metastatic-1")
    logic.saveSceneBundle("/tmp/case.mrb")

Results are research outputs, never a diagnosis.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import slicer

from . import nodes
from .dwi.dicom import load_dwi_dicom
from .dwi.volume import DwiVolume
from .study_models import RESEARCH_USE_NOTE  # noqa: F401 (re-exported for the panel)

try:  # inside Slicer: the application's base class
    from slicer.ScriptedLoadableModule import ScriptedLoadableModuleLogic
except ImportError:  # headless slicer-core: the minimal base with the same behaviour
    from .headless import install_scripted_module_base

    ScriptedLoadableModuleLogic = install_scripted_module_base().ScriptedLoadableModuleLogic



@dataclass
class CaseNodes:
    """The nodes one loaded case produced (None where the input was not given)."""

    case_id: str
    dwi_sequence: object = None
    dwi_browser: object = None
    roi_segmentation: object = None
    truth_table: object = None

    def all_nodes(self) -> list:
        """Return the nodes that exist, in creation order."""
        return [n for n in (self.dwi_sequence, self.dwi_browser, self.roi_segmentation, self.truth_table) if n]


class VCFDiagnosisLogic(ScriptedLoadableModuleLogic):
    """Loads cases into the scene and computes the study's quantities (see the module docstring)."""

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleLogic.__init__(self, parent)

    # --- inputs -----------------------------------------------------------------------------------------

    def loadDwi(self, path: str, series: str | int | None = None, name: str | None = None):
        """Load a multi-b DWI DICOM folder; return (sequence node indexed by b in s/mm2, browser node)."""
        dwi = load_dwi_dicom(path, series=series)
        return self.addDwi(dwi, name or dwi.metadata.get("series_description") or Path(path).name)

    def addDwi(self, dwi: DwiVolume, name: str):
        """Add an in-memory DWI to the scene; return (sequence node, browser node)."""
        return nodes.add_dwi_sequence(dwi, name)

    def dwiFromNode(self, sequenceNode) -> DwiVolume:
        """Return the DWI held by a volume sequence (b-values from its index or MultiVolume.FrameLabels)."""
        return nodes.dwi_from_sequence(sequenceNode)

    def loadRoi(self, path: str, name: str | None = None):
        """Load an ROI file (``.seg.nrrd`` segmentation, or a NIfTI/NRRD label map); return a segmentation node."""
        if str(path).endswith(".seg.nrrd"):
            return nodes.read_segmentation_file(path, name)
        return nodes.segmentation_from_label_file(path, name)

    def loadPhantomCase(self, caseDir: str) -> CaseNodes:
        """Load a phantom patient folder written by ``vcfdiagnosis phantom``: DWI, lesion ROI, truth table."""
        case_dir = Path(caseDir)
        truth_path = case_dir / "truth.json"
        if not truth_path.is_file():
            raise FileNotFoundError(f"{case_dir}: no truth.json (not a phantom patient folder)")
        truth = json.loads(truth_path.read_text())
        case_id = str(truth.get("case_id", case_dir.name))
        folder = nodes.case_folder_item(case_id)
        sequence, browser = self.loadDwi(str(case_dir / "dwi"), name=f"{case_id} DWI")
        roi = self.loadRoi(str(case_dir / "roi" / "lesion.seg.nrrd"), name=f"{case_id} ROI")
        table = self.addTruthTable(truth, name=f"{case_id} truth")
        result = CaseNodes(case_id, sequence, browser, roi, table)
        for node in result.all_nodes():
            nodes.ensure_subject_hierarchy_item(node, folder)
        return result

    def createPhantomCase(self, outputDir: str, seed: int = 1, group: str = "metastatic", vendor: str = "siemens",
                          force: bool = False, **phantomOptions) -> CaseNodes:
        """Write a synthetic patient with known truth under ``outputDir`` and load it; return its nodes.

        ``phantomOptions`` go to :func:`VCFDiagnosisLib.phantom.patient.generate_patient` (e.g. ``snr``,
        ``matrix``, ``n_slices``). Existing files are replaced only with ``force=True``.
        """
        from .phantom.patient import generate_patient

        patient = generate_patient(outputDir, seed=seed, group=group, vendor=vendor, force=force, **phantomOptions)
        return self.loadPhantomCase(str(patient.case_dir))

    def addTruthTable(self, truth: dict, name: str):
        """Return a table node listing the phantom's lesion parameters (parameter, value, unit)."""
        lesion = truth.get("lesion", {})
        rows = [{"parameter": key, "value": value, "unit": _unit_of(key)}
                for key, value in lesion.items() if isinstance(value, (int, float)) and not isinstance(value, bool)]
        return nodes.add_table(name, [("parameter", "string", ""), ("value", "double", ""),
                                      ("unit", "string", "")], rows)

    # --- IVIM ------------------------------------------------------------------------------------------

    def computeIvimMaps(self, dwiSequence, roiSegmentation=None, segmentId: str | None = None,
                        method: str | None = None, bThreshold: float = 200.0, roiOnly: bool = False) -> dict:
        """Fit IVIM voxelwise on a b-indexed volume sequence; return ``{stem: volume node}``.

        Creates one scalar volume per map (S0, D, Dstar, f, ADC, R2; D, D* and ADC in mm2/s, f a fraction)
        and a status label map, all on the DWI's exact grid. With ``roiOnly`` only the voxels of the segment
        (``segmentId``, default the first) are fitted; elsewhere maps are NaN with status "not fitted".
        """
        from .ivim import DEFAULT_METHOD, STATUS_DESCRIPTIONS, fit_ivim

        dwi = self.dwiFromNode(dwiSequence)
        mask = None
        if roiOnly:
            if roiSegmentation is None:
                raise ValueError("roiOnly needs an ROI segmentation")
            segmentId = segmentId or roiSegmentation.GetSegmentation().GetNthSegmentID(0)
            mask = nodes.segment_mask_on_grid(roiSegmentation, segmentId, dwi.ijk_to_ras, dwi.shape_kji)
            if not mask.any():
                raise ValueError(f"segment '{segmentId}' has no voxel inside the DWI '{dwiSequence.GetName()}'")
        method = method or DEFAULT_METHOD
        maps = fit_ivim(dwi.bvalues_s_mm2, dwi.signal_last(), method=method, b_threshold_s_mm2=bThreshold,
                        mask=mask)
        provenance = {"FitMethod": method, "BThreshold_s_mm2": f"{bThreshold:g}",
                      "BValues_s_mm2": ",".join(f"{b:g}" for b in dwi.bvalues_s_mm2),
                      "SourceNode": dwiSequence.GetID()}
        created = nodes.add_ivim_map_nodes(maps.as_dict(), dwi.ijk_to_ras, dwiSequence.GetName(),
                                           STATUS_DESCRIPTIONS, provenance)
        parent = nodes.ensure_subject_hierarchy_item(dwiSequence)
        sh = slicer.mrmlScene.GetSubjectHierarchyNode()
        for node in created.values():
            nodes.ensure_subject_hierarchy_item(node, sh.GetItemParent(parent))
        return created

    # --- outputs ----------------------------------------------------------------------------------------

    def saveSceneBundle(self, path: str, overwrite: bool = False) -> str:
        """Write the whole scene as a ``.mrb`` bundle atomically; return the path.

        Refuses to replace an existing file unless ``overwrite`` is True.
        """
        target = Path(path).resolve()
        if target.suffix.lower() != ".mrb":
            raise ValueError(f"{path}: a scene bundle must end in .mrb")
        if target.exists() and not overwrite:
            raise FileExistsError(f"{path}: exists; pass overwrite=True to replace it")
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write under the final name (Slicer names the bundle's inner folder after it) in a hidden folder
        # beside the target, then move it into place: a reader never sees a partial bundle.
        staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
        try:
            temporary = staging / target.name
            if not slicer.mrmlScene.WriteToMRB(str(temporary)) or not temporary.is_file():
                raise OSError(f"{path}: writing the scene bundle failed")
            os.replace(temporary, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return str(target)


def _unit_of(parameter: str) -> str:
    """Return the unit encoded in a parameter name's suffix (``D_mm2_s`` -> ``mm2/s``)."""
    for suffix, unit in (("_mm2_s", "mm2/s"), ("_fraction", "fraction"), ("_percent", "percent"),
                         ("_ratio", "ratio"), ("_mm", "mm"), ("_ms", "ms"), ("_hz", "Hz")):
        if parameter.endswith(suffix):
            return unit
    return ""
