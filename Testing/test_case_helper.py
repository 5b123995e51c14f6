"""``run``'s helper process (``app/case_helper.py``): it reads the DWI and draws the report in a forked process, and
whatever goes wrong in it, the command's outputs and errors are those of a run without it."""

from __future__ import annotations

import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from VCFDiagnosisLib.app import case_helper
from VCFDiagnosisLib.app.case_helper import CaseHelper
from VCFDiagnosisLib.app.cli import main
from VCFDiagnosisLib.dwi.loader import load_dwi
from VCFDiagnosisLib.ivim.processes import fork_available

pytestmark = pytest.mark.skipif(not fork_available(), reason="the helper is a forked process (POSIX)")


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    from VCFDiagnosisLib.phantom import generate_patient

    return generate_patient(tmp_path_factory.mktemp("helper"), seed=21, group="metastatic", vendor="siemens",
                            matrix=72, n_slices=8, snr=math.inf, fat_series=False)


@pytest.fixture
def report_arguments(logic, patient, tmp_path) -> dict:
    """The arguments the Logic gives the report of the patient's case (recorded, drawn here)."""
    from VCFDiagnosisLib.analysis.report import DrawnReport

    case, _ = logic.processCaseFiles(str(patient.dwi_dir), str(patient.segmentation_path), str(patient.rda_path),
                                     caseId="helper")
    recorded = {}

    def record(**arguments):
        recorded.update(arguments)
        return DrawnReport(**arguments)

    logic.reportRenderer = record
    logic.exportCase(case, str(tmp_path / "recorded"))
    return recorded


@pytest.fixture
def drawn_by(tmp_path, monkeypatch):
    """Record which process draws each part of a report; return a function giving {"png"|"pdf": {pid, ...}}.

    The wrapper is set before the helper is forked, so the helper and its PDF process record too."""
    from VCFDiagnosisLib.analysis import report

    markers = tmp_path / "drawn-by"
    markers.mkdir()
    draw = report.render_case_report

    def drawing(path_png, path_pdf, **kwargs):
        for kind, path in (("png", path_png), ("pdf", path_pdf)):
            if path is not None:
                (markers / f"{kind}-{os.getpid()}").touch()
        return draw(path_png, path_pdf, **kwargs)

    monkeypatch.setattr(report, "render_case_report", drawing)

    def who() -> dict:
        found: dict = {}
        for marker in markers.iterdir():
            kind, pid = marker.name.split("-")
            found.setdefault(kind, set()).add(int(pid))
        return found

    return who


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_helper_hands_over_the_dwi_the_loader_reads(patient):
    expected = load_dwi(patient.dwi_dir)
    with CaseHelper.started(str(patient.dwi_dir), report=False) as helper:
        pid = helper._process.pid
        assert pid != os.getpid()
        received = helper.dwi()
        assert helper.dwi() is None  # handed over once
    assert _gone(pid)  # stopped and reaped on leaving
    np.testing.assert_array_equal(received.data, expected.data)
    assert received.data.dtype == expected.data.dtype
    np.testing.assert_array_equal(received.bvalues_s_mm2, expected.bvalues_s_mm2)
    np.testing.assert_array_equal(received.ijk_to_ras, expected.ijk_to_ras)
    assert received.metadata == expected.metadata


def test_a_dwi_the_helper_cannot_read_is_left_to_the_command(tmp_path):
    (tmp_path / "scan.dcm").write_bytes(b"DICM? no: a damaged file")
    with CaseHelper.started(str(tmp_path)) as helper:
        assert helper.dwi() is None  # the command reads it itself, and reports the error with its own message


def test_the_helper_draws_the_report_the_command_would(report_arguments, tmp_path, monkeypatch, drawn_by):
    from VCFDiagnosisLib.analysis.report import render_case_report

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1764720000")  # the PDF's creation date: the only thing left to differ

    here = {**report_arguments, "path_png": str(tmp_path / "here.png"), "path_pdf": str(tmp_path / "here.pdf")}
    there = {**report_arguments, "path_png": str(tmp_path / "there.png"), "path_pdf": str(tmp_path / "there.pdf")}
    with CaseHelper.started(None) as helper:
        helper_pid = helper._process.pid
        pending = helper.render_report(**there)
        assert pending.result() == [there["path_png"], there["path_pdf"]]
    assert drawn_by() == {"png": {helper_pid}, "pdf": {drawn_by()["pdf"].pop()}}
    assert drawn_by()["pdf"].isdisjoint({helper_pid, os.getpid()})  # the PDF by the helper's fork, not here
    render_case_report(**here)  # the command's own drawing, to compare with
    assert Path(there["path_png"]).read_bytes() == Path(here["path_png"]).read_bytes()  # the same pixels, byte for byte
    assert Path(there["path_pdf"]).read_bytes() == Path(here["path_pdf"]).read_bytes()  # drawn by the helper's fork


