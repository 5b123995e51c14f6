"""Per-case functions for the Dask fault tests: the real MRML case, plus a fault chosen by files in the case's
manifest folder. Workers import this module by name (pytest puts Testing/ on sys.path; spawned workers inherit it).

``<manifest dir>/faults/hold-<case_id>``: write the worker's pid to ``faults/pid-<case_id>`` and wait while the hold
file exists (the test kills the worker meanwhile). ``faults/hang-<case_id>``: sleep far longer than any timeout.
``faults/die-<case_id>``: the worker kills itself with SIGKILL on every attempt.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from VCFDiagnosisLib.batch.cases import CaseProcessor
from VCFDiagnosisLib.mrml.batch_case import prepare_process, process_manifest_row


def _faults(row) -> Path:
    return Path(row.dwi).parents[1] / "faults"


def process_with_faults(row, case_dir, settings):
    """The real case, after the fault its files ask for."""
    faults = _faults(row)
    if (faults / f"die-{row.case_id}").exists():
        os.kill(os.getpid(), signal.SIGKILL)
    if (faults / f"hang-{row.case_id}").exists():
        time.sleep(600)
    hold = faults / f"hold-{row.case_id}"
    if hold.exists():
        (faults / f"pid-{row.case_id}").write_text(str(os.getpid()))
        deadline = time.monotonic() + 120
        while hold.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return process_manifest_row(row, case_dir, settings)


FAULT_PROCESSOR = CaseProcessor(process=process_with_faults, prepare=prepare_process)
