"""The source images new DICOM objects derive from: one image of the DWI series per slice of its grid.

Parametric maps and segmentations are written on the DWI's own grid, frame ``k`` = slice ``k`` of
``DwiVolume.data[b, k, j, i]``; each frame references the DWI image at that slice with the lowest b-value (the
image the ROI was drawn on, b = 0 when present). The pixel order must be DICOM's (``j`` = row, ``i`` = column,
rows along ImageOrientationPatient's column direction): checked, never assumed. Only classic one-image-per-file
series are supported as sources (a DWI from NIfTI/NRRD, a mosaic or an enhanced multi-frame file is refused with
the reason). Pure core: pydicom and numpy.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pydicom

from ..dwi.volume import LPS_TO_RAS
from ..errors import InputError

#: Position tolerance (mm) between a source image and the DWI grid slice it is matched to.
POSITION_TOLERANCE_MM = 0.05


def _candidate_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def dwi_source_images(dwi) -> list[pydicom.Dataset]:
    """Return one source dataset (header only) per slice ``k`` of ``dwi``'s grid, lowest b-value, in k order.

    Raises InputError naming the DWI folder when the DWI did not come from a classic DICOM series, or when the
    series' images do not cover the grid slice by slice in DICOM pixel order.
    """
    from ..dwi.dicom import bvalue_from_header

    meta = dwi.metadata
    source, series_uid = meta.get("source"), meta.get("series_uid")
    if not str(meta.get("format", "")).startswith("dicom") or not source or not series_uid:
        raise InputError(source or "--dwi", "DICOM results need a DWI read from DICOM (its study and images are "
                                            "what the new objects belong to and derive from)")
    if meta.get("dicom_layout") != "classic":
        raise InputError(source, f"DICOM results are written for classic one-image-per-file series, not "
                                 f"{meta.get('dicom_layout')} files")
    to_ijk = np.linalg.inv(dwi.ijk_to_ras)
    nk = dwi.shape_kji[0]
    chosen: dict[int, tuple[float, pydicom.Dataset]] = {}
    for path in _candidate_files(Path(source)):
        try:
            ds = pydicom.dcmread(os.fspath(path), stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - other files in the folder are not the series' images
            continue
        if ds.get("SeriesInstanceUID") != series_uid or "ImagePositionPatient" not in ds:
            continue
        b = bvalue_from_header(ds)
        ijk = to_ijk @ LPS_TO_RAS @ np.r_[np.asarray(ds.ImagePositionPatient, float), 1.0]
        k = int(round(ijk[2]))
        if not (0 <= k < nk) or np.abs(ijk[:3] - [0, 0, k]).max() * dwi.spacing_mm.max() > POSITION_TOLERANCE_MM:
            raise InputError(str(path), "this image does not lie on the DWI grid (DICOM pixel order expected)")
        b = float("inf") if b is None else float(b)
        if k not in chosen or b < chosen[k][0]:
            chosen[k] = (b, ds)
    missing = [k for k in range(nk) if k not in chosen]
    if missing:
        raise InputError(source, f"no image of series {series_uid} for slice(s) {missing[:5]} of the DWI grid")
    first = chosen[0][1]
    row_dir, col_dir = (LPS_TO_RAS[:3, :3] @ np.asarray(first.ImageOrientationPatient[:3], float),
                        LPS_TO_RAS[:3, :3] @ np.asarray(first.ImageOrientationPatient[3:], float))
    row_spacing, col_spacing = (float(v) for v in first.PixelSpacing)
    if not (np.allclose(row_dir * col_spacing, dwi.ijk_to_ras[:3, 0], atol=1e-3)
            and np.allclose(col_dir * row_spacing, dwi.ijk_to_ras[:3, 1], atol=1e-3)):
        raise InputError(source, "the DWI grid is not in DICOM pixel order (i = column, j = row)")
    return [chosen[k][1] for k in range(nk)]
