"""Speed of the DICOM DWI input layer: loading one clinical-size series and indexing a large folder.

Run: ``python Testing/Benchmarks/bench_dwi_loading.py [--workdir DIR] [--repeat 3] [--series 10]``

1. Load: a classic phantom series of 160 files (8 b-values x 20 slices, 256 x 256, siemens style, written
   by ``generate_patient(..., matrix=256, n_slices=20)``) -> DwiVolume. Target <= 2 s.
2. Index: a folder of ~3,000 files in 10 series (phantom series of 8 b x 38 slices, 128 x 128, in siemens
   and GE styles, copied with new Series/SOP Instance UIDs and series numbers) -> series list, headers
   only. Target <= 10 s. Then the chosen series is loaded from that folder (``--series``).

Timings are wall-clock, best of ``--repeat`` runs, with the files in the OS page cache (they were just
written). Exit status 1 when a target is missed.

``--threads N``: also the pixel reading of the 160-file series in this thread (the default) against a pool of N
threads, interleaved, wall and CPU seconds (median of ``--repeat``), warm and, where this user may drop the page
cache (``/proc/sys/vm/drop_caches``), cold.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

from VCFDiagnosisLib.dwi import dicom as dicom_module
from VCFDiagnosisLib.dwi.dicom import index_dicom_folder, load_dwi_dicom
from VCFDiagnosisLib.phantom import generate_patient

TARGET_LOAD_S = 2.0
TARGET_INDEX_S = 10.0


def best_time(function, repeat: int):
    """Return (best wall time in s, last result) of ``repeat`` calls of ``function()``."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def copy_series(source: Path, target: Path, series_number: int) -> int:
    """Copy a DICOM series folder with a new SeriesInstanceUID, SOP Instance UIDs and series number."""
    target.mkdir(parents=True)
    series_uid = generate_uid()
    count = 0
    for path in sorted(source.iterdir()):
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.save_as(target / path.name)
        count += 1
    return count


def drop_page_cache() -> bool:
    """Return True if the OS page cache was dropped (root on Linux), False if this user may not."""
    try:
        subprocess.run(["sync"], check=False)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def compare_pixel_threads(series: Path, threads: int, repeat: int) -> None:
    """Print wall and CPU seconds of loading ``series`` with its pixels read in this thread vs ``threads`` threads."""
    read = dicom_module.read_frame_pixels
    cold_possible = drop_page_cache()
    for cache in ("warm", "cold") if cold_possible else ("warm",):
        figures: dict[int, list[tuple[float, float]]] = {1: [], threads: []}
        for _ in range(repeat):
            for workers in (1, threads):  # interleaved: this machine's speed drifts
                dicom_module.read_frame_pixels = functools.partial(read, workers=workers)
                if cache == "cold":
                    drop_page_cache()
                wall, cpu = time.perf_counter(), time.process_time()
                try:
                    load_dwi_dicom(series)
                finally:
                    dicom_module.read_frame_pixels = read
                figures[workers].append((time.perf_counter() - wall, time.process_time() - cpu))
        one, pool = ([statistics.median(x[i] for x in figures[w]) for i in (0, 1)] for w in (1, threads))
        print(f"pixels {cache}: one thread wall {one[0]:.3f} s cpu {one[1]:.3f} s; {threads} threads wall "
              f"{pool[0]:.3f} s cpu {pool[1]:.3f} s (ratio one/pool wall {one[0] / pool[0]:.2f}, cpu "
              f"{one[1] / pool[1]:.2f})")
    if not cold_possible:
        print("pixels cold: not measured (this user may not drop the page cache)")


def main(argv: list[str] | None = None) -> int:
    """Print the load and index timings; return 1 when a target is missed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", help="folder for the generated files (default: a temporary folder, removed)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is reported)")
    ap.add_argument("--series", type=int, default=10, help="number of series in the indexing folder")
    ap.add_argument("--threads", type=int, default=0,
                    help="also compare the pixel reading in one thread with a pool of this many threads")
    args = ap.parse_args(argv)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_dwi_"))
    work.mkdir(parents=True, exist_ok=True)
    ok = True
    try:
        start = time.perf_counter()
        big = generate_patient(work / "load", seed=1, vendor="siemens", matrix=256, n_slices=20, case_id="big",
                               force=True).case_dir / "dwi"
        n_files = len(list(big.iterdir()))
        print(f"generated {n_files} files (256 x 256, 8 b x 20 slices) in {time.perf_counter() - start:.1f} s; "
              f"cpus {os.cpu_count()}")
        seconds, dwi = best_time(lambda: load_dwi_dicom(big), args.repeat)
        print(f"load   {n_files} files -> {dwi.data.shape} (b, k, j, i) float32: {seconds:.3f} s "
              f"({n_files / seconds:.0f} files/s), target <= {TARGET_LOAD_S:g} s")
        ok &= seconds <= TARGET_LOAD_S
        if args.threads > 1:
            compare_pixel_threads(big, args.threads, max(args.repeat, 5))

        start = time.perf_counter()
        folder = work / "index"
        if folder.exists():
            shutil.rmtree(folder)
        sources = [generate_patient(work / "sources", seed=2 + i, vendor=vendor, matrix=128, n_slices=38,
                                    case_id=f"src-{vendor}", force=True).case_dir / "dwi"
                   for i, vendor in enumerate(("siemens", "ge"))]
        total = sum(copy_series(sources[s % len(sources)], folder / f"S{s + 1:02d}", 100 + s)
                    for s in range(args.series))
        print(f"generated {total} files in {args.series} series in {time.perf_counter() - start:.1f} s")
        seconds, (series, skipped) = best_time(lambda: index_dicom_folder(folder), args.repeat)
        print(f"index  {total} files -> {len(series)} series, {len(skipped)} skipped: {seconds:.3f} s "
              f"({total / seconds:.0f} files/s), target <= {TARGET_INDEX_S:g} s")
        ok &= seconds <= TARGET_INDEX_S and len(series) == args.series
        seconds, chosen = best_time(lambda: load_dwi_dicom(folder, series=100 + args.series - 1), 1)
        print(f"index + load series {chosen.metadata['series_number']} of {args.series} "
              f"({chosen.metadata['files']} files): {seconds:.3f} s")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print("targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
