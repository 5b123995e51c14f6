"""The batch manifest: one case per row, read into :class:`ManifestRow` objects (pure core, standard library).

CSV or TSV with a header; columns :data:`MANIFEST_COLUMNS` (only ``case_id`` and ``dwi`` required; paths relative
to the manifest's folder; ``label`` one of the study's groups, ``metastatic``/``osteoporotic``). The phantom
writes manifests with the same columns.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..analysis.study_models import LABELS

MANIFEST_COLUMNS = ("case_id", "dwi", "roi", "spectrum", "label", "reader", "fat")
#: The columns that name a case's input files or folders (relative to the manifest, or archive locations).
INPUT_COLUMNS = ("dwi", "roi", "spectrum", "fat")


class ManifestError(ValueError):
    """The manifest itself cannot be used (unreadable, no header, missing required columns, no rows)."""


@dataclass
class ManifestRow:
    """One case of a manifest: absolute paths (None where not given), its label and reader, its line number."""

    case_id: str
    dwi: str
    roi: str | None = None
    spectrum: str | None = None
    label: str = ""
    reader: str = ""
    fat: str | None = None
    line: int = 0
    problem: str = ""


def _input(base: Path, value: str | None) -> str | None:
    """Return a manifest input: a path resolved against the manifest's folder, or an archive location as written."""
    from ..pacs.locations import is_pacs_location

    if not value:
        return None
    return value if is_pacs_location(value) else str((base / value).resolve())


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Return the cases of a CSV/TSV manifest; raise ManifestError if the manifest is unusable.

    Row-level problems (empty case_id, unknown label, duplicate case_id) are recorded in ``problem`` and become
    error rows; they do not stop the batch.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path}: cannot read the manifest ({error})") from error
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ManifestError(f"{path}: the manifest is empty")
    delimiter = "\t" if "\t" in lines[0] else ","
    reader = csv.DictReader(lines, delimiter=delimiter)
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("case_id", "dwi") if c not in header]
    if missing:
        raise ManifestError(f"{path}: the header has no {', '.join(missing)} column "
                            f"(expected {', '.join(MANIFEST_COLUMNS)}; found {', '.join(header) or 'nothing'})")
    base = path.resolve().parent
    rows: list[ManifestRow] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(reader, start=2):
        values = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}

        paths = {c: _input(base, values.get(c)) for c in INPUT_COLUMNS}
        row = ManifestRow(case_id=values.get("case_id", ""), dwi=paths["dwi"] or "", roi=paths["roi"],
                          spectrum=paths["spectrum"], label=values.get("label", "").lower(),
                          reader=values.get("reader", ""), line=number, fat=paths["fat"])
        if not row.case_id:
            row.case_id, row.problem = f"line-{number}", f"line {number}: no case_id"
        elif row.case_id in seen:
            row.problem = f"duplicate case_id '{row.case_id}' (first on line {seen[row.case_id]})"
        elif not row.dwi:
            row.problem = f"line {number}: no dwi path"
        elif row.label and row.label not in LABELS:
            row.problem = f"label '{row.label}' is not one of {', '.join(LABELS)}"
        seen.setdefault(row.case_id, number)
        rows.append(row)
    if not rows:
        raise ManifestError(f"{path}: the manifest has a header but no cases")
    return rows
