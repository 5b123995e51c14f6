"""Benchmark: a 70-patient phantom cohort (38 osteoporotic / 32 metastatic, full-size DICOM) through
``vcfdiagnosis batch`` and ``vcfdiagnosis cohort``, as a user runs them (fresh processes).

Each patient: 160 DICOM files (8 b x 20 slices x 256 x 256), lesion ROI, spectrum; every output of
``vcfdiagnosis run`` (maps in the ROI, results, report PNG/PDF, .mrb). Target (issue 8): the batch in
<= 10 minutes on this 2-core machine (<= ~8 s per case). Also prints how the published models classify the
recovered values against the truth-computed ones.

``--baseline DIR`` also times another checkout's code (DIR is its ``VCFDiagnosis`` folder, first on PYTHONPATH)
on the same cohort, interleaved round by round with this one (``--rounds``), and prints the ratio of the medians:
this machine's speed varies by +-20 % over minutes, so only figures from one run compare. ``--cohort DIR`` reuses a
cohort written by an earlier ``--keep DIR`` (its ``cohort`` folder) instead of generating one. Both checkouts are
compiled to bytecode first, as after an install.

    python Testing/Benchmarks/bench_cohort.py [--patients 70] [--jobs 2] [--keep DIR] [--cohort DIR]
                                              [--baseline ../old/VCFDiagnosis] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_case import compile_checkouts, timed_run  # noqa: E402 - the sibling script: one way to time a command


def read_manifest_ids(manifest: Path) -> list[str]:
    """Return the case ids of a manifest."""
    from VCFDiagnosisLib.batch.manifest import read_manifest

    return [row.case_id for row in read_manifest(manifest)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=70)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--matrix", type=int, default=256)
    parser.add_argument("--slices", type=int, default=20)
    parser.add_argument("--keep", help="keep the cohort and outputs in this folder")
    parser.add_argument("--cohort", help="a folder kept by --keep: reuse its cohort (no generation)")
    parser.add_argument("--baseline", metavar="DIR", help="another checkout's VCFDiagnosis folder, timed alongside")
    parser.add_argument("--rounds", type=int, default=1, help="batch runs per checkout, interleaved (median)")
    args = parser.parse_args()
    from VCFDiagnosisLib.analysis.results import read_results_tsv
    from VCFDiagnosisLib.analysis.study_models import predict
    from VCFDiagnosisLib.phantom.cohort import generate_cohort

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="vcfdiag-bench-cohort-"))
    cli = str(Path(sys.executable).parent / "vcfdiagnosis")
    here = str(Path(__file__).resolve().parents[2] / "VCFDiagnosis")
    versions = {"this checkout": here, **({"baseline": str(Path(args.baseline).resolve())} if args.baseline else {})}
    try:
        start = time.perf_counter()
        cohort_dir = Path(args.cohort).resolve() / "cohort" if args.cohort else work / "cohort"
        if args.cohort:  # read in place, never written
            args.patients = len(read_manifest_ids(cohort_dir / "manifest.tsv"))
            print(f"reused the {args.patients}-patient cohort of {args.cohort}")
        else:
            generate_cohort(cohort_dir, args.patients, seed=1000, matrix=args.matrix, n_slices=args.slices,
                            force=True, fat_series=False)  # the study's protocol: DWI and MRS, no water-fat series
            print(f"generated {args.patients} patients ({args.matrix} x {args.matrix} x {args.slices} x 8 DICOM) "
                  f"in {time.perf_counter() - start:.1f} s")
        compile_checkouts(versions.values())
        times: dict[str, list[float]] = {name: [] for name in versions}
        for round_ in range(args.rounds):
            order = list(versions.items()) if round_ % 2 == 0 else list(reversed(versions.items()))
            for name, code_dir in order:  # interleaved, alternating who goes first
                out = work / ("out" if name == "this checkout" else "out-baseline")
                times[name].append(timed_run(["batch", str(cohort_dir / "manifest.tsv"), "--out", str(out), "--jobs",
                                              str(args.jobs), "--force"], code_dir))
                print(f"  round {round_ + 1}, {name}: {times[name][-1]:.1f} s", flush=True)
        for name, values in times.items():
            median = statistics.median(values)
            print(f"vcfdiagnosis batch --jobs {args.jobs} ({name}): median {median:.1f} s for {args.patients} cases "
                  f"({median / args.patients:.2f} s per case) over {len(values)} runs")
        if args.baseline:
            ratio = statistics.median(times["this checkout"]) / statistics.median(times["baseline"])
            print(f"  ratio this checkout / baseline (medians): {ratio:.2f}")
        seconds = statistics.median(times["this checkout"])
        print(f"vcfdiagnosis batch --jobs {args.jobs}: {seconds:.1f} s for {args.patients} cases "
              f"({seconds / args.patients:.2f} s per case; targets: <= 600 s in all, issue 8; <= 1 s per case, issue 13)")
        rows = [r for r in read_results_tsv(work / "out" / "results.tsv")]
        agree = total = errors = indeterminate = covered = 0
        for row in rows:
            if row["status"] == "error":
                errors += 1
                continue
            lesion = json.loads((cohort_dir / row["case_id"] / "truth.json").read_text())["lesion"]
            truth = predict(lesion["D_mm2_s"], lesion["Dstar_mm2_s"], lesion["f_fraction"], lesion["FF_percent"])
            total += 1
            agree += int(truth.prediction == row["prediction"])
            if row["prediction"] == "indeterminate":  # its 95 % interval straddles 0.5: does it hold the truth?
                indeterminate += 1
                covered += int(row["P_combined_lo"] <= truth.P_combined <= row["P_combined_hi"])
        print(f"rows ok {total}, errors {errors}; P_combined prediction equals the truth-computed one in "
              f"{agree}/{total} cases, {indeterminate} indeterminate (interval holds the truth's P in {covered}), "
              f"{total - agree - indeterminate} other")
        from VCFDiagnosisLib.cohort.truth_agreement import published_models_recovered_vs_truth

        agreement = published_models_recovered_vs_truth(rows, cohort_dir)
        for model in ("P_IVIM", "P_combined"):
            a = agreement[model]
            print(f"{model}: AUC recovered {a['auc_recovered']:.3f} vs truth {a['auc_truth']:.3f}; sensitivity "
                  f"{100 * a['recovered']['sensitivity']:.1f} vs {100 * a['truth']['sensitivity']:.1f} %, specificity "
                  f"{100 * a['recovered']['specificity']:.1f} vs {100 * a['truth']['specificity']:.1f} %")
        start = time.perf_counter()
        cohort = subprocess.run([cli, "cohort", str(work / "out" / "results.tsv"), "--out", str(work / "stats"),
                                 "--force"], capture_output=True, text=True)
        if cohort.returncode != 0:
            print(cohort.stdout, cohort.stderr)
            return 1
        print(f"vcfdiagnosis cohort: {time.perf_counter() - start:.1f} s -> {work / 'stats'}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