def test_an_error_in_the_helper_is_the_commands_error(report_arguments, tmp_path):
    arguments = {**report_arguments, "path_png": str(tmp_path / "report.png"), "path_pdf": str(tmp_path / "report.pdf"),
                 "overwrite": False}
    (tmp_path / "report.png").write_bytes(b"an earlier report")
    with CaseHelper.started(None) as helper:
        pending = helper.render_report(**arguments)
        with pytest.raises(FileExistsError, match="report.png: exists"):
            pending.result()
    assert (tmp_path / "report.png").read_bytes() == b"an earlier report"


def test_a_helper_that_died_leaves_the_report_to_the_command(report_arguments, tmp_path, drawn_by):
    arguments = {**report_arguments, "path_png": str(tmp_path / "report.png"), "path_pdf": str(tmp_path / "report.pdf")}
    with CaseHelper.started(None) as helper:
        os.kill(helper._process.pid, signal.SIGKILL)  # e.g. the kernel's OOM killer
        helper._process.join()
        pending = helper.render_report(**arguments)
        assert pending.result() == [arguments["path_png"], arguments["path_pdf"]]
    assert (tmp_path / "report.png").stat().st_size > 10_000 and (tmp_path / "report.pdf").is_file()
    assert drawn_by() == {"png": {os.getpid()}, "pdf": {os.getpid()}}


