"""The reading station's controller: one case, its readers' ROIs and results, on trame-slicer's MRML scene.

No web widget is imported here: the page (:mod:`.page`) binds this object's methods and :meth:`ReadingStation.view`
to the browser. Everything a case needs is the module Logic (:class:`~VCFDiagnosisLib.mrml.logic.VCFDiagnosisLogic`)
working on the scene of trame-slicer's ``SlicerApp`` (made the Logic's scene with
:func:`VCFDiagnosisLib.mrml.headless.adopt_scene`), so the browser, the Qt panel, the console and the CLI compute
the same numbers. One scene per server process: one case at a time.

Apply runs the Logic's three steps: :meth:`prepareCase` and :meth:`publishCase` on the thread that owns the scene,
:meth:`computeCase` (numbers only) on a worker thread, so the page shows progress and can cancel the voxelwise fit.
Files are written only under the station's work folder; a case id or an uploaded file name never chooses a path.
Results are research outputs, never a diagnosis.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..analysis.results import COLUMN_BY_NAME, write_results_tsv
from ..analysis.settings import CaseSettings
from ..analysis.study_models import RESEARCH_USE_NOTE
from ..outputs.safe_paths import case_folder_name, path_inside
from .cases import DataCase, list_data_cases
from .uploads import DEFAULT_UPLOAD_LIMIT_BYTES, UploadStore

#: The results columns the page's table shows, in order (units from the results contract).
TABLE_COLUMNS = ("reader", "roi", "status", "roi_voxels", "D", "Dstar", "f", "ADC", "LWR", "FF", "FF_source",
                 "PDFF", "R2star", "P_IVIM",
                 "P_IVIM_lo", "P_IVIM_hi", "P_combined", "P_combined_lo", "P_combined_hi", "prediction",
                 "prediction_model", "model", "message")
#: The maps the page can overlay on the b-images, with their colour table (a Slicer colour node).
OVERLAY_MAPS = {"D": "Iron", "Dstar": "PET-Heat", "f": "Ocean", "ADC": "Iron", "PDFF": "Desert",
                "R2star": "PET-Rainbow"}
DEFAULT_READER = "reader 1"


class ApplyCancelled(RuntimeError):
    """The user cancelled Apply (the voxelwise fit stopped; nothing was added to the scene)."""


@dataclass
class ReaderWork:
    """One reader's ROI (a segmentation node) and the rows of their last Apply."""

    segmentation: object
    rows: list = field(default_factory=list)


def column_header(name: str) -> str:
    """Return a table header with its unit, e.g. ``D [mm2/s]`` (unit from the results contract)."""
    column = COLUMN_BY_NAME.get(name)
    unit = column.unit if column is not None else ""
    return f"{name} [{unit}]" if unit and unit not in ("text",) else name


