"""One manifest case in the MRML scene: the batch runner's per-case work for ``vcfdiagnosis batch`` and
:meth:`VCFDiagnosisLogic.processBatch` (layer 2; the runner in :mod:`VCFDiagnosisLib.batch.runner` stays pure).

:data:`MRML_CASE_PROCESSOR` is what both pass to :func:`~VCFDiagnosisLib.batch.runner.run_batch`: its functions
are module-level, so spawned worker processes receive them by name.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ..analysis.settings import CaseSettings
from ..batch.runner import CaseProcessor, ManifestRow
from . import headless


def prepare_process(cache_dir: str | None, quiet: bool) -> None:
    """Set up this process for cases: the headless MRML runtime once (nothing inside the Slicer application)."""
    if not headless.in_slicer_application():
        headless.initialize(cache_dir=cache_dir, quiet=quiet)


def process_manifest_row(row: ManifestRow, case_dir: Path, settings: CaseSettings, logic=None) -> list[dict]:
    """Process one case in ``slicer.mrmlScene`` and export it to ``case_dir``; return its results rows.

    The case folder is built beside its place and swapped in whole, with its ``case.json`` marker (the manifest
    row and the settings in it), so a case folder is either absent or finished. Nodes added for the case are
    removed from the scene afterwards, so the same function serves worker processes and Slicer's console.
    """
    import slicer

    from .logic import VCFDiagnosisLogic

    logic = logic or VCFDiagnosisLogic()
    scene = slicer.mrmlScene
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    try:
        case, _ = logic.processCaseFiles(
            row.dwi, row.roi, row.spectrum, caseId=row.case_id, outputDir=str(case_dir), overwrite=True,
            settings=settings, extraColumns={"label": row.label, "reader": row.reader},
            provenance={"manifest_row": asdict(row)})
        return case.rows
    finally:
        for i in reversed(range(scene.GetNumberOfNodes())):
            node = scene.GetNthNode(i)
            if node is not None and node.GetID() not in before and not node.GetSingletonTag():
                scene.RemoveNode(node)


#: The batch runner's per-case work in the MRML scene.
MRML_CASE_PROCESSOR = CaseProcessor(process=process_manifest_row, prepare=prepare_process)
