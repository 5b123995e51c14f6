"""``vcfdiagnosis fit``: voxel-wise IVIM/ADC maps from a 4D NIfTI DWI (+ FSL .bval) into NIfTI maps."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from ..dwi.nifti import NiftiDwiError, read_dwi_nifti, read_mask_nifti, write_maps
from ..ivim import DEFAULT_METHOD, METHODS, FitStatus, fit_dwi_volume

NAME = "fit"
HELP = "fit IVIM (S0, D, D*, f), ADC, R2 and a status map voxel-wise from a 4D NIfTI DWI"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the fit options to ``parser``."""
    parser.add_argument("--dwi", required=True, metavar="PATH",
                        help="4D NIfTI DWI; b-values from the FSL file of the same stem (dwi.bval)")
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


def run(args: argparse.Namespace) -> int:
    """Read, fit, write; print a summary; return 0, or 2 with a one-line message on bad input."""
    try:
        t0 = time.perf_counter()
        dwi = read_dwi_nifti(args.dwi)
        mask = read_mask_nifti(args.mask, dwi) if args.mask else None
        try:
            maps = fit_dwi_volume(dwi, method=args.method, b_threshold_s_mm2=args.b_threshold, mask=mask,
                                  n_threads=args.threads)
        except ValueError as exc:
            raise NiftiDwiError(args.dwi, str(exc)) from exc
        written = write_maps(args.out, maps.as_dict(), dwi.ijk_to_ras, force=args.force)
    except (NiftiDwiError, OSError) as exc:
        print(f"vcfdiagnosis fit: error: {exc}", file=sys.stderr)
        return 2
    dt = time.perf_counter() - t0
    counts = maps.status_counts()
    fitted = sum(counts[s.name] for s in (FitStatus.OK, FitStatus.HIT_BOUND, FitStatus.NOT_CONVERGED))
    print(f"fitted {fitted} of {maps.status.size} voxels ({args.method}, b = "
          f"{', '.join(f'{b:g}' for b in dwi.bvalues_s_mm2)} s/mm2) in {dt:.2f} s")
    print("  status: " + ", ".join(f"{k.lower()} {v}" for k, v in counts.items()))
    ok = maps.status == FitStatus.OK
    if ok.any():
        print(f"  median over OK voxels: D {np.median(maps.D_mm2_s[ok]):.3e} mm2/s, "
              f"D* {np.median(maps.Dstar_mm2_s[ok]):.3e} mm2/s, f {np.median(maps.f_fraction[ok]):.3f}, "
              f"ADC {np.median(maps.ADC_mm2_s[ok]):.3e} mm2/s")
    for path in written:
        print(f"  wrote {path}")
    return 0
