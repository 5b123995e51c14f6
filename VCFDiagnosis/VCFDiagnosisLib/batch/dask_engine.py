"""Cases on a Dask distributed cluster (``vcfdiagnosis batch --scheduler``): the same per-case function, elsewhere.

``--scheduler tcp://HOST:8786`` submits each case to that cluster; ``--scheduler local:N`` starts a LocalCluster of
N worker processes on this machine (scheduler and dashboard on 127.0.0.1). Each task is
:func:`run_case_on_worker`: it checks the case's inputs are visible on that worker, prepares the worker process
once (its headless MRML runtime, reused for every later case) and calls :func:`.cases.run_one_case`, the code
path of the local runner. The client (:class:`DaskEngine`) records each result as it arrives, so finished-case
markers, the atomic ``results.tsv``, error rows and resume behave as with ``--jobs``.

Faults: a worker that dies during a case (``KilledWorker``) gets the case resubmitted up to ``retries`` times,
then an error row names the fault; a case running longer than ``case_timeout_s`` becomes an error row and its
worker is restarted (the hung process is killed); an unreachable scheduler is an :class:`InputError` raised
before the output folder is touched. Inputs and the output folder must be on storage every worker sees (a worker
that cannot see an input gives that case an error row naming the worker and the path). ``distributed`` is an
optional extra (``pip install vcfdiagnosis[dask]``), imported only here and only when ``--scheduler`` is used.
"""

from __future__ import annotations

import collections
import os
import shutil
import socket
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from ..analysis.settings import CaseSettings
from ..errors import InputError
from ..outputs.scratch import CACHE_PREFIX, make_cache_dir
from .cases import CaseProcessor, error_row, run_one_case
from .manifest import INPUT_COLUMNS, ManifestRow
from .runner import resolve_jobs

DASK_MISSING = "--scheduler needs Dask: pip install 'dask[distributed]' (or the project's extra: .[dask])"
#: Seconds the client waits to reach a scheduler before the batch is refused.
CONNECT_TIMEOUT_S = 10
#: Seconds between checks of running cases against ``case_timeout_s``.
POLL_S = 0.5

_PREPARED: set[tuple[str, str]] = set()  # the processors this (worker) process has prepared
#: one case at a time per worker process: a worker with several threads must not run two cases in the one MRML
#: scene (each case removes the nodes it added, which would take the other case's too)
_CASE_LOCK = threading.Lock()


def run_case_on_worker(processor: CaseProcessor, row: ManifestRow, case_dir: str, settings: CaseSettings,
                       quiet: bool) -> tuple[list[dict], float]:
    """Run one case on a Dask worker (the task): inputs checked, the worker prepared once, then the case."""
    from ..pacs.locations import is_pacs_location

    missing = next((p for p in (getattr(row, column) for column in INPUT_COLUMNS)
                    if p and not is_pacs_location(p) and not os.path.exists(p)), None)
    if missing:
        return [error_row(row, f"worker on {socket.gethostname()}: {missing}: no such file or folder on this "
                               "worker (inputs and --out must be on storage every worker sees)")], 0.0
    key = (processor.prepare.__module__, processor.prepare.__qualname__)
    with _CASE_LOCK:
        if key not in _PREPARED:
            processor.prepare(_worker_cache_dir(), quiet)
            _PREPARED.add(key)
        return run_one_case(processor, row, case_dir, settings)


def _worker_cache_dir() -> str:
    """Return a cache folder inside the Dask worker's own folder (removed with it), else a pid-tagged one."""
    try:
        from distributed import get_worker

        return tempfile.mkdtemp(prefix=CACHE_PREFIX, dir=get_worker().local_directory)
    except (ImportError, ValueError, OSError):
        return make_cache_dir()


class Attempt(NamedTuple):
    """One submission of a case: its manifest index and row, its folder, the attempt number, when it was sent."""

    index: int
    row: ManifestRow
    case_dir: object
    attempt: int
    submitted: float = 0.0


