"""The batch on Dask distributed (``--scheduler``), against a real LocalCluster of worker processes.

Same results as the local runner to the last digit, resume without recomputation, a worker killed with SIGKILL
during a case (nothing lost), a worker dying on every attempt (bounded retries, then an error row), a hanging case
(timeout, error row, the batch goes on), an unreachable scheduler (clear error, nothing written).
"""

from __future__ import annotations

import hashlib
import math
import os
import signal
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="Dask is an optional extra: pip install -e .[dask]")

from batch_fault_processors import FAULT_PROCESSOR  # noqa: E402

from VCFDiagnosisLib.analysis.settings import CaseSettings  # noqa: E402
from VCFDiagnosisLib.app.cli import main  # noqa: E402
from VCFDiagnosisLib.batch import dask_engine  # noqa: E402
from VCFDiagnosisLib.batch.dask_engine import DaskEngine, run_case_on_worker  # noqa: E402
from VCFDiagnosisLib.batch.manifest import ManifestRow  # noqa: E402
from VCFDiagnosisLib.batch.runner import DONE_MARKER, run_batch  # noqa: E402
from VCFDiagnosisLib.phantom.cohort import generate_cohort  # noqa: E402

NO_REPORT = CaseSettings(report=False)


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("dask-cohort")
    generate_cohort(root, 4, seed=200, matrix=48, n_slices=5, snr=math.inf)
    (root / "faults").mkdir()
    return root


@pytest.fixture(scope="module")
def local_results(cohort, tmp_path_factory) -> str:
    """results.tsv of the local runner (worker processes, --jobs 2) on the cohort: the reference."""
    out = tmp_path_factory.mktemp("local") / "out"
    assert main(["batch", str(cohort / "manifest.tsv"), "--out", str(out), "--jobs", "2", "--no-report"]) == 0
    return (out / "results.tsv").read_text()


def _digests(out: Path) -> dict[str, str]:
    found = {}
    for marker in out.glob(f"*/{DONE_MARKER}"):
        h = hashlib.sha256()
        for path in sorted(p for p in marker.parent.rglob("*") if p.is_file()):
            h.update(path.read_bytes())
        found[marker.parent.name] = h.hexdigest()
    return found


def test_local_cluster_gives_the_local_runners_results_and_resumes(cohort, local_results, tmp_path, capsys,
                                                                   monkeypatch):
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setenv("TMPDIR", str(temporary))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    out = tmp_path / "out"
    assert main(["batch", str(cohort / "manifest.tsv"), "--out", str(out), "--scheduler", "local:2",
                 "--no-report"]) == 0
    err = capsys.readouterr().err
    assert "Dask dashboard: http://127.0.0.1:" in err, "the dashboard is printed and bound to loopback"
    assert (out / "results.tsv").read_text() == local_results, "rows and numbers equal to full precision"
    finished = _digests(out)
    assert len(finished) == 4
    assert main(["batch", str(cohort / "manifest.tsv"), "--out", str(out), "--scheduler", "local:2",
                 "--no-report"]) == 0
    assert "0 processed, 4 already finished" in capsys.readouterr().out
    assert _digests(out) == finished, "a resumed run recomputes nothing"
    assert not list(temporary.iterdir()), "the cluster's and workers' temporary folders are removed"


def test_a_worker_killed_during_a_case_loses_nothing(cohort, local_results, tmp_path):
    faults = cohort / "faults"
    hold, pid_file = faults / "hold-cohort-002", faults / "pid-cohort-002"
    hold.write_text("")
    summary = {}
    runner = threading.Thread(target=lambda: summary.update(result=run_batch(
        cohort / "manifest.tsv", tmp_path / "out", FAULT_PROCESSOR, settings=NO_REPORT,
        engine=DaskEngine("local:2", retries=2))))
    runner.start()
    try:
        deadline = time.monotonic() + 120
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pid_file.exists(), "the held case never started"
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
    finally:
        hold.unlink()
        runner.join(timeout=300)
        pid_file.unlink(missing_ok=True)
    result = summary["result"]
    assert result.processed == 4 and result.errors == 0, result.messages
    assert (tmp_path / "out" / "results.tsv").read_text() == local_results
    assert len(_digests(tmp_path / "out")) == 4


def test_a_worker_dying_on_every_attempt_gives_an_error_row(cohort, tmp_path):
    die = cohort / "faults" / "die-cohort-003"
    die.write_text("")
    try:
        result = run_batch(cohort / "manifest.tsv", tmp_path / "out", FAULT_PROCESSOR, settings=NO_REPORT,
                           engine=DaskEngine("local:2", retries=1))
    finally:
        die.unlink()
    rows = {r["case_id"]: r for r in result.rows}
    assert rows["cohort-003"]["status"] == "error"
    assert rows["cohort-003"]["message"] == "the worker process died on this case 2 times (KilledWorker)"
    assert result.processed == 4 and result.errors == 1
    assert sorted(_digests(tmp_path / "out")) == ["cohort-001", "cohort-002", "cohort-004"]


