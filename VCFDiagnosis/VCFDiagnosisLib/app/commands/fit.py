"""``vcfdiagnosis fit``: voxel-wise IVIM/ADC maps from a DWI (4D NIfTI + .bval, DICOM, diffusion NRRD) into NIfTI
maps on the DWI grid.

Bad input raises an error naming the file or option (the CLI's contract, :mod:`VCFDiagnosisLib.errors`: exit
status 2, one line ``vcfdiagnosis fit: error: <file>: <problem>``); nothing is written then. A DWI without
b = 0 is fitted with S0 free and a warning (D*/f less reliable).
"""

from __future__ import annotations

import argparse
import time

from ...analysis.settings import CaseSettings, add_setting_arguments, settings_from_args
from ...errors import InputError

#: The settings that apply to a voxelwise fit (the rest concern ROIs, spectra and reports).
FIT_SETTINGS = ("method", "b_threshold_s_mm2", "background_fraction")

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
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder for S0, D, Dstar, f, ADC, R2, status .nii.gz")
    parser.add_argument("--force", action="store_true", help="overwrite existing maps in DIR")
    parser.add_argument("--jobs", type=int, default=None,
                        help="worker processes of the fit (default: the usable cores; 1: threads in this process, "
                             "see --threads). Processes are 1.3-1.7x as fast as threads on 2 cores")
    parser.add_argument("--threads", type=int, default=None,
                        help="worker threads, used with --jobs 1 only (default: all CPUs)")
    add_setting_arguments(parser, names=FIT_SETTINGS)


def check_options(args: argparse.Namespace) -> CaseSettings:
    """Return the fit settings; refuse option values no input could make valid (before anything is read)."""
    for flag, value in (("--threads", args.threads), ("--jobs", args.jobs)):
        if value is not None and value < 1:
            raise InputError(flag, f"must be at least 1, got {value}")
    return settings_from_args(args)


def check_outputs(out: str, force: bool) -> None:
    """Refuse existing maps in ``out`` without ``force``, before the (possibly long) load and fit."""
    from ...dwi.nifti import refuse_existing_outputs
    from ...ivim import IvimMaps

    refuse_existing_outputs(out, [f"{stem}.nii.gz" for stem in IvimMaps.MAP_NAMES], force)


def print_summary(dwi, maps, method: str, seconds: float, written: list) -> None:
    """Print voxel counts per status, medians over OK voxels (D, D*, ADC in mm2/s), warnings and the files."""
    import numpy as np

    from ...ivim import FitStatus

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
    settings = check_options(args)
    check_outputs(args.out, args.force)
    from ...dwi.nifti import NiftiDwiError, read_mask_nifti, write_maps
    from ...ivim import fit_dwi_volume
    from ...ivim.processes import usable_cores
    from .dwi import load_input

    dwi = load_input(args.dwi, args.series, 2)
    mask = read_mask_nifti(args.mask, dwi) if args.mask else None
    try:
        maps = fit_dwi_volume(dwi, method=settings.method, b_threshold_s_mm2=settings.b_threshold_s_mm2, mask=mask,
                              background_fraction=settings.background_fraction, n_threads=args.threads,
                              processes=args.jobs or usable_cores())
    except ValueError as exc:  # the protocol cannot be fitted (too few b-values, ...): the DWI's problem
        raise NiftiDwiError(args.dwi, str(exc)) from exc
    written = write_maps(args.out, maps.as_dict(), dwi.ijk_to_ras, force=args.force)
    print_summary(dwi, maps, settings.method, time.perf_counter() - t0, written)
    return 0