@dataclass
class DaskEngine:
    """A connection to a Dask cluster that runs a batch's pending cases (see the module docstring).

    ``scheduler`` is ``tcp://HOST:PORT`` (any address ``distributed.Client`` takes) or ``local:N``;
    ``case_timeout_s`` None means no limit; ``retries`` counts resubmissions after a worker died.
    """

    scheduler: str
    case_timeout_s: float | None = None
    retries: int = 2
    client: object = field(default=None, repr=False)
    cluster: object = field(default=None, repr=False)
    scratch: str | None = field(default=None, repr=False)
    notes: list = field(default_factory=list)  # remarks for the user (e.g. a capped local:N)

    def connect(self) -> DaskEngine:
        """Reach the scheduler (or start the local cluster); raise InputError when that is impossible."""
        if self.retries < 0:
            raise InputError("--retries", f"must be 0 or more, got {self.retries}")
        if self.case_timeout_s is not None and not self.case_timeout_s > 0:
            raise InputError("--case-timeout", f"must be a positive number of seconds, got {self.case_timeout_s}")
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError as error:
            raise InputError("--scheduler", DASK_MISSING) from error
        if self.scheduler.startswith("local:"):
            workers = self.scheduler.split(":", 1)[1]
            if not workers.isdigit() or int(workers) < 1:
                raise InputError("--scheduler", f"'{self.scheduler}': use local:N with N worker processes (N >= 1)")
            count, note = resolve_jobs(int(workers))  # as --jobs: no more processes than the cores and memory hold
            if note:
                self.notes.append(f"--scheduler {self.scheduler}: {note.split(': ', 1)[1]}")
            workers = str(count)
            # a worker that dies is reported at once (the retries are counted here, the same for any scheduler)
            scratch = self.scratch = make_cache_dir()  # Dask's worker folders: removed at close (or next run)
            with dask.config.set({"distributed.scheduler.allowed-failures": 0, "temporary-directory": scratch}):
                self.cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                                            host="127.0.0.1", dashboard_address="127.0.0.1:0",
                                            local_directory=scratch, silence_logs=40)
            self.client = Client(self.cluster)
            return self
        try:
            self.client = Client(self.scheduler, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError, ValueError) as error:
            raise InputError("--scheduler", f"cannot reach the Dask scheduler at {self.scheduler} "
                                            f"({type(error).__name__}: {error})") from None
        return self

    def workers(self) -> int:
        """Return how many cases the cluster runs at once: its worker processes (each runs one case at a time,
        whatever its threads, see :data:`_CASE_LOCK`)."""
        return max(1, len(self.client.nthreads())) if self.client is not None else 0

    @property
    def dashboard(self) -> str:
        """Return the address of the cluster's dashboard ('' when there is none)."""
        return str(getattr(self.client, "dashboard_link", "") or "")

    def close(self) -> None:
        """Disconnect; a local cluster's worker processes are stopped."""
        for resource in (self.client, self.cluster):
            if resource is not None:
                try:
                    resource.close()
                except Exception:  # noqa: BLE001, S110 - closing after a failure must not hide it
                    pass
        self.client = self.cluster = None
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def run(self, pending: list, record, processor: CaseProcessor, settings: CaseSettings, quiet: bool) -> None:
        """Run ``pending`` [(index, row, case_dir)] on the cluster; ``record(index, row, rows, seconds)`` each.

        At most as many cases as the cluster has worker threads are submitted at once, so a case's running time
        starts when it is submitted (the timeout measures it).
        """
        from distributed import wait

        client = self.client
        queue = collections.deque(Attempt(index, row, case_dir, 0) for index, row, case_dir in pending)
        running: dict = {}  # future -> Attempt
        try:
            while queue or running:
                capacity = self.workers()  # one scheduler round-trip per pass
                while queue and len(running) < capacity:
                    item = queue.popleft()._replace(submitted=time.monotonic())
                    future = client.submit(run_case_on_worker, processor, item.row, str(item.case_dir), settings,
                                           quiet, pure=False,
                                           key=f"case-{item.index}-{item.attempt}-{os.urandom(4).hex()}")
                    running[future] = item
                try:
                    done = wait(list(running), timeout=POLL_S, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    done = set()
                for future in done:
                    self._collect(future, running.pop(future), queue, record)
                self._stop_overdue(running, record)
        finally:
            if running:
                client.cancel(list(running))

    def _collect(self, future, item: Attempt, queue: collections.deque, record) -> None:
        """Record a finished case; a case whose worker died is queued again until ``retries`` is spent."""
        from distributed import KilledWorker

        try:
            record(item.index, item.row, *future.result())
        except KilledWorker:
            if item.attempt < self.retries:
                queue.appendleft(item._replace(attempt=item.attempt + 1))
            else:
                record(item.index, item.row, [error_row(item.row, f"the worker process died on this case "
                                                                  f"{item.attempt + 1} times (KilledWorker)")], 0.0)
        except Exception as error:  # noqa: BLE001 - e.g. a result that could not travel back
            record(item.index, item.row, [error_row(item.row, f"{type(error).__name__}: {error}")], 0.0)

    def _stop_overdue(self, running: dict, record) -> None:
        """Turn cases running longer than ``case_timeout_s`` into error rows; restart the workers running them."""
        if self.case_timeout_s is None:
            return
        now = time.monotonic()
        overdue = [f for f, item in running.items() if now - item.submitted > self.case_timeout_s]
        if not overdue:
            return
        processing = self.client.processing()
        keys = {f.key for f in overdue}
        workers = sorted({worker for worker, tasks in processing.items() if keys & set(tasks)})
        self.client.cancel(overdue)
        for future in overdue:
            item = running.pop(future)
            record(item.index, item.row, [error_row(item.row, f"the case did not finish within {self.case_timeout_s:g} "
                                                              "s (--case-timeout); its worker was restarted")],
                   now - item.submitted)
        if workers:
            self.client.restart_workers(workers, raise_for_error=False)