def test_a_cancelled_report_writes_nothing_afterwards(report_arguments, tmp_path, monkeypatch):
    """Cancelled while the PDF is being drawn (by the helper's own fork): both processes are gone when cancel()
    returns, and nothing appears in the folder afterwards."""
    from VCFDiagnosisLib.analysis import report

    out, markers = tmp_path / "out", tmp_path / "markers"
    out.mkdir()
    markers.mkdir()
    draw = report.render_case_report

    def slowly(path_png, path_pdf, **kwargs):
        if path_png is None:  # the PDF's process: say who it is, then take its time
            (markers / str(os.getpid())).touch()
            time.sleep(3.0)
        return draw(path_png, path_pdf, **kwargs)

    monkeypatch.setattr(report, "render_case_report", slowly)
    arguments = {**report_arguments, "path_png": str(out / "report.png"), "path_pdf": str(out / "report.pdf")}
    with CaseHelper.started(None) as helper:
        pending = helper.render_report(**arguments)
        helper_pid = helper._process.pid
        deadline = time.monotonic() + 30
        while not list(markers.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
        drawer_pid = int(next(markers.iterdir()).name)
        pending.cancel()
        assert _gone(helper_pid) and _gone(drawer_pid)
        after_cancel = sorted(p.name for p in out.rglob("*"))
        time.sleep(4.0)  # longer than the PDF would have taken
        assert sorted(p.name for p in out.rglob("*")) == after_cancel
    assert not (out / "report.pdf").exists()


def test_run_reads_the_dwi_and_draws_the_report_in_the_helper(scene, patient, tmp_path, monkeypatch, drawn_by):
    """The command really uses the helper (the files say which process did what) and its results are the Logic's."""
    from VCFDiagnosisLib.analysis.results import read_results_tsv

    readers = tmp_path / "read-by"
    readers.mkdir()
    read_dwi = case_helper._read_dwi

    def reading(path):
        (readers / str(os.getpid())).touch()
        return read_dwi(path)

    monkeypatch.setattr(case_helper, "_read_dwi", reading)
    out = tmp_path / "case"
    assert main(["run", "--dwi", str(patient.dwi_dir), "--roi", str(patient.segmentation_path), "--spectrum",
                 str(patient.rda_path), "--case-id", "h1", "--out", str(out)]) == 0
    (dwi,), (png,), (pdf,) = {int(p.name) for p in readers.iterdir()}, drawn_by()["png"], drawn_by()["pdf"]
    assert os.getpid() not in (dwi, png, pdf)  # none of it in the command's process
    assert dwi == png != pdf  # the helper read the DWI and drew the PNG, its fork the PDF
    assert (out / "report.png").stat().st_size > 10_000 and (out / "report.pdf").is_file()
    assert not list(out.rglob(".partial-*"))
    row = read_results_tsv(out / "results.tsv")[0]
    truth = patient.truth["lesion"]
    assert row["D"] == pytest.approx(truth["D_mm2_s"], rel=0.05)
    assert row["FF"] == pytest.approx(truth["FF_percent"], abs=1.0)


def test_an_error_drawing_the_pdf_reaches_the_command(report_arguments, tmp_path):
    """The PDF is drawn by a fork of the helper; when that fails, the helper draws it again and sends the error."""
    (tmp_path / "not-a-folder").write_text("a file where the PDF's folder should be")
    arguments = {**report_arguments, "path_png": str(tmp_path / "report.png"),
                 "path_pdf": str(tmp_path / "not-a-folder" / "report.pdf")}
    with CaseHelper.started(None) as helper:
        pending = helper.render_report(**arguments)
        with pytest.raises(OSError, match="not-a-folder"):
            pending.result()


def test_a_helper_stopped_at_once_stops(tmp_path):
    """A command that fails right after starting its helper (e.g. ``demo`` refusing an existing folder) stops it
    while the helper may still carry the command's own SIGTERM handler: it must still stop (it once hung)."""
    import subprocess
    import sys

    script = ("import signal, time\n"
              "from VCFDiagnosisLib.app.cli import _interrupt\n"
              "from VCFDiagnosisLib.app.case_helper import CaseHelper\n"
              "signal.signal(signal.SIGTERM, _interrupt)\n"
              "signal.signal(signal.SIGINT, _interrupt)\n"
              "for _ in range(30):\n"
              "    with CaseHelper.started(None):\n"
              "        pass\n"
              "print('all stopped')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "all stopped" in result.stdout, result.stderr


def test_no_fork_for_the_pdf_means_both_drawn_by_the_helper(report_arguments, tmp_path, monkeypatch, drawn_by):
    monkeypatch.setattr(case_helper, "_fork", lambda: (_ for _ in ()).throw(BlockingIOError(11, "fork failed")))
    arguments = {**report_arguments, "path_png": str(tmp_path / "report.png"), "path_pdf": str(tmp_path / "report.pdf")}
    with CaseHelper.started(None) as helper:
        helper_pid = helper._process.pid
        assert helper.render_report(**arguments).result() == [arguments["path_png"], arguments["path_pdf"]]
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    assert drawn_by() == {"png": {helper_pid}, "pdf": {helper_pid}}


def test_no_fork_for_the_helper_means_every_step_here(patient, report_arguments, tmp_path, monkeypatch, drawn_by):
    import multiprocessing.process

    def refuse(self):
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refuse)
    arguments = {**report_arguments, "path_png": str(tmp_path / "report.png"), "path_pdf": str(tmp_path / "report.pdf")}
    with CaseHelper.started(str(patient.dwi_dir)) as helper:
        assert helper._process is None and helper.dwi() is None  # the command reads the DWI itself
        assert helper.render_report(**arguments).result() == [arguments["path_png"], arguments["path_pdf"]]
    assert drawn_by() == {"png": {os.getpid()}, "pdf": {os.getpid()}}


def test_an_error_that_cannot_cross_is_raised_by_the_command_itself(report_arguments, tmp_path, monkeypatch):
    """An error whose class does not read back from a pickle (InputError needs two arguments) is not sent: the
    command draws the report itself and raises the error as it is. (Where a library such as tblib, loaded by Dask,
    makes every exception picklable, the helper's own error crosses instead: the same class and message.)"""
    from VCFDiagnosisLib.analysis import report
    from VCFDiagnosisLib.errors import InputError

    def refuse(path_png, path_pdf, **kwargs):
        raise InputError(path_png or path_pdf, f"refused in process {os.getpid()}")

    monkeypatch.setattr(report, "render_case_report", refuse)
    arguments = {**report_arguments, "path_png": str(tmp_path / "report.png"), "path_pdf": str(tmp_path / "report.pdf")}
    with CaseHelper.started(None) as helper:
        pending = helper.render_report(**arguments)
        with pytest.raises(InputError, match=r"report\.png: refused in process \d+$"):  # never a TypeError
            pending.result()