def table_cell(value) -> str:
    """Return a table cell as text: numbers to 4 significant digits, NaN and None as an empty cell."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else f"{float(value):.4g}"
    return str(value)


class ReadingStation:
    """A case in the browser: open, draw per reader, Apply, download (see the module docstring).

    ``slicer_app`` is trame-slicer's ``SlicerApp``; ``work_dir`` the only folder the station writes in;
    ``data_dir`` the server's case folder (None: uploads and the synthetic patient only).
    """

    def __init__(self, slicer_app, work_dir: str | Path, data_dir: str | Path | None = None,
                 upload_limit_bytes: int = DEFAULT_UPLOAD_LIMIT_BYTES) -> None:
        from ..mrml import headless

        self.app = slicer_app
        self.work_dir = Path(work_dir).resolve()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.runtime = headless.adopt_scene(slicer_app.scene, slicer_app.app_logic,
                                            cache_dir=str(self._folder("mrml-cache")))
        from ..mrml.logic import VCFDiagnosisLogic

        self.logic = VCFDiagnosisLogic()
        self.uploads = UploadStore(self.work_dir, upload_limit_bytes)
        self.data_dir = Path(data_dir).resolve() if data_dir else None
        self.data_cases: list[DataCase] = []
        self.data_problems: list[str] = []
        self.refresh_data_cases()
        self.case_id = ""
        self.sequence = None
        self.browser = None
        self.spectrum_path: str | None = None
        self.spectrum_nodes = None
        self.fat_path: str | None = None  # a water-fat DICOM folder: PDFF and R2* join the results
        self._fat_read: tuple = (None, None)  # (the settings it was read with, the FatInput): read once per case
        self.readers: dict[str, ReaderWork] = {}
        self.reader = DEFAULT_READER
        self.last_case = None  # the CaseResult of the last Apply
        self.progress = 0.0
        self.progress_text = ""
        self.busy = False
        self._cancel = threading.Event()
        self.overlay = "none"
        self._exported: dict | None = None  # the last Apply's case folder (with DICOM), written once

    def _check_idle(self, action: str) -> None:
        """Refuse ``action`` while Apply runs (its results belong to the case and reader it started with)."""
        if self.busy:
            raise RuntimeError(f"Apply is running: wait for it (or Cancel) before you {action}")

    # --- folders ----------------------------------------------------------------------------------------

    def _folder(self, *parts: str) -> Path:
        """Return a folder inside the work folder (created), never outside it."""
        folder = path_inside(self.work_dir, *parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def refresh_data_cases(self) -> None:
        """List the cases of the data folder again (see :func:`.cases.list_data_cases`)."""
        if self.data_dir is not None:
            self.data_cases, self.data_problems = list_data_cases(self.data_dir)

    # --- opening a case ---------------------------------------------------------------------------------

    def clear(self) -> None:
        """Close the case: empty the scene (as Slicer's Close Scene) and forget readers and results."""
        self._check_idle("close the case")
        self.app.segmentation_editor.deactivate_effect()
        self.app.scene.Clear(0)
        self.logic.forgetLoadedSpectra()
        self.sequence = self.browser = self.spectrum_nodes = self.last_case = None
        self.spectrum_path, self.case_id, self.readers, self.overlay = None, "", {}, "none"
        self.fat_path, self._fat_read = None, (None, None)

    def open_files(self, dwi: str, roi: str | None = None, spectrum: str | None = None, case_id: str = "",
                   reader: str = "", settings: CaseSettings | None = None, fat: str | None = None) -> None:
        """Open a case from files (DWI, optional ROI, spectrum and water-fat folder); the ROI becomes ``reader``'s
        ROI. The water-fat folder is read (and checked) now, fitted at Apply."""
        settings = settings or CaseSettings()
        self.clear()
        if fat:  # a folder that holds no water-fat series is refused before the case is opened
            from ..fat.options import fat_read_options
            from ..fat.source import read_fat_input

            how = fat_read_options(settings)
            self._fat_read = (how, read_fat_input(fat, *how))
            self.fat_path = fat
        self.case_id = case_id.strip() or Path(dwi).name
        self.sequence, self.browser = self.logic.loadDwi(dwi, name=f"{self.case_id} DWI")
        if spectrum:
            self.spectrum_path = spectrum
            self.spectrum_nodes = self.logic.loadSpectrum(spectrum, name=self.case_id,
                                                          waterT2ms=settings.water_t2_ms or None,
                                                          fatT2ms=settings.fat_t2_ms or None)
        self.reader = reader.strip() or DEFAULT_READER
        if roi:
            segmentation = self.logic.loadRoi(roi, name=f"{self.case_id} ROI ({self.reader})")
            self.readers[self.reader] = ReaderWork(segmentation)
        self._show_case()
        self.select_reader(self.reader)
        self.centre_on_roi()

    def open_data_case(self, index: int, settings: CaseSettings | None = None) -> DataCase:
        """Open entry ``index`` of the data folder's list (the browser sends only the index)."""
        if not 0 <= int(index) < len(self.data_cases):
            raise ValueError(f"no case number {index} in the data folder's list")
        case = self.data_cases[int(index)]
        self.open_files(case.dwi, case.roi, case.spectrum, case.case_id, case.reader, settings, case.fat)
        return case

    def open_synthetic_patient(self, seed: int = 1, group: str = "metastatic", settings: CaseSettings | None = None):
        """Write a synthetic patient (known truth) under the work folder and open it with its ROI and spectrum."""
        from ..phantom import generate_patient

        folder = self._folder("synthetic", secrets.token_hex(4))
        patient = generate_patient(folder, seed=int(seed), group=group)
        self.open_files(str(patient.dwi_dir), str(patient.segmentation_path), str(patient.rda_path),
                        patient.case_id, DEFAULT_READER, settings, str(patient.fat_echoes_dir))
        return patient

    def _show_case(self) -> None:
        """Show the DWI's current b-image in the slice views (reset to fit)."""
        proxy = self.proxy_volume()
        if proxy is not None:
            self.app.display_manager.show_volume(proxy, do_reset_views=True)

    def proxy_volume(self):
        """Return the volume node showing the current b-image (None without a case)."""
        return self.logic.dwiProxyNode(self.sequence) if self.sequence is not None else None

    # --- b-values and readers -----------------------------------------------------------------------------

    def b_values(self) -> list[float]:
        """Return the DWI's b-values (s/mm2), in the order of its images."""
        return [float(b) for b in self.logic.bValuesOfNode(self.sequence)] if self.sequence is not None else []

    def b_index(self) -> int:
        """Return the index of the b-image shown."""
        return int(self.browser.GetSelectedItemNumber()) if self.browser is not None else 0

    def select_b_index(self, index: int) -> None:
        """Show b-image ``index`` (the Segment Editor paints on the image shown)."""
        if self.browser is not None:
            self.browser.SetSelectedItemNumber(int(np.clip(int(index), 0, len(self.b_values()) - 1)))

    def select_reader(self, name: str) -> None:
        """Make ``name`` the reader whose ROI the Segment Editor edits (a new reader gets an empty ROI)."""
        name = " ".join(str(name).split())[:64] or DEFAULT_READER
        if name != self.reader:
            self._check_idle("switch the reader")
        self.reader = name
        if self.sequence is None:
            return
        if name not in self.readers:
            segmentation = self.logic.createRoiSegmentation(self.sequence, f"{self.case_id} ROI ({name})")
            self.readers[name] = ReaderWork(segmentation)
        for reader, work in self.readers.items():  # only the current reader's ROI is shown
            display = work.segmentation.GetDisplayNode()
            if display is not None:
                display.SetVisibility(reader == name)
        editor = self.app.segmentation_editor
        editor.deactivate_effect()
        editor.set_active_segmentation(self.readers[name].segmentation, self.proxy_volume())

    def roi_segmentation(self):
        """Return the current reader's segmentation node."""
        work = self.readers.get(self.reader)
        return work.segmentation if work else None

    def roi_from_mrs_voxel(self) -> None:
        """Replace the current reader's ROI by the MRS voxel on the DWI grid (the study's ROI matched it)."""
        self._check_idle("replace the ROI")
        if self.spectrum_nodes is None:
            raise ValueError("open a case with a spectrum first: its voxel becomes the ROI")
        old = self.readers.get(self.reader)
        segmentation = self.logic.roiFromMrsVoxel(self.spectrum_nodes, self.sequence,
                                                  name=f"{self.case_id} ROI ({self.reader})")
        self.readers[self.reader] = ReaderWork(segmentation)
        if old is not None:  # the old ROI goes, with the outputs its last Apply made (maps, tables, chart)
            from ..mrml import nodes

            self.app.segmentation_editor.deactivate_effect()
            nodes.remove_nodes(nodes.outputs_of(f"{self.sequence.GetID()}|{old.segmentation.GetID()}").values())
            nodes.remove_nodes([old.segmentation])
            if self.last_case is not None and self.last_case.roi_segmentation is old.segmentation:
                self.last_case = None
        self.select_reader(self.reader)
        self.centre_on_roi()

    def roi_mask(self) -> np.ndarray | None:
        """Return the current reader's ROI (all segments) as a boolean mask on the DWI grid (k, j, i), or None."""
        segmentation = self.roi_segmentation()
        if segmentation is None:
            return None
        from ..mrml import nodes

        matrix, shape = nodes.grid_of_sequence(self.sequence)
        mask = np.zeros(shape, bool)
        for i in range(segmentation.GetSegmentation().GetNumberOfSegments()):
            segment_id = segmentation.GetSegmentation().GetNthSegmentID(i)
            mask |= nodes.segment_mask_on_grid(segmentation, segment_id, matrix, shape)
        return mask

    def roi_voxel_count(self) -> int:
        """Return the number of DWI voxels in the current reader's ROI (all segments)."""
        mask = self.roi_mask()
        return 0 if mask is None else int(mask.sum())

    def centre_on_roi(self) -> bool:
        """Move the three slice views to the centre of the current ROI; return False if it is empty."""
        mask = self.roi_mask()
        if mask is None or not mask.any():
            return False
        import slicer

        from ..mrml import nodes

        matrix, _ = nodes.grid_of_sequence(self.sequence)
        k, j, i = (float(np.mean(axis)) for axis in np.nonzero(mask))
        r, a, s = (matrix @ np.array([i, j, k, 1.0]))[:3]
        slicer.vtkMRMLSliceNode.JumpAllSlices(self.app.scene, r, a, s, slicer.vtkMRMLSliceNode.CenteredJumpSlice)
        return True

    # --- Apply -------------------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Ask a running Apply to stop (the voxelwise fit stops at its next progress report)."""
        self._cancel.set()

    def _progress(self, fraction: float, message: str = "") -> bool:
        """Progress callback of the fit (worker thread): remember it; return False once cancel was asked."""
        self.progress, self.progress_text = float(fraction), str(message)
        return not self._cancel.is_set()

    async def apply(self, settings: CaseSettings) -> list[dict]:
        """Process the current reader's ROI with ``settings``; return that reader's rows (also kept).

        Raises ValueError for a missing input, RuntimeError while another Apply runs, :class:`ApplyCancelled` when
        cancelled. While it runs, opening a case, switching reader or replacing the ROI is refused, so the rows
        always belong to the case and reader Apply started with. A cancelled or failed Apply leaves the scene as
        it found it (nodes added while preparing, e.g. a spectrum quantified with other T2s, are removed).
        """
        from ..ivim.engine import FitCancelled
        from ..mrml import nodes

        self._check_idle("Apply again")
        if self.sequence is None:
            raise ValueError("open a case first (data folder, upload or synthetic patient)")
        reader, segmentation = self.reader, self.roi_segmentation()
        if segmentation is None:
            raise ValueError(f"draw {reader}'s ROI first (Paint, Draw, Threshold...) or use the MRS voxel")
        self._cancel.clear()
        self.busy, self.progress, self.progress_text = True, 0.0, "preparing"
        scene = self.app.scene
        before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
        published = False
        try:
            self.app.segmentation_editor.deactivate_effect()
            prepared = self.logic.prepareCase(self.sequence, segmentation, self.spectrum_path, caseId=self.case_id,
                                              settings=settings, fat=self._fat_input(settings))
            if not any(mask.any() for mask in prepared.masks.values()):
                raise ValueError(f"draw {reader}'s ROI first (Paint, Draw, Threshold...) or use the MRS voxel")
            self.progress_text = "fitting"
            try:
                computed = await asyncio.get_running_loop().run_in_executor(
                    None, self.logic.computeCase, prepared, self._progress)
            except FitCancelled as error:
                raise ApplyCancelled("cancelled: nothing was changed") from error
            if self._cancel.is_set():
                raise ApplyCancelled("cancelled: nothing was changed")
            self.progress_text = "publishing"
            for row in computed.rows:  # the reader column feeds the cohort's ICC
                row["reader"] = reader
            case = self.logic.publishCase(prepared, computed)
            published = True
        finally:
            self.busy = False
            if not published:
                nodes.remove_nodes([scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())
                                    if scene.GetNthNode(i).GetID() not in before
                                    and scene.GetNthNode(i).GetAttribute(nodes.OUTPUT_OF_ATTRIBUTE) is None
                                    and not scene.GetNthNode(i).IsA("vtkMRMLDisplayNode")
                                    and not scene.GetNthNode(i).IsA("vtkMRMLStorageNode")])
        if case.spectrum is not None and self.spectrum_nodes is not None and case.spectrum is not self.spectrum_nodes:
            old = self.spectrum_nodes  # quantified again with other T2s: the old voxel, table and chart go
            nodes.remove_nodes([n for n in (old.voxel_roi, old.table, old.chart) if n is not None])
        self.spectrum_nodes = case.spectrum or self.spectrum_nodes
        self.readers[reader].rows = case.rows
        self.last_case, self._exported = case, None
        self.progress, self.progress_text = 1.0, "done"
        if self.overlay == "none" and case.map_nodes:
            self.overlay = "D"
        self.show_overlay(self.overlay)
        self.select_reader(reader)
        return case.rows

    def _fat_input(self, settings: CaseSettings):
        """Return the case's water-fat input: as read when the case was opened, or the folder to read again when the
        water-fat settings changed since (None without one)."""
        from ..fat.options import fat_read_options

        how, read = self._fat_read
        return read if read is not None and how == fat_read_options(settings) else self.fat_path

    def apply_now(self, settings: CaseSettings) -> list[dict]:
        """Run :meth:`apply` to completion from synchronous code (the console, tests)."""
        return asyncio.run(self.apply(settings))

    def all_rows(self) -> list[dict]:
        """Return every reader's rows of this case (the ``reader`` column tells them apart)."""
        return [row for work in self.readers.values() for row in work.rows]

    # --- maps overlay ------------------------------------------------------------------------------------

    def _map_nodes(self) -> dict:
        """Return the last Apply's map nodes by stem: IVIM on the DWI grid, PDFF and R2* on the water-fat grid."""
        case = self.last_case
        return {**case.map_nodes, **case.fat_nodes} if case is not None else {}

    def overlay_choices(self) -> list[str]:
        """Return the maps that can be overlaid now ("none" first)."""
        maps = self._map_nodes()
        return ["none", *(stem for stem in OVERLAY_MAPS if stem in maps)]

    def show_overlay(self, stem: str) -> dict:
        """Overlay map ``stem`` (or "none") on the b-images; return its colour bar (colours, range, unit)."""
        node = self._map_nodes().get(stem)
        self.overlay = stem if node is not None else "none"
        for view in self.app.view_manager.get_slice_views():
            view.set_foreground_volume_id(node.GetID() if node is not None else None)
            view.set_foreground_opacity(0.6 if node is not None else 0.0)
        for work in self.readers.values():  # with a map shown, the ROI is drawn as its outline only
            display = work.segmentation.GetDisplayNode()
            if display is not None:
                display.SetVisibility2DFill(node is None)
        return self.colour_bar()

    def colour_bar(self) -> dict:
        """Return the overlay's colour bar: CSS gradient stops, the window's low/high values and the unit."""
        node = self._map_nodes().get(self.overlay)
        if node is None:
            return {}
        display = node.GetDisplayNode()
        colour_node = self.app.scene.GetFirstNodeByName(OVERLAY_MAPS[self.overlay])
        if colour_node is not None:
            display.SetAndObserveColorNodeID(colour_node.GetID())
        finite = node.GetImageData() and np.asarray(_voxels(node))
        finite = finite[np.isfinite(finite)] if finite is not None and finite.size else np.array([])
        low, high = (np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0))
        display.AutoWindowLevelOff()
        display.SetWindowLevelMinMax(float(low), float(high))
        # voxels not fitted (NaN, outside the ROI) stay transparent: only the threshold's range is coloured
        display.ApplyThresholdOn()
        display.SetThreshold(float(np.min(finite)) if finite.size else 0.0, float(np.max(finite)) if finite.size else 1.0)
        table = display.GetColorNode().GetLookupTable() if display.GetColorNode() is not None else None
        stops = []
        for step in range(11):
            rgba = [0.0] * 4
            if table is not None:
                table.GetTableValue(int(round(step / 10 * (table.GetNumberOfTableValues() - 1))), rgba)
            stops.append("rgb({},{},{})".format(*(int(255 * c) for c in rgba[:3])))
        from ..mrml.nodes import MAP_DISPLAY

        unit = MAP_DISPLAY[self.overlay][1]  # the map nodes' own unit
        return {"map": self.overlay, "gradient": f"linear-gradient(to right, {', '.join(stops)})",
                "low": f"{low:.3g}", "high": f"{high:.3g}", "unit": unit}

    # --- table, plots, downloads -------------------------------------------------------------------------

    def table(self) -> tuple[list[dict], list[dict]]:
        """Return (headers, items) of every reader's rows for the page's table (units in the headers)."""
        headers = [{"title": column_header(c), "key": c} for c in TABLE_COLUMNS]
        items = [{c: table_cell(row.get(c)) for c in TABLE_COLUMNS} for row in self.all_rows()]
        return headers, items

    def figures(self) -> tuple[dict | None, dict | None]:
        """Return (decay figure, spectrum figure) of the last Apply / the loaded spectrum (None if absent)."""
        from .plots import decay_figure, spectrum_figure

        decay = decay_figure(self.last_case.decay) if self.last_case is not None and self.last_case.decay else None
        fit = self.spectrum_nodes.result.fit if self.spectrum_nodes is not None else None
        return decay, (spectrum_figure(fit) if fit is not None else None)

    def note(self) -> str:
        """Return the research-use note shown with every probability."""
        return next((r["note"] for r in self.all_rows() if r.get("note")), RESEARCH_USE_NOTE)

    def export_results_tsv(self) -> Path:
        """Write every reader's rows of this case to a new file in the work folder; return its path."""
        if not self.all_rows():
            raise ValueError("no results yet: Apply first")
        folder = self._folder("exports", secrets.token_hex(6))
        return Path(write_results_tsv(path_inside(folder, "results.tsv"), self.all_rows()))

    def export_case(self, dicom: bool = False) -> dict:
        """Write the last Apply's case folder (maps, ROI, results, report PDF/PNG, .mrb; with ``dicom`` its DICOM
        results in ``dicom/``) under the work folder, once per Apply; return ``{what: path}``."""
        if self.last_case is None:
            raise ValueError("no results yet: Apply first")
        if self._exported is None or (dicom and "dicom_SEG" not in self._exported):
            folder = path_inside(self._folder("exports", secrets.token_hex(6)), case_folder_name(self.case_id))
            self._exported = self.logic.exportCaseFolder(self.last_case, str(folder), report=True, dicom=dicom)
        return self._exported

    def export_dicom_zip(self) -> Path:
        """Write the last Apply's DICOM results (Parametric Maps, SEG, TID 1500 SR, report PDF) as one .zip in the
        work folder; return its path (ValueError if the DWI was not read from a classic DICOM series)."""
        import shutil

        folder = Path(self.export_case(dicom=True)["dicom_SEG"]).parent
        archive = folder.parent / f"{folder.parent.name}-dicom.zip"
        return archive if archive.is_file() else Path(shutil.make_archive(str(archive)[:-4], "zip", folder))

    def export_scene(self) -> Path:
        """Write the whole scene as a ``.mrb`` bundle in the work folder; return its path."""
        if self.sequence is None:
            raise ValueError("open a case first")
        folder = self._folder("exports", secrets.token_hex(6))
        return Path(self.logic.saveSceneBundle(str(path_inside(folder, f"{case_folder_name(self.case_id)}.mrb"))))


def _voxels(node) -> np.ndarray:
    """Return a volume node's voxels as a numpy array (VTK's array, no copy)."""
    from vtkmodules.util.numpy_support import vtk_to_numpy

    return vtk_to_numpy(node.GetImageData().GetPointData().GetScalars())
