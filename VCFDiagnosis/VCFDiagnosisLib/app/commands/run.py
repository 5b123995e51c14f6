"""``vcfdiagnosis run``: one case from files to maps, results table, scene bundle and report, headless."""

from __future__ import annotations

import time
from pathlib import Path

from ...analysis.settings import add_setting_arguments, settings_from_args
from ...errors import InputError, RunFailed

NAME = "run"
HELP = "process one case (DWI + ROI and/or spectrum): maps, results.tsv, .mrb and report (research use only)"


def add_arguments(parser) -> None:
    parser.add_argument("--dwi", required=True, help="DWI: a DICOM folder (or anything the DWI loader reads)")
    parser.add_argument("--roi", help="ROI: .seg.nrrd segmentation, a NIfTI/NRRD label map or a DICOM SEG (.dcm), any "
                                      "grid in the same physical space (default: the MRS voxel)")
    parser.add_argument("--spectrum", help="single-voxel spectrum: .rda, DICOM MRS, .IMA, .SPAR/.SDAT, NIfTI-MRS")
    parser.add_argument("--fat", metavar="DICOM_DIR",
                        help="water-fat imaging: a folder with a multi-echo gradient-echo series or the scanner's "
                             "PDFF and R2*/T2* maps; adds PDFF, PDFF_sd, R2star and, without a spectrum, FF from "
                             "PDFF (flagged)")
    parser.add_argument("--case-id", help="case identifier for results and report (default: the DWI series name)")
    parser.add_argument("--out", required=True, help="output folder for this case")
    parser.add_argument("--dicom-out", metavar="DIR",
                        help="also write the results as DICOM into DIR (Parametric Maps D/D*/f/ADC, SEG, TID 1500 SR, "
                             "the report as Encapsulated PDF) in the DWI's study; needs a DICOM DWI and the [dicom] "
                             "extra")
    parser.add_argument("--push", metavar="URL",
                        help="store the DICOM results at an archive: dicomweb://HOST:PORT/ROOT (STOW-RS) or "
                             "dimse://AET@HOST:PORT (C-STORE); credentials from the environment, never here")
    parser.add_argument("--cache", metavar="DIR",
                        help="where series named by an archive location (--dwi/--roi dicomweb://... or dimse://...) "
                             "are retrieved to (default: a temporary folder removed at exit)")
    parser.add_argument("--force", action="store_true", help="replace existing outputs")
    add_setting_arguments(parser)


def check_case_arguments(args) -> None:
    """Refuse what ``run`` cannot do before anything is loaded (InputError naming the option or file).

    ``--out`` is the case folder: absent, empty, or (with ``--force``) a case folder written earlier, which is
    replaced whole. Any other non-empty folder is refused, ``--force`` or not.
    """
    from ...outputs.safe_paths import check_replaceable

    out = Path(args.out)
    check_replaceable(out, args.force)
    dicom_out = getattr(args, "dicom_out", None)
    if dicom_out:
        from ...dicomout.export import MARKER

        target = Path(dicom_out).resolve()
        if target == out.resolve() or out.resolve() in target.parents or target in out.resolve().parents:
            raise InputError("--dicom-out", f"{dicom_out} must be a folder of its own, not inside --out or holding it")
        check_replaceable(target, args.force, MARKER)
    from ...batch.manifest import INPUT_COLUMNS
    from ...pacs.locations import is_pacs_location, parse_location

    for option in INPUT_COLUMNS:  # the options of run are the manifest's input columns
        if is_pacs_location(getattr(args, option, None)):
            parse_location(getattr(args, option))  # a malformed location or one with credentials: refused now
    push = getattr(args, "push", None)
    if push:
        parse_location(push)  # whatever it looks like: refused now, not after the computation
        if not getattr(args, "dicom_out", None):
            raise InputError("--push", "needs --dicom-out DIR: the objects are kept there, and a push that fails "
                                       "is retried with vcfdiagnosis pacs push --url URL DIR")
    if not args.roi and not args.spectrum:
        raise InputError("--roi/--spectrum", "an ROI (--roi) or a spectrum (--spectrum, whose voxel becomes the "
                                             "ROI) is needed")
    if getattr(args, "cache", None):
        from ...pacs.transfer import use_cache_dir

        use_cache_dir(args.cache)  # archive locations are retrieved there (the Logic records the locations)
    for option in INPUT_COLUMNS:
        value = getattr(args, option, None)
        if value and not is_pacs_location(value) and not Path(value).exists():
            raise InputError(value, f"no such file or folder (--{option})")


