"""Cohorts: a manifest of cases processed one by one (or in parallel processes), resumable, never losing a case.

Manifest: CSV or TSV with a header; columns ``case_id, dwi, roi, spectrum, label, reader`` (only ``case_id``
and ``dwi`` required; paths relative to the manifest's folder; ``label`` ``metastatic``/``osteoporotic``).
Each case goes through the same steps as ``vcfdiagnosis run`` into ``OUT/<case_id>/``; a case is finished when
its ``case.json`` marker exists (written last, atomically). ``OUT/results.tsv`` gathers every row (results of
finished cases, ``status=error`` rows for failed ones) in manifest order and is rewritten atomically after every
case, so an interrupted batch loses nothing that had finished; re-running skips finished cases unless ``force``.
A failing case becomes one error row with a one-line message and the batch goes on; only an unusable manifest
raises (:class:`ManifestError`).
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__

try:  # POSIX
    import fcntl
except ImportError:  # Windows (inside Slicer)
    fcntl = None
    import msvcrt
from ..analysis.results import read_results_tsv, write_results_tsv
from ..analysis.settings import CaseSettings
from ..errors import EXIT_INTERRUPTED, InputError, describe_error
from ..outputs.atomic import atomic_output
from ..outputs.safe_paths import CASE_MARKER, case_folder_name, folder_key, path_inside, remove_stale_staging
from ..outputs.scratch import make_cache_dir
from ..pacs.locations import is_pacs_location
from .cases import CaseProcessor, error_row, run_one_case
from .manifest import ManifestError, ManifestRow, read_manifest  # noqa: F401 (ManifestError: the API)

DONE_MARKER = CASE_MARKER
LOCK_NAME = ".vcfdiagnosis-batch.lock"
BATCH_CLAIM = "batch.json"
#: Memory one worker process needs at most on a clinical-size case (headless runtime + DWI + maps), bytes.
MEMORY_PER_JOB_BYTES = 1_500_000_000


@dataclass
class BatchSummary:
    """What a batch did: counts, the rows of ``results.tsv``, the errors and the wall time (s)."""

    results_path: str
    processed: int = 0
    skipped: int = 0
    errors: int = 0
    jobs: int = 1
    seconds: float = 0.0
    rows: list = field(default_factory=list)
    messages: list = field(default_factory=list)


def is_finished(case_dir: Path) -> bool:
    """Return True if the case folder holds a completed case (its ``case.json`` marker)."""
    return (case_dir / DONE_MARKER).is_file() and (case_dir / "results.tsv").is_file()


def _watch_parent(parent_pid: int, interval_s: float = 0.5) -> None:
    """Exit this worker at once when its parent is gone (killed with -9 included), so no orphan writes on."""
    while True:
        time.sleep(interval_s)
        if os.getppid() != parent_pid:
            os._exit(EXIT_INTERRUPTED)


def _worker_initialize(parent_pid: int, cache_dir: str, quiet: bool, processor: CaseProcessor) -> None:
    """Set up a worker: die with the parent, leave Ctrl-C to the parent, then the processor's own set-up."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops the workers and cleans up
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="parent-watch").start()
    if quiet:
        warnings.simplefilter("ignore")
    processor.prepare(tempfile.mkdtemp(prefix=f"worker-{os.getpid()}-", dir=cache_dir), quiet)


