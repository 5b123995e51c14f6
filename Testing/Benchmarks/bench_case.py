"""Benchmark: one full case from files to report, as a user runs it (a fresh process, imports included).

Case: a phantom patient with a clinical-size DWI (8 b-values x 20 slices x 256 x 256 DICOM files, 160 files),
its lesion ROI (.seg.nrrd) and its spectrum (.rda). Times ``vcfdiagnosis run`` end to end (DICOM loading,
ROI resampling, IVIM fit, spectrum fit, models, maps, results.tsv, report PNG+PDF, .mrb) for maps inside the
ROI (the default) and for the whole volume. Targets: <= 15 s per case on this 2-core machine (issue 6); <= 2.5 s
for the default run, maps in the ROI (issue 13).

    python Testing/Benchmarks/bench_case.py [--repeats 2]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from VCFDiagnosisLib.phantom import generate_patient

    work = Path(tempfile.mkdtemp(prefix="vcfdiag-bench-case-"))
    try:
        patient = generate_patient(work / "phantoms", seed=5, group="metastatic", vendor="siemens", matrix=256,
                                   n_slices=20)
        command = [str(Path(sys.executable).parent / "vcfdiagnosis"), "run", "--dwi", str(patient.dwi_dir), "--roi",
                   str(patient.segmentation_path), "--spectrum", str(patient.rda_path), "--case-id", "bench"]
        print(f"case: {len(list(patient.dwi_dir.iterdir()))} DICOM files (8 b x 20 slices x 256 x 256), ROI, spectrum")
        for maps in ("roi", "volume"):
            times = []
            for repeat in range(args.repeats):
                out = work / f"out-{maps}-{repeat}"
                start = time.perf_counter()
                result = subprocess.run(command + ["--maps", maps, "--out", str(out)], capture_output=True, text=True)
                times.append(time.perf_counter() - start)
                if result.returncode != 0:
                    print(result.stdout, result.stderr)
                    return 1
            print(f"vcfdiagnosis run --maps {maps:<6}: best {min(times):.2f} s, mean {sum(times) / len(times):.2f} s "
                  f"over {len(times)} runs (targets: issue 6 <= 15 s; issue 13 <= 2.5 s for --maps roi)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
