"""``vcfdiagnosis pdff``: PDFF (percent), R2* (1/s) and status maps from a water-fat DICOM folder into NIfTI maps.

The folder holds a multi-echo gradient-echo series (fitted: multi-peak fat, one R2*, swaps resolved in space) or
the scanner's PDFF and R2*/T2* maps (read and scaled), see :mod:`VCFDiagnosisLib.fat.source`. Bad input exits 2
with one line naming the folder and the problem; nothing is written then.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ...analysis.settings import add_setting_arguments, settings_from_args
from ...errors import InputError
from ...fat.options import FAT_SETTINGS, fat_read_options

NAME = "pdff"
HELP = ("PDFF and R2* maps from water-fat imaging: fit multi-echo gradient-echo DICOM or read the scanner's "
        "PDFF/R2* maps (NIfTI out, percent and 1/s)")
#: The files written, by map stem.
STEMS = ("PDFF", "R2star", "water", "fat", "field_map", "fat_status")
SUMMARY = "pdff.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the pdff options to ``parser``."""
    parser.add_argument("dicom_dir", metavar="DICOM_DIR", help="folder (searched recursively) with the multi-echo "
                                                           "series or the scanner's PDFF and R2*/T2* maps")
    parser.add_argument("--out", required=True, metavar="DIR",
                        help="output folder for PDFF.nii.gz (percent), R2star.nii.gz (1/s), water.nii.gz and "
                             "fat.nii.gz (fitted only; signal units), field_map.nii.gz (fitted with phase; Hz), "
                             "fat_status.nii.gz and pdff.json")
    parser.add_argument("--force", action="store_true", help="overwrite existing maps in DIR")
    parser.add_argument("--jobs", type=int, default=None, help="worker processes of the fit (default: the usable "
                                                               "cores)")
    add_setting_arguments(parser, names=FAT_SETTINGS)  # only these apply


def run(args: argparse.Namespace) -> int:
    """Read (and fit), write the maps and a summary; return 0 (bad input raises, naming the file)."""
    started = time.perf_counter()
    settings = settings_from_args(args)
    if args.jobs is not None and args.jobs < 1:
        raise InputError("--jobs", f"must be at least 1, got {args.jobs}")
    out = Path(args.out)
    from ...dwi.nifti import refuse_existing_outputs, write_maps

    refuse_existing_outputs(out, [f"{stem}.nii.gz" for stem in STEMS] + [SUMMARY], args.force)  # before any reading
    import numpy as np

    from ...fat.fit import STATUS
    from ...fat.source import fat_volume, read_fat_input
    from ...outputs.atomic import atomic_output

    fat_input = read_fat_input(args.dicom_dir, *fat_read_options(settings))
    volume = fat_volume(fat_input, processes=args.jobs)
    maps = volume.as_dict()
    for stem in STEMS:  # --force: a map an earlier run wrote and this one does not (water, fat) would mislead
        if stem not in maps:
            (out / f"{stem}.nii.gz").unlink(missing_ok=True)
    written = write_maps(out, maps, volume.ijk_to_ras, force=args.force)
    counts = {STATUS[code]: int((volume.status == code).sum()) for code in STATUS}
    ok = volume.status == 0
    summary = {"input": str(Path(args.dicom_dir).resolve()), "source": volume.source, "description": volume.description,
               "units": {"PDFF": "percent", "R2star": "1/s", "water": "a.u.", "fat": "a.u.", "field_map": "Hz",
                         "fat_status": "code"},
               "status_codes": STATUS,
               "status_counts": counts, "warnings": fat_input.warnings,
               "median_ok": {"PDFF_percent": float(np.nanmedian(volume.pdff_percent[ok])) if ok.any() else None,
                             "R2star_per_s": float(np.nanmedian(volume.r2star_per_s[ok]))
                             if ok.any() and np.isfinite(volume.r2star_per_s[ok]).any() else None},
               "seconds": round(time.perf_counter() - started, 3)}
    with atomic_output(out / SUMMARY, args.force) as temporary:
        temporary.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    print(f"{volume.description}")
    print("  status: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for warning in fat_input.warnings:
        print(f"  warning: {warning}")
    for path in [*written, out / SUMMARY]:
        print(f"  wrote {path}")
    print(f"Done in {time.perf_counter() - started:.1f} s.")
    return 0
