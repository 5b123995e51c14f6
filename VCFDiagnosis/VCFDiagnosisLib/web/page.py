"""The reading station's web page (trame + trame-slicer): thin and declarative over :class:`.station.ReadingStation`.

Left: the tools (Case, ROI = Slicer's Segment Editor through trame-slicer, Options, Apply). Centre: three linked
slice views (axial, sagittal, coronal) showing the current b-image, the ROI and, after Apply, a map overlay with
its colour bar. Below: the probabilities with their 95 % intervals and the research-use note, the results table
(units in the headers), the ROI decay and the spectrum as interactive plots, and the downloads.

The Options form is generated from :func:`VCFDiagnosisLib.analysis.settings.setting_specs` (the one settings
model the Qt panel and the CLI are built from): no option is named in this file. Every handler reports a failure
as a one-line message on the page (``#vcf-error``) and leaves the page usable.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path

from trame.app import TrameApp
from trame.app.file_upload import ClientFile
from trame.widgets import html
from trame.widgets import plotly as trame_plotly
from trame.widgets import vuetify3 as v3
from trame_slicer import module as trame_slicer_module
from trame_slicer.app.logic.segmentation import SegmentEditorLogic
from trame_slicer.app.ui import SegmentEditorToolbarUI, SegmentEditorUI, SegmentEditorUndoRedoUI, ViewerLayout
from trame_slicer.app.ui.control_button import ControlButton
from trame_slicer.core import LayoutManager, SlicerApp
from trame_slicer.rca_view import register_rca_factories
from trame_slicer.views import Layout, LayoutDirection, ViewLayoutDefinition

from ..analysis.settings import GROUPS, CaseSettings, setting_specs
from ..analysis.study_models import LABELS, METASTATIC, RESEARCH_USE_NOTE
from ..errors import describe_error
from .station import ApplyCancelled, ReadingStation
from .uploads import UPLOAD_ROLES, UploadRejected

log = logging.getLogger(__name__)
TOOLS = {"case": ("mdi-folder-open", "Case"), "roi": ("mdi-shape-outline", "ROI (Segment Editor)"),
         "options": ("mdi-tune", "Options"), "apply": ("mdi-play", "Apply")}
#: The layout of the slice views: axial large, sagittal and coronal beside it (linked by Slicer's crosshair).
READING_LAYOUT = "VCFDiagnosis reading"
PROGRESS_POLL_S = 0.2


def reading_layout() -> Layout:
    """Return the views layout: the axial view, and the sagittal and coronal views stacked beside it."""
    return Layout(LayoutDirection.Horizontal, [
        ViewLayoutDefinition.axial_view(),
        Layout(LayoutDirection.Vertical, [ViewLayoutDefinition.sagittal_view(), ViewLayoutDefinition.coronal_view()]),
    ])


def setting_key(name: str) -> str:
    """Return the page-state key of a setting."""
    return f"vcf_setting_{name}"


class StationApp(TrameApp):
    """The trame application: trame-slicer's scene, views and Segment Editor plus the VCFDiagnosis panel."""

    def __init__(self, work_dir: str, data_dir: str | None = None, upload_limit_bytes: int | None = None,
                 server=None) -> None:
        super().__init__(server)
        from .rendering import choose_offscreen_window, quiet_vtk

        choose_offscreen_window()
        self.server.enable_module(trame_slicer_module)  # its chunked file loader (window.load_files_by_chunks)
        self.slicer_app = SlicerApp()
        quiet_vtk()  # SlicerApp sends VTK's messages to stderr; the station reports problems on the page
        register_rca_factories(self.slicer_app.view_manager, self.server)
        self.layout_manager = LayoutManager(self.slicer_app.scene, self.slicer_app.view_manager, self.server)
        self.layout_manager.register_layout(READING_LAYOUT, reading_layout())
        self.layout_manager.set_layout(READING_LAYOUT)
        self.segment_editor_logic = SegmentEditorLogic(self.server, self.slicer_app)
        kwargs = {} if upload_limit_bytes is None else {"upload_limit_bytes": upload_limit_bytes}
        self.station = ReadingStation(self.slicer_app, work_dir, data_dir, **kwargs)
        self._uploads: dict = {}
        self._rejected: set[str] = set()  # roles whose upload was refused and whose chunks are still arriving
        self.pending_uploads: dict[str, str] = {}
        self._apply_task: asyncio.Task | None = None
        self._init_state()
        self._build_ui()
        for role in UPLOAD_ROLES:
            self.server.trigger(f"vcf_upload_{role}")(functools.partial(self._upload_chunk, role))
        self.server.trigger("vcf_upload_done")(self._upload_done)
        for name, handler in (("vcf_download_tsv", self._download_tsv), ("vcf_download_pdf", self._download_pdf),
                              ("vcf_download_mrb", self._download_mrb), ("vcf_download_dicom", self._download_dicom)):
            self.server.trigger(name)(handler)
        self.state.change("vcf_b_index")(self._on_b_index)
        self.state.change("vcf_reader")(self._on_reader)
        self.state.change("vcf_overlay")(self._on_overlay)

    # --- state ---------------------------------------------------------------------------------------------

    def _init_state(self) -> None:
        s = self.state
        s.trame__title = "VCFDiagnosis reading station"
        s.vcf_tool = "case"
        s.vcf_error = ""
        s.vcf_info = ""
        s.vcf_cases = [{"title": c.label, "value": i} for i, c in enumerate(self.station.data_cases)]
        s.vcf_case_index = None
        s.vcf_data_problems = self.station.data_problems
        s.vcf_case_id = ""
        s.vcf_group = METASTATIC
        s.vcf_groups = list(LABELS)
        s.vcf_seed = 1
        s.vcf_uploaded = {role: "" for role in UPLOAD_ROLES}
        s.vcf_upload_limit = self.station.uploads.limit_bytes
        s.vcf_b_values = []
        s.vcf_b_index = 0
        s.vcf_reader = self.station.reader
        s.vcf_readers = [self.station.reader]
        s.vcf_roi_voxels = 0
        s.vcf_busy = False
        s.vcf_progress = 0.0
        s.vcf_progress_text = ""
        s.vcf_headers, s.vcf_rows = [], []
        s.vcf_summary = []
        s.vcf_note = RESEARCH_USE_NOTE
        s.vcf_overlay = "none"
        s.vcf_overlays = ["none"]
        s.vcf_colour_bar = {}
        s.vcf_decay = None
        s.vcf_spectrum = None
        s.vcf_has_results = False
        s.vcf_model_files = [""] + self._model_files()
        for spec in setting_specs(panel_only=True):
            s[setting_key(spec.name)] = spec.default

    def _model_files(self) -> list[str]:
        """Return the site model files (``*.json``) of the data folder, relative to it (a file the user may pick)."""
        root = self.station.data_dir
        if root is None:
            return []
        return sorted(str(p.relative_to(root)) for p in root.glob("*.json") if p.is_file())[:100]

    def settings(self) -> CaseSettings:
        """Return the settings the Options form holds (validated; InputError names the bad option)."""
        values = {spec.name: self.state[setting_key(spec.name)] for spec in setting_specs(panel_only=True)}
        model = str(values.get("model") or "")
        if model:  # the form offers the data folder's files only: never a path typed by the client
            if model not in self._model_files():
                raise ValueError(f"{model}: not a site model file of the data folder")
            values["model"] = str(self.station.data_dir / model)
        return CaseSettings.from_dict(values)

    def _fail(self, error: BaseException) -> None:
        """Show ``error`` as the page's one-line message."""
        self.state.vcf_error = describe_error(error)
        log.info("reading station: %s", self.state.vcf_error)

    def _refresh_case(self) -> None:
        """Push the open case (b-values, readers, ROI size) to the page."""
        s, st = self.state, self.station
        s.vcf_case_id = st.case_id
        s.vcf_b_values = [f"{b:g}" for b in st.b_values()]
        s.vcf_b_index = st.b_index()
        s.vcf_readers = list(st.readers) or [st.reader]
        s.vcf_reader = st.reader
        s.vcf_roi_voxels = st.roi_voxel_count()
        self._refresh_results()

    def _refresh_results(self) -> None:
        """Push the results (table, probabilities, plots, overlay) to the page."""
        s, st = self.state, self.station
        s.vcf_headers, s.vcf_rows = st.table()
        s.vcf_has_results = bool(s.vcf_rows)
        s.vcf_summary = [{"reader": r.get("reader", ""), "roi": r["roi"], "status": r["status"],
                          "P_IVIM": _p(r.get("P_IVIM")), "P_IVIM_ci": _ci(r, "P_IVIM"),
                          "P_combined": _p(r.get("P_combined")), "P_combined_ci": _ci(r, "P_combined"),
                          "prediction": r.get("prediction") or "-", "model": r.get("model", "")}
                         for r in st.all_rows()]
        s.vcf_note = st.note()
        s.vcf_decay, s.vcf_spectrum = st.figures()
        s.vcf_overlays = st.overlay_choices()
        s.vcf_overlay = st.overlay
        s.vcf_colour_bar = st.colour_bar()

    # --- handlers ----------------------------------------------------------------------------------------------

    def _guarded(self, action, *args) -> bool:
        """Run ``action``; on failure show its message. Return True if it succeeded."""
        self.state.vcf_error = ""
        try:
            action(*args)
        except Exception as error:  # noqa: BLE001 - every failure becomes the page's message
            self._fail(error)
            return False
        return True

    def open_data_case(self) -> None:
        index = self.state.vcf_case_index
        if index is None:
            self._fail(ValueError("pick a case of the data folder first"))
            return
        if self._guarded(lambda: self.station.open_data_case(int(index), self._settings_or_default())):
            self._refresh_case()

    def open_synthetic(self) -> None:
        if self._guarded(lambda: self.station.open_synthetic_patient(
                int(self.state.vcf_seed or 1), str(self.state.vcf_group), self._settings_or_default())):
            self._refresh_case()

    def open_uploads(self) -> None:
        dwi = self.pending_uploads.get("dwi")
        if not dwi:
            self._fail(ValueError("upload the DWI first"))
            return
        if self._guarded(self.station.open_files, dwi, self.pending_uploads.get("roi"),
                         self.pending_uploads.get("spectrum"), str(self.state.vcf_case_id or ""), "",
                         self._settings_or_default(), self.pending_uploads.get("fat")):
            self._forget_uploads(*UPLOAD_ROLES)  # opened: the next case starts from new uploads
            self._refresh_case()

    def roi_from_mrs(self) -> None:
        if self._guarded(self.station.roi_from_mrs_voxel):
            self._refresh_case()

    def count_roi(self) -> None:
        self._guarded(lambda: setattr(self.state, "vcf_roi_voxels", self.station.roi_voxel_count()))

    def _settings_or_default(self) -> CaseSettings:
        try:
            return self.settings()
        except Exception:  # noqa: BLE001 - a bad option is reported at Apply
            return CaseSettings()

    def _on_b_index(self, vcf_b_index, **_) -> None:
        self._guarded(lambda: self.station.select_b_index(int(vcf_b_index or 0)))

    def _on_reader(self, vcf_reader, **_) -> None:
        if vcf_reader and vcf_reader != self.station.reader and self.station.sequence is not None:
            if self._guarded(self.station.select_reader, str(vcf_reader)):
                self._refresh_case()

    def _on_overlay(self, vcf_overlay, **_) -> None:
        if vcf_overlay != self.station.overlay:
            self._guarded(lambda: setattr(self.state, "vcf_colour_bar", self.station.show_overlay(vcf_overlay)))

    async def apply(self) -> None:
        """Apply: process the current reader's ROI, pushing progress until done, failed or cancelled."""
        self.state.vcf_error = ""
        try:
            settings = self.settings()
        except Exception as error:  # noqa: BLE001
            self._fail(error)
            return
        self.state.vcf_busy, self.state.vcf_progress, self.state.vcf_info = True, 0.0, ""
        self.state.flush()
        task = asyncio.ensure_future(self.station.apply(settings))
        self._apply_task = task
        try:
            while not task.done():
                with self.state:
                    self.state.vcf_progress = self.station.progress
                    self.state.vcf_progress_text = self.station.progress_text
                await asyncio.sleep(PROGRESS_POLL_S)
            task.result()
        except ApplyCancelled as error:
            with self.state:
                self.state.vcf_info = str(error)
        except Exception as error:  # noqa: BLE001
            with self.state:
                self._fail(error)
        finally:
            with self.state:
                self.state.vcf_busy = False
                self.state.vcf_progress = self.station.progress
                self._refresh_case()

    def cancel(self) -> None:
        self.station.cancel()

    # --- uploads and downloads --------------------------------------------------------------------------------

    async def _upload_chunk(self, role: str, files: list[dict]) -> None:
        """Receive uploaded files by chunks (an empty chunk ends the upload); refuse it whole over a cap.

        A refused upload stays refused until its end: the chunks the browser still sends are dropped. A new DWI
        upload forgets the ROI, spectrum and water-fat files uploaded for an earlier one (they belong to that patient).
        """
        if files and role in self._rejected:
            return
        if not files and role in self._rejected:
            self._rejected.discard(role)
            return
        try:
            upload = self._uploads.get(role)
            if files:
                if upload is None:
                    upload = self._uploads[role] = self.station.uploads.begin(role)
                    self._forget_uploads(role, *(("roi", "spectrum", "fat") if role == "dwi" else ()))
                for item in files:
                    client = ClientFile(item)
                    self.station.uploads.add(upload, client.name or "file", client.content or b"", client.size)
                return
            self._uploads.pop(role, None)
            if upload is not None:
                path = self.station.uploads.finish(upload)
                self.pending_uploads[role] = str(path)
                self.state.vcf_uploaded = {**self.state.vcf_uploaded,
                                           role: f"{len(upload.files)} file(s), {upload.total_bytes / 1e6:.1f} MB"}
        except UploadRejected as error:
            self._uploads.pop(role, None)
            if files:
                self._rejected.add(role)
            self._forget_uploads(role)
            self._fail(error)

    def _forget_uploads(self, *roles: str) -> None:
        """Forget the pending uploads of ``roles`` (their files stay in the work folder until the server stops)."""
        for role in roles:
            self.pending_uploads.pop(role, None)
        self.state.vcf_uploaded = {**self.state.vcf_uploaded, **{role: "" for role in roles}}

    def _upload_done(self, role: str, status: str, message: str | None = None) -> None:
        if status != "success" and message:
            self._fail(RuntimeError(f"the {role} upload failed in the browser: {message}"))

    def _attachment(self, producer) -> str | None:
        self.state.vcf_error = ""
        try:
            path = Path(producer())
        except Exception as error:  # noqa: BLE001
            self._fail(error)
            return None
        return self.server.protocol.addAttachment(path.read_bytes())

    async def _download_tsv(self):
        return self._attachment(self.station.export_results_tsv)

    async def _download_pdf(self):
        return self._attachment(lambda: self.station.export_case()["report_pdf"])

    async def _download_mrb(self):
        return self._attachment(self.station.export_scene)

    async def _download_dicom(self):
        return self._attachment(self.station.export_dicom_zip)

    # --- layout ------------------------------------------------------------------------------------------------

    def _build_ui(self) -> None:
        with ViewerLayout(self.server, title="VCFDiagnosis reading station", is_drawer_visible=True) as layout:
            self.ui = layout
            layout.title.set_text("VCFDiagnosis reading station — research use only, not a diagnosis")
            with layout.toolbar:
                for tool, (icon, name) in TOOLS.items():
                    ControlButton(icon=icon, name=name, click=f"vcf_tool = '{tool}'",
                                  active=(f"vcf_tool === '{tool}'",), classes="mt-1", id=f"vcf-tool-{tool}")
                self.editor_toolbar_anchor = html.Div(v_if="vcf_tool === 'roi'")
            with layout.drawer:
                self._error_alerts()
                with html.Div(v_if="vcf_tool === 'case'", classes="pa-2"):
                    self._case_panel()
                with html.Div(v_if="vcf_tool === 'roi'", style="height: 100%;"):
                    self.editor_ui = SegmentEditorUI()
                with html.Div(v_if="vcf_tool === 'options'", classes="pa-2"):
                    self._options_panel()
                with html.Div(v_if="vcf_tool === 'apply'", classes="pa-2"):
                    self._apply_panel()
            with self.editor_toolbar_anchor:
                SegmentEditorToolbarUI(editor_ui=self.editor_ui)
            with layout.undo_redo:
                SegmentEditorUndoRedoUI(editor_ui=self.editor_ui, v_if="vcf_tool === 'roi'")
            with layout.content:
                with html.Div(style="display: flex; flex-direction: column; width: 100%; height: 100%;"):
                    self._colour_bar()
                    with html.Div(style="flex: 3 1 0; min-height: 300px; position: relative;"):
                        self.layout_manager.initialize_layout_grid(layout)
                    with html.Div(style="flex: 2 1 0; overflow-y: auto;", classes="pa-2"):
                        self._results_panel()
        self.segment_editor_logic.set_ui(self.editor_ui)

    def _error_alerts(self) -> None:
        v3.VAlert(v_if="vcf_error", text=("vcf_error",), type="error", closable=True, density="compact",
                  classes="ma-2", id="vcf-error", click_close="vcf_error = ''")
        v3.VAlert(v_if="vcf_info", text=("vcf_info",), type="info", closable=True, density="compact",
                  classes="ma-2", id="vcf-info", click_close="vcf_info = ''")

    def _case_panel(self) -> None:
        html.Div("Case", classes="text-h6")
        with html.Div(v_if="vcf_cases.length", classes="mb-3"):
            v3.VSelect(label="Case from the data folder", items=("vcf_cases",), v_model=("vcf_case_index",),
                       density="compact", hide_details=True, id="vcf-case-picker")
            v3.VBtn("Open case", click=self.open_data_case, block=True, classes="mt-1", id="vcf-open-case",
                    disabled=("vcf_case_index === null",))
        with html.Div(classes="mb-3"):
            html.Div("Synthetic patient (known truth)", classes="text-subtitle-2")
            with html.Div(style="display: flex; gap: 4px;"):
                v3.VSelect(items=("vcf_groups",), v_model=("vcf_group",), density="compact", hide_details=True)
                v3.VTextField(v_model=("vcf_seed",), type="number", label="seed", density="compact",
                              hide_details=True, style="max-width: 80px;")
            v3.VBtn("Synthetic patient", click=self.open_synthetic, block=True, classes="mt-1",
                    id="vcf-synthetic", prepend_icon="mdi-account-outline")
        html.Div("Upload", classes="text-subtitle-2")
        for role, description in UPLOAD_ROLES.items():
            self._upload_input(role, description)
        v3.VTextField(v_model=("vcf_case_id",), label="Case id", density="compact", hide_details=True,
                      classes="mt-1", id="vcf-case-id")
        v3.VBtn("Open uploads", click=self.open_uploads, block=True, classes="mt-1", id="vcf-open-uploads")
        with html.Div(v_if="vcf_b_values.length", classes="mt-4"):
            html.Div("b = {{ vcf_b_values[vcf_b_index] }} s/mm2 (image {{ vcf_b_index + 1 }} of "
                     "{{ vcf_b_values.length }})", classes="text-subtitle-2", id="vcf-b-label")
            v3.VSlider(v_model=("vcf_b_index",), min=0, max=("vcf_b_values.length - 1",), step=1,
                       hide_details=True, density="compact", id="vcf-b-slider")
            v3.VCombobox(label="Reader (each reader's ROI and results are kept)", items=("vcf_readers",),
                         v_model=("vcf_reader",), density="compact", hide_details=True, classes="mt-2",
                         id="vcf-reader")
            with html.Div(style="display: flex; gap: 4px;", classes="mt-1"):
                v3.VBtn("ROI from MRS voxel", click=self.roi_from_mrs, size="small", id="vcf-roi-from-mrs")
                v3.VBtn("Count ROI voxels", click=self.count_roi, size="small", id="vcf-count-roi")
            html.Div("ROI: {{ vcf_roi_voxels }} voxels on the DWI grid", classes="text-caption", id="vcf-roi-voxels")
        with html.Div(v_if="vcf_data_problems.length", classes="mt-3 text-caption text-warning"):
            html.Div("{{ p }}", v_for="p in vcf_data_problems")

    def _upload_input(self, role: str, description: str) -> None:
        cap = self.station.uploads.limit_bytes
        change = (
            "const files = Array.from($event.target.files || []);"
            f"if (files.reduce((a, f) => a + f.size, 0) > {cap}) {{"
            f"  vcf_error = 'the {role} upload is larger than the limit of {cap / 1e6:g} MB';"
            "} else {"
            f"  window.load_files_by_chunks($event.target.files, {{trigger_name: 'vcf_upload_{role}'}})"
            f"    .then(({{status, errorMsg}}) => trame.trigger('vcf_upload_done', ['{role}', status ? 'success' :"
            "     'failure', errorMsg]));"
            "}"
        )
        v3.VFileInput(label=f"{role}: {description}", multiple=role != "roi", density="compact",
                      hide_details=True, change=change, id=f"vcf-upload-{role}", classes="mt-1",
                      messages=(f"vcf_uploaded['{role}']",))
        html.Div(f"{{{{ vcf_uploaded['{role}'] }}}}", classes="text-caption", id=f"vcf-uploaded-{role}")

    def _options_panel(self) -> None:
        html.Div("Options", classes="text-h6")
        groups: dict[str, list] = {}
        for spec in setting_specs(panel_only=True):
            groups.setdefault(GROUPS[spec.group], []).append(spec)
        for label, specs in groups.items():
            html.Div(label, classes="text-subtitle-2 mt-2")
            for spec in specs:
                key = setting_key(spec.name)
                title = f"{spec.label} [{spec.unit}]" if spec.unit else spec.label
                common = {"v_model": (key,), "label": title, "density": "compact", "hide_details": True,
                          "classes": "mt-1", "id": f"vcf-setting-{spec.name}"}
                if spec.choices:
                    self.state[f"{key}_choices"] = [{"title": f"{k}: {d}", "value": k}
                                                    for k, d in zip(spec.choices, spec.choice_help)]
                    v3.VSelect(items=(f"{key}_choices",), **common)
                elif spec.type == "bool":
                    v3.VSwitch(color="primary", **common)
                elif spec.reader:
                    v3.VSelect(items=("vcf_model_files",), **common)
                else:
                    limits = {k: v for k, v in (("min", spec.minimum), ("max", spec.maximum)) if v is not None}
                    v3.VTextField(type="number", step=spec.step, **limits, **common)
                html.Div(spec.help, classes="text-caption text-medium-emphasis")

    def _apply_panel(self) -> None:
        html.Div("Apply", classes="text-h6")
        html.Div("Case {{ vcf_case_id || '(none)' }}, reader {{ vcf_reader }}", classes="text-caption")
        v3.VBtn("Apply", click=self.apply, block=True, color="primary", disabled=("vcf_busy",), id="vcf-apply",
                classes="mt-2")
        with html.Div(v_if="vcf_busy", classes="mt-2"):
            v3.VProgressLinear(model_value=("vcf_progress * 100",), height=8, color="primary")
            html.Div("{{ vcf_progress_text }} {{ Math.round(vcf_progress * 100) }} %", classes="text-caption")
            v3.VBtn("Cancel", click=self.cancel, block=True, color="warning", id="vcf-cancel")
        with html.Div(v_if="vcf_has_results", classes="mt-4"):
            html.Div("Downloads", classes="text-subtitle-2")
            for trigger, name, mime, label in (
                    ("vcf_download_tsv", "results.tsv", "text/tab-separated-values", "results.tsv (all readers)"),
                    ("vcf_download_pdf", "report.pdf", "application/pdf", "Report (PDF)"),
                    ("vcf_download_mrb", "scene.mrb", "application/octet-stream", "Scene (.mrb)"),
                    ("vcf_download_dicom", "dicom-results.zip", "application/zip", "DICOM results (.zip)")):
                v3.VBtn(label, block=True, size="small", classes="mt-1", id=f"vcf-{trigger.replace('_', '-')}",
                        click=f"trigger('{trigger}').then((id) => id && utils.download('{name}', id, '{mime}'))")

    def _colour_bar(self) -> None:
        with html.Div(style="display: flex; align-items: center; gap: 8px;", classes="px-2"):
            v3.VSelect(label="Map overlay", items=("vcf_overlays",), v_model=("vcf_overlay",), density="compact",
                       hide_details=True, style="max-width: 160px;", id="vcf-overlay")
            with html.Div(v_if="vcf_colour_bar.map", style="display: flex; align-items: center; gap: 6px;",
                          id="vcf-colour-bar"):
                html.Span("{{ vcf_colour_bar.low }}", classes="text-caption")
                html.Div(style=("{ width: '220px', height: '12px', background: vcf_colour_bar.gradient }",))
                html.Span("{{ vcf_colour_bar.high }} {{ vcf_colour_bar.unit }} ({{ vcf_colour_bar.map }})",
                          classes="text-caption")

    def _results_panel(self) -> None:
        with html.Div(v_if="!vcf_has_results", classes="text-caption"):
            html.Div("Open a case, draw the ROI, then Apply. Results are research outputs, never a diagnosis.")
        with html.Div(v_if="vcf_has_results"):
            with v3.VAlert(type="warning", density="compact", variant="tonal", id="vcf-note"):
                html.Span("{{ vcf_note }}")
            with html.Div(v_for="(s, i) in vcf_summary", classes="my-1", key="i"):
                html.Span("{{ s.reader }} / {{ s.roi }}: ", classes="font-weight-bold")
                html.Span("P_IVIM {{ s.P_IVIM }} (95 % {{ s.P_IVIM_ci }}), P_combined ")
                html.Span("{{ s.P_combined }}", id=("`vcf-p-combined-${i}`",), classes="font-weight-bold")
                html.Span(" (95 % {{ s.P_combined_ci }}) → {{ s.prediction }}", id=("`vcf-prediction-${i}`",))
                html.Span(" [{{ s.model }}]", classes="text-caption")
            v3.VDataTable(headers=("vcf_headers",), items=("vcf_rows",), density="compact", items_per_page=-1,
                          hide_default_footer=True, id="vcf-results-table")
            with html.Div(style="display: flex; flex-wrap: wrap;"):
                with html.Div(v_if="vcf_decay", style="flex: 1 1 420px; min-width: 360px;"):
                    trame_plotly.Figure(state_variable_name="vcf_decay", display_mode_bar=True)
                with html.Div(v_if="vcf_spectrum", style="flex: 1 1 420px; min-width: 360px;"):
                    trame_plotly.Figure(state_variable_name="vcf_spectrum", display_mode_bar=True)


def _p(value) -> str:
    """Return a probability as text (3 decimals) or '-'."""
    try:
        return f"{float(value):.3f}" if value == value and value is not None else "-"
    except (TypeError, ValueError):
        return "-"


def _ci(row: dict, name: str) -> str:
    """Return a probability's 95 % interval as 'lo-hi' (or '-')."""
    low, high = _p(row.get(f"{name}_lo")), _p(row.get(f"{name}_hi"))
    return "-" if "-" in (low, high) else f"{low}–{high}"
