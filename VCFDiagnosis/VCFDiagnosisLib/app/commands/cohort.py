"""``vcfdiagnosis cohort``: the study's statistics on a labelled results table (research use only)."""

from __future__ import annotations

import time
from pathlib import Path

from ...errors import InputError

NAME = "cohort"
HELP = ("cohort statistics of a labelled results.tsv (t-tests, ICC, logistic refit, ROC/DeLong, performance "
        "beside Tan et al. 2019): stats.json/.md/.pdf, roc.png, boxplots.png (research use only)")


def add_arguments(parser) -> None:
    parser.add_argument("results", help="results TSV with a 'label' column (metastatic/osteoporotic) and "
                                        "optionally a 'reader' column, e.g. the batch runner's cohort table")
    parser.add_argument("--out", required=True, help="output folder for stats.json, stats.md, stats.pdf, roc.png, "
                                                     "boxplots.png")
    parser.add_argument("--alpha", type=float, default=0.05, help="1 - confidence level of the intervals")
    parser.add_argument("--force", action="store_true", help="replace existing outputs")


def _summary(stats: dict) -> list[str]:
    cohort = stats["cohort"]
    lines = [f"{cohort['n_cases']} cases ({cohort['n_osteoporotic']} osteoporotic, {cohort['n_metastatic']} "
             f"metastatic); excluded rows: "
             + (", ".join(f"{n} {k}" for k, n in cohort["excluded"].items() if n) or "none")]
    for entry in stats["roc"].values():
        if "auc" in entry:
            lines.append(f"  {entry['label']:<44} AUC {entry['auc']:.3f} ({entry['ci_low']:.3f}-{entry['ci_high']:.3f})")
    return lines


def run(args) -> int:
    started = time.perf_counter()
    from ...analysis.results import read_results_tsv
    from ...analysis.study_models import RESEARCH_USE_NOTE
    from ...cohort import analyze_cohort, write_cohort_outputs

    path = Path(args.results)
    if not path.is_file():
        raise InputError(path, "no such results file")
    rows = read_results_tsv(path)
    try:
        stats = analyze_cohort(rows, source=str(path), alpha=args.alpha)
    except KeyError as error:
        raise InputError(path, f"no column {error}") from error
    written = write_cohort_outputs(stats, rows, args.out, overwrite=args.force)
    for line in _summary(stats):
        print(line)
    for name, written_path in written.items():
        print(f"  {name:<13} {written_path}")
    print(f"Done in {time.perf_counter() - started:.1f} s. {RESEARCH_USE_NOTE}")
    return 0