def machine_jobs_limit(memory_per_job_bytes: int = MEMORY_PER_JOB_BYTES) -> int:
    """Return how many worker processes this machine can hold: its usable cores and memory (>= 1)."""
    from ..ivim.processes import usable_cores

    cores = usable_cores()
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        available = memory_per_job_bytes * cores
    return max(1, min(cores, available // memory_per_job_bytes))


def resolve_jobs(jobs: int) -> tuple[int, str]:
    """Return (worker processes to use, a note when ``jobs`` was changed) for ``--jobs`` (0 = as many as fit).

    Raises ValueError for a negative number.
    """
    if jobs < 0:
        raise ValueError(f"--jobs: {jobs} is not a number of processes (use 1 or more, or 0 for automatic)")
    limit = machine_jobs_limit()
    if jobs == 0:
        return limit, f"--jobs 0: using {limit} (cores and memory of this machine)"
    if jobs > limit:
        return limit, f"--jobs {jobs}: capped to {limit}, what this machine's cores and memory hold"
    return jobs, ""


@contextlib.contextmanager
def batch_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on the batch folder ``out``; raise InputError if another batch holds it."""
    lock_path = out / LOCK_NAME
    handle = open(lock_path, "a+")  # noqa: SIM115 - held for the whole batch
    try:
        try:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            else:
                handle.seek(0)
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise InputError(out, f"another batch ({holder}) is writing into this folder; wait for it or "
                                  "choose another --out") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


def claim_batch_folder(out: Path, manifest_path: Path) -> None:
    """Record that ``out`` holds the batch of ``manifest_path``; refuse a folder that holds another batch.

    The rule: one output folder per manifest (by absolute path). Rerunning the same manifest (even edited:
    rows added or fixed) resumes; another manifest into the same folder is refused, never merged, because its
    ``results.tsv`` would silently replace the first one's. A folder with a ``results.tsv`` that no batch wrote
    (e.g. a ``run`` case folder) is refused too.
    """
    claim = out / BATCH_CLAIM
    manifest = str(manifest_path.resolve())
    if claim.is_file():
        try:
            owner = json.loads(claim.read_text(encoding="utf-8")).get("manifest")
        except (OSError, ValueError, AttributeError) as error:
            raise InputError(claim, f"unreadable batch record ({error}); choose another --out") from error
        if owner != manifest:
            raise InputError(out, f"holds the batch of another manifest ({owner}); use another --out for {manifest}")
        return
    if (out / "results.tsv").exists() or (out / DONE_MARKER).exists():
        raise InputError(out, "holds results that no batch of this manifest wrote; choose another --out")
    with atomic_output(claim) as temporary:
        temporary.write_text(json.dumps({"manifest": manifest, "version": __version__,
                                         "created": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1))


def prepare_output_folder(out_dir: str | Path) -> Path:
    """Return the batch folder, created if needed; raise InputError if it is a file or cannot be written."""
    out = Path(out_dir).resolve()
    if out.exists() and not out.is_dir():
        raise InputError(out, "the batch output (--out) exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(out, f"cannot create the batch output folder ({error.strerror or error})") from error
    if not os.access(out, os.W_OK | os.X_OK):
        raise InputError(out, "the batch output folder is not writable")
    return out


def plan_cases(rows: list[ManifestRow], out: Path, force: bool) -> tuple[dict, list, BatchSummary]:
    """Return (results known now, cases to process, summary so far) for a manifest's rows.

    Every problem of one row (bad case id, two ids sharing a folder, a finished case that cannot be read,
    missing input) becomes that row's error row; nothing here raises for a single row.
    """
    results: dict[int, list[dict]] = {}
    pending: list[tuple[int, ManifestRow, Path]] = []
    summary = BatchSummary(results_path=str(out / "results.tsv"))
    folders: dict[str, str] = {}
    for index, row in enumerate(rows):
        try:
            name = case_folder_name(row.case_id)
            key = folder_key(name)
            if not row.problem and key in folders:
                row.problem = (f"case_id '{row.case_id}' would share the output folder '{name}' with case_id "
                               f"'{folders[key]}' (on a case-insensitive file system); rename one")
            folders.setdefault(key, row.case_id)
            case_dir = path_inside(out, name)
            if row.problem:
                results[index] = [error_row(row, row.problem)]
                summary.errors += 1
            elif not force and is_finished(case_dir):
                results[index] = _finished_rows(row, case_dir)
                summary.skipped += 1
            elif not is_pacs_location(row.dwi) and not Path(row.dwi).exists():  # a location is retrieved later
                results[index] = [error_row(row, f"{row.dwi}: no such file or folder (dwi)")]
                summary.errors += 1
            else:
                pending.append((index, row, case_dir))
        except Exception as error:  # noqa: BLE001 - a bad row is an error row, the batch goes on
            results[index] = [error_row(row, describe_error(error))]
            summary.errors += 1
    return results, pending, summary


def _finished_rows(row: ManifestRow, case_dir: Path) -> list[dict]:
    """Return the rows of a finished case, checking they belong to this row's case id (no patient mix-up)."""
    rows = read_results_tsv(case_dir / "results.tsv")
    if any(r.get("case_id") != row.case_id for r in rows):
        found = sorted({str(r.get("case_id")) for r in rows})
        raise ValueError(f"{case_dir}: holds case {', '.join(found)}, not '{row.case_id}'; move it away and rerun")
    for result in rows:
        result.update(label=row.label, reader=row.reader)
    return rows


def run_batch(manifest_path: str | Path, out_dir: str | Path, processor: CaseProcessor, *, jobs: int = 1,
              force: bool = False, settings: CaseSettings | None = None,
              progress: Callable[[dict], None] | None = None, in_process: bool = False,
              notes: Callable[[str], None] | None = None, engine=None) -> BatchSummary:
    """Process every case of a manifest into ``out_dir`` with ``processor``; return a :class:`BatchSummary`.

    ``settings`` apply to every case. ``jobs`` worker processes (spawned, each prepared once by the processor,
    dying with this process) run the cases; ``0`` means as many as the machine's cores and memory hold, and
    larger numbers are capped to that. With ``in_process`` the cases run in this process instead (Slicer's
    console: the application's scene). With ``engine`` (a :class:`.dask_engine.DaskEngine`) they run on a Dask
    cluster, connected before anything is written (an unreachable scheduler leaves ``out_dir`` untouched).
    ``progress(event)`` is called after every case with ``done``, ``total``, ``case_id``, ``status``,
    ``seconds`` and ``eta_s``; ``notes(text)`` receives remarks such as a capped ``jobs``.

    The folder is locked for the batch (a second concurrent batch is refused) and belongs to one manifest
    (:func:`claim_batch_folder`). On Ctrl-C (KeyboardInterrupt) the workers are stopped, unfinished case
    folders are removed, ``results.tsv`` keeps every finished case, and the interrupt is raised again.
    """
    started = time.perf_counter()
    settings = settings or CaseSettings()
    manifest_path = Path(manifest_path)
    rows = read_manifest(manifest_path)
    workers, note = (1, "") if in_process or engine is not None else resolve_jobs(jobs)
    if note and notes is not None:
        notes(note)
    if engine is not None:
        engine.connect()
        for text in [*engine.notes, *([f"Dask dashboard: {engine.dashboard}"] if engine.dashboard else [])]:
            if notes is not None:
                notes(text)
    try:
        return _run_batch(manifest_path, rows, out_dir, processor, force, settings, workers, in_process, progress,
                          engine, started)
    finally:
        if engine is not None:
            engine.close()


def _run_batch(manifest_path: Path, rows: list, out_dir, processor: CaseProcessor, force: bool,
               settings: CaseSettings, workers: int, in_process: bool, progress, engine, started: float):
    out = prepare_output_folder(out_dir)
    with batch_lock(out):
        claim_batch_folder(out, manifest_path)
        remove_stale_staging(out)
        try:
            results, pending, summary = plan_cases(rows, out, force)
            summary.jobs = engine.workers() if engine is not None else workers
            _run_pending(results, pending, summary, out, processor, settings, workers, in_process, progress, started,
                         engine)
        finally:  # the workers are stopped by now: what they were building is not a case
            if engine is not None:
                engine.close()
            remove_stale_staging(out)
    summary.seconds = time.perf_counter() - started
    return summary


def _run_pending(results: dict, pending: list, summary: BatchSummary, out: Path, processor: CaseProcessor,
                 settings: CaseSettings, jobs: int, in_process: bool, progress, started: float, engine=None) -> None:
    """Process the pending cases (in this process or in workers), recording each into ``results``."""

    def write_aggregate() -> None:
        ordered = [r for i in sorted(results) for r in results[i]]
        write_results_tsv(out / "results.tsv", ordered, overwrite=True)
        summary.rows = ordered

    write_aggregate()
    durations: list[float] = []

    def record(index: int, row: ManifestRow, case_rows: list[dict], seconds: float) -> None:
        results[index] = case_rows
        summary.processed += 1
        errors = [r for r in case_rows if r["status"] == "error"]
        if errors:
            summary.errors += 1
            summary.messages.append(f"{row.case_id}: {errors[0]['message']}")
        durations.append(seconds)
        write_aggregate()
        if progress is not None:
            done, elapsed = len(durations), time.perf_counter() - started
            progress({"done": done, "total": len(pending), "case_id": row.case_id,
                      "status": "error" if errors else case_rows[0]["status"], "seconds": seconds,
                      "eta_s": elapsed / done * (len(pending) - done)})

    try:
        if in_process:
            processor.prepare(None, bool(os.environ.get("VCFDIAGNOSIS_QUIET_VTK")))
            for index, row, case_dir in pending:
                record(index, row, *run_one_case(processor, row, str(case_dir), settings))
        elif engine is not None:
            engine.run(pending, record, processor, settings, bool(os.environ.get("VCFDIAGNOSIS_QUIET_VTK")))
        else:
            _run_in_workers(pending, results, record, processor, settings, jobs)
    finally:  # interrupted: cases a worker finished before it was stopped are results too
        for index, row, case_dir in pending:
            if index not in results and is_finished(case_dir):
                with contextlib.suppress(Exception):
                    results[index] = _finished_rows(row, case_dir)
        write_aggregate()


def _run_in_workers(pending: list, results: dict, record, processor: CaseProcessor, settings: CaseSettings,
                    jobs: int) -> None:
    """Run cases in ``jobs`` spawned worker processes; a crashed worker's case becomes an error row."""
    context = multiprocessing.get_context("spawn")
    cache_dir = make_cache_dir()
    quiet = bool(os.environ.get("VCFDIAGNOSIS_QUIET_VTK"))
    queue = list(pending)
    try:
        while queue:
            pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_initialize,
                                       initargs=(os.getpid(), cache_dir, quiet, processor))
            try:
                futures = {pool.submit(run_one_case, processor, row, str(case_dir), settings): (index, row, case_dir)
                           for index, row, case_dir in queue}
                queue = []
                for future in as_completed(futures):
                    index, row, _case_dir = futures[future]
                    try:
                        record(index, row, *future.result())
                    except BrokenProcessPool:
                        # a worker died in native code: this case is reported, the unfinished ones run again
                        record(index, row, [error_row(row, "the worker process crashed on this case")], 0.0)
                        queue = [item for item in futures.values() if item[0] not in results]
                        break
            except BaseException:
                _stop_workers(pool)
                raise
            pool.shutdown(wait=True)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Kill a pool's worker processes now (Ctrl-C, or the parent failing) and reap them."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # no public API lists them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.kill()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(timeout=10)