def run_case(args, logic, settings=None, dwi_volume=None) -> tuple[object, dict]:
    """Process and export one case as the command line describes (checked by :func:`check_case_arguments`);
    return (CaseResult, written files). ``dwi_volume``: the DWI ``--dwi`` holds, already read (or None)."""
    from ...pacs.locations import parse_location

    dicom_out = getattr(args, "dicom_out", None)
    push = getattr(args, "push", None)
    case, written = logic.processCaseFiles(args.dwi, args.roi, args.spectrum, caseId=args.case_id,
                                           outputDir=str(args.out), overwrite=args.force,
                                           settings=settings or settings_from_args(args),
                                           fat=getattr(args, "fat", None), dwiVolume=dwi_volume)  # TransferError: 1
    if all(row["status"] == "error" for row in case.rows):
        return case, written  # nothing to send to an archive (run reports the failure)
    if dicom_out:
        dicom = logic.exportDicom(case, dicom_out, written.get("report_pdf"), overwrite=args.force)
        written.update({f"dicom_{what}": path for what, path in dicom.items() if what != "marker"})
        if push:
            from ...pacs.locations import TransferError
            from ...pacs.transfer import store

            files = [path for what, path in dicom.items() if what != "marker"]
            try:
                written["pushed"] = f"{store(push, files)} objects to {parse_location(push).display()}"
            except TransferError as error:
                raise RunFailed(f"{error}; the case folder and the DICOM objects in {dicom_out} are kept: "
                                f"vcfdiagnosis pacs push --url URL {dicom_out} retries") from None
    return case, written


def print_case(case, written: dict, seconds: float) -> None:
    """Print the results rows and the files written."""
    from ...analysis.study_models import RESEARCH_USE_NOTE

    for row in case.rows:
        print(f"{row['case_id']} / {row['roi']}: {row['status']}"
              + (f" ({row['message']})" if row["message"] else ""))
        print(f"  D {row['D']:.4g} mm2/s, D* {row['Dstar']:.4g} mm2/s, f {row['f']:.3f}, ADC {row['ADC']:.4g} mm2/s,"
              f" LWR {row['LWR']:.4g}, FF {row['FF']:.3g} %"
              + (f" (from {row['FF_source']})" if row.get("FF_source") == "pdff" else "")
              + (f", PDFF {row['PDFF']:.3g} %, R2* {row['R2star']:.3g} 1/s" if row.get("PDFF") == row.get("PDFF") else ""))
        models = "" if row.get("model", "").startswith("Tan et al.") else f", {row.get('model')}"
        print(f"  P_IVIM {row['P_IVIM']:.3g} (95 % {row['P_IVIM_lo']:.3g}-{row['P_IVIM_hi']:.3g}), P_combined "
              f"{row['P_combined']:.3g} (95 % {row['P_combined_lo']:.3g}-{row['P_combined_hi']:.3g}) -> "
              f"{row['prediction'] or '-'} ({row['prediction_model'] or 'no model'}{models})")
    for what, path in written.items():
        print(f"  {what:<12} {path}")
    note = next((row["note"] for row in case.rows if row.get("note")), RESEARCH_USE_NOTE)
    print(f"Done in {seconds:.1f} s. {note}")


def run(args) -> int:
    """Run one case; return 0, or raise (the CLI maps bad input to exit 2, :class:`RunFailed` to 1).

    A case whose every row is an error (e.g. the ROI misses the DWI) is a failed run: its folder with the error
    rows is written, and the exit code is 1.
    """
    started = time.perf_counter()
    settings = settings_from_args(args)  # a bad value is refused before anything is loaded
    check_case_arguments(args)
    from ...pacs.locations import is_pacs_location
    from ..case_helper import CaseHelper

    # the helper reads a local DWI while slicer-core loads here, and later draws the report (see case_helper)
    with CaseHelper.started(None if is_pacs_location(args.dwi) else args.dwi, settings.report) as helper:
        from ...mrml import headless

        headless.initialize()
        from ...mrml.logic import VCFDiagnosisLogic

        logic = VCFDiagnosisLogic()
        logic.reportRenderer = helper.render_report
        case, written = run_case(args, logic, settings, helper.dwi())
    print_case(case, written, time.perf_counter() - started)
    errors = [row for row in case.rows if row["status"] == "error"]
    if errors and len(errors) == len(case.rows):
        raise RunFailed(f"{written.get('results', args.out)}: every row is an error ({errors[0]['message']})")
    return 0
