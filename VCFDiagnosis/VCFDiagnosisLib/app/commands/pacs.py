"""``vcfdiagnosis pacs find``: list an archive's studies and series (DICOMweb or DIMSE), DWI and MRS flagged."""

from __future__ import annotations

NAME = "pacs"
HELP = ("query an archive or store results there: vcfdiagnosis pacs find|push --url dicomweb://HOST:PORT/ROOT or "
        "dimse://AET@HOST:PORT "
        "(credentials from VCFDIAGNOSIS_PACS_USER/_PASSWORD or VCFDIAGNOSIS_PACS_CREDENTIALS, never arguments)")


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="pacs_action", metavar="ACTION", required=True)
    find = sub.add_parser("find", help="list studies and series (DWI by b-values, MRS by SOP class)")
    find.add_argument("--url", required=True, help="dicomweb://HOST:PORT/ROOT[/studies/S] or dimse://AET@HOST:PORT")
    find.add_argument("--patient-id", help="Patient ID to match")
    find.add_argument("--study-date", help="study date or range, YYYYMMDD or YYYYMMDD-YYYYMMDD")
    find.add_argument("--modality", help="series modality, e.g. MR")
    find.add_argument("--json", action="store_true", help="print JSON instead of a table")
    push = sub.add_parser("push", help="store the DICOM objects of a folder (e.g. run --dicom-out DIR) at an archive")
    push.add_argument("folder", help="folder of .dcm files")
    push.add_argument("--url", required=True, help="dicomweb(s)://HOST:PORT/ROOT (STOW-RS) or dimse://AET@HOST:PORT")


def _printable(text) -> str:
    """Return archive text with control characters (terminal escapes) replaced."""
    return "".join(c if c.isprintable() else "?" for c in str(text))


def run(args) -> int:
    import dataclasses
    import json
    from pathlib import Path

    from ...errors import InputError
    from ...pacs.locations import parse_location
    from ...pacs.transfer import find_series, store

    location = parse_location(args.url)
    if args.pacs_action == "push":
        files = sorted(Path(args.folder).glob("*.dcm"))
        if not files:
            raise InputError(args.folder, "no .dcm file to push")
        print(f"{store(args.url, files)} objects stored at {location.display()}")  # TransferError: exit 1
        return 0
    rows = find_series(args.url, args.patient_id, args.study_date, args.modality)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{len(rows)} series at {location.display()}")
    for row in rows:
        row = {key: _printable(value) for key, value in row.items()}  # archive text: no terminal escapes
        url = dataclasses.replace(location, study_uid=row["study_uid"], series_uid=row["series_uid"]).display()
        print(f"{row['patient_id']:<14} {row['study_date']:<9} {row['modality']:<3} #{row['series_number']:<4} "
              f"{row['instances']:>5} img  {row['kind'] or '-':<22} {row['description']}")
        print(f"    {url}")
    return 0
