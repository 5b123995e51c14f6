"""VCFDiagnosisLogic: what the module panel, Slicer's Python console, the CLI and the self-tests call.

The Logic takes plain nodes, paths and values, creates MRML nodes in ``slicer.mrmlScene`` and returns
them; it never touches qt or ``slicer.app``. Inside Slicer it subclasses Slicer's own
``ScriptedLoadableModuleLogic``; headless call :func:`VCFDiagnosisLib.mrml.headless.initialize` first.

Console example (inside Slicer or headless)::

    from VCFDiagnosisLib.mrml.logic import VCFDiagnosisLogic
    logic = VCFDiagnosisLogic()
    nodes = logic.loadPhantomCase("/data/phantoms/phantom-metastatic-1")
    logic.saveSceneBundle("/tmp/case.mrb")

Results are research outputs, never a diagnosis.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Union

import numpy as np
import slicer

from .. import __version__
from ..analysis.settings import CaseSettings
from ..analysis.study_models import RESEARCH_USE_NOTE  # noqa: F401 (re-exported for the panel)
from ..dwi.loader import check_image_file, load_dwi
from ..dwi.volume import DwiVolume
from ..ivim.engine import FitCancelled
from ..outputs.atomic import atomic_output
from . import nodes
from .arrays import update_segment_binary_labelmap_from_array

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


@dataclass
class SpectrumNodes:
    """A quantified spectrum and the nodes showing it (voxel ROI, spectrum table, plot chart)."""

    result: object
    spectrum: object
    voxel_roi: object = None
    table: object = None
    chart: object = None


@dataclass
class CaseResult:
    """What :meth:`VCFDiagnosisLogic.processCase` produced: one results row per ROI and the nodes."""

    case_id: str
    rows: list
    table: object
    dwi_sequence: object
    roi_segmentation: object
    map_nodes: dict = field(default_factory=dict)
    spectrum: SpectrumNodes | None = None
    dwi: DwiVolume | None = None
    masks: dict = field(default_factory=dict)
    maps: object = None
    decay: object = None  # analysis.decay.DecayCurves: the ROI-mean decay and fit, for the plot and the report
    decay_table: object = None
    decay_chart: object = None
    empty_segments: tuple = ()
    fat: object = None  # fat.source.FatVolume: PDFF/R2* maps on the water-fat grid (None: no water-fat input)
    fat_masks: dict = field(default_factory=dict)  # segment name -> mask on the water-fat grid
    fat_nodes: dict = field(default_factory=dict)


@dataclass
class PreparedCase:
    """A case read from the scene by :meth:`VCFDiagnosisLogic.prepareCase`: nodes, DWI array, masks, spectrum."""

    case_id: str
    sequence: object
    segmentation: object
    dwi: DwiVolume
    masks: dict  # segment name -> boolean mask on the DWI grid (k, j, i)
    spectrum: SpectrumNodes | None
    settings: CaseSettings
    fat: object = None  # fat.source.FatInput read from a water-fat folder (fitted in computeCase), or None
    fat_masks: dict = field(default_factory=dict)  # segment name -> mask on the water-fat grid


@dataclass
class ComputedCase:
    """What :meth:`VCFDiagnosisLogic.computeCase` computed: results rows, voxelwise maps (or None), decay."""

    rows: list
    maps: object
    decay: object
    fat: object = None  # fat.source.FatVolume


@dataclass
class PanelInputs:
    """The panel's data choices: the parameter node's fields that are not :class:`CaseSettings`.

    ``dwiSequence`` the multi-b DWI node; ``bValues`` its b-values (s/mm2, text, one per volume; empty: the
    node's own); ``spectrumPath`` a spectrum file (empty: none); ``fatPath`` a water-fat DICOM folder (multi-echo
    GRE or the scanner's PDFF/R2* maps; empty: none); ``caseId`` written into results instead of the patient's name; ``roiSegmentation`` one segment per lesion or reader; ``outputTable`` the results table
    (None: a new one); ``newOutputs`` keep the outputs of an earlier Apply and add new nodes (default: update).
    The annotations are the MRML node classes the panel's parameter node stores (``VCFDiagnosis.py`` reads them
    with ``typing.get_type_hints``), so the panel and the Logic share this one list of inputs.
    """

    dwiSequence: Union[slicer.vtkMRMLSequenceNode, slicer.vtkMRMLDiffusionWeightedVolumeNode, None] = None
    bValues: str = ""
    spectrumPath: str = ""
    fatPath: str = ""
    caseId: str = ""
    roiSegmentation: slicer.vtkMRMLSegmentationNode = None
    outputTable: slicer.vtkMRMLTableNode = None
    newOutputs: bool = False

    @classmethod
    def from_object(cls, source) -> PanelInputs:
        """Return the inputs read attribute by attribute from ``source`` (the panel's parameter node)."""
        return cls(**{f.name: getattr(source, f.name) for f in fields(cls)})


class VCFDiagnosisLogic(ScriptedLoadableModuleLogic):
    """Loads cases into the scene and computes the study's quantities (see the module docstring)."""

    #: Who draws the case report: None, this process when the case is exported. The command line sets its helper
    #: process's :meth:`~VCFDiagnosisLib.app.case_helper.CaseHelper.render_report`, which draws it while the scene
    #: bundle is written. Called with the arguments of :func:`~VCFDiagnosisLib.analysis.report.render_case_report`,
    #: it returns the pending report: ``result()`` waits for [png path, pdf path], ``cancel()`` stops it.
    reportRenderer = None

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleLogic.__init__(self, parent)
        self._loadedSpectra: dict = {}

    # --- inputs -----------------------------------------------------------------------------------------

    def loadDwi(self, path: str, series: str | int | None = None, name: str | None = None,
                preread: DwiVolume | None = None):
        """Load a multi-b DWI (DICOM folder or file, 4D NIfTI + .bval, Slicer DWI NRRD); return
        (sequence node indexed by b in s/mm2, browser node). ``series`` picks one of several DICOM series;
        ``preread`` is the DWI ``path`` holds, already read (the command line reads it while slicer-core loads)."""
        dwi = preread if preread is not None else load_dwi(path, series=series)
        return self.addDwi(dwi, name or dwi.metadata.get("series_description") or Path(path).name)

    def addDwi(self, dwi: DwiVolume, name: str):
        """Add an in-memory DWI to the scene; return (sequence node, browser node)."""
        return nodes.add_dwi_sequence(dwi, name)

    def asDwiSequence(self, dwiNode, bValues=None, name: str | None = None):
        """Return a b-indexed volume sequence for any DWI input a Slicer user has.

        ``dwiNode``: a volume sequence (returned as is), a ``vtkMRMLDiffusionWeightedVolumeNode`` or a list
        of scalar volume nodes (``bValues`` in s/mm2, one per node, required then); the latter two are
        converted into a new sequence (one volume per b-value, directions combined into the trace).
        """
        if isinstance(dwiNode, (list, tuple)):
            if bValues is None:
                raise ValueError("a list of volumes needs their b-values (s/mm2, one per volume)")
            dwi = nodes.dwi_from_scalar_volumes(list(dwiNode), parse_bvalues(bValues, len(dwiNode)))
            return self.addDwi(dwi, name or f"{dwiNode[0].GetName()} DWI")[0]
        if dwiNode.IsA("vtkMRMLSequenceNode"):
            return dwiNode
        if dwiNode.IsA("vtkMRMLDiffusionWeightedVolumeNode"):
            return self.addDwi(nodes.dwi_from_dwi_volume_node(dwiNode), name or f"{dwiNode.GetName()} b-values")[0]
        raise TypeError(f"'{dwiNode.GetName()}' ({dwiNode.GetClassName()}) is not a DWI: use a volume sequence, "
                        "a diffusion-weighted volume node or a list of volumes with b-values")

    def bValuesOfNode(self, sequenceNode) -> list:
        """Return the b-values (s/mm2) a volume sequence carries, in its volume order, without reading voxels
        (``MultiVolume.FrameLabels`` when present, else the numeric index values)."""
        return nodes.bvalues_of_sequence(sequenceNode)

    def dwiFromNode(self, sequenceNode, bValues=None) -> DwiVolume:
        """Return the DWI held by a volume sequence (b-values from its index or MultiVolume.FrameLabels).

        ``bValues`` (s/mm2, one per volume in sequence order, or a comma-separated string) replaces the
        b-values the node carries, e.g. when a user corrects them in the panel.
        """
        if bValues is None or (isinstance(bValues, str) and not bValues.strip()):
            return nodes.dwi_from_sequence(sequenceNode)
        return nodes.dwi_from_sequence(sequenceNode, parse_bvalues(bValues, sequenceNode.GetNumberOfDataNodes()))

    def loadRoi(self, path: str, name: str | None = None):
        """Load an ROI file (``.seg.nrrd`` segmentation, a NIfTI/NRRD label map or a DICOM SEG); return a
        segmentation node.

        A truncated or corrupt file is refused (an error naming it), never read as a partly empty ROI.
        """
        from ..dicomout.seg_in import is_dicom_seg

        if is_dicom_seg(path):  # a DICOM SEG (OHIF, Slicer, a PACS): one segment per SEG segment
            return nodes.segmentation_from_dicom_seg(str(path), name)
        check_image_file(path)
        if str(path).endswith(".seg.nrrd"):
            segmentation = nodes.read_segmentation_file(path, name)
        else:
            segmentation = nodes.segmentation_from_label_file(path, name)
        if segmentation.GetSegmentation().GetNumberOfSegments() == 0:
            raise ValueError(f"{path}: the ROI is empty (no labelled voxel, no segment)")
        return segmentation

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
        from ..phantom.patient import generate_patient

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
                        settings: CaseSettings | None = None, roiOnly: bool = False, progressCallback=None,
                        **changes) -> dict:
        """Fit IVIM voxelwise on a b-indexed volume sequence; return ``{stem: volume node}``.

        Creates one scalar volume per map (S0, D, Dstar, f, ADC, R2; D, D* and ADC in mm2/s, f a fraction)
        and a status label map, all on the DWI's exact grid. With ``roiOnly`` only the voxels of the segment
        (``segmentId``, default the first) are fitted; elsewhere maps are NaN with status "not fitted".
        ``settings`` (or keyword ``changes`` of the defaults, e.g. ``method="segmented"``) choose the fit.
        """
        settings = _settings(settings, changes)
        dwi = self.dwiFromNode(dwiSequence)
        mask = None
        if roiOnly:
            if roiSegmentation is None:
                raise ValueError("roiOnly needs an ROI segmentation")
            segmentId = segmentId or roiSegmentation.GetSegmentation().GetNthSegmentID(0)
            mask = nodes.segment_mask_on_grid(roiSegmentation, segmentId, dwi.ijk_to_ras, dwi.shape_kji)
            if not mask.any():
                raise ValueError(f"segment '{segmentId}' has no voxel inside the DWI '{dwiSequence.GetName()}'")
        maps = self._fitMaps(dwi, mask, settings, progressCallback)
        return self._addMapNodes(maps, dwi, dwiSequence)

    @staticmethod
    def _fitMaps(dwi: DwiVolume, mask, settings: CaseSettings, progressCallback=None, noiseSigma="background"):
        """Return the IvimMaps of the DWI inside ``mask`` (None: the whole volume, background skipped).

        ``progressCallback(fraction, message) -> bool`` reports the fit; returning False cancels it
        (:class:`ProcessingCancelled`). ``noiseSigma``: the images' noise SD per b-value if already estimated
        (default: from the background, :func:`VCFDiagnosisLib.ivim.fit_dwi_volume`).
        """
        from ..ivim import fit_dwi_volume

        return fit_dwi_volume(dwi, method=settings.method, b_threshold_s_mm2=settings.b_threshold_s_mm2, mask=mask,
                              background_fraction=settings.background_fraction, progress=progressCallback,
                              noise_sigma=noiseSigma)

    def _addMapNodes(self, maps, dwi: DwiVolume, dwiSequence, reuse: dict | None = None) -> dict:
        from ..ivim import STATUS_DESCRIPTIONS

        provenance = {"FitMethod": maps.method, "BThreshold_s_mm2": f"{maps.b_threshold_s_mm2:g}",
                      "BValues_s_mm2": ",".join(f"{b:g}" for b in dwi.bvalues_s_mm2),
                      "SourceNode": dwiSequence.GetID()}
        created = nodes.add_ivim_map_nodes(maps.as_dict(), dwi.ijk_to_ras, dwiSequence.GetName(),
                                           STATUS_DESCRIPTIONS, provenance, reuse)
        sh = slicer.mrmlScene.GetSubjectHierarchyNode()
        parent = sh.GetItemParent(nodes.ensure_subject_hierarchy_item(dwiSequence))
        for node in created.values():
            nodes.ensure_subject_hierarchy_item(node, parent)
        return created

    # --- water-fat imaging --------------------------------------------------------------------------------

    def computeFatMaps(self, path: str, name: str | None = None, settings: CaseSettings | None = None,
                       **changes) -> dict:
        """Read a water-fat DICOM folder (multi-echo GRE, or the scanner's PDFF and R2*/T2* maps) and return
        ``{stem: volume node}``: PDFF (percent), R2star (1/s), from a fit water and fat (signal units) and with phase
        images field_map (Hz), and the fat_status label map, on the series' grid.

        ``settings.fat_source`` (``auto``/``fit``/``vendor``), ``settings.pdff_map_unit`` and ``settings.fat_phase``
        choose how; the
        nodes' ``VCFDiagnosis.FatMaps`` attribute says what was read and how it was scaled or fitted.
        """
        from ..fat.source import fat_volume

        settings = _settings(settings, changes)
        volume = fat_volume(self._fatInput(str(path), settings))
        return self._addFatMapNodes(volume, name or Path(path).name)

    def _addFatMapNodes(self, volume, name: str, reuse: dict | None = None) -> dict:
        from ..fat.fit import STATUS

        return nodes.add_ivim_map_nodes(volume.as_dict(), volume.ijk_to_ras, name, STATUS,
                                        {"FatMaps": volume.description, "FatSource": volume.source}, reuse)

    # --- spectroscopy -----------------------------------------------------------------------------------

    def loadSpectrum(self, path: str, name: str | None = None, waterT2ms: float | None = None,
                     fatT2ms: float | None = None) -> SpectrumNodes:
        """Read and quantify a single-voxel spectrum (.rda, DICOM MRS, Siemens .IMA, SDAT/SPAR, NIfTI-MRS).

        Adds the voxel as a markups ROI node (RAS, oriented) and the spectrum with its fit as a table and a
        plot chart (ppm axis high to low). Returns the :class:`SpectrumNodes`; ``result`` holds LWR and FF.
        """
        from ..mrs import quantify_spectrum, read_spectrum

        key = (str(Path(path).resolve()), waterT2ms, fatT2ms)
        cached = self._loadedSpectra.get(key)
        if cached is not None and all(n is None or n.GetScene() is slicer.mrmlScene
                                      for n in (cached.voxel_roi, cached.table, cached.chart)):
            return cached  # already in the scene: do not add the same voxel and plot twice
        spectrum = read_spectrum(path)
        result = quantify_spectrum(spectrum, water_t2_ms=waterT2ms, fat_t2_ms=fatT2ms)
        name = name or Path(path).stem
        output = SpectrumNodes(result, spectrum)
        if spectrum.voxel_center_ras is not None and spectrum.voxel_size_mm is not None:
            output.voxel_roi = nodes.add_mrs_voxel_roi(spectrum.voxel_center_ras, spectrum.voxel_size_mm,
                                                       spectrum.voxel_orientation_ras, f"{name} MRS voxel")
        if result.fit is not None:
            output.table, output.chart = nodes.add_spectrum_plot(result.fit, name)
        self._loadedSpectra[key] = output
        return output

    def forgetLoadedSpectra(self) -> None:
        """Forget the spectra quantified so far (after the scene was cleared, each is read again when needed)."""
        self._loadedSpectra.clear()

    @staticmethod
    def canLoadSpectrumFile(path: str) -> bool:
        """Return True if ``path`` looks like a single-voxel spectrum this module reads (header sniff only,
        never raises: Slicer's file reader asks about every dropped file)."""
        from ..mrs import looks_like_spectrum

        return looks_like_spectrum(path)

    # --- one case -----------------------------------------------------------------------------------------

    def processCase(self, dwi, roi, spectrum=None, caseId: str | None = None, settings: CaseSettings | None = None,
                    outputTable=None, bValues=None, progressCallback=None, newOutputs: bool = False, fat=None,
                    **changes) -> CaseResult:
        """Process one case: DWI + ROI (+ spectrum) -> results table (one row per segment) and nodes.

        ``dwi``: a b-indexed volume sequence, a diffusion-weighted volume node, a list of scalar volumes (with
        ``bValues``) or a path (DICOM folder, 4D NIfTI + .bval, DWI NRRD); ``roi``: a segmentation node,
        a label map node or a file (``.seg.nrrd``, NIfTI/NRRD label map), any grid (resampled onto the DWI);
        ``spectrum``: a file, a :class:`SpectrumNodes` or None; ``fat``: a water-fat DICOM folder (multi-echo GRE
        or the scanner's PDFF/R2* maps, see :mod:`VCFDiagnosisLib.fat.source`) or None: its PDFF and R2* join the
        table, and its PDFF gives FF (flagged) where there is no spectrum. ``settings``: a
        :class:`~VCFDiagnosisLib.analysis.settings.CaseSettings` (fit method, b threshold, maps scope, model
        inputs, T2s, ...); keyword ``changes`` adjust it from the console (``processCase(seq, seg,
        method="segmented")``). ``bValues`` overrides the b-values of the DWI node (s/mm2);
        ``progressCallback(fraction, message) -> bool`` reports the voxelwise fit and can cancel it. Processing
        the same DWI and ROI node again updates the outputs made the first time (maps, results table, decay
        table and chart), as Slicer modules reuse their output nodes; ``newOutputs=True`` keeps them and adds
        new ones. This is the call the module panel's Apply button makes. The returned rows carry the study's probabilities:
        research output, not a diagnosis.
        """
        prepared = self.prepareCase(dwi, roi, spectrum, caseId=caseId, settings=_settings(settings, changes),
                                    bValues=bValues, fat=fat)
        return self.publishCase(prepared, self.computeCase(prepared, progressCallback), outputTable=outputTable,
                                newOutputs=newOutputs)

    def prepareCase(self, dwi, roi, spectrum=None, caseId: str | None = None, settings: CaseSettings | None = None,
                    bValues=None, fat=None) -> PreparedCase:
        """Read what :meth:`processCase` needs from the scene (inputs as it takes them); return a PreparedCase.

        The first of processCase's three steps: it loads files into the scene and reads node arrays (the DWI on
        its grid, one mask per segment, the spectrum's fit), on the thread that owns the scene.
        """
        settings = settings or CaseSettings()
        if isinstance(dwi, (str, Path)):
            sequence = self.loadDwi(dwi)[0]
        elif isinstance(dwi, (list, tuple)):
            sequence, bValues = self.asDwiSequence(dwi, bValues), None
        else:
            sequence = self.asDwiSequence(dwi)
        caseId = caseId or sequence.GetName()
        segmentation = self._segmentationFrom(roi, f"{caseId} ROI")
        volume = self.dwiFromNode(sequence, bValues)
        segmentation_ids = [segmentation.GetSegmentation().GetNthSegmentID(i)
                            for i in range(segmentation.GetSegmentation().GetNumberOfSegments())]
        if not segmentation_ids:
            raise ValueError(f"segmentation '{segmentation.GetName()}' has no segment")
        masks = {segmentation.GetSegmentation().GetSegment(s).GetName():
                 nodes.segment_mask_on_grid(segmentation, s, volume.ijk_to_ras, volume.shape_kji)
                 for s in segmentation_ids}
        spectrum_nodes = (self.loadSpectrum(str(spectrum), name=f"{caseId}", waterT2ms=settings.water_t2_ms or None,
                                            fatT2ms=settings.fat_t2_ms or None)
                          if isinstance(spectrum, (str, Path)) else spectrum)
        fat_input, fat_masks = self._fatInput(fat, settings), {}
        if fat_input is not None:
            from ..fat.source import check_same_patient

            check_same_patient(volume.metadata, fat_input)  # two patients are never mixed
            fat_masks = {segmentation.GetSegmentation().GetSegment(s).GetName():
                         nodes.segment_mask_on_grid(segmentation, s, *fat_input.grid) for s in segmentation_ids}
        return PreparedCase(caseId, sequence, segmentation, volume, masks, spectrum_nodes, settings, fat_input,
                            fat_masks)

    @staticmethod
    def _fatInput(fat, settings: CaseSettings):
        """Return the water-fat input read from a folder (or given read or as maps), or None."""
        if fat is None or (isinstance(fat, str) and not fat.strip()):
            return None  # before the import: the water-fat readers bring pydicom (0.2-0.4 s in a fresh process)
        from ..fat.options import fat_read_options
        from ..fat.source import FatInput, FatVolume, read_fat_input

        if isinstance(fat, FatVolume):
            return FatInput("", volume=fat)
        if isinstance(fat, FatInput):
            return fat
        return read_fat_input(str(fat), *fat_read_options(settings))

    @staticmethod
    def computeCase(prepared: PreparedCase, progressCallback=None) -> ComputedCase:
        """Compute a prepared case: noise, voxelwise maps, one results row per ROI, the decay curves.

        The second step of :meth:`processCase`: numbers only, no scene access, so a front end may run it on a
        worker thread while its event loop stays responsive. ``progressCallback(fraction, message) -> bool``
        reports the voxelwise fit; returning False cancels it (:class:`ProcessingCancelled`).
        """
        from ..analysis.case_analysis import MrsVoxel, analyze_roi
        from ..analysis.decay import roi_decay_curves
        from ..ivim import dwi_background_noise

        settings, volume, masks, spectrum_nodes = (prepared.settings, prepared.dwi, prepared.masks,
                                                   prepared.spectrum)
        noise = dwi_background_noise(volume)  # once: the ROI fits and the maps use it
        fitted = None
        if settings.maps != "none" and any(m.any() for m in masks.values()):
            union = np.any(list(masks.values()), axis=0) if settings.maps == "roi" else None
            fitted = VCFDiagnosisLogic._fitMaps(volume, union, settings, progressCallback,
                                                None if noise is None else noise.image_sd)
        mrs_voxel = None
        if spectrum_nodes is not None and spectrum_nodes.spectrum.voxel_center_ras is not None:
            s = spectrum_nodes.spectrum
            mrs_voxel = MrsVoxel(s.voxel_center_ras, s.voxel_size_mm, s.voxel_orientation_ras)
        fat = fat_rois = None
        if prepared.fat is not None:
            from ..analysis.case_analysis import fat_rois as fat_rois_of
            from ..fat.source import fat_volume, roi_region

            fat = fat_volume(prepared.fat, mask=None if settings.maps == "volume" else roi_region(  # "roi": around them
                list(prepared.fat_masks.values()), prepared.fat.grid[0]))
            fat_rois = fat_rois_of(fat, prepared.fat_masks, masks, volume.ijk_to_ras, prepared.fat.warnings)
        rows = [analyze_roi(volume, mask, name, prepared.case_id, maps=fitted,
                            mrs=spectrum_nodes.result if spectrum_nodes else None, mrs_voxel=mrs_voxel,
                            settings=settings, noise=noise, fat=fat_rois[name] if fat_rois else None)
                for name, mask in masks.items()]
        return ComputedCase(rows, fitted, roi_decay_curves(volume, masks, rows, noise=noise), fat)

    def publishCase(self, prepared: PreparedCase, computed: ComputedCase, outputTable=None,
                    newOutputs: bool = False) -> CaseResult:
        """Put a computed case into the scene (results table, maps, decay plot, subject hierarchy); return it.

        The last step of :meth:`processCase`, on the thread that owns the scene. Outputs of an earlier Apply on
        the same DWI and ROI nodes are updated, unless ``newOutputs``.
        """
        caseId, sequence, segmentation = prepared.case_id, prepared.sequence, prepared.segmentation
        spectrum_nodes, rows, fitted = prepared.spectrum, computed.rows, computed.maps
        key = f"{sequence.GetID()}|{segmentation.GetID()}"
        previous = {} if newOutputs else nodes.outputs_of(key)
        table = nodes.add_results_table(rows, f"{caseId} results", outputTable or previous.get("results"))
        result = CaseResult(caseId, rows, table, sequence, segmentation, spectrum=spectrum_nodes, dwi=prepared.dwi,
                            masks=prepared.masks, maps=fitted,
                            empty_segments=nodes.empty_segment_names(segmentation), fat=computed.fat,
                            fat_masks=prepared.fat_masks)
        result.decay = computed.decay
        result.decay_table, result.decay_chart = nodes.add_decay_plot(
            result.decay, caseId, previous.get("decay_table"), previous.get("decay_chart"))
        previous_maps = {role[4:]: node for role, node in previous.items() if role.startswith("map:")}
        if fitted is not None:
            result.map_nodes = self._addMapNodes(fitted, prepared.dwi, sequence, previous_maps)
        else:  # maps of an earlier Apply would contradict this one's table
            nodes.remove_nodes(v for k, v in previous_maps.items() if not k.startswith("fat:"))
        previous_fat = {stem[4:]: node for stem, node in previous_maps.items() if stem.startswith("fat:")}
        if computed.fat is not None:
            result.fat_nodes = self._addFatMapNodes(computed.fat, caseId, previous_fat)
        else:
            nodes.remove_nodes(previous_fat.values())
        for role, node in [("results", table), ("decay_table", result.decay_table),
                           ("decay_chart", result.decay_chart),
                           *((f"map:{stem}", node) for stem, node in result.map_nodes.items()),
                           *((f"map:fat:{stem}", node) for stem, node in result.fat_nodes.items())]:
            nodes.mark_output(node, key, role)
        folder = nodes.case_folder_item(caseId)
        extra = [table, segmentation, sequence, result.decay_table, result.decay_chart, *result.map_nodes.values(),
                 *result.fat_nodes.values()]
        if spectrum_nodes is not None:
            extra += [n for n in (spectrum_nodes.voxel_roi, spectrum_nodes.table, spectrum_nodes.chart) if n]
        for node in extra:
            nodes.ensure_subject_hierarchy_item(node, folder)
        return result

    def applySettings(self, inputs: PanelInputs, settings: CaseSettings | None = None,
                      progressCallback=None) -> CaseResult:
        """Run the panel: :meth:`processCase` on its inputs with its settings (the Apply button).

        The panel passes ``PanelInputs.from_object(parameterNode)`` and ``CaseSettings.from_object(parameterNode)``.
        """
        if inputs.dwiSequence is None:
            raise ValueError("select a DWI (a volume sequence indexed by b-value) first")
        if inputs.roiSegmentation is None:
            raise ValueError("draw or select an ROI segmentation first (or create it from the MRS voxel)")
        spectrum = str(inputs.spectrumPath).strip()
        fat = str(inputs.fatPath).strip()
        return self.processCase(
            inputs.dwiSequence, inputs.roiSegmentation, spectrum if spectrum not in ("", ".") else None,
            caseId=inputs.caseId.strip() or None, settings=settings,
            outputTable=None if inputs.newOutputs else inputs.outputTable, bValues=inputs.bValues or None,
            progressCallback=progressCallback, newOutputs=inputs.newOutputs, fat=fat if fat not in ("", ".") else None)

    def dwiProxyNode(self, dwiSequence):
        """Return the volume node that shows the DWI's current b-image (its sequence browser's proxy)."""
        browser = slicer.modules.sequences.logic().GetFirstBrowserNodeForSequenceNode(dwiSequence)
        return browser.GetProxyNode(dwiSequence) if browser else None

    def createRoiSegmentation(self, dwiSequence, name: str = "ROI"):
        """Return a new, empty segmentation whose geometry follows the DWI grid, with one segment "lesion".

        Its reference geometry is the DWI's browser proxy volume, so the Segment Editor paints on the b-images.
        """
        with self._dwiReference(dwiSequence) as reference:
            segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
            segmentation.SetReferenceImageGeometryParameterFromVolumeNode(reference)
            segmentation.GetSegmentation().AddEmptySegment("lesion", "lesion")
            segmentation.CreateDefaultDisplayNodes()
        return segmentation

    @contextlib.contextmanager
    def _dwiReference(self, dwiSequence):
        """Yield a volume node on the DWI grid: the browser's proxy, or a temporary node removed afterwards."""
        proxy = self.dwiProxyNode(dwiSequence)
        if proxy is not None:
            yield proxy
            return
        with nodes.grid_volume(*nodes.grid_of_sequence(dwiSequence)) as temporary:
            yield temporary

    def processCaseFiles(self, dwi: str, roi: str | None = None, spectrum: str | None = None,
                         caseId: str | None = None, outputDir: str | None = None, overwrite: bool = False,
                         settings: CaseSettings | None = None, extraColumns: dict | None = None,
                         provenance: dict | None = None, fat: str | None = None, dwiVolume: DwiVolume | None = None,
                         **changes):
        """Process one case given as files and export it; return (CaseResult, {what: path}).

        ``dwi`` as :meth:`loadDwi` takes it (``dwiVolume``: what it holds, already read); ``roi`` a segmentation
        or label-map file (None: the spectrum's voxel becomes the ROI); ``spectrum`` a spectrum file or None;
        ``fat`` a water-fat DICOM folder or None (see :meth:`processCase`); ``settings`` (and keyword ``changes``)
        as :meth:`processCase` takes them (``settings.report``: write the PNG/PDF report); ``extraColumns`` (e.g.
        a manifest's label and reader) are added to every row. What ``vcfdiagnosis run`` and the batch runner do
        for each case.

        ``outputDir`` is the case folder. It is built beside its place and swapped in whole with a ``case.json``
        marker (the inputs, the settings and ``provenance`` are written into it): it is never half-written, and
        with ``overwrite`` a case folder written earlier is replaced entirely. A non-empty folder that is not a
        case folder is never replaced.
        """
        from ..outputs.safe_paths import check_replaceable, probe_writable

        if outputDir:  # refuse before the (possibly long) processing
            check_replaceable(Path(outputDir), overwrite)
            probe_writable(outputDir)
        from ..pacs.transfer import local_input  # an archive location (dicomweb://, dimse://): its local copy

        given = {"dwi": str(dwi), "roi": None if roi is None else str(roi), "spectrum": spectrum,
                 "fat": None if fat is None else str(fat)}  # provenance
        dwi, roi, spectrum, fat = (local_input(value) for value in (dwi, roi, spectrum, fat))
        settings = _settings(settings, changes)
        sequence, _ = self.loadDwi(dwi, name=caseId and f"{caseId} DWI", preread=dwiVolume)
        spectrumNodes = (self.loadSpectrum(spectrum, name=caseId, waterT2ms=settings.water_t2_ms or None,
                                           fatT2ms=settings.fat_t2_ms or None) if spectrum else None)
        if roi is None:
            if spectrumNodes is None:
                raise ValueError("an ROI or a spectrum (whose voxel becomes the ROI) is needed")
            roi = self.roiFromMrsVoxel(spectrumNodes, sequence)
        case = self.processCase(sequence, roi, spectrumNodes, caseId=caseId, settings=settings, fat=fat)
        if isinstance(roi, (str, Path)):
            for row in case.rows:  # an empty ROI is the ROI file's problem, not the DWI's
                if row["status"] == "error" and row["roi"] in case.empty_segments:
                    row["message"] = f"{roi}: segment '{row['roi']}' is empty (no voxel drawn)"
        for row in case.rows:
            row.update(extraColumns or {})
        if not outputDir:
            return case, {}
        inputs = {**given, "roi": given["roi"] or "the MRS voxel"}  # no ROI file: the spectrum's voxel was the ROI
        if case.fat is not None:
            inputs["fat_maps"] = case.fat.description
        return case, self.exportCaseFolder(case, outputDir, overwrite=overwrite, report=settings.report,
                                           provenance={"inputs": inputs, "settings": settings.to_dict(),
                                                       **(provenance or {})}, dicom=settings.dicom)

    def exportDicom(self, case: CaseResult, outputDir: str, pdfPath: str | None = None,
                    overwrite: bool = False) -> dict:
        """Write the case's results as DICOM into ``outputDir`` (Parametric Maps, SEG, TID 1500 SR, the report
        as Encapsulated PDF when ``pdfPath`` is given), in the source DWI's study; return ``{what: path}``.
        The DWI must have been read from a classic DICOM series (see :mod:`VCFDiagnosisLib.dicomout`)."""
        from ..dicomout.export import write_dicom_results

        maps = case.maps.as_dict() if case.maps is not None else None
        centre = case.spectrum.spectrum.voxel_center_ras if case.spectrum is not None else None
        return write_dicom_results(case.dwi, maps, case.masks, case.rows, outputDir, pdfPath, overwrite, centre)

    def exportCaseFolder(self, case: CaseResult, outputDir: str, overwrite: bool = False, report: bool = True,
                         provenance: dict | None = None, dicom: bool = False) -> dict:
        """Write a case folder atomically (see :meth:`exportCase` for its files) with its ``case.json`` marker;
        with ``dicom``, also its results as DICOM in ``dicom/`` (:meth:`exportDicom`; part of the same swap).

        Returns ``{what: path}`` with the final paths. Raises FileExistsError if ``outputDir`` is a non-empty
        folder that is not a case folder, or a case folder and ``overwrite`` is False.
        """
        from ..outputs.safe_paths import CASE_MARKER, staged_case_folder

        target = Path(outputDir).resolve()
        with staged_case_folder(target, replace=overwrite) as staging:
            written = self.exportCase(case, str(staging), overwrite=True, report=report)
            if dicom:
                written.update({f"dicom_{what}": path for what, path in self.exportDicom(
                    case, str(staging / "dicom"), written.get("report_pdf")).items() if what != "marker"})
            marker = {"case_id": case.case_id, "version": __version__,
                      "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), **(provenance or {})}
            (staging / CASE_MARKER).write_text(json.dumps(marker, indent=1, default=str), encoding="utf-8")
        written["marker"] = str(staging / CASE_MARKER)
        return {what: str(target / Path(path).relative_to(staging)) for what, path in written.items()}

    def processBatch(self, manifestPath: str, outputDir: str, force: bool = False,
                     settings: CaseSettings | None = None, progressCallback=None, **changes):
        """Process every case of a manifest (as ``vcfdiagnosis batch`` does, in this process); return
        (BatchSummary, results table node). ``settings`` (and keyword ``changes``) apply to every case.
        Finished cases are skipped unless ``force``; a failing case is an error row and the batch goes on; each
        case's nodes are removed after export, so the scene keeps only the results table. Each case's ``.mrb``
        holds that case only; a scene holding other data (a loaded patient) is refused with a ValueError before
        anything is written, since the bundles would carry its names (earlier batches' results tables are fine).
        ``progressCallback(event)`` receives ``done``, ``total``, ``case_id``, ``status``, ``seconds`` and
        ``eta_s`` after every case.
        """
        from ..batch.cases import CaseProcessor
        from ..batch.runner import run_batch
        from .case_scope import BATCH_RESULTS_ATTRIBUTE, check_no_other_data

        check_no_other_data()  # before anything is written: their names would enter every case's bundle
        in_scene = CaseProcessor(process=self.processManifestRow, prepare=lambda cacheDir, quiet: None)
        summary = run_batch(manifestPath, outputDir, in_scene, force=force, in_process=True,
                            progress=progressCallback, settings=_settings(settings, changes))
        table = nodes.add_results_table(summary.rows, f"{Path(outputDir).name} batch results")
        table.SetAttribute(BATCH_RESULTS_ATTRIBUTE, str(Path(outputDir).resolve()))
        return summary, table

    def processManifestRow(self, row, caseDir, settings: CaseSettings) -> list[dict]:
        """Process one manifest case (a :class:`~VCFDiagnosisLib.batch.manifest.ManifestRow`) in
        ``slicer.mrmlScene`` and export it to ``caseDir``; return its results rows.

        The case folder is built beside its place and swapped in whole, with its ``case.json`` marker (the
        manifest row and the settings in it), so a case folder is either absent or finished. The case runs in
        :func:`~VCFDiagnosisLib.mrml.case_scope.case_scope`: its scene bundle holds this case only, and the nodes
        and folders it added are removed afterwards (batch workers and Slicer's console keep a clean scene); a
        scene holding other data (a loaded patient) is refused with a ValueError, before the case is read.
        """
        from .case_scope import case_scope

        with case_scope():
            case, _ = self.processCaseFiles(
                row.dwi, row.roi, row.spectrum, caseId=row.case_id, outputDir=str(caseDir), overwrite=True, fat=row.fat,
                settings=settings, extraColumns={"label": row.label, "reader": row.reader},
                provenance={"manifest_row": dataclasses.asdict(row)})
        return case.rows

    def analyzeCohort(self, resultsPath: str, outputDir: str, overwrite: bool = False,
                      bootstrapResamples: int = 200, seed: int = 0) -> dict:
        """Run the study's statistics on a labelled results table (``results.tsv`` of a batch) into ``outputDir``.

        Returns ``{"stats": dict, "files": {name: path}}`` (stats.json, stats.md, roc.png, boxplots.png,
        calibration.png, decision_curve.png, stats.pdf); the validation uses ``bootstrapResamples`` resamples and
        ``seed``. Needs statsmodels; inside Slicer the user installs it from the Python console with
        ``import VCFDiagnosis; VCFDiagnosis.installCohortExtras()``: nothing is installed automatically.
        """
        from ..analysis.results import read_results_tsv
        from ..cohort import analyze_cohort, write_cohort_outputs

        rows = read_results_tsv(resultsPath)
        stats = analyze_cohort(rows, source=str(resultsPath), n_boot=bootstrapResamples, seed=seed)
        return {"stats": stats, "files": write_cohort_outputs(stats, rows, outputDir, overwrite=overwrite)}

    def roiFromMrsVoxel(self, spectrumNodes: SpectrumNodes, dwiSequence, name: str = "MRS voxel"):
        """Return a segmentation with one segment covering the MRS voxel on the DWI grid (the study's ROI
        matched the voxel). Raises ValueError if the spectrum has no voxel or the voxel misses the DWI."""
        from ..analysis.roi_geometry import box_mask_on_grid

        s = spectrumNodes.spectrum
        if s.voxel_center_ras is None or s.voxel_size_mm is None:
            raise ValueError(f"{s.source_path}: the spectrum has no voxel position; draw the ROI instead")
        matrix, shape_kji = nodes.grid_of_sequence(dwiSequence)
        mask = box_mask_on_grid(shape_kji, matrix, s.voxel_center_ras, s.voxel_size_mm, s.voxel_orientation_ras)
        if not mask.any():
            raise ValueError(f"the MRS voxel of {s.source_path} lies outside the DWI '{dwiSequence.GetName()}'")
        with self._dwiReference(dwiSequence) as reference:
            segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
            segmentation.SetReferenceImageGeometryParameterFromVolumeNode(reference)
            segment_id = segmentation.GetSegmentation().AddEmptySegment("mrs_voxel", "MRS voxel")
            update_segment_binary_labelmap_from_array(mask, segmentation, segment_id, reference)
            segmentation.CreateDefaultDisplayNodes()
        return segmentation

    def exportCase(self, case: CaseResult, outputDir: str, overwrite: bool = False, report: bool = True) -> dict:
        """Write a processed case to ``outputDir``; return ``{what: path}``.

        Files: ``maps/<S0|D|Dstar|f|ADC|R2|status>.nrrd`` (DWI grid), with a water-fat input
        ``maps/<PDFF|R2star|fat_status>.nrrd`` (its grid; percent, 1/s), ``roi.seg.nrrd``, ``results.tsv`` (full
        precision), ``mrs.json`` (if a spectrum was given), ``<case name>.mrb`` (the whole scene; the name is
        the case id made safe by :func:`VCFDiagnosisLib.outputs.safe_paths.case_folder_name`) and
        ``report.png``/``report.pdf``. Existing files are replaced only with ``overwrite``.
        """
        from ..outputs.safe_paths import case_folder_name, path_inside

        out = Path(outputDir)
        written = {}
        from ..analysis.results import write_results_tsv
        from ..dwi.nifti import write_maps

        report = self._startReport(case, out, overwrite) if report else None  # drawn while the rest is written
        try:
            for maps, grid in ((case.maps, case.dwi.ijk_to_ras), (case.fat, case.fat and case.fat.ijk_to_ras)):
                if maps is not None:
                    for path in write_maps(out / "maps", maps.as_dict(), grid, overwrite, ".nrrd"):
                        written[f"map_{path.name[:-len('.nrrd')]}"] = str(path.resolve())
            written["roi"] = nodes.write_node(case.roi_segmentation, str(out / "roi.seg.nrrd"), overwrite)
            written["results"] = write_results_tsv(out / "results.tsv", case.rows, overwrite)
            if case.spectrum is not None:
                with atomic_output(out / "mrs.json", overwrite) as temporary:
                    temporary.write_text(json.dumps(case.spectrum.result.to_dict(), indent=1))
                written["mrs"] = str((out / "mrs.json").resolve())
            # the case id may come from a header (SeriesDescription) or a user: never a path
            scene = self.saveSceneBundle(str(path_inside(out, f"{case_folder_name(case.case_id)}.mrb")), overwrite)
            if report is not None:
                written["report_png"], written["report_pdf"] = report.result()
        finally:
            if report is not None:
                report.cancel()  # nothing is drawn into the folder after this (a no-op once the report is done)
        written["scene"] = scene
        return written

    def _startReport(self, case: CaseResult, out: Path, overwrite: bool):
        """Start drawing ``report.png``/``report.pdf`` into ``out`` with :attr:`reportRenderer`; return the pending
        report (``result()`` -> [png, pdf], ``cancel()``)."""
        from ..analysis.case_analysis import MrsVoxel

        s = case.spectrum.spectrum if case.spectrum else None
        voxel = (MrsVoxel(s.voxel_center_ras, s.voxel_size_mm, s.voxel_orientation_ras)
                 if s is not None and s.voxel_center_ras is not None else None)
        arguments = {"path_png": str(out / "report.png"), "path_pdf": str(out / "report.pdf"),
                     "case_id": case.case_id, "dwi": case.dwi, "masks": case.masks, "rows": case.rows,
                     "maps": case.maps, "mrs": case.spectrum.result if case.spectrum else None, "mrs_voxel": voxel,
                     "decay": case.decay, "overwrite": overwrite, "fat": case.fat, "fat_masks": case.fat_masks}
        from ..analysis.report import DrawnReport

        return (self.reportRenderer or DrawnReport)(**arguments)

    def _segmentationFrom(self, roi, name: str):
        """Return a segmentation node from a segmentation node, a label map node or a file path."""
        if isinstance(roi, (str, Path)):
            return self.loadRoi(str(roi), name)
        if roi.IsA("vtkMRMLSegmentationNode"):
            return roi
        if roi.IsA("vtkMRMLLabelMapVolumeNode"):
            segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
            if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(roi, segmentation):
                raise ValueError(f"label map '{roi.GetName()}' could not be converted to segments")
            segmentation.CreateDefaultDisplayNodes()
            return segmentation
        raise TypeError(f"ROI must be a segmentation, a label map or a file, not {roi.GetClassName()}")

    # --- outputs ----------------------------------------------------------------------------------------

    def saveSceneBundle(self, path: str, overwrite: bool = False) -> str:
        """Write the whole scene as a ``.mrb`` bundle atomically; return the path.

        Refuses to replace an existing file unless ``overwrite`` is True.
        """
        target = Path(path).resolve()
        if target.suffix.lower() != ".mrb":
            raise ValueError(f"{path}: a scene bundle must end in .mrb")
        with atomic_output(target, overwrite) as temporary:  # Slicer names the inner folder after the file
            if not slicer.mrmlScene.WriteToMRB(str(temporary)):
                raise OSError(f"{path}: writing the scene bundle failed")
        return str(target)


#: The user cancelled a long computation (no maps or results table were added; a spectrum loaded before the fit
#: stays in the scene): the IVIM engine's :class:`~VCFDiagnosisLib.ivim.engine.FitCancelled`.
ProcessingCancelled = FitCancelled


def _settings(settings: CaseSettings | None, changes: dict) -> CaseSettings:
    """Return ``settings`` (default: the defaults) with keyword ``changes``; an unknown name is a ValueError."""
    settings = settings or CaseSettings()
    return type(settings).from_dict({**settings.to_dict(), **changes}) if changes else settings


def parse_bvalues(text_or_values, count: int) -> np.ndarray:
    """Return b-values (s/mm2) from a list or a comma/space-separated string, checked against ``count`` volumes."""
    if isinstance(text_or_values, str):
        parts = [p for p in text_or_values.replace(",", " ").split() if p]
        try:
            values = np.array([float(p) for p in parts])
        except ValueError as error:
            raise ValueError(f"b-values must be numbers in s/mm2, got {text_or_values!r}") from error
    else:
        values = np.asarray(text_or_values, float).reshape(-1)
    if values.size != count:
        raise ValueError(f"{values.size} b-values given for {count} volumes")
    if not np.all(np.isfinite(values)) or (values < 0).any():
        raise ValueError(f"b-values must be finite and >= 0 s/mm2, got {values.tolist()}")
    return values


def _unit_of(parameter: str) -> str:
    """Return the unit encoded in a parameter name's suffix (``D_mm2_s`` -> ``mm2/s``)."""
    for suffix, unit in (("_mm2_s", "mm2/s"), ("_fraction", "fraction"), ("_percent", "percent"),
                         ("_ratio", "ratio"), ("_mm", "mm"), ("_ms", "ms"), ("_hz", "Hz")):
        if parameter.endswith(suffix):
            return unit
    return ""
