"""``vcfdiagnosis fit``: voxel-wise IVIM/ADC maps from a DWI (4D NIfTI + .bval, DICOM, diffusion NRRD) into NIfTI
maps on the DWI grid.

Bad input raises an error naming the file or option (the CLI's contract, :mod:`VCFDiagnosisLib.errors`: exit
status 2, one line ``vcfdiagnosis fit: error: <file>: <problem>``); nothing is written then. A DWI without
b = 0 is fitted with S0 free and a warning (D*/f less reliable).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np

from ...dwi.nifti import NiftiDwiError, read_mask_nifti, write_maps
from ...errors import InputError
from ...ivim import DEFAULT_METHOD, METHODS, FitStatus, IvimMaps, fit_dwi_volume
from .dwi import load_input

NAME = "fit"
HELP = ("fit IVIM (S0, D, D*, f), ADC, R2 and a status map voxel-wise from a DWI (4D NIfTI + .bval, DICOM folder "
        "or diffusion NRRD)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the fit options to ``parser``."""
    parser.add_argument("--dwi", required=True, metavar="PATH",
                        help="4D NIfTI DWI (b-values from the FSL file of the same stem, dwi.bval), a DICOM folder "
                             "or file, or a Slicer diffusion NRRD")
    parser.add_argument("--series", help="DICOM series to use when there are several (number, UID or description)")
    parser.add_argument("--mask", metavar="FILE", default=None,
                        help="optional 3D NIfTI mask on the DWI grid (non-zero = fit); default: automatic "
                             "background removal only")
    parser.add_argument("--method", choices=sorted(METHODS), default=DEFAULT_METHOD,
                        help=f"fit method (default {DEFAULT_METHOD}): "
                             + "; ".join(f"{k}: {v}" for k, v in METHODS.items()))
    parser.add_argument("--b-threshold", type=float, default=200.0, metavar="B",
                        help="segmented-fit split in s/mm2: D from b >= B (default 200)")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder for S0, D, Dstar, f, ADC, R2, status .nii.gz")
    parser.add_argument("--force", action="store_true", help="overwrite existing maps in DIR")
    parser.add_argument("--threads", type=int, default=None, help="worker threads (default: all CPUs)")


def check_options(args: argparse.Namespace) -> None:
    """Refuse option values no input could make valid (before anything is read)."""
    if not (math.isfinite(args.b_threshold) and args.b_threshold > 0):
        raise InputError("--b-threshold", f"must be a positive number of s/mm2, got {args.b_threshold}")
    if args.threads is not None and args.threads < 1:
        raise InputError("--threads", f"must be at least 1, got {args.threads}")


def check_outputs(out: str, force: bool) -> None:
    """Refuse existing maps in ``out`` without ``force``, before the (possibly long) load and fit."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise NiftiDwiError(folder, "output path exists and is not a folder")
    existing = [folder / f"{stem}.nii.gz" for stem in IvimMaps.MAP_NAMES if (folder / f"{stem}.nii.gz").exists()]
    if existing and not force:
        raise NiftiDwiError(existing[0], f"output exists ({len(existing)} of {len(IvimMaps.MAP_NAMES)} maps); "
                                         "use --force to overwrite")


def print_summary(dwi, maps: IvimMaps, method: str, seconds: float, written: list) -> None:
    """Print voxel counts per status, medians over OK voxels (D, D*, ADC in mm2/s), warnings and the files."""
    counts = maps.status_counts()
    fitted = sum(counts[s.name] for s in (FitStatus.OK, FitStatus.HIT_BOUND, FitStatus.NOT_CONVERGED))
    print(f"fitted {fitted} of {maps.status.size} voxels ({method}, b = "
          f"{', '.join(f'{b:g}' for b in dwi.bvalues_s_mm2)} s/mm2) in {seconds:.2f} s")
    print("  status: " + ", ".join(f"{k.lower()} {v}" for k, v in counts.items()))
    ok = maps.status == FitStatus.OK
    if ok.any():
        print(f"  median over OK voxels: D {np.median(maps.D_mm2_s[ok]):.3e} mm2/s, "
              f"D* {np.nanmedian(maps.Dstar_mm2_s[ok]):.3e} mm2/s, f {np.median(maps.f_fraction[ok]):.3f}, "
              f"ADC {np.median(maps.ADC_mm2_s[ok]):.3e} mm2/s")
    for warning in list(dict.fromkeys([*dwi.metadata.get("warnings", []), *maps.warnings])):
        print(f"  warning: {warning}")
    for path in written:
        print(f"  wrote {path}")


def run(args: argparse.Namespace) -> int:
    """Read, fit, write and print a summary; return 0 (bad input raises, naming the file)."""
    t0 = time.perf_counter()
    check_options(args)
    check_outputs(args.out, args.force)
    dwi = load_input(args.dwi, args.series, 2)
    mask = read_mask_nifti(args.mask, dwi) if args.mask else None
    try:
        maps = fit_dwi_volume(dwi, method=args.method, b_threshold_s_mm2=args.b_threshold, mask=mask,
                              n_threads=args.threads)
    except ValueError as exc:  # the protocol cannot be fitted (too few b-values, ...): the DWI's problem
        raise NiftiDwiError(args.dwi, str(exc)) from exc
    written = write_maps(args.out, maps.as_dict(), dwi.ijk_to_ras, force=args.force)
    print_summary(dwi, maps, args.method, time.perf_counter() - t0, written)
    return 0
