"""Benchmark: the same phantom cohort through ``vcfdiagnosis batch --jobs 2`` and ``--scheduler local:2`` (Dask).

Whole commands in fresh processes, as a user runs them (start-up, worker start, every case, results.tsv): prints
wall time, cases/s and the Dask overhead per case (its wall minus the local runner's, over the cases), and checks
that both wrote the same results.tsv byte for byte. Runs interleaved (local, Dask, local, Dask) because this
machine is noisy.

    python Testing/Benchmarks/bench_batch_dask.py [--patients 12] [--matrix 128] [--slices 10] [--repeats 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run(command: list[str]) -> float:
    """Return the wall time (s) of ``command`` (it must exit 0)."""
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag, default in (("--patients", 12), ("--matrix", 128), ("--slices", 10), ("--repeats", 2)):
        parser.add_argument(flag, type=int, default=default)
    args = parser.parse_args()
    from VCFDiagnosisLib.phantom.cohort import generate_cohort

    work = Path(tempfile.mkdtemp(prefix="vcfdiag-bench-dask-"))
    cli = str(Path(sys.executable).parent / "vcfdiagnosis")
    try:
        generate_cohort(work / "cohort", args.patients, seed=500, matrix=args.matrix, n_slices=args.slices, snr=40,
                        fat_series=False)  # the study's protocol: DWI and MRS, no water-fat series
        manifest = str(work / "cohort" / "manifest.tsv")
        engines = {"--jobs 2": ["--jobs", "2"], "--scheduler local:2": ["--scheduler", "local:2"]}
        times: dict[str, list[float]] = {name: [] for name in engines}
        outputs: dict[str, Path] = {}
        for repeat in range(args.repeats):
            for name, flags in engines.items():
                out = work / f"out-{flags[-1].replace(':', '')}-{repeat}"
                times[name].append(run([cli, "batch", manifest, "--out", str(out), *flags]))
                outputs[name] = out
        n = args.patients
        print(f"{n} phantom cases ({args.matrix} x {args.matrix} x {args.slices} x 8 b, report included), "
              f"median of {args.repeats} interleaved runs:")
        local = statistics.median(times["--jobs 2"])
        for name in engines:
            wall = statistics.median(times[name])
            print(f"  batch {name:<22} {wall:6.1f} s wall, {n / wall:5.2f} cases/s, {wall / n:5.2f} s/case "
                  f"({wall / local:4.2f}x the local runner)")
        dask_wall = statistics.median(times["--scheduler local:2"])
        print(f"  Dask overhead: {(dask_wall - local) / n:+.2f} s per case "
              f"({dask_wall - local:+.1f} s for the whole batch, cluster start-up included)")
        same = all((outputs[a] / "results.tsv").read_text() == (outputs["--jobs 2"] / "results.tsv").read_text()
                   for a in engines)
        print(f"  results.tsv identical: {'yes' if same else 'NO'}")
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
