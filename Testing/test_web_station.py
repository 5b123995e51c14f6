"""The reading station (``vcfdiagnosis serve``) server side: trame-slicer's real scene, views and Segment Editor.

The page is built in this process as the server builds it (no browser): paint strokes are driven through the slice
view's VTK interactor, as trame-slicer's own tests do, and Apply runs the page's handler. The numbers are checked
against the Logic's ``processCase`` on the same inputs and against geometry. Browser tests: test_web_browser.py.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("trame_slicer", reason="the [web] extra (trame-slicer) is not installed: reading station "
                                           "tests SKIPPED")

from VCFDiagnosisLib.analysis.results import read_results_tsv  # noqa: E402
from VCFDiagnosisLib.analysis.settings import setting_specs  # noqa: E402
from VCFDiagnosisLib.web.cases import list_data_cases  # noqa: E402
from VCFDiagnosisLib.web.server import is_loopback  # noqa: E402
from VCFDiagnosisLib.web.uploads import UploadRejected, UploadStore, safe_upload_name  # noqa: E402


@pytest.fixture(scope="module")
def station_app(slicer_runtime, tmp_path_factory):
    """Return the page application (trame-slicer scene adopted by the Logic); the test runtime is restored after."""
    from VCFDiagnosisLib.mrml import headless
    from VCFDiagnosisLib.web.page import StationApp

    work = tmp_path_factory.mktemp("station-work")
    app = StationApp(str(work))
    yield app
    headless.activate(slicer_runtime)


@pytest.fixture
def opened(station_app):
    """Return the station app with a fresh synthetic metastatic patient open (its ROI is reader 1's)."""
    station_app.state.vcf_seed = 3
    station_app.open_synthetic()
    assert station_app.state.vcf_error == ""
    return station_app


RADIUS_MM = 10.0


def _slice_normal(view) -> np.ndarray:
    """Return the unit normal (RAS) of a slice view's plane."""
    matrix = view.get_view_node().GetSliceToRAS()
    normal = np.array([matrix.GetElement(r, 2) for r in range(3)])
    return normal / np.linalg.norm(normal)


def _paint_view(app, grid: np.ndarray):
    """Return the slice view showing the DWI's own slices (the views follow the volume's planes), sized as a
    browser would (400 x 400 pixels)."""
    k_axis = grid[:3, 2] / np.linalg.norm(grid[:3, 2])
    view = max(app.slicer_app.view_manager.get_slice_views(), key=lambda v: abs(_slice_normal(v) @ k_axis))
    view.render_window().SetSize(400, 400)
    view.interactor().UpdateSize(400, 400)
    view.render()
    return view


def _stroke(view, points) -> None:
    """Press the left button at the first point, move through the others, release (display pixels)."""
    interactor = view.interactor()

    def move(x, y):
        interactor.SetEventPosition(int(x), int(y))
        interactor.InvokeEvent("MouseMoveEvent")

    move(*points[0])
    interactor.InvokeEvent("LeftButtonPressEvent")
    for point in points[1:]:
        move(*point)
    interactor.InvokeEvent("LeftButtonReleaseEvent")


def _xy_to_ras(view, x: float, y: float) -> np.ndarray:
    """Return the RAS point (mm) under display pixel (x, y) of a slice view."""
    matrix = view.get_view_node().GetXYToRAS()
    return np.array([sum(matrix.GetElement(r, c) * v for c, v in enumerate((x, y, 0.0, 1.0))) for r in range(3)])


def test_paint_stroke_paints_the_brush_disc_on_the_dwi_grid(opened):
    """A one-point stroke of a 2D Paint brush (absolute diameter) paints, on the DWI slice through the click, every
    voxel wholly inside the disc and none it does not touch: checked against the grid's own geometry."""
    from trame_slicer.segmentation import SegmentationEffectPaint
    from trame_slicer.segmentation.paint_effect_parameters import BrushDiameterMode

    from VCFDiagnosisLib.mrml import nodes

    app, station = opened, opened.station
    app.state.vcf_reader = "painter"
    app._on_reader("painter")
    assert station.roi_voxel_count() == 0
    matrix, shape = nodes.grid_of_sequence(station.sequence)
    view = _paint_view(app, matrix)
    editor = app.slicer_app.segmentation_editor
    paint = editor.set_active_effect_type(SegmentationEffectPaint)
    paint.set_use_sphere_brush(False)
    paint.set_brush_diameter(2 * RADIUS_MM, BrushDiameterMode.Absolute)
    _stroke(view, [(200, 200), (200, 200)])
    painted = station.roi_mask()
    assert painted.sum() > 0

    centre = _xy_to_ras(view, 200, 200)
    normal = _slice_normal(view)
    k, j, i = np.indices(shape)
    ras = np.einsum("rc,c...->r...", matrix[:3], np.stack([i, j, k, np.ones(shape)]))
    offset = ras - centre[:, None, None, None]
    along = np.einsum("r,r...->...", normal, offset)
    in_plane = np.sqrt(np.maximum((offset ** 2).sum(axis=0) - along ** 2, 0.0))
    slice_spacing = abs(float(normal @ matrix[:3, :3] @ np.array([0, 0, 1.0])))
    half_diagonal = 0.5 * float(np.linalg.norm(matrix[:3, :3] @ np.array([1.0, 1.0, 0.0])))
    on_slice = np.abs(along) <= slice_spacing / 2
    inside = on_slice & (in_plane <= RADIUS_MM - half_diagonal)  # voxels wholly inside the disc
    reach = on_slice & (in_plane <= RADIUS_MM + half_diagonal)  # voxels the disc touches at all
    assert np.all(painted[inside]), "a voxel wholly inside the brush disc was not painted"
    assert not np.any(painted & ~reach), "a voxel the brush disc does not touch was painted"
    assert inside.sum() > 10 and reach.sum() < 3 * inside.sum()  # the bounds are tight enough to mean something
    # undo removes the stroke
    app.segment_editor_logic._undo_stack.undo()
    assert station.roi_voxel_count() == 0
    editor.deactivate_effect()


def test_apply_fills_the_table_with_what_process_case_computes(opened):
    """Apply (the page's handler) gives the same numbers as the Logic's processCase on the same files."""
    app, station = opened, opened.station
    patient_dir = next((station.work_dir / "synthetic").glob("*/phantom-metastatic-3"))
    asyncio.run(app.apply())
    assert app.state.vcf_error == ""
    row = station.all_rows()[0]
    shown = app.state.vcf_rows[0]
    reference = station.logic.processCase(str(patient_dir / "dwi"), str(patient_dir / "roi" / "lesion.seg.nrrd"),
                                          str(next(patient_dir.glob("mrs/*.rda"))), caseId="reference",
                                          fat=str(patient_dir / "fat" / "echoes")).rows[0]
    for name in ("D", "Dstar", "f", "ADC", "LWR", "FF", "P_IVIM", "P_combined", "P_combined_lo", "P_combined_hi",
                 "PDFF", "R2star"):
        assert row[name] == pytest.approx(reference[name], rel=1e-9, abs=1e-15), name
        assert float(shown[name]) == pytest.approx(reference[name], rel=5e-4), name  # shown to 4 digits
    assert row["prediction"] == reference["prediction"]
    assert row["reader"] == "reader 1"
    assert app.state.vcf_summary[0]["P_combined"] == f"{reference['P_combined']:.3f}"
    headers = {h["key"]: h["title"] for h in app.state.vcf_headers}
    assert headers["D"] == "D [mm2/s]" and headers["f"] == "f [fraction]" and headers["FF"] == "FF [percent]"
    assert "not a diagnosis" in app.state.vcf_note.lower()
    # plots: the decay's fit curve and the spectrum's fit are there, with no zero standing in for a missing value
    decay = app.state.vcf_decay
    assert [t["name"] for t in decay["data"]][-1] == "lesion IVIM fit"
    assert decay["data"][0]["x"] == [float(b) for b in station.b_values()]
    assert app.state.vcf_spectrum["layout"]["xaxis"]["range"] == [6.5, 0.0]
    # the map overlay: D, with a colour bar in mm2/s spanning the ROI's fitted values
    assert app.state.vcf_overlay == "D" and app.state.vcf_colour_bar["unit"] == "mm2/s"
    low, high = float(app.state.vcf_colour_bar["low"]), float(app.state.vcf_colour_bar["high"])
    assert low <= row["D_map_median"] <= high
    # the synthetic patient's water-fat series: PDFF beside the spectrum's FF, and its map as an overlay in percent
    assert row["FF_source"] == "mrs" and headers["PDFF"] == "PDFF [percent]" and headers["R2star"] == "R2star [1/s]"
    assert {"PDFF", "R2star"} <= set(app.state.vcf_overlays)
    from VCFDiagnosisLib.web.station import OVERLAY_MAPS

    assert all(station.app.scene.GetFirstNodeByName(colours) is not None for colours in OVERLAY_MAPS.values())
    bar = station.show_overlay("PDFF")
    assert bar["unit"] == "percent" and float(bar["low"]) < row["PDFF"] < float(bar["high"])


def test_readers_keep_their_own_roi_and_rows_and_results_tsv_holds_both(opened):
    """Two readers: each reader's ROI and row are kept; results.tsv has both rows with the reader column."""
    app, station = opened, opened.station
    asyncio.run(app.apply())
    app.state.vcf_reader = "reader 2"
    app._on_reader("reader 2")
    app.roi_from_mrs()
    assert app.state.vcf_error == ""
    mrs_voxels = station.roi_voxel_count()
    asyncio.run(app.apply())
    rows = station.all_rows()
    assert [r["reader"] for r in rows] == ["reader 1", "reader 2"]
    assert rows[0]["roi_voxels"] != rows[1]["roi_voxels"] and rows[1]["roi_voxels"] == mrs_voxels
    app._on_reader("reader 1")  # back to reader 1: their ROI is still theirs
    assert station.roi_voxel_count() == rows[0]["roi_voxels"]
    written = read_results_tsv(station.export_results_tsv())
    assert [(r["reader"], r["roi_voxels"]) for r in written] == [(r["reader"], r["roi_voxels"]) for r in rows]
    assert Path(station.export_results_tsv()).resolve().is_relative_to(station.work_dir)
    import zipfile

    archive = station.export_dicom_zip()  # the "DICOM results" download: the last Apply (reader 2's ROI)
    assert archive.resolve().is_relative_to(station.work_dir)
    names = set(zipfile.ZipFile(archive).namelist())
    assert {"PM_D.dcm", "PM_Dstar.dcm", "PM_f.dcm", "PM_ADC.dcm", "SEG.dcm", "SR.dcm", "REPORT.dcm"} <= names


def _node_ids(scene) -> set[str]:
    return {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}


def test_cancel_clicked_while_the_fit_runs_changes_nothing(opened):
    """Apply's fit runs on a worker thread: while it runs the page's loop handles a Cancel click and refuses to
    open another case or switch reader; the cancelled Apply leaves the scene's nodes exactly as they were (also a
    spectrum quantified again with other T2s), and the page stays usable."""
    import threading

    app, station = opened, opened.station
    app.state.vcf_setting_water_t2_ms = 40.0  # the spectrum is quantified again (T2-corrected) while preparing
    app.state.vcf_setting_fat_t2_ms = 60.0
    scene = app.slicer_app.scene
    nodes_before = _node_ids(scene)
    fit_started, clicked = threading.Event(), threading.Event()
    fit_progress = station._progress

    def fit_waits_for_the_click(fraction, message=""):  # worker thread: hold the fit until the loop has acted
        fit_started.set()
        assert clicked.wait(30), "the page's loop did not run while the fit ran"
        return fit_progress(fraction, message)

    async def apply_and_click_cancel():
        task = asyncio.ensure_future(app.apply())
        while not fit_started.is_set():
            assert not task.done(), app.state.vcf_error
            await asyncio.sleep(0.01)
        assert app.state.vcf_busy
        app.open_synthetic()  # refused while Apply runs
        assert "Apply is running" in app.state.vcf_error
        app._on_reader("someone else")
        assert station.reader == "reader 1"
        app.state.vcf_error = ""
        app.cancel()
        clicked.set()
        await task

    station._progress = fit_waits_for_the_click
    try:
        asyncio.run(apply_and_click_cancel())
    finally:
        station._progress = fit_progress
        app.state.vcf_setting_water_t2_ms = app.state.vcf_setting_fat_t2_ms = 0.0
    assert app.state.vcf_info.startswith("cancelled")
    assert app.state.vcf_error == "" and not app.state.vcf_busy
    assert station.all_rows() == [] and station.last_case is None
    assert _node_ids(scene) == nodes_before
    asyncio.run(app.apply())  # still usable
    assert len(station.all_rows()) == 1 and app.state.vcf_error == ""


def test_options_form_is_the_settings_model(station_app):
    """Every panel setting has its form field, and the form's values become CaseSettings (validated)."""
    app = station_app
    page = app.ui.html
    for spec in setting_specs(panel_only=True):
        assert f'id="vcf-setting-{spec.name}"' in page, spec.name
        assert app.state[f"vcf_setting_{spec.name}"] == spec.default
    app.state.vcf_setting_method = "segmented"
    app.state.vcf_setting_b_threshold_s_mm2 = "250"  # a number field sends text
    settings = app.settings()
    assert settings.method == "segmented" and settings.b_threshold_s_mm2 == 250.0
    app.state.vcf_setting_b_threshold_s_mm2 = "-5"
    asyncio.run(app.apply())
    assert "--b-threshold" in app.state.vcf_error and "outside" in app.state.vcf_error
    app.state.vcf_setting_method, app.state.vcf_setting_b_threshold_s_mm2 = "map", 200.0
    app.state.vcf_setting_model = "/etc/passwd"  # a path the client typed is never read
    with pytest.raises(ValueError, match="not a site model file of the data folder"):
        app.settings()
    app.state.vcf_setting_model = ""


def test_bad_inputs_give_a_message_and_leave_the_page_usable(station_app, tmp_path):
    """Apply without a case, a garbage DWI upload: one-line messages naming the problem; the page goes on."""
    app = station_app
    app.station.clear()
    asyncio.run(app.apply())
    assert "open a case first" in app.state.vcf_error
    asyncio.run(app._upload_chunk("dwi", [{"name": "dwi.nii.gz", "size": 12, "content": b"not a nifti!"}]))
    asyncio.run(app._upload_chunk("dwi", []))
    app.open_uploads()
    assert "dwi.nii.gz" in app.state.vcf_error
    uploaded = Path(app.pending_uploads["dwi"])
    assert uploaded.resolve().is_relative_to(app.station.work_dir / "uploads")
    app.open_synthetic()
    assert app.state.vcf_error == "" and app.state.vcf_b_values


def test_hostile_upload_names_and_sizes_stay_in_the_work_folder(tmp_path):
    """Upload names never leave the upload folder; an upload over the cap is refused whole and removed."""
    assert safe_upload_name("../../etc/passwd") == "passwd"
    assert safe_upload_name("..\\..\\evil.nii.gz") == "evil.nii.gz"
    assert safe_upload_name("..") != ".." and "/" not in safe_upload_name("a/../..")
    odd = safe_upload_name("Patient Müller; rm -rf ~.nii.gz")
    assert odd.endswith(".nii.gz") and " " not in odd and ";" not in odd
    store = UploadStore(tmp_path / "work", limit_bytes=1000, max_files=3)
    upload = store.begin("dwi")
    for name in ("../../a.dcm", "/etc/b.dcm", "a.dcm"):
        path = store.add(upload, name, b"x" * 10)
        assert path.parent == upload.folder and path.resolve().is_relative_to(tmp_path / "work" / "uploads")
    assert len({p.name for p in upload.files}) == 3  # a name taken twice is made unique, never replaced
    with pytest.raises(UploadRejected, match="more than 3 files"):
        store.add(upload, "d.dcm", b"x")
    assert not upload.folder.exists()
    big = store.begin("roi")
    with pytest.raises(UploadRejected, match="larger than the limit of 0.001 MB"):
        store.add(big, "roi.seg.nrrd", b"x" * 600, declared_size=2000)
    assert not big.folder.exists()
    with pytest.raises(UploadRejected, match="unknown upload role"):
        store.begin("../x")
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["uploads"]  # nothing beside the uploads


def test_data_folder_lists_manifest_rows_and_dicom_folders_but_nothing_outside(tmp_path):
    """The case picker lists a phantom folder's manifest rows; a manifest row pointing outside is a problem."""
    from VCFDiagnosisLib.phantom import generate_patient

    data = tmp_path / "data"
    patient = generate_patient(data, seed=2, group="osteoporotic", matrix=64, n_slices=6)
    (data / "evil.tsv").write_text("case_id\tdwi\nevil\t/etc\n")
    rel = f"{patient.case_id}/dwi"  # a good DWI whose water-fat folder climbs out of the data folder
    (data / "evil-fat.tsv").write_text(f"case_id\tdwi\tfat\nclimber\t{rel}\t../../../etc\n")
    cases, problems = list_data_cases(data)
    by_id = {c.case_id: c for c in cases}
    assert by_id[patient.case_id].dwi == str(patient.dwi_dir.resolve())
    assert by_id[patient.case_id].roi == str(patient.label_path.resolve())
    assert by_id[patient.case_id].fat == str(patient.fat_echoes_dir.resolve())
    assert "evil" not in by_id and any("outside the data folder" in p for p in problems)
    assert "climber" not in by_id and any("fat outside the data folder" in p for p in problems)
    assert not any(c.dwi == "/etc" or c.fat == "/etc" for c in cases)
    # a water-fat folder a manifest names is that case's, not a DICOM folder of its own in the list
    shutil.copytree(patient.fat_echoes_dir, data / "gre")
    (data / "own.tsv").write_text(f"case_id\tdwi\tfat\nown\t{rel}\tgre\n")
    cases, _ = list_data_cases(data)
    assert {c.case_id: c for c in cases}["own"].fat == str((data / "gre").resolve())
    assert not any(c.dwi == str((data / "gre").resolve()) for c in cases)


def test_serve_binds_loopback_unless_told_otherwise(tmp_path, capsys):
    """The default host is 127.0.0.1; another is refused without --allow-remote (exit 2, a message saying why)."""
    from VCFDiagnosisLib.app.cli import build_parser, main

    assert build_parser().parse_args(["serve"]).host == "127.0.0.1"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")
    assert main(["serve", "--host", "0.0.0.0", "--port", "1", "--work", str(tmp_path / "w")]) == 2
    assert "0.0.0.0 is not a loopback address: add --allow-remote" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_host_guard_refuses_foreign_pages_and_names_but_serves_its_own(monkeypatch):
    """Same-origin requests pass; another site's Origin or a foreign Host (DNS rebinding) get 403. A wildcard bind
    (--allow-remote) also serves this machine's own names, so remote readers are not locked out."""
    from aiohttp.test_utils import make_mocked_request

    from VCFDiagnosisLib.web.server import host_guard, served_names

    async def handler(request):
        return "served"

    guard = host_guard(served_names("127.0.0.1"))

    def answer(headers):
        result = asyncio.run(guard(make_mocked_request("GET", "/", headers=headers), handler))
        return result if result == "served" else result.status

    assert answer({"Host": "127.0.0.1:8080"}) == "served"
    assert answer({"Host": "127.0.0.1:8080", "Origin": "http://127.0.0.1:8080"}) == "served"
    assert answer({"Host": "127.0.0.1:8080", "Origin": "http://evil.example"}) == 403
    assert answer({"Host": "evil.example:8080"}) == 403
    assert answer({"Host": "localhost:8080", "Origin": "http://127.0.0.1:8080"}) == 403  # another origin
    monkeypatch.setattr("socket.gethostname", lambda: "reading-room")
    monkeypatch.setattr("socket.getfqdn", lambda name="": "reading-room.hospital.example")
    monkeypatch.setattr("socket.getaddrinfo", lambda name, port: [(2, 1, 6, "", ("10.0.0.7", 0))])
    wildcard = served_names("0.0.0.0")
    assert {"reading-room", "reading-room.hospital.example", "10.0.0.7"} <= wildcard
    assert "evil.example" not in wildcard


def test_uploads_through_the_page_refused_whole_and_never_mixed_across_patients(station_app):
    """The page's chunked upload: a refused upload stays refused until its end (later chunks are dropped), and a
    new DWI upload forgets the ROI and spectrum uploaded for the previous one."""
    app = station_app
    store = app.station.uploads
    limit, store.limit_bytes = store.limit_bytes, 100
    try:
        chunk = [{"name": "a.dcm", "size": 80, "content": b"x" * 80}, {"name": "b.dcm", "size": 80,
                                                                     "content": b"x" * 80}]
        asyncio.run(app._upload_chunk("dwi", chunk))
        assert "larger than the limit" in app.state.vcf_error
        asyncio.run(app._upload_chunk("dwi", [{"name": "c.dcm", "size": 10, "content": b"x" * 10}]))
        asyncio.run(app._upload_chunk("dwi", []))  # the browser's end of upload
        assert "dwi" not in app.pending_uploads  # the leftover chunk did not become a DWI
        assert not any(store.root.glob("*/c.dcm"))
        asyncio.run(app._upload_chunk("spectrum", [{"name": "old.rda", "size": 5, "content": b"12345"}]))
        asyncio.run(app._upload_chunk("spectrum", []))
        assert app.pending_uploads["spectrum"].endswith("old.rda")
        asyncio.run(app._upload_chunk("dwi", [{"name": "new.dcm", "size": 5, "content": b"12345"}]))
        assert "spectrum" not in app.pending_uploads  # another patient's spectrum is not kept for the new DWI
        asyncio.run(app._upload_chunk("dwi", []))
        assert app.pending_uploads["dwi"].endswith("new.dcm")
    finally:
        store.limit_bytes = limit
        app._forget_uploads("dwi", "roi", "spectrum")
        app.state.vcf_error = ""
