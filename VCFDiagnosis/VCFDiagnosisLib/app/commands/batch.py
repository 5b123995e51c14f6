"""``vcfdiagnosis batch``: every case of a manifest, resumable, in parallel processes (research use only)."""

from __future__ import annotations

import sys
import time

from ...analysis.settings import add_setting_arguments, settings_from_args
from ...errors import InputError

NAME = "batch"
HELP = "process every case of a manifest (CSV/TSV: case_id, dwi, roi, spectrum, label, reader) into OUT"


def add_arguments(parser) -> None:
    parser.add_argument("manifest", help="CSV or TSV with a header; paths relative to the manifest's folder")
    parser.add_argument("--out", required=True, help="output folder: OUT/results.tsv and OUT/<case_id>/")
    parser.add_argument("--jobs", type=int, default=1,
                        help="cases processed in parallel processes (default 1; 0 = as many as this machine's cores "
                             "and memory hold; larger numbers are capped to that)")
    parser.add_argument("--force", action="store_true", help="process finished cases again")
    cluster = parser.add_argument_group("Dask cluster (optional extra: pip install vcfdiagnosis[dask])")
    cluster.add_argument("--scheduler", metavar="ADDRESS",
                         help="run the cases on a Dask cluster: tcp://HOST:8786 (an existing scheduler) or local:N "
                              "(N worker processes on this machine); inputs and --out must be on storage every "
                              "worker sees. Default: local worker processes (--jobs), no Dask")
    cluster.add_argument("--case-timeout", type=float, metavar="SECONDS",
                         help="with --scheduler: a case running longer becomes an error row and its worker is "
                              "restarted (default: no limit)")
    cluster.add_argument("--retries", type=int, default=2,
                         help="with --scheduler: times a case is resubmitted after its worker died (default 2)")
    add_setting_arguments(parser)


def _format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def progress_printer(stream=None):
    """Return a progress callback: a bar with ETA on a terminal, one plain line per case otherwise."""
    stream = stream or sys.stderr
    tty = stream.isatty()

    def show(event: dict) -> None:
        done, total = event["done"], event["total"]
        if tty:
            width = 30
            filled = int(width * done / max(total, 1))
            stream.write(f"\r[{'#' * filled}{'-' * (width - filled)}] {done}/{total} "
                         f"ETA {_format_duration(event['eta_s'])}  {event['case_id'][:30]:<30}")
            if done == total:
                stream.write("\n")
        else:
            stream.write(f"[{done}/{total}] {event['case_id']}: {event['status']} ({event['seconds']:.1f} s), "
                         f"ETA {_format_duration(event['eta_s'])}\n")
        stream.flush()

    return show


def run(args) -> int:
    """Run the batch; return 0 (error rows are results, not a failed batch) or raise (see the CLI contract)."""
    from ...analysis.study_models import RESEARCH_USE_NOTE
    from ...batch.runner import run_batch
    from ...mrml.batch_case import MRML_CASE_PROCESSOR

    started = time.perf_counter()
    settings = settings_from_args(args)
    engine = None
    if args.scheduler:
        from ...batch.dask_engine import DaskEngine

        engine = DaskEngine(args.scheduler, case_timeout_s=args.case_timeout, retries=args.retries)
    elif args.case_timeout is not None:
        raise InputError("--case-timeout", "needs --scheduler (local worker processes are not timed out)")
    summary = run_batch(args.manifest, args.out, MRML_CASE_PROCESSOR, jobs=args.jobs, force=args.force,
                        settings=settings, progress=progress_printer(), engine=engine,
                        notes=lambda text: print(f"note: {text}", file=sys.stderr))
    for message in summary.messages:
        print(f"  error: {message}")
    print(f"{summary.processed} processed, {summary.skipped} already finished (skipped), "
          f"{summary.errors} with errors, in {time.perf_counter() - started:.1f} s -> {summary.results_path}")
    print(RESEARCH_USE_NOTE)
    return 0
