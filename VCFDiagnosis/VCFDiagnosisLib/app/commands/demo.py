"""``vcfdiagnosis demo``: a synthetic patient through the whole pipeline, headless.

Writes ``OUT/phantoms/<case_id>/`` (the phantom: DICOM DWI, ROI, spectra, truth) and ``OUT/<case_id>/``
(what ``vcfdiagnosis run --fat`` writes for it: maps (IVIM, PDFF, R2*), ``results.tsv``, ``mrs.json``, report
PNG/PDF and the ``.mrb`` scene), then prints the results beside the phantom's truth.
"""

from __future__ import annotations

import time
from pathlib import Path

from ...analysis.study_models import LABELS, METASTATIC

NAME = "demo"
HELP = "run a synthetic patient through the whole pipeline (phantom -> fit -> MRS -> models -> report, .mrb)"


def add_arguments(parser) -> None:
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the phantom (default 1)")
    parser.add_argument("--group", choices=LABELS, default=METASTATIC)
    parser.add_argument("--vendor", choices=("siemens", "ge", "philips", "standard"), default="siemens")
    parser.add_argument("--force", action="store_true", help="replace the outputs of an earlier run")


def run(args) -> int:
    started = time.perf_counter()
    from ..case_helper import CaseHelper

    with CaseHelper.started(None) as helper:  # loads matplotlib while slicer-core loads here, then draws the report
        from ...mrml import headless

        headless.initialize()
        from ...mrml.logic import VCFDiagnosisLogic
        from ...phantom import generate_patient
        from .run import print_case

        out = Path(args.out)
        patient = generate_patient(out / "phantoms", seed=args.seed, group=args.group, vendor=args.vendor,
                                   force=args.force)
        logic = VCFDiagnosisLogic()
        logic.reportRenderer = helper.render_report
        case, written = logic.processCaseFiles(
            str(patient.dwi_dir), str(patient.segmentation_path), str(patient.rda_path), caseId=patient.case_id,
            outputDir=str(out / patient.case_id), overwrite=args.force, fat=str(patient.fat_echoes_dir))
    lesion = patient.truth["lesion"]
    print(f"Synthetic patient {patient.case_id} ({args.group}, {args.vendor}-style DICOM): {patient.case_dir}")
    print(f"  truth: D {lesion['D_mm2_s']:.4g} mm2/s, D* {lesion['Dstar_mm2_s']:.4g} mm2/s, "
          f"f {lesion['f_fraction']:.3f}, FF {lesion['FF_percent']:.3g} %, PDFF "
          f"{patient.truth['fat']['lesion_pdff_percent']:.3g} %")
    print_case(case, written, time.perf_counter() - started)
    return 0
