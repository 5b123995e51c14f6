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

import csv
import json
import multiprocessing
import re
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import __version__
from .atomic import atomic_output
from .results import empty_row, read_results_tsv, write_results_tsv

MANIFEST_COLUMNS = ("case_id", "dwi", "roi", "spectrum", "label", "reader")
LABELS = ("metastatic", "osteoporotic")
DONE_MARKER = "case.json"


class ManifestError(ValueError):
    """The manifest itself cannot be used (unreadable, no header, missing required columns, no rows)."""


@dataclass
class ManifestRow:
    """One case of a manifest: absolute paths (None where not given), its label and reader, its line number."""

    case_id: str
    dwi: str
    roi: str | None = None
    spectrum: str | None = None
    label: str = ""
    reader: str = ""
    line: int = 0
    problem: str = ""


@dataclass
class BatchOptions:
    """Settings applied to every case of a batch (as ``vcfdiagnosis run`` takes them)."""

    method: str | None = None
    b_threshold: float = 200.0
    maps: str = "roi"
    model_inputs: str = "roi_mean_fit"
    report: bool = True


@dataclass
class BatchSummary:
    """What a batch did: counts, the rows of ``results.tsv``, the errors and the wall time (s)."""

    results_path: str
    processed: int = 0
    skipped: int = 0
    errors: int = 0
    seconds: float = 0.0
    rows: list = field(default_factory=list)
    messages: list = field(default_factory=list)


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Return the cases of a CSV/TSV manifest; raise ManifestError if the manifest is unusable.

    Row-level problems (empty case_id, unknown label, duplicate case_id) are recorded in ``problem`` and become
    error rows; they do not stop the batch.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path}: cannot read the manifest ({error})") from error
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ManifestError(f"{path}: the manifest is empty")
    delimiter = "\t" if "\t" in lines[0] else ","
    reader = csv.DictReader(lines, delimiter=delimiter)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("case_id", "dwi") if c not in header]
    if missing:
        raise ManifestError(f"{path}: the header has no {', '.join(missing)} column "
                            f"(expected {', '.join(MANIFEST_COLUMNS)}; found {', '.join(header) or 'nothing'})")
    base = path.resolve().parent
    rows: list[ManifestRow] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(reader, start=2):
        values = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}

        paths = {c: str((base / values[c]).resolve()) if values.get(c) else None for c in ("dwi", "roi", "spectrum")}
        row = ManifestRow(case_id=values.get("case_id", ""), dwi=paths["dwi"] or "", roi=paths["roi"],
                          spectrum=paths["spectrum"], label=values.get("label", "").lower(),
                          reader=values.get("reader", ""), line=number)
        if not row.case_id:
            row.case_id, row.problem = f"line-{number}", f"line {number}: no case_id"
        elif row.case_id in seen:
            row.problem = f"duplicate case_id '{row.case_id}' (first on line {seen[row.case_id]})"
        elif not row.dwi:
            row.problem = f"line {number}: no dwi path"
        elif row.label and row.label not in LABELS:
            row.problem = f"label '{row.label}' is not one of {', '.join(LABELS)}"
        seen.setdefault(row.case_id, number)
        rows.append(row)
    if not rows:
        raise ManifestError(f"{path}: the manifest has a header but no cases")
    return rows


