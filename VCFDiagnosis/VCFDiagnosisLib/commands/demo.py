"""``vcfdiagnosis demo``: a synthetic patient through the pipeline, headless, with a scene bundle.

Writes ``OUT/phantoms/<case_id>/`` (DICOM DWI, ROI, spectra, truth) and ``OUT/<case_id>.mrb`` (the Slicer
scene: DWI sequence indexed by b-value, lesion segmentation, truth table), then prints what it produced.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

NAME = "demo"
HELP = "generate a synthetic patient, load it into an MRML scene through the Logic and save a .mrb bundle"


def add_arguments(parser) -> None:
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the phantom (default 1)")
    parser.add_argument("--group", choices=("osteoporotic", "metastatic"), default="metastatic")
    parser.add_argument("--vendor", choices=("siemens", "ge", "philips", "standard"), default="siemens")
    parser.add_argument("--force", action="store_true", help="replace the outputs of an earlier run")


def run(args) -> int:
    started = time.perf_counter()
    from .. import headless

    headless.initialize()
    from ..logic import RESEARCH_USE_NOTE, VCFDiagnosisLogic

    out = Path(args.out)
    logic = VCFDiagnosisLogic()
    try:
        case = logic.createPhantomCase(str(out / "phantoms"), seed=args.seed, group=args.group, vendor=args.vendor,
                                       force=args.force)
        bundle = logic.saveSceneBundle(str(out / f"{case.case_id}.mrb"), overwrite=args.force)
    except (OSError, ValueError) as error:
        print(f"vcfdiagnosis demo: {error}", file=sys.stderr)
        return 1
    dwi = logic.dwiFromNode(case.dwi_sequence)
    segment_count = case.roi_segmentation.GetSegmentation().GetNumberOfSegments()
    print(f"Synthetic patient {case.case_id} ({args.group}, {args.vendor}-style DICOM) in {out / 'phantoms'}")
    print(f"  DWI: {dwi.data.shape[0]} b-values {', '.join(f'{b:g}' for b in dwi.bvalues_s_mm2)} s/mm2, "
          f"grid {' x '.join(str(n) for n in dwi.shape_kji[::-1])}, "
          f"spacing {', '.join(f'{s:.2f}' for s in dwi.spacing_mm)} mm")
    print(f"  ROI: segmentation '{case.roi_segmentation.GetName()}' with {segment_count} segment(s)")
    table = case.truth_table
    print(f"  Truth ({table.GetName()}):")
    for row in range(table.GetNumberOfRows()):
        print(f"    {table.GetCellText(row, 0):<24} {float(table.GetCellText(row, 1)):.6g} {table.GetCellText(row, 2)}")
    print(f"Scene bundle: {bundle}")
    print(f"Done in {time.perf_counter() - started:.1f} s. {RESEARCH_USE_NOTE}")
    return 0
