"""One case of a batch, wherever it runs: the per-case function (:class:`CaseProcessor`) and its safe call.

:func:`run_one_case` is what every engine runs for a case, in this process, a local worker process or a Dask
worker (one code path): any failure becomes the case's error row (:func:`error_row`), never an exception.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..analysis.results import empty_row
from ..analysis.settings import CaseSettings
from ..errors import describe_error, one_line
from .manifest import ManifestRow


@dataclass(frozen=True)
class CaseProcessor:
    """What a batch does for each case, given as module-level functions (spawned workers receive them by name).

    ``process(row, case_dir, settings) -> rows`` processes one case into its folder (built beside it and swapped
    in whole with its ``case.json`` marker) and returns its results rows; it may raise, the runner turns any
    failure into the case's error row. ``prepare(cache_dir, quiet)`` sets up a process once before its first
    case: in every worker (with a private cache folder) and in this process for ``in_process`` runs
    (``cache_dir`` None). The MRML implementation is ``VCFDiagnosisLib.mrml.batch_case.MRML_CASE_PROCESSOR``.
    """

    process: Callable[[ManifestRow, Path, CaseSettings], list[dict]]
    prepare: Callable[[str | None, bool], None]


def error_row(row: ManifestRow, message: str) -> dict:
    """Return the results row of a case that failed: status ``error`` and a one-line message."""
    out = empty_row(row.case_id, "")
    out.update(status="error", message=one_line(message, 400), label=row.label, reader=row.reader)
    return out


def run_one_case(processor: CaseProcessor, row: ManifestRow, case_dir: str,
                 settings: CaseSettings) -> tuple[list[dict], float]:
    """Return (the case's rows, its seconds); any failure becomes the case's error row."""
    started = time.perf_counter()
    try:
        rows = processor.process(row, Path(case_dir), settings)
    except Exception as error:  # noqa: BLE001 - any failure of one case becomes its error row
        rows = [error_row(row, describe_error(error) if isinstance(error, (OSError, ValueError))
                          else f"{type(error).__name__}: {describe_error(error)}")]
    return rows, time.perf_counter() - started
