"""The cases a reading station offers from its ``--data`` folder (pure core: standard library only).

What is listed: every row of a manifest (``*.tsv``/``*.csv`` with ``case_id`` and ``dwi`` columns, as
``vcfdiagnosis batch`` reads them; the phantom writes ``manifest.tsv``) in the data folder or one level below,
then every folder (up to two levels down) that holds DICOM files and is not already a manifest's DWI. The browser
only ever sends the *index* of an entry: a path is never built from what the client sends.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..outputs.safe_paths import path_inside

#: At most this many entries are listed (a huge archive folder is not a reading list).
MAX_CASES = 500
#: Manifest files are looked for at this depth below the data folder (0 = the folder itself).
MANIFEST_DEPTH = 1
#: DICOM folders are looked for at this depth below the data folder.
DICOM_DEPTH = 2


@dataclass(frozen=True)
class DataCase:
    """One case the station can open: a label for the picker and the resolved input paths (inside the folder)."""

    label: str
    case_id: str
    dwi: str
    roi: str | None = None
    spectrum: str | None = None
    reader: str = ""
    fat: str | None = None


def _is_dicom_file(path: Path) -> bool:
    """Return True if the first bytes of ``path`` can start a DICOM file (the DWI loader's own sniff)."""
    from ..dwi.pixels import _SNIFF_BYTES, sniff_dicom

    try:
        with path.open("rb") as handle:
            return sniff_dicom(handle.read(_SNIFF_BYTES)) is None
    except OSError:
        return False


def _walk(root: Path, depth: int):
    """Yield (folder, file names) for ``root`` and its sub-folders down to ``depth`` levels (no symlinked dirs)."""
    for folder, dirs, files in os.walk(root):
        level = len(Path(folder).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (Path(folder) / d).is_symlink())
        if level >= depth:
            dirs[:] = []
        yield Path(folder), sorted(files)


def _inside(root: Path, path: str | None) -> str | None:
    """Return ``path`` resolved if it lies inside ``root`` (else None: a manifest may not point outside)."""
    if not path:
        return None
    try:
        return str(path_inside(root, os.path.relpath(Path(path).resolve(), root)))
    except ValueError:
        return None


def list_data_cases(data_dir: str | os.PathLike) -> tuple[list[DataCase], list[str]]:
    """Return (cases, problems) found in ``data_dir``; ``problems`` are one-line messages naming the file.

    Inputs named by a manifest must lie inside ``data_dir`` (a row pointing elsewhere is listed as a problem).
    """
    from ..batch.manifest import INPUT_COLUMNS, ManifestError, read_manifest

    root = Path(data_dir).resolve()
    cases: list[DataCase] = []
    problems: list[str] = []
    used: set[str] = set()  # folders a manifest names (DWI, water-fat): not listed again as DICOM folders
    for folder, files in _walk(root, MANIFEST_DEPTH):
        for name in files:
            if not name.lower().endswith((".tsv", ".csv")) or name.lower().startswith("results"):
                continue
            try:
                rows = read_manifest(folder / name)
            except ManifestError as error:
                if "no case_id" not in str(error):  # other tables (e.g. cohort outputs) are not manifests
                    problems.append(str(error))
                continue
            for row in rows:
                paths = {key: _inside(root, getattr(row, key)) for key in INPUT_COLUMNS}
                outside = [key for key in paths if getattr(row, key) and paths[key] is None]
                if row.problem or outside:
                    why = row.problem or f"{', '.join(outside)} outside the data folder"
                    problems.append(f"{folder / name}: line {row.line}: {why}")
                    continue
                used.update((paths["dwi"], paths["fat"]))  # a manifest's water-fat folder is not a DWI case
                reader = f", reader {row.reader}" if row.reader else ""
                cases.append(DataCase(f"{row.case_id}{reader} ({(folder / name).relative_to(root)})", row.case_id,
                                      paths["dwi"], paths["roi"], paths["spectrum"], row.reader, paths["fat"]))
    for folder, files in _walk(root, DICOM_DEPTH):
        if str(folder) in used or not any(_is_dicom_file(folder / name) for name in files[:8]):
            continue
        relative = str(folder.relative_to(root)) if folder != root else "."
        cases.append(DataCase(f"{relative} (DICOM folder)", folder.name, str(folder)))
    if len(cases) > MAX_CASES:
        problems.append(f"{root}: {len(cases)} cases found, the first {MAX_CASES} are listed")
    return cases[:MAX_CASES], problems
