"""Benchmark: one full case from files to report, as a user runs it (a fresh process, imports included).

Case: a phantom patient with a clinical-size DWI (8 b-values x 20 slices x 256 x 256 DICOM files, 160 files),
its lesion ROI (.seg.nrrd) and its spectrum (.rda). Times ``vcfdiagnosis run`` end to end (DICOM loading,
ROI resampling, IVIM fit, spectrum fit, models, maps, results.tsv, report PNG+PDF, .mrb, the process's exit) for
maps inside the ROI (the default) and for the whole volume. Targets: <= 15 s per case on this 2-core machine
(issue 6); <= 2.5 s for the default run, maps in the ROI (issue 13).

``--baseline DIR`` also times another checkout's code (DIR is its ``VCFDiagnosis`` folder, put first on
PYTHONPATH), interleaved run by run with this one, and prints the ratio of the medians: this machine's speed varies
by +-15 % over minutes, so only figures from one run compare.

Each checkout's code is compiled to bytecode first (``compileall``, its ``__pycache__`` folders), as after a
``pip install`` or a user's first run: where ``PYTHONDONTWRITEBYTECODE`` is set (as on this project's
development machines) every run would otherwise compile the module's own files again, which no user waits for
after the first run.

    python Testing/Benchmarks/bench_case.py [--repeats 3] [--baseline ../old/VCFDiagnosis]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Runs the command as the installed console script does, with whichever code PYTHONPATH puts first.
SCRIPT = ("import sys\nfrom VCFDiagnosisLib.app import cli\nsys.argv[0] = 'vcfdiagnosis'\n"
          "getattr(cli, 'console_main', None) and cli.console_main()\nsys.exit(cli.main())\n")


def compile_checkouts(code_dirs) -> None:
    """Compile each checkout's code to bytecode (its ``__pycache__`` folders), as after an install or a first run."""
    for code_dir in code_dirs:
        subprocess.run([sys.executable, "-m", "compileall", "-q", code_dir], check=True, capture_output=True)


def timed_run(arguments: list[str], code_dir: str | None) -> float:
    """Return the wall time (s) of one ``vcfdiagnosis`` process (exit 0 required) using ``code_dir``'s code."""
    environment = dict(os.environ)
    if code_dir:
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [code_dir, environment.get("PYTHONPATH")]))
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", SCRIPT, *arguments], capture_output=True, text=True,
                            env=environment)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"vcfdiagnosis {' '.join(arguments)} failed:\n{result.stdout}\n{result.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", metavar="DIR", help="another checkout's VCFDiagnosis folder, timed alongside")
    args = parser.parse_args()
    from VCFDiagnosisLib.phantom import generate_patient

    here = str(Path(__file__).resolve().parents[2] / "VCFDiagnosis")
    versions = {"this checkout": here, **({"baseline": str(Path(args.baseline).resolve())} if args.baseline else {})}
    work = Path(tempfile.mkdtemp(prefix="vcfdiag-bench-case-"))
    try:
        patient = generate_patient(work / "phantoms", seed=5, group="metastatic", vendor="siemens", matrix=256,
                                   n_slices=20, fat_series=False)
        command = ["run", "--dwi", str(patient.dwi_dir), "--roi", str(patient.segmentation_path), "--spectrum",
                   str(patient.rda_path), "--case-id", "bench"]
        compile_checkouts(versions.values())
        print(f"bytecode compiled for {', '.join(versions)} (as after an install or a first run)")
        print(f"case: {len(list(patient.dwi_dir.iterdir()))} DICOM files (8 b x 20 slices x 256 x 256), ROI, spectrum;"
              f" {os.cpu_count()} CPUs")
        for maps in ("roi", "volume"):
            times: dict[str, list[float]] = {name: [] for name in versions}
            for repeat in range(args.repeats):
                for name, code_dir in versions.items():  # interleaved: both see the same machine
                    out = work / f"out-{maps}-{name.replace(' ', '-')}-{repeat}"
                    times[name].append(timed_run(command + ["--maps", maps, "--out", str(out)], code_dir))
            for name, values in times.items():
                print(f"vcfdiagnosis run --maps {maps:<6} ({name}): median {statistics.median(values):.2f} s, best "
                      f"{min(values):.2f} s over {len(values)} runs")
            if args.baseline:
                ratio = statistics.median(times["this checkout"]) / statistics.median(times["baseline"])
                print(f"  ratio this checkout / baseline (medians): {ratio:.2f}")
        print("targets: issue 6 <= 15 s; issue 13 <= 2.5 s for --maps roi")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
