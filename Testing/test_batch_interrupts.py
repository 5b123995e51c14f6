"""Kill tests: ``kill -9`` of the batch's parent, Ctrl-C (SIGINT) and a second concurrent batch.

Each is followed by a rerun that completes the cohort with every finished case untouched (byte-identical files)
and no orphan process; ``run`` interrupted at any moment leaves either a finished case folder or nothing.
"""

from __future__ import annotations

import hashlib
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from VCFDiagnosisLib.analysis.results import read_results_tsv
from VCFDiagnosisLib.batch.runner import DONE_MARKER
from VCFDiagnosisLib.phantom.cohort import generate_cohort

MODULE_DIR = Path(__file__).resolve().parents[1] / "VCFDiagnosis"
N_CASES = 6


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kill-cohort")
    generate_cohort(root, N_CASES, seed=300, matrix=48, n_slices=5, snr=math.inf)
    return root


@pytest.fixture(autouse=True)
def private_tmpdir(tmp_path, monkeypatch) -> Path:
    """Give the commands their own TMPDIR, to check they leave no temporary folder behind."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    return folder


def _no_temporary_leftovers() -> None:
    left = [p.name for p in Path(os.environ["TMPDIR"]).iterdir()]
    assert not left, f"temporary folders left behind: {left}"


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(MODULE_DIR), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _batch_command(cohort: Path, out: Path, jobs: int = 2, manifest: str = "manifest.tsv") -> list[str]:
    return [sys.executable, "-m", "VCFDiagnosisLib.app.cli", "batch", str(cohort / manifest), "--out", str(out),
            "--jobs", str(jobs)]


def _start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                            start_new_session=True, stdin=subprocess.DEVNULL)


def _wait_for_finished(out: Path, count: int, process: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline and len(list(out.glob(f"*/{DONE_MARKER}"))) < count:
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    assert len(list(out.glob(f"*/{DONE_MARKER}"))) >= count, "the batch finished no case in time"


def _children(pid: int) -> list[int]:
    """Return the pids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pids: list[int], timeout_s: float = 15) -> list[int]:
    deadline = time.time() + timeout_s
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    return [p for p in pids if _alive(p)]


def _finished_digests(out: Path) -> dict[str, str]:
    """Return {case folder: digest of every file in it} for the finished cases (a ``.partial-*`` staging folder
    killed between its marker and its rename is not finished: a rerun removes it and redoes the case)."""
    digests = {}
    for marker in out.glob(f"*/{DONE_MARKER}"):
        if marker.parent.name.startswith("."):
            continue
        h = hashlib.sha256()
        for path in sorted(p for p in marker.parent.rglob("*") if p.is_file()):
            h.update(str(path.relative_to(marker.parent)).encode() + b"\0" + path.read_bytes())
        digests[marker.parent.name] = h.hexdigest()
    return digests


def _rerun_completes(cohort: Path, out: Path, finished: dict[str, str], manifest: str = "manifest.tsv") -> None:
    result = subprocess.run(_batch_command(cohort, out, manifest=manifest), capture_output=True, text=True,
                            timeout=600, env=_env())
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{len(finished)} already finished (skipped)" in result.stdout, result.stdout
    after = _finished_digests(out)
    for case, digest in finished.items():
        assert after[case] == digest, f"{case} changed on the rerun"
    rows = read_results_tsv(out / "results.tsv")
    expected = [line.split("\t")[0] for line in (cohort / manifest).read_text().splitlines()[1:]]
    assert sorted(r["case_id"] for r in rows) == sorted(expected)
    assert all(r["status"] != "error" for r in rows), [r["message"] for r in rows]
    assert not list(out.glob(".partial-*")), "a staging folder was left behind"
    _no_temporary_leftovers()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find worker processes")
