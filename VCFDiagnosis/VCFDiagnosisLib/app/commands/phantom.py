"""``vcfdiagnosis phantom``: write a synthetic VCF patient (DWI DICOM, ROI, spectrum, truth) to a folder."""

from __future__ import annotations

import argparse

from ...phantom.options import DEFAULT_BVALUES, GROUPS, VENDORS

NAME = "phantom"
HELP = "write a synthetic lumbar-spine patient with a fractured lesion and known truth (digital phantom)"


def _bvalues(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"b-values must be comma-separated numbers, got {text!r}") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the phantom options to ``parser``."""
    parser.add_argument("--out", required=True, help="output folder (the case goes to OUT/<case-id>)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--group", choices=GROUPS, default="osteoporotic", help="lesion group (Table 3)")
    parser.add_argument("--vendor", choices=VENDORS, default="siemens", help="DICOM b-value tag style")
    parser.add_argument("--snr", type=float, default=40.0,
                        help="lesion S0 at b=0 / sigma per Gaussian channel (default 40; inf = no noise)")
    parser.add_argument("--matrix", type=int, default=128, help="in-plane matrix over FOV 340 mm (default 128)")
    parser.add_argument("--slices", type=int, default=10, help="number of 5 mm slices, 0.5 mm gap (default 10)")
    parser.add_argument("--case-id", default=None, help="case folder name (default phantom-<group>-<seed>)")
    parser.add_argument("--bvalues", type=_bvalues, default=list(DEFAULT_BVALUES),
                        help="comma-separated b-values in s/mm2 (default the study's 0,50,...,800)")
    parser.add_argument("--lesion-d", type=float, default=None, help="lesion D in mm2/s (default: drawn)")
    parser.add_argument("--lesion-dstar", type=float, default=None, help="lesion D* in mm2/s (default: drawn)")
    parser.add_argument("--lesion-f", type=float, default=None, help="lesion f, fraction 0..1 (default: drawn)")
    parser.add_argument("--lesion-ff", type=float, default=None, help="lesion fat fraction in %% (default: drawn)")
    parser.add_argument("--mrs-snr", type=float, default=150.0, help="spectral SNR of the water peak (default 150)")
    parser.add_argument("--fat-snr", type=float, default=40.0,
                        help="water-fat series: normal marrow proton density / sigma per channel (default 40)")
    parser.add_argument("--no-fat", action="store_true", help="do not write the 6-echo water-fat series")
    parser.add_argument("--vendor-fat-maps", action="store_true",
                        help="also write a PDFF and an R2* (Philips: T2*) map series in the vendor's style (fat/maps)")
    parser.add_argument("--cohort", type=int, default=0, metavar="N",
                        help="write N patients (38:32 osteoporotic:metastatic as in the study, seeds SEED..SEED+N-1, "
                             "vendor styles rotating) with OUT/manifest.tsv, for `vcfdiagnosis batch`")
    parser.add_argument("--force", action="store_true", help="replace an existing case folder")


def run_cohort(args: argparse.Namespace) -> int:
    """Write a phantom cohort and its manifest; return the exit code."""
    from ...phantom.cohort import generate_cohort

    patients = generate_cohort(args.out, args.cohort, seed=args.seed, force=args.force, snr=args.snr,
                               matrix=args.matrix, n_slices=args.slices, bvalues=args.bvalues,
                               mrs_snr=args.mrs_snr, fat_snr=args.fat_snr, fat_series=not args.no_fat,
                               vendor_fat_maps=args.vendor_fat_maps and not args.no_fat)
    groups = [p.truth["group"] for p in patients]
    print(f"wrote {len(patients)} phantom patients ({groups.count('osteoporotic')} osteoporotic, "
          f"{groups.count('metastatic')} metastatic) in {sum(p.seconds for p in patients):.1f} s; "
          f"manifest {patients[0].manifest_path}")
    return 0


def run(args: argparse.Namespace) -> int:
    from ...phantom import generate_patient

    """Write the phantom case (or cohort), print what was written; return the exit code."""
    if args.cohort:
        return run_cohort(args)
    patient = generate_patient(
        args.out, seed=args.seed, group=args.group, vendor=args.vendor, snr=args.snr, matrix=args.matrix,
        n_slices=args.slices, case_id=args.case_id, bvalues=args.bvalues, force=args.force,
        lesion_d=args.lesion_d, lesion_dstar=args.lesion_dstar, lesion_f=args.lesion_f,
        lesion_ff_percent=args.lesion_ff, mrs_snr=args.mrs_snr, fat_snr=args.fat_snr, fat_series=not args.no_fat,
        vendor_fat_maps=args.vendor_fat_maps and not args.no_fat,
    )
    t = patient.truth
    lesion = t["lesion"]
    n_dwi = sum(1 for f in t["files"] if f.startswith("dwi/"))
    snr = "inf (noiseless)" if t["snr"] is None else f"{t['snr']:g}"
    print(f"wrote phantom case {patient.case_id} ({t['group']}, vendor style {t['vendor']}, seed {t['seed']}) "
          f"in {patient.seconds:.2f} s")
    print(f"  DWI     {patient.dwi_dir}  ({n_dwi} files, b = {', '.join(f'{b:g}' for b in t['bvalues_s_mm2'])} "
          f"s/mm2, grid {'x'.join(str(n) for n in t['geometry']['shape_kji'][::-1])}, SNR {snr})")
    print(f"  ROI     {patient.label_path}")
    print(f"  ROI     {patient.segmentation_path}  ({t['roi']['voxel_count']} voxels)")
    print(f"  MRS     {patient.rda_path}")
    print(f"  MRS     {patient.mrs_dicom_path}")
    if patient.fat_echoes_dir is not None:
        fat = t["fat"]
        print(f"  fat     {patient.fat_echoes_dir}  (6-echo GRE, TE {', '.join(f'{x:g}' for x in fat['echo_times_ms'])} "
              f"ms; lesion PDFF {fat['lesion_pdff_percent']:.2f} %)")
    if patient.fat_maps_dir is not None:
        print(f"  fat     {patient.fat_maps_dir}  (vendor-style PDFF and R2*/T2* maps)")
    print(f"  truth   {patient.truth_path}")
    print(f"  lesion  D {lesion['D_mm2_s']:.3e} mm2/s, D* {lesion['Dstar_mm2_s']:.3e} mm2/s, "
          f"f {lesion['f_fraction']:.3f}, FF {lesion['FF_percent']:.2f} %, LWR {lesion['LWR']:.4f} "
          f"({t['anatomy']['fracture_level']} fracture)")
    print(f"  manifest {patient.manifest_path}")
    return 0
