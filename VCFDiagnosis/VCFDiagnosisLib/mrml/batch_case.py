"""The batch runner's per-case work in worker processes (``vcfdiagnosis batch``, local or on Dask): layer 2.

:data:`MRML_CASE_PROCESSOR` is what the ``batch`` command passes to :func:`~VCFDiagnosisLib.batch.runner.run_batch`;
its functions are module-level, so spawned workers receive them by name. Each case is
:meth:`VCFDiagnosisLogic.processManifestRow`, the same method :meth:`VCFDiagnosisLogic.processBatch` runs in
Slicer's console (this module imports the Logic; the Logic does not import this module).
"""

from __future__ import annotations

from pathlib import Path

from ..analysis.settings import CaseSettings
from ..batch.cases import CaseProcessor
from ..batch.manifest import ManifestRow
from . import headless


def prepare_process(cache_dir: str | None, quiet: bool) -> None:
    """Set up this process for cases: the headless MRML runtime once (nothing inside the Slicer application)."""
    if not headless.in_slicer_application():
        headless.initialize(cache_dir=cache_dir, quiet=quiet)


def process_manifest_row(row: ManifestRow, case_dir: Path, settings: CaseSettings) -> list[dict]:
    """Process one case in this (worker) process's scene: :meth:`VCFDiagnosisLogic.processManifestRow`."""
    from .logic import VCFDiagnosisLogic

    return VCFDiagnosisLogic().processManifestRow(row, case_dir, settings)


#: The batch runner's per-case work in the MRML scene.
MRML_CASE_PROCESSOR = CaseProcessor(process=process_manifest_row, prepare=prepare_process)
