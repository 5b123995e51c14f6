"""Write a case's DICOM results into a folder, atomically: ``--dicom-out DIR`` of ``run``.

Files: ``PM_<map>.dcm`` (D, Dstar, f, ADC), ``SEG.dcm``, ``SR.dcm`` (TID 1500), ``REPORT.dcm`` (Encapsulated PDF,
if a report PDF was made) and ``dicom-results.json`` (what was written, the source series, the UIDs). All objects
are built in memory first; the folder is then written beside its place and swapped in whole, so it is never
half-written; an existing folder is replaced only if it is one of ours and replacing was asked for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

MARKER = "dicom-results.json"


def write_dicom_results(dwi, maps: dict[str, np.ndarray] | None, masks: dict[str, np.ndarray], rows: list[dict],
                        out_dir: str | os.PathLike, pdf_path: str | None = None, overwrite: bool = False,
                        mrs_centre_ras=None) -> dict:
    """Write the DICOM objects of one case (see the module docstring); return ``{what: path}``.

    ``maps``: ``{stem: [k, j, i] array}`` on the DWI grid (None: no Parametric Maps); ``masks``: the ROIs on the
    same grid; ``rows``: the results rows (one per ROI); ``mrs_centre_ras``: the MRS voxel's centre (RAS, mm) or
    None. Raises InputError when the DWI is not a classic DICOM
    series (see :func:`.sources.dwi_source_images`).
    """
    from ..errors import InputError
    from ..outputs.safe_paths import staged_case_folder
    from . import objects
    from .sources import dwi_source_images

    try:
        import highdicom  # noqa: F401
    except ImportError:
        raise InputError(str(out_dir), "DICOM results need highdicom: pip install 'vcfdiagnosis[dicom]' (inside "
                                       "Slicer: import VCFDiagnosis; VCFDiagnosis.installCohortExtras())") from None

    sources = dwi_source_images(dwi)
    series = objects.SeriesNumbers().first
    datasets: dict[str, object] = {}
    for stem in objects.MAPS:
        if maps is not None and stem in maps:
            datasets[f"PM_{stem}"] = objects.parametric_map(sources, maps[stem], stem, series)
            series += 1
    kept = {name: mask for name, mask in masks.items() if np.any(mask)}
    readers = {row["roi"]: row.get("reader", "") for row in rows}
    seg = objects.segmentation(sources, kept, readers, series) if kept else None
    if seg is not None:
        datasets["SEG"] = seg
        datasets["SR"] = objects.measurement_report(sources, seg, rows, series + 1, mrs_centre_ras)
    if pdf_path:
        datasets["REPORT"] = objects.encapsulated_pdf(sources[0], Path(pdf_path).read_bytes(), series + 2,
                                                     f"VCFDiagnosis case report ({objects.RESEARCH_NOTE})")
    target = Path(out_dir).resolve()
    written = {}
    with staged_case_folder(target, replace=overwrite, marker=MARKER) as staging:
        for name, dataset in datasets.items():
            dataset.save_as(staging / f"{name}.dcm", enforce_file_format=True)
            written[name] = str(target / f"{name}.dcm")
        summary = {"source_series_uid": dwi.metadata.get("series_uid"), "study_uid": dwi.metadata.get("study_uid"),
                   "objects": {name: {"file": f"{name}.dcm", "sop_class_uid": str(ds.SOPClassUID),
                                      "sop_instance_uid": str(ds.SOPInstanceUID),
                                      "series_instance_uid": str(ds.SeriesInstanceUID)}
                               for name, ds in datasets.items()},
                   "note": objects.RESEARCH_NOTE}
        (staging / MARKER).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    written["marker"] = str(target / MARKER)
    return written