def case_folder_name(case_id: str) -> str:
    """Return a file-system-safe folder name for a case id."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", case_id).strip("._") or "case"


def error_row(row: ManifestRow, message: str) -> dict:
    """Return the results row of a case that failed: status ``error`` and a one-line message."""
    out = empty_row(row.case_id, "")
    out.update(status="error", message=" ".join(str(message).split())[:400], label=row.label, reader=row.reader)
    return out


def is_finished(case_dir: Path) -> bool:
    """Return True if the case folder holds a completed case (its ``case.json`` marker)."""
    return (case_dir / DONE_MARKER).is_file() and (case_dir / "results.tsv").is_file()


def process_manifest_row(row: ManifestRow, case_dir: Path, options: BatchOptions, logic=None) -> list[dict]:
    """Process one case in ``slicer.mrmlScene`` and export it to ``case_dir``; return its results rows.

    Partial outputs of an interrupted earlier attempt are replaced. Nodes added for the case are removed from
    the scene afterwards, so the same function serves worker processes and Slicer's Python console.
    """
    import slicer

    from .logic import VCFDiagnosisLogic

    logic = logic or VCFDiagnosisLogic()
    scene = slicer.mrmlScene
    before = {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}
    try:
        case, _ = logic.processCaseFiles(
            row.dwi, row.roi, row.spectrum, caseId=row.case_id, outputDir=str(case_dir), overwrite=True,
            report=options.report, extraColumns={"label": row.label, "reader": row.reader}, method=options.method,
            bThreshold=options.b_threshold, maps=options.maps, modelInputs=options.model_inputs)
        with atomic_output(case_dir / DONE_MARKER, overwrite=True) as temporary:
            temporary.write_text(json.dumps({"case_id": row.case_id, "inputs": asdict(row),
                                             "options": asdict(options), "version": __version__,
                                             "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}, indent=1))
        return case.rows
    finally:
        for i in reversed(range(scene.GetNumberOfNodes())):
            node = scene.GetNthNode(i)
            if node is not None and node.GetID() not in before and not node.GetSingletonTag():
                scene.RemoveNode(node)


def _worker_initialize() -> None:
    from . import headless

    headless.initialize()


def _worker_process(row: ManifestRow, case_dir: str, options: BatchOptions) -> tuple[list[dict], float]:
    started = time.perf_counter()
    try:
        rows = process_manifest_row(row, Path(case_dir), options)
    except Exception as error:  # noqa: BLE001 - any failure of one case becomes its error row
        message = f"{type(error).__name__}: {error}" if not isinstance(error, (OSError, ValueError)) else str(error)
        rows = [error_row(row, message)]
    return rows, time.perf_counter() - started


def run_batch(manifest_path: str | Path, out_dir: str | Path, *, jobs: int = 1, force: bool = False,
              options: BatchOptions | None = None, progress: Callable[[dict], None] | None = None,
              in_process: bool = False) -> BatchSummary:
    """Process every case of a manifest into ``out_dir``; return a :class:`BatchSummary`.

    ``jobs`` worker processes (spawned, each with its own headless MRML runtime) run the cases; with
    ``in_process`` the cases run in this process's ``slicer.mrmlScene`` instead (Slicer's console).
    ``progress(event)`` is called after every case with ``done``, ``total``, ``case_id``, ``status``,
    ``seconds`` and ``eta_s``.
    """
    started = time.perf_counter()
    options = options or BatchOptions()
    rows = read_manifest(manifest_path)
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results: dict[int, list[dict]] = {}
    summary = BatchSummary(results_path=str(out / "results.tsv"))
    pending: list[tuple[int, ManifestRow, Path]] = []
    for index, row in enumerate(rows):
        case_dir = out / case_folder_name(row.case_id)
        if row.problem:
            results[index] = [error_row(row, row.problem)]
            summary.errors += 1
        elif not force and is_finished(case_dir):
            results[index] = read_results_tsv(case_dir / "results.tsv")
            for result in results[index]:
                result.update(label=row.label, reader=row.reader)
            summary.skipped += 1
        elif not Path(row.dwi).exists():
            results[index] = [error_row(row, f"{row.dwi}: no such file or folder (dwi)")]
            summary.errors += 1
        else:
            pending.append((index, row, case_dir))

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

    if in_process or jobs <= 0:
        from . import headless

        if not headless.in_slicer_application():
            headless.initialize()
        for index, row, case_dir in pending:
            record(index, row, *_worker_process(row, str(case_dir), options))
    else:
        context = multiprocessing.get_context("spawn")
        queue = list(pending)
        while queue:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_initialize) as pool:
                futures = {pool.submit(_worker_process, row, str(case_dir), options): (index, row, case_dir)
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
    summary.seconds = time.perf_counter() - started
    return summary
