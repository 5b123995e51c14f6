"""Chunks of a voxelwise fit in forked worker processes (the fit's inner loops hold the GIL: threads do not scale).

Measured on the 2-core machine (``Testing/Benchmarks/bench_ivim_speed.py``): two processes fit the default method
1.3-1.7x as fast as two threads (each process alone runs as fast as one process on an idle machine). Worker
processes are forked (POSIX only) after the signal is in memory, so they read it without a copy; each returns its
chunk's results (a few MB) through a pipe. They ignore Ctrl-C: the parent stops them and reports the interrupt.
Use them only from a headless process that owns its threads (the command line); inside the Slicer application
(Qt, its own threads) fitting stays in threads.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

import numpy as np

#: (function, rows) of this worker's fit, set by the initializer in each forked worker (the fork hands the objects
#: over without pickling them)
_JOB: tuple[Callable[[np.ndarray], dict], np.ndarray] | None = None


def usable_cores() -> int:
    """Return the CPUs this process may run on (its affinity mask where the OS has one, else the CPU count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def fork_available() -> bool:
    """Return True where worker processes can be forked (POSIX)."""
    return "fork" in multiprocessing.get_all_start_methods()


def _start_worker(func: Callable[[np.ndarray], dict], rows: np.ndarray) -> None:
    global _JOB
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _JOB = (func, rows)


def _run_chunk(sel: np.ndarray) -> dict:
    func, rows = _JOB
    return func(rows[sel])


def forked_chunk_results(func: Callable[[np.ndarray], dict], rows: np.ndarray, chunks: list[np.ndarray],
                         processes: int) -> Iterator[dict]:
    """Yield ``func(rows[chunk])`` for each chunk, in order, computed by ``processes`` forked workers.

    ``func`` must be picklable by reference (a module-level function or a ``functools.partial`` of one). Closing
    the generator early (a cancelled fit) cancels the chunks not yet queued and stops the workers once the running
    ones finish (up to a few chunk-times). An error in a worker is raised here with its type and message.
    """
    executor = ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("fork"),
                                   initializer=_start_worker, initargs=(func, rows))
    try:
        futures = [executor.submit(_run_chunk, sel) for sel in chunks]
        for future in futures:
            yield future.result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
