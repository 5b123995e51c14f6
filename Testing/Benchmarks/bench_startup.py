"""Benchmark: how long a user waits for the command line before any work (fresh processes, imports included).

Times ``vcfdiagnosis --help``, ``vcfdiagnosis run --help`` and ``vcfdiagnosis fit --help`` (median of
``--repeats`` fresh processes) beside a bare ``python -c pass`` on the same machine, and prints the ratio.
Target (issue 12): ``--help`` <= 0.3 s.

    python Testing/Benchmarks/bench_startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def wall_time(command: list[str], repeats: int) -> float:
    """Return the median wall time (s) of ``repeats`` runs of ``command`` (each must exit 0)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    script = shutil.which("vcfdiagnosis") or str(Path(sys.executable).parent / "vcfdiagnosis")
    python = wall_time([sys.executable, "-c", "pass"], args.repeats)
    print(f"python -c pass                 {python:6.3f} s  (the interpreter alone)")
    worst = 0.0
    for extra in ([], ["run"], ["fit"]):
        seconds = wall_time([script, *extra, "--help"], args.repeats)
        worst = max(worst, seconds)
        label = " ".join(["vcfdiagnosis", *extra, "--help"])
        print(f"{label:<30} {seconds:6.3f} s  ({seconds / python:4.1f}x the interpreter)")
    print(f"target --help <= 0.3 s: {'met' if worst <= 0.3 else 'MISSED'} (slowest {worst:.3f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