def test_a_hanging_case_times_out_and_the_batch_goes_on(cohort, tmp_path):
    hang = cohort / "faults" / "hang-cohort-001"
    hang.write_text("")
    started = time.monotonic()
    try:
        result = run_batch(cohort / "manifest.tsv", tmp_path / "out", FAULT_PROCESSOR, settings=NO_REPORT,
                           engine=DaskEngine("local:2", case_timeout_s=20, retries=0))
    finally:
        hang.unlink()
    rows = {r["case_id"]: r for r in result.rows}
    assert rows["cohort-001"]["status"] == "error"
    assert "did not finish within 20 s (--case-timeout)" in rows["cohort-001"]["message"]
    assert all(rows[c]["status"] != "error" for c in ("cohort-002", "cohort-003", "cohort-004"))
    assert time.monotonic() - started < 120, "the hung case (600 s) was not waited for"
    assert not list((tmp_path / "out").glob(".partial-*")), "the hung case left a half-written folder"


def test_an_unreachable_scheduler_is_refused_before_anything_is_written(cohort, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT_S", 1)
    out = tmp_path / "out"
    code = main(["batch", str(cohort / "manifest.tsv"), "--out", str(out), "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "--scheduler: cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    assert "Traceback" not in err and not out.exists()
    assert main(["batch", str(cohort / "manifest.tsv"), "--out", str(out), "--scheduler", "local:zero"]) == 2
    assert "use local:N" in capsys.readouterr().err
    assert main(["batch", str(cohort / "manifest.tsv"), "--out", str(out), "--case-timeout", "5"]) == 2
    assert "--case-timeout: needs --scheduler" in capsys.readouterr().err and not out.exists()


def test_a_worker_that_cannot_see_an_input_names_itself_and_the_path(tmp_path):
    row = ManifestRow(case_id="c1", dwi=str(tmp_path / "not-mounted" / "dwi"), line=2)
    rows, seconds = run_case_on_worker(FAULT_PROCESSOR, row, str(tmp_path / "out" / "c1"), NO_REPORT, True)
    assert rows[0]["status"] == "error" and seconds == 0.0
    assert f"{row.dwi}: no such file or folder on this worker" in rows[0]["message"]
    assert "worker " in rows[0]["message"] and "storage every worker sees" in rows[0]["message"]


def test_ctrl_c_of_the_client_keeps_finished_cases_and_a_rerun_resumes(cohort, local_results, tmp_path):
    """SIGINT to the client while cases run on the cluster: exit 130, only whole case folders, the rerun
    completes the cohort without touching them."""
    import subprocess
    import sys

    out = tmp_path / "out"
    hold = cohort / "faults" / "hold-cohort-004"  # keeps one case running while the client is interrupted
    hold.write_text("")
    command = [sys.executable, "-m", "VCFDiagnosisLib.app.cli", "batch", str(cohort / "manifest.tsv"), "--out",
               str(out), "--scheduler", "local:2", "--no-report"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    client = ("import sys\n"
              "from batch_fault_processors import FAULT_PROCESSOR\n"
              "from VCFDiagnosisLib.analysis.settings import CaseSettings\n"
              "from VCFDiagnosisLib.batch.dask_engine import DaskEngine\n"
              "from VCFDiagnosisLib.batch.runner import run_batch\n"
              "try:\n"
              f"    run_batch({str(cohort / 'manifest.tsv')!r}, {str(out)!r}, FAULT_PROCESSOR,\n"
              "              settings=CaseSettings(report=False), engine=DaskEngine('local:2'))\n"
              "except KeyboardInterrupt:\n"
              "    sys.exit(130)\n")
    process = subprocess.Popen([sys.executable, "-c", client], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (cohort / "faults" / "pid-cohort-004").exists():
            time.sleep(0.05)
        assert (cohort / "faults" / "pid-cohort-004").exists(), "the held case never started"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        hold.unlink()
        (cohort / "faults" / "pid-cohort-004").unlink(missing_ok=True)
    assert process.returncode == 130, stderr[-2000:]
    assert not list(out.glob(".partial-*")), "an unfinished case folder was left"
    finished = _digests(out)
    assert "cohort-004" not in finished
    rerun = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{4 - len(finished)} processed, {len(finished)} already finished" in rerun.stdout
    assert {k: v for k, v in _digests(out).items() if k in finished} == finished
    assert (out / "results.tsv").read_text() == local_results


def test_a_worker_with_several_threads_runs_one_case_at_a_time(tmp_path):
    """A remote ``dask worker`` has one thread per core by default: two of its threads must never run two cases
    in the one MRML scene at once (each case removes the nodes it added, the other's too)."""
    from VCFDiagnosisLib.analysis.settings import CaseSettings
    from VCFDiagnosisLib.batch import dask_engine
    from VCFDiagnosisLib.batch.cases import CaseProcessor
    from VCFDiagnosisLib.batch.manifest import ManifestRow

    inside, most = [0], [0]
    counter = threading.Lock()

    def process(row, case_dir, settings):
        with counter:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        with counter:
            inside[0] -= 1
        return [{"case_id": row.case_id}]

    processor = CaseProcessor(process=process, prepare=lambda cache_dir, quiet: None)
    (tmp_path / "dwi").mkdir()
    rows = [ManifestRow(f"c{i}", str(tmp_path / "dwi")) for i in range(6)]
    threads = [threading.Thread(target=dask_engine.run_case_on_worker,
                                args=(processor, row, str(tmp_path / row.case_id), CaseSettings(), True))
               for row in rows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1
    missing = dask_engine.run_case_on_worker(processor, ManifestRow("gone", str(tmp_path / "nowhere")),
                                             str(tmp_path / "gone"), CaseSettings(), True)[0][0]
    assert "tcp://" not in missing["message"] and "nowhere" in missing["message"]  # no cluster address in results