def test_kill_9_of_the_parent_leaves_no_worker_writing(cohort, tmp_path):
    out = tmp_path / "out"
    process = _start(_batch_command(cohort, out))
    _wait_for_finished(out, 1, process)
    workers = _children(process.pid)
    workers = [w for w in workers if _children(w) is not None]  # the spawned workers (and the resource tracker)
    assert workers, "no worker processes found"
    os.kill(process.pid, signal.SIGKILL)  # the parent only, as the OOM killer or `kill -9 PID` would
    process.communicate()
    assert _wait_gone(workers) == [], "worker processes outlived their parent"
    listing = sorted((str(p), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file())
    time.sleep(1.5)
    assert sorted((str(p), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()) == listing, \
        "something still writes into --out"
    finished = _finished_digests(out)
    assert 1 <= len(finished) < N_CASES
    _rerun_completes(cohort, out, finished)


def test_ctrl_c_stops_cleanly_and_a_rerun_proceeds(cohort, tmp_path):
    out = tmp_path / "out"
    process = _start(_batch_command(cohort, out))
    _wait_for_finished(out, 1, process)
    workers = _children(process.pid)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends: the whole process group
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert _wait_gone(workers) == []
    assert not list(out.glob(".partial-*")), "a half-written case folder was left"
    _no_temporary_leftovers()
    finished = _finished_digests(out)
    for case in out.iterdir():
        if case.is_dir():
            assert case.name in finished, f"{case.name} is a case folder without its marker"
    rows = read_results_tsv(out / "results.tsv")
    assert {r["case_id"] for r in rows} >= set(finished), "a finished case is missing from results.tsv"
    _rerun_completes(cohort, out, finished)


def test_a_second_concurrent_batch_is_refused(cohort, tmp_path):
    out = tmp_path / "out"
    lines = (cohort / "manifest.tsv").read_text().splitlines()
    repeats = [f"r{k}-{line}" for k in range(4) for line in lines[1:]]  # enough cases to outlast a start-up
    (cohort / "long.tsv").write_text("\n".join([lines[0], *repeats]) + "\n")
    first = _start(_batch_command(cohort, out, jobs=1, manifest="long.tsv"))
    deadline = time.time() + 60
    while time.time() < deadline and not (out / "batch.json").exists():
        time.sleep(0.05)
    second = subprocess.run(_batch_command(cohort, out, jobs=1, manifest="long.tsv"), capture_output=True,
                            text=True, timeout=120, env=_env())
    still_running = first.poll() is None
    assert second.returncode == 2, second.stderr
    assert "another batch" in second.stderr and "Traceback" not in second.stderr
    assert still_running
    stdout, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    finished = _finished_digests(out)
    assert len(finished) == len(repeats)
    _rerun_completes(cohort, out, finished, manifest="long.tsv")


def test_run_interrupted_at_any_moment_leaves_a_case_or_nothing(cohort, tmp_path):
    case = cohort / "cohort-001"
    outcomes = set()
    for attempt, delay in enumerate((0.8, 1.6, 2.4, 3.2, 4.0)):
        out = tmp_path / f"run{attempt}"
        process = _start([sys.executable, "-m", "VCFDiagnosisLib.app.cli", "run", "--dwi", str(case / "dwi"),
                          "--roi", str(case / "roi" / "lesion_label.nii.gz"), "--spectrum",
                          str(case / "mrs" / "lesion.rda"), "--out", str(out)])
        time.sleep(delay)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert "Traceback" not in stderr
        leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".partial-")]
        assert not leftovers, leftovers
        if process.returncode == 0:
            assert (out / "case.json").is_file() and (out / "report.pdf").is_file()
            outcomes.add("finished")
        else:
            # 130, or killed by SIGINT before Python installed its handler (a shell shows that as 130 too)
            assert process.returncode in (130, -signal.SIGINT), (process.returncode, stderr)
            if out.exists():  # the signal came after the finished folder was swapped in: it must be whole
                assert (out / DONE_MARKER).is_file() and (out / "report.pdf").is_file(), sorted(
                    p.name for p in out.rglob("*"))
                outcomes.add("finished")
            else:
                outcomes.add("interrupted")
    assert "interrupted" in outcomes, "no attempt was interrupted: the delays need to be shorter"


def test_ctrl_c_while_native_code_loads_is_delivered_after_it():
    """interrupts_held: a SIGINT inside the block is held (no half-built native module), then raised on leaving."""
    from VCFDiagnosisLib.errors import interrupts_held

    steps = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts_held():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # a handler would have run by now
            steps.append("block finished")
    assert steps == ["block finished"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
