"""Adapter from VCFDiagnosis's DICOM DWI loader to the loader contract of the independent checker
``Testing/Data/dwi-dicom/check_loader.py`` (shared reference set; see its docstring)."""

from __future__ import annotations

from VCFDiagnosisLib.dwi.dicom import load_dwi_dicom


def load(dicom_dir: str) -> list[dict]:
    """Return one item per b-value: the volume ``[k, j, i]`` and the RAS affine; raise for a refused series."""
    dwi = load_dwi_dicom(dicom_dir, min_bvalues=1)
    return [{"bvalue": float(b), "array": dwi.data[index], "affine": dwi.ijk_to_ras, "space": "RAS",
             "array_order": "kji", "kind": "trace" if b > 0 else "dwi"}
            for index, b in enumerate(dwi.bvalues_s_mm2)]
