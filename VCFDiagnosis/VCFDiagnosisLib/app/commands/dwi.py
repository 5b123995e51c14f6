"""``vcfdiagnosis dwi PATH``: find the multi-b DWI in a DICOM folder, 4D NIfTI + .bval or diffusion NRRD.

Prints what was found (series, b-values, grid, spacing, orientation) or writes it as a 4D NIfTI with a
matching ``.bval`` (``--out``). Refused or broken input raises an error naming the file (the CLI's contract,
:mod:`VCFDiagnosisLib.errors`: exit status 2 and one line ``vcfdiagnosis dwi: error: <file>: <problem>``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

NAME = "dwi"
HELP = ("Inspect or convert a multi-b diffusion series (DICOM folder/file, 4D NIfTI + .bval, Slicer DWI NRRD): "
        "b-values, grid, orientation; --out writes a 4D NIfTI + .bval")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``dwi`` options to ``parser``."""
    parser.add_argument("path", help="DICOM folder (searched recursively) or file, .nii/.nii.gz (+ .bval), .nrrd/.nhdr")
    parser.add_argument("--series", help="DICOM series to use when there are several (number, UID or description)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--out", metavar="FILE.nii.gz", help="write the DWI as a 4D NIfTI with FILE.bval next to it")
    parser.add_argument("--force", action="store_true", help="overwrite existing --out files")
    parser.add_argument("--list", action="store_true", help="list the DICOM series found and exit")
    parser.add_argument("--allow-single-b", action="store_true",
                        help="accept a series with one b-value (e.g. a scanner trace); IVIM needs several")


def axis_codes(ijk_to_ras: np.ndarray) -> str:
    """Return the RAS letters the i, j, k axes point to (nibabel's convention, e.g. 'LPS' or 'PIR')."""
    import numpy as np

    letters = ("LR", "PA", "IS")
    codes = []
    for column in np.asarray(ijk_to_ras, dtype=float)[:3, :3].T:
        axis = int(np.argmax(np.abs(column)))
        codes.append(letters[axis][int(column[axis] > 0)])
    return "".join(codes)


def slice_plane(ijk_to_ras: np.ndarray) -> str:
    """Return 'axial', 'coronal' or 'sagittal' (+ ' oblique' when tilted > 1 degree) for the k axis."""
    import numpy as np

    normal = np.asarray(ijk_to_ras, dtype=float)[:3, 2]
    normal = normal / np.linalg.norm(normal)
    axis = int(np.argmax(np.abs(normal)))
    name = ("sagittal", "coronal", "axial")[axis]
    return name + (" oblique" if abs(normal[axis]) < np.cos(np.radians(1.0)) else "")


def summary(dwi) -> dict:
    """Return a JSON-ready description of a loaded DWI (geometry in RAS millimetres)."""
    import numpy as np

    meta = dwi.metadata
    keys = ("format", "vendor", "model", "series_number", "series_description", "series_uid", "patient_id",
            "study_uid", "study_date", "repetition_time_ms", "echo_time_ms", "field_strength_t", "source")
    out = {key: meta.get(key) for key in keys if meta.get(key) not in (None, "")}
    out.update(
        bvalues_s_mm2=[float(b) for b in dwi.bvalues_s_mm2],
        volumes_per_bvalue=meta.get("volumes_per_bvalue"),
        combination=meta.get("combination"),
        shape_ijk=[int(n) for n in dwi.shape_kji[::-1]],
        spacing_mm=[round(float(s), 6) for s in dwi.spacing_mm],
        orientation=axis_codes(dwi.ijk_to_ras),
        slice_plane=slice_plane(dwi.ijk_to_ras),
        ijk_to_ras=np.round(dwi.ijk_to_ras, 6).tolist(),
        excluded_images=meta.get("excluded_images", []),
        skipped_files=meta.get("skipped_files", []),
        warnings=meta.get("warnings", []),
    )
    return out


