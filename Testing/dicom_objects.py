"""Reading back the DICOM objects VCFDiagnosis writes, for the tests: frames of a Parametric Map, SR content."""

from __future__ import annotations

import numpy as np
import pydicom

from VCFDiagnosisLib.dwi.volume import LPS_TO_RAS


def frames_by_k(ds: pydicom.Dataset, ijk_to_ras: np.ndarray) -> dict[int, int]:
    """Return {DWI grid slice k: frame index} from each frame's ImagePositionPatient (each frame must start at
    the grid's first row and column)."""
    to_ijk = np.linalg.inv(ijk_to_ras) @ LPS_TO_RAS
    result = {}
    for index, group in enumerate(ds.PerFrameFunctionalGroupsSequence):
        ijk = to_ijk @ np.r_[np.asarray(group.PlanePositionSequence[0].ImagePositionPatient, float), 1.0]
        assert np.allclose(ijk[:2], 0, atol=1e-3)
        result[int(round(ijk[2]))] = index
    return result


def content_items(items, value_type: str):
    """Yield every SR content item of ``value_type`` (NUM, SCOORD3D, ...) in document order, at any depth."""
    for item in items:
        if item.ValueType == value_type:
            yield item
        if "ContentSequence" in item:
            yield from content_items(item.ContentSequence, value_type)


def numeric_items(items) -> dict:
    """Return {concept code: (value, UCUM unit)} of the SR's measurements (the first of each code: the ROI's)."""
    found = {}
    for item in content_items(items, "NUM"):
        value = item.MeasuredValueSequence[0]
        found.setdefault(item.ConceptNameCodeSequence[0].CodeValue,
                         (float(value.NumericValue), value.MeasurementUnitsCodeSequence[0].CodeValue))
    return found
