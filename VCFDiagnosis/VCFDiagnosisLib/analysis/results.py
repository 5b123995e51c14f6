"""The results-table contract (one row per ROI) and its full-precision TSV file.

The first columns are the contract the batch and statistics tools rely on::

    case_id, roi, status, message, roi_voxels, roi_area_mm2, D, Dstar, f, ADC, LWR, FF,
    P_IVIM, P_combined, prediction

Units: D, Dstar, ADC in mm2/s; f a fraction; LWR a plain ratio; FF percent; P 0..1; prediction
``metastatic``/``osteoporotic`` (research output, never a diagnosis). More columns follow. Slicer's own
TSV writer rounds to 6 significant digits, so :func:`write_results_tsv` writes floats with ``repr``.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from ..outputs.atomic import atomic_output
from .settings import MODEL_INPUTS


@dataclass(frozen=True)
class Column:
    """One results column: name, kind (``string``/``double``/``integer``), unit and description."""

    name: str
    kind: str
    unit: str
    description: str


_MAP_STATS = [
    Column(f"{p}_map_{s}", "double", u, f"{s} of the voxelwise {p} map inside the ROI")
    for p, u in (("D", "mm2/s"), ("Dstar", "mm2/s"), ("f", "fraction"), ("ADC", "mm2/s"))
    for s in ("mean", "median", "sd", "iqr")
]

COLUMNS: tuple[Column, ...] = (
    Column("case_id", "string", "", "case identifier (never the patient's name unless asked)"),
    Column("roi", "string", "", "ROI name (one segment: a lesion or a reader's ROI)"),
    Column("status", "string", "", "ok, warning or error"),
    Column("message", "string", "", "why the row is an error or what to check"),
    Column("roi_voxels", "integer", "voxels", "ROI size on the DWI grid"),
    Column("roi_area_mm2", "double", "mm2", "ROI area on its largest acquisition slice"),
    Column("D", "double", "mm2/s", "true diffusion coefficient, fit of the ROI-mean signal"),
    Column("Dstar", "double", "mm2/s", "pseudo-diffusion coefficient (total, MITK convention), ROI-mean fit"),
    Column("f", "double", "fraction", "perfusion fraction, ROI-mean fit"),
    Column("ADC", "double", "mm2/s", "mono-exponential apparent diffusion coefficient, ROI-mean signal"),
    Column("LWR", "double", "ratio", "lipid (1.3 ppm) to water (4.7 ppm) peak-area ratio"),
    Column("FF", "double", "percent", "fat fraction LWR/(LWR+1), T2-weighted, methylene only (from the spectrum; "
                                      "converted from PDFF when FF_source is pdff)"),
    Column("P_IVIM", "double", "probability", "P(metastatic), IVIM model of Tan et al. 2019 (research only)"),
    Column("P_combined", "double", "probability", "P(metastatic), IVIM+MRS model of Tan et al. 2019 (research only)"),
    Column("prediction", "string", "", "metastatic if P > 0.5 (P_combined if FF known, else P_IVIM), indeterminate "
                                      "if that P's 95 % interval contains 0.5; research only"),
    Column("prediction_model", "string", "", "the model behind prediction"),
    Column("P_IVIM_lo", "double", "probability", "P_IVIM, 2.5th percentile: ROI voxels resampled, D, D*, f refitted"),
    Column("P_IVIM_hi", "double", "probability", "P_IVIM, 97.5th percentile (95 % interval; model coefficients fixed)"),
    Column("P_combined_lo", "double", "probability", "P_combined, 2.5th percentile (FF drawn with its Cramer-Rao SD)"),
    Column("P_combined_hi", "double", "probability", "P_combined, 97.5th percentile (95 % interval)"),
    Column("D_sd", "double", "mm2/s", "SD of D over the resampled ROI-mean fits"),
    Column("Dstar_sd", "double", "mm2/s", "SD of D* over the resampled ROI-mean fits"),
    Column("f_sd", "double", "fraction", "SD of f over the resampled ROI-mean fits"),
    Column("model", "string", "", "the models used: Tan et al. 2019 (published) or a site model file's name"),
    Column("model_inputs", "string", "", "which D, D*, f fed the models: " + ", ".join(MODEL_INPUTS)),
    Column("S0", "double", "a.u.", "signal at b = 0, ROI-mean fit"),
    Column("R2", "double", "fraction", "coefficient of determination of the ROI-mean IVIM fit"),
    Column("fit_status", "string", "", "status of the ROI-mean IVIM fit"),
    Column("noise_sd", "double", "a.u.", "noise SD per channel from the DWI background (median over b-values), whose "
                                         "floor was removed from the ROI-mean signal; empty: no background noise "
                                         "found or the images' making unknown (e.g. NIfTI), no correction"),
    *_MAP_STATS,
    Column("LWR_sd", "double", "ratio", "Cramer-Rao lower bound of LWR"),
    Column("FF_sd", "double", "percent", "Cramer-Rao lower bound of FF (from PDFF: the spread of the marrow T2s)"),
    Column("FF_source", "string", "", "where FF came from: mrs, pdff (converted, see the README) or empty"),
    Column("PDFF", "double", "percent", "proton-density fat fraction, mean over the ROI on the water-fat grid"),
    Column("PDFF_sd", "double", "percent", "SD of PDFF over the ROI's voxels"),
    Column("R2star", "double", "1/s", "R2* (1/T2*), mean over the ROI on the water-fat grid"),
    Column("mrs_snr", "double", "ratio", "spectrum SNR (definition in the README)"),
    Column("mrs_roi_distance_mm", "double", "mm", "distance from the MRS voxel centre to the ROI centroid"),
    Column("roi_fraction_in_mrs_voxel", "double", "fraction", "fraction of the ROI inside the MRS voxel"),
    Column("mrs_rule", "string", "", "FF < 23.2 % rule (a derived cut-off, not printed in the study)"),
    Column("adc_rule", "string", "", "ADC < 1.7e-3 mm2/s rule cited by the study"),
    Column("flags", "string", "", "extrapolation and quality flags, separated by '; '"),
    Column("note", "string", "", "research use only, not a diagnosis"),
)
CONTRACT_COLUMNS = [c.name for c in COLUMNS[:15]]
COLUMN_BY_NAME = {c.name: c for c in COLUMNS}


def empty_row(case_id: str, roi: str) -> dict:
    """Return a row with every column present: NaN for numbers, '' for text."""
    row = {c.name: ("" if c.kind == "string" else math.nan) for c in COLUMNS}
    row.update(case_id=case_id, roi=roi, status="ok")
    return row


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


def write_results_tsv(path: str | os.PathLike, rows: list[dict], overwrite: bool = False) -> str:
    """Write rows (all :data:`COLUMNS`, then any extra keys) as TSV with full precision, atomically."""
    names = [c.name for c in COLUMNS] + sorted({k for r in rows for k in r} - set(COLUMN_BY_NAME))
    with atomic_output(path, overwrite) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(names)
        for row in rows:
            writer.writerow([_format(row.get(n)) for n in names])
    return str(Path(path).resolve())


def read_results_tsv(path: str | os.PathLike) -> list[dict]:
    """Return the rows of a results TSV, numbers as float (integers as int), empty cells as NaN/''.

    Raises :class:`~VCFDiagnosisLib.errors.InputError` naming the file, the line and the column for a row with
    too few or too many fields, a number that is not one, or a file that is not UTF-8 text with a header.
    """
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            header = reader.fieldnames or []
            if "case_id" not in header:
                raise InputError(path, "not a results table: no header with a 'case_id' column")
            rows = []
            for row in reader:
                if None in row:
                    raise InputError(path, f"line {reader.line_num}: {len(header) + len(row[None])} fields, the "
                                           f"header has {len(header)}")
                if any(value is None for value in row.values()):
                    given = sum(value is not None for value in row.values())
                    raise InputError(path, f"line {reader.line_num}: {given} fields, the header has {len(header)}")
                rows.append(_typed(row, path, reader.line_num))
    except UnicodeDecodeError as error:
        raise InputError(path, f"not UTF-8 text ({error.reason} at byte {error.start})") from error
    except csv.Error as error:
        raise InputError(path, f"not a TSV table ({error})") from error
    return rows


def _typed(row: dict, path, line: int) -> dict:
    """Return ``row`` with its number columns converted; InputError names the line and column of a bad value."""
    for name, value in row.items():
        column = COLUMN_BY_NAME.get(name)
        if column is None or column.kind == "string":
            continue
        try:
            row[name] = math.nan if value == "" else (int(value) if column.kind == "integer" else float(value))
        except ValueError:
            raise InputError(path, f"line {line}, column '{name}': {value!r} is not a number") from None
    return row
