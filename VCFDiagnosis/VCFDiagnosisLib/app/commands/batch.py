"""``vcfdiagnosis batch``: every case of a manifest, resumable, in parallel processes (research use only)."""

from __future__ import annotations

import sys
import time

NAME = "batch"
HELP = "process every case of a manifest (CSV/TSV: case_id, dwi, roi, spectrum, label, reader) into OUT"


def add_arguments(parser) -> None:
    parser.add_argument("manifest", help="CSV or TSV with a header; paths relative to the manifest's folder")
    parser.add_argument("--out", required=True, help="output folder: OUT/results.tsv and OUT/<case_id>/")
    parser.add_argument("--jobs", type=int, default=1,
                        help="cases processed in parallel processes (default 1; 0 = as many as this machine's cores "
                             "and memory hold; larger numbers are capped to that)")
    parser.add_argument("--force", action="store_true", help="process finished cases again")
    parser.add_argument("--method", help="IVIM fit method (default: the engine's default)")
    parser.add_argument("--b-threshold", type=float, default=200.0, help="segmented-fit b threshold, s/mm2")
    parser.add_argument("--maps", choices=("roi", "volume", "none"), default="roi", help="voxelwise maps (default roi)")
    parser.add_argument("--model-inputs", choices=("roi_mean_fit", "map_mean", "map_median"), default="roi_mean_fit")
    parser.add_argument("--no-report", action="store_true", help="skip the per-case PNG/PDF reports")


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
    from ...batch.runner import BatchOptions, run_batch

    started = time.perf_counter()
    options = BatchOptions(method=args.method, b_threshold=args.b_threshold, maps=args.maps,
                          model_inputs=args.model_inputs, report=not args.no_report)
    summary = run_batch(args.manifest, args.out, jobs=args.jobs, force=args.force, options=options,
                        progress=progress_printer(), notes=lambda text: print(f"note: {text}", file=sys.stderr))
    for message in summary.messages:
        print(f"  error: {message}")
    print(f"{summary.processed} processed, {summary.skipped} already finished (skipped), "
          f"{summary.errors} with errors, in {time.perf_counter() - started:.1f} s -> {summary.results_path}")
    print(RESEARCH_USE_NOTE)
    return 0