def naming_input(error: Exception, path: str) -> Exception:
    """Return ``error`` if its message names a file, else an :class:`~VCFDiagnosisLib.errors.InputError` naming
    ``path`` with the same problem (e.g. 'several DWI series found ...')."""
    from ...errors import InputError

    if isinstance(error, OSError) and error.filename is not None:
        return error
    text = str(error).strip()
    text = text.splitlines()[0] if text else type(error).__name__
    if isinstance(error, InputError) or str(path) in text:
        return error
    return InputError(path, text)


def load_input(path: str, series: str | None, min_bvalues: int):
    """Return :func:`~VCFDiagnosisLib.dwi.loader.load_dwi` of ``path``; every failure raised naming a file."""
    from ...dwi.loader import load_dwi

    try:
        return load_dwi(path, series, min_bvalues=min_bvalues)
    except (ValueError, OSError) as error:
        raise naming_input(error, path) from error


def _list_series(path: str, as_json: bool) -> int:
    from ...dwi.dicom import index_dicom_folder

    found, skipped = index_dicom_folder(path)
    rows = [{"series_number": s.series_number, "description": s.description, "series_uid": s.series_uid,
             "files": len(s.files), "images": len(s.headers), "bvalues_s_mm2": s.bvalues_s_mm2,
             "derived": s.derived_reason if s.is_derived else ""} for s in found]
    if as_json:
        print(json.dumps({"series": rows, "skipped_files": skipped}, indent=2))
        return 0
    for row in rows:
        kind = f"  DERIVED ({row['derived']})" if row["derived"] else ""
        print(f"series {row['series_number']}  '{row['description']}'  {row['files']} files, {row['images']} images, "
              f"b = {', '.join(f'{b:g}' for b in row['bvalues_s_mm2']) or 'none'}{kind}")
    if skipped:
        print(f"skipped {len(skipped)} file(s), e.g. {skipped[0]}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the command; return 0, or raise an error naming the file (bad input or refused output: exit 2)."""
    from ...dwi.export import bval_path_for_output, write_dwi_nifti
    from ...errors import InputError

    if args.list:
        try:
            return _list_series(args.path, args.json)
        except (ValueError, OSError) as error:
            raise naming_input(error, args.path) from error
    if args.out and not args.force:  # refuse before the (possibly long) load
        for target in (Path(args.out), bval_path_for_output(args.out)):
            if target.exists():
                raise InputError(target, "output exists; use --force to overwrite")
    dwi = load_input(args.path, args.series, 1 if args.allow_single_b else 2)
    written = write_dwi_nifti(dwi, args.out, force=args.force) if args.out else None
    info = summary(dwi)
    if written:
        info["written"] = [str(p) for p in written]
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    series = (f"series {info.get('series_number')} '{info.get('series_description', '')}'"
              if "series_number" in info else info.get("source", args.path))
    print(f"input        {args.path} ({info.get('format', '?')}, {info.get('vendor') or 'unknown vendor'})")
    print(f"series       {series}")
    per_b = info.get("volumes_per_bvalue") or {}
    print("b-values     " + ", ".join(f"{b:g}" + (f" (x{per_b[f'{b:g}']})" if per_b.get(f"{b:g}", 1) > 1 else "")
                                      for b in dwi.bvalues_s_mm2) + " s/mm2")
    print(f"grid         {' x '.join(map(str, info['shape_ijk']))} voxels (i x j x k), "
          f"spacing {' x '.join(f'{s:.4g}' for s in info['spacing_mm'])} mm")
    print(f"orientation  {info['orientation']} ({info['slice_plane']}), origin (RAS) "
          f"{', '.join(f'{v:.2f}' for v in dwi.origin_ras)} mm")
    for note in info["excluded_images"]:
        print(f"excluded     {note}")
    if info["skipped_files"]:
        print(f"skipped      {len(info['skipped_files'])} file(s), e.g. {info['skipped_files'][0]}")
    for warning in info["warnings"]:
        print(f"warning      {warning}")
    if written:
        print(f"written      {written[0]} + {written[1].name}")
    return 0
