"""``vcfdiagnosis cohort``: the study's statistics on a labelled results table (research use only)."""

from __future__ import annotations

import time
from pathlib import Path

from ...errors import InputError

NAME = "cohort"
HELP = ("cohort statistics of a labelled results.tsv (t-tests, ICC, logistic refit, ROC/DeLong, performance "
        "beside Tan et al. 2019, calibration, decision curves, optimism-corrected validation): stats.json/.md/.pdf "
        "and figures (research use only)")


def add_arguments(parser) -> None:
    parser.add_argument("results", help="results TSV with a 'label' column (metastatic/osteoporotic) and "
                                        "optionally a 'reader' column, e.g. the batch runner's cohort table")
    parser.add_argument("--out", required=True, help="output folder for stats.json, stats.md, stats.pdf, roc.png, "
                                                     "boxplots.png, calibration.png, decision_curve.png")
    parser.add_argument("--alpha", type=float, default=0.05, help="1 - confidence level of the intervals")
    parser.add_argument("--bootstrap", type=int, default=200, metavar="N",
                        help="bootstrap resamples of the optimism correction (default 200; Harrell: at least 200)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap and the cross-validation folds")
    parser.add_argument("--export-model", metavar="FILE.json",
                        help="also write the refitted P_IVIM and P_combined as a site model file (coefficients with "
                             "units and SEs, training ranges, cohort size, validation figures) for run/batch --model")
    parser.add_argument("--model-name", help="name of the exported site model (default: the file's stem)")
    parser.add_argument("--force", action="store_true", help="replace existing outputs")


def _summary(stats: dict) -> list[str]:
    cohort = stats["cohort"]
    lines = [f"{cohort['n_cases']} cases ({cohort['n_osteoporotic']} osteoporotic, {cohort['n_metastatic']} "
             f"metastatic); excluded rows: "
             + (", ".join(f"{n} {k}" for k, n in cohort["excluded"].items() if n) or "none")]
    for entry in stats["roc"].values():
        if "auc" in entry:
            lines.append(f"  {entry['label']:<44} AUC {entry['auc']:.3f} ({entry['ci_low']:.3f}-{entry['ci_high']:.3f})")
    for key, entry in stats["validation"]["external"].items():
        if "calibration" in entry:
            cal = entry["calibration"]
            lines.append(f"  {key:<12} calibration-in-the-large {cal['citl']:+.3f}, slope {cal['slope']:.3f}, "
                         f"Brier {entry['brier']:.3f}")
    for name, entry in stats["validation"]["internal"].items():
        if "corrected" in entry["bootstrap"]:
            boot = entry["bootstrap"]
            lines.append(f"  refitted {name:<9} AUC {boot['apparent']['auc']:.3f} in-sample, "
                         f"{boot['corrected']['auc']:.3f} optimism-corrected ({boot['n_boot']} resamples)")
    return lines


def site_model_for(stats: dict, rows: list[dict], source: str, target: str, name: str | None,
                   overwrite: bool) -> dict:
    """Return the site model document of the cohort (refused, naming the problem, before anything is written)."""
    from ...analysis.site_models import site_model_document
    from ...cohort import select_cases
    from ...cohort.outputs import to_jsonable

    if Path(target).exists() and not overwrite:  # early, before the cohort files: atomic_output checks again
        raise InputError(target, "exists; use --force to replace it")
    try:
        return to_jsonable(site_model_document(stats, select_cases(rows, source).values, name or Path(target).stem))
    except ValueError as error:
        raise InputError("--export-model", str(error)) from None


def check_export_target(target: str, out: str) -> None:
    """Refuse an ``--export-model`` path that is a folder or one of the cohort's own output files (before any work:
    with --force the model would silently replace, say, stats.json)."""
    from ...cohort.outputs import OUTPUT_FILES

    export = Path(target).resolve()
    if export.is_dir():
        raise InputError("--export-model", f"{target} is a folder; name the model file (e.g. site.json)")
    if export in {(Path(out) / name).resolve() for name in OUTPUT_FILES}:
        raise InputError("--export-model", f"{target} is one of the cohort's outputs in --out; choose another name")


def write_site_model(document: dict, target: str, overwrite: bool) -> str:
    """Write a site model document atomically; return its path."""
    import json

    from ...outputs.atomic import atomic_output

    with atomic_output(Path(target), overwrite) as temporary:
        temporary.write_text(json.dumps(document, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return str(Path(target).resolve())


def run(args) -> int:
    started = time.perf_counter()
    from ...analysis.results import read_results_tsv
    from ...analysis.study_models import RESEARCH_USE_NOTE
    from ...cohort import analyze_cohort, write_cohort_outputs

    path = Path(args.results)
    if not path.is_file():
        raise InputError(path, "no such results file")
    if args.export_model:
        check_export_target(args.export_model, args.out)
    rows = read_results_tsv(path)
    try:
        if args.bootstrap < 1:
            raise InputError("--bootstrap", f"must be at least 1 resample, got {args.bootstrap}")
        stats = analyze_cohort(rows, source=str(path), alpha=args.alpha, n_boot=args.bootstrap, seed=args.seed)
    except KeyError as error:
        raise InputError(path, f"no column {error}") from error
    document = (site_model_for(stats, rows, str(path), args.export_model, args.model_name, args.force)
                if args.export_model else None)
    written = write_cohort_outputs(stats, rows, args.out, overwrite=args.force)
    if document is not None:
        written["site model"] = write_site_model(document, args.export_model, args.force)
    for line in _summary(stats):
        print(line)
    for name, written_path in written.items():
        print(f"  {name:<13} {written_path}")
    print(f"Done in {time.perf_counter() - started:.1f} s. {RESEARCH_USE_NOTE}")
    return 0
