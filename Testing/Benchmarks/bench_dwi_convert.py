"""Benchmark: DICOM -> 4D NIfTI conversion as a user waits for it, beside dcm2niix on the same series.

Generates the 160-file classic DICOM series of the phantom generator (8 b-values x 20 slices, 256 x 256,
Siemens style, uint16 pixels: ``generate_patient(..., seed=5, group='metastatic', vendor='siemens',
matrix=256, n_slices=20)``) in a temporary folder, then times, in fresh processes and interleaved (the order
alternates every repeat), the whole commands

    vcfdiagnosis dwi DIR --out RUN/dwi.nii.gz
    dcm2niix -z y -o RUN DIR

(each into a new empty folder), and prints the best and median wall times, the ratio ours / dcm2niix and the
output file sizes and voxel types. Target (issue 13): median ours <= 2 x dcm2niix's, measured in the same run.
When dcm2niix is not installed (``apt-get install dcm2niix``) it says so loudly and times ours only.
Exit status 1 when the target is missed.

    python Testing/Benchmarks/bench_dwi_convert.py [--repeats 5] [--workdir DIR]
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

from VCFDiagnosisLib.dwi.nifti_file import read_nifti_header
from VCFDiagnosisLib.phantom import generate_patient

TARGET_RATIO = 2.0


def our_command() -> str:
    """Return the ``vcfdiagnosis`` script of this interpreter's environment (else the one on PATH)."""
    local = Path(sys.executable).parent / "vcfdiagnosis"
    return str(local) if local.is_file() else (shutil.which("vcfdiagnosis") or str(local))


def make_series(work: Path) -> Path:
    """Write the 160-file phantom series below ``work``; return its DICOM folder."""
    patient = generate_patient(work / "series", seed=5, group="metastatic", vendor="siemens", matrix=256,
                               n_slices=20, case_id="convert", force=True)
    return patient.case_dir / "dwi"


def timed_run(command: list[str]) -> float:
    """Return the wall time (s) of one run of ``command`` in a fresh process (it must exit 0)."""
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}\n{done.stderr.strip()}")
    return seconds


def nifti_in(folder: Path) -> Path:
    """Return the one .nii.gz written into ``folder``."""
    found = sorted(folder.glob("*.nii.gz"))
    if len(found) != 1:
        raise SystemExit(f"{folder}: expected one .nii.gz, found {[p.name for p in found]}")
    return found[0]


def describe(path: Path) -> str:
    """Return '11.5 MB uint16' for a written NIfTI."""
    return f"{path.stat().st_size / 1e6:5.1f} MB {read_nifti_header(path).dtype.name}"


def run_ours(series: Path, out_dir: Path) -> float:
    """Return the wall time (s) of ``vcfdiagnosis dwi SERIES --out OUT_DIR/dwi.nii.gz`` (a new folder)."""
    out_dir.mkdir()
    return timed_run([our_command(), "dwi", str(series), "--out", str(out_dir / "dwi.nii.gz")])


def run_peer(peer: str, series: Path, out_dir: Path) -> float:
    """Return the wall time (s) of ``dcm2niix -z y -o OUT_DIR SERIES`` (a new folder)."""
    out_dir.mkdir()
    return timed_run([peer, "-z", "y", "-o", str(out_dir), str(series)])


def summary_line(label: str, times: list[float]) -> str:
    """Return one line with the best and median of ``times`` (s)."""
    return f"{label:<34} best {min(times):6.3f} s  median {statistics.median(times):6.3f} s  (n = {len(times)})"


def main(argv: list[str] | None = None) -> int:
    """Print both wall times, the ratio and the file sizes; return 1 when the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs of each command (fresh processes)")
    parser.add_argument("--workdir", help="folder for the series and outputs (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    peer = shutil.which("dcm2niix")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_dwi_convert_"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        series = make_series(work)
        print(f"series: {len(list(series.iterdir()))} DICOM files (8 b x 20 slices, 256 x 256, uint16) in {series}; "
              f"cpus {os.cpu_count()}")
        if peer is None:
            print("!" * 78 + "\n!!! dcm2niix NOT FOUND on PATH: no peer to compare with (apt-get install dcm2niix);"
                  "\n!!! timing vcfdiagnosis only, the ratio target is NOT checked\n" + "!" * 78)
        ours, theirs = [], []
        for repeat in range(args.repeats):
            for who in ("ours", "peer") if repeat % 2 == 0 else ("peer", "ours"):
                if who == "ours":
                    ours.append(run_ours(series, work / f"ours-{repeat}"))
                elif peer:
                    theirs.append(run_peer(peer, series, work / f"peer-{repeat}"))
        print(summary_line("vcfdiagnosis dwi DIR --out X", ours))
        print(f"  output {describe(nifti_in(work / 'ours-0'))}")
        if not peer:
            return 0
        print(summary_line("dcm2niix -z y -o OUT DIR", theirs))
        print(f"  output {describe(nifti_in(work / 'peer-0'))}")
        ratio = statistics.median(ours) / statistics.median(theirs)
        best_ratio = min(ours) / min(theirs)
        met = ratio <= TARGET_RATIO
        print(f"ratio ours / dcm2niix: median {ratio:.2f}x, best {best_ratio:.2f}x; target <= {TARGET_RATIO:g}x: "
              f"{'met' if met else 'MISSED'}")
        return 0 if met else 1
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
