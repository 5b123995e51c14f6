"""Run the whole hostile-input corpus (``Testing/hostile``) and print ``hostile: N tried, N handled``.

Usage: ``python Testing/Benchmarks/bench_hostile.py [--area AREA] [--verbose]``. Exit code 0 when every case
was handled as the CLI's contract says, 1 otherwise (the failures are listed).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

TESTING = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTING), str(TESTING.parent / "VCFDiagnosis")]

from hostile import judge, load_cases, run_case  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--area", help="only the cases of this area")
    parser.add_argument("--verbose", action="store_true", help="one line per case")
    args = parser.parse_args()
    from VCFDiagnosisLib.mrml import headless

    started = time.perf_counter()
    headless.initialize()
    cases = [c for c in load_cases() if not args.area or c.area == args.area]
    skipped = [c for c in cases if c.missing_extra()]
    if skipped:
        print(f"SKIPPED {len(skipped)} case(s) needing an extra not installed: "
              + ", ".join(f"{c.name} ({c.missing_extra()})" for c in skipped))
        cases = [c for c in cases if not c.missing_extra()]
    handled, failures, by_area = 0, [], {}
    root = Path(tempfile.mkdtemp(prefix="vcfdiag-bench-hostile-"))
    try:
        for number, case in enumerate(cases):
            sandbox = root / f"{number:03d}"
            try:
                outcome = run_case(case, sandbox)
                problems = judge(case, sandbox, outcome)
                seconds = outcome.seconds
            except Exception as error:  # noqa: BLE001 - the harness itself failed on this case
                problems, seconds = [f"harness: {type(error).__name__}: {error}"], 0.0
            tried, ok = by_area.get(case.area, (0, 0))
            by_area[case.area] = (tried + 1, ok + (not problems))
            handled += not problems
            if problems:
                failures.append((case.name, problems))
            if args.verbose:
                print(f"  {'ok  ' if not problems else 'FAIL'} {case.area:<8} {case.name} ({seconds:.2f} s)")
            shutil.rmtree(sandbox, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    for area, (tried, ok) in sorted(by_area.items()):
        print(f"  {area:<10} {tried:4d} tried, {ok:4d} handled")
    for name, problems in failures:
        print(f"FAILED {name}: " + "; ".join(problems))
    print(f"hostile: {len(cases)} tried, {handled} handled in {time.perf_counter() - started:.1f} s")
    return 0 if handled == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
