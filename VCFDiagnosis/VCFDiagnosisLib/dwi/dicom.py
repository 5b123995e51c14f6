"""Classic (one image per file) multi-b diffusion DICOM into a :class:`~.volume.DwiVolume`.

What it reads (facts: ``design/FORMATS.md``):

* the b-value from the standard Diffusion b-value (0018,9087), else Siemens (0019,100C), GE (0043,1039)
  (first value modulo 1e9: GE adds a 1,000,000,000 bias for multi-b series) or Philips (2001,1003);
* geometry from ImageOrientationPatient and each file's position along the slice normal (never from file
  names or InstanceNumber); LPS is converted to RAS;
* RescaleSlope/RescaleIntercept applied; several images at the same b and position (diffusion
  directions) combined by geometric mean into the trace;
* derived series (ADC, EADC, FA maps) refused with a message.

Headers are read without pixels to index a folder; pixels are read only for the chosen series.
Enhanced multi-frame and mosaic files are not handled yet (they are refused with a message).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom

from .volume import LPS_TO_RAS, DwiVolume

#: b-values closer than this (s/mm2) are the same shell; b below it counts as 0 (Philips stores b0 as 0.001).
B_TOLERANCE_S_MM2 = 1.0
GE_BVALUE_BIAS = 1_000_000_000
DERIVED_IMAGE_TYPES = ("ADC", "EADC", "FA", "TRACE_ADC", "EXP")
_INDEX_TAGS = [
    "SOPClassUID", "SeriesInstanceUID", "SeriesNumber", "SeriesDescription", "ImageType", "Manufacturer",
    "ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "Rows", "Columns", "NumberOfFrames",
    "PatientID", "StudyInstanceUID", "StudyDate", "RepetitionTime", "EchoTime", "MagneticFieldStrength",
    "SliceThickness", (0x0018, 0x9087), (0x0019, 0x0010), (0x0019, 0x100C), (0x0043, 0x0010),
    (0x0043, 0x1039), (0x2001, 0x0010), (0x2001, 0x1003),
]
_ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"


class DicomDwiError(ValueError):
    """A DICOM folder cannot give a usable multi-b DWI; the message says which file or series and why."""


def _first_number(value) -> float | None:
    """Return the first number of a DICOM value (number, multi-value, string or raw bytes), or None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="ignore").strip("\x00 ")
    if isinstance(value, str):
        value = value.split("\\")[0].strip()
        return float(value) if value else None
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return _first_number(value[0]) if len(value) else None
    return float(value)


def bvalue_from_header(ds: pydicom.Dataset) -> float | None:
    """Return the b-value (s/mm2) of one classic DICOM image, or None if no known tag holds it."""
    for tag in ((0x0018, 0x9087), (0x0019, 0x100C), (0x0043, 0x1039), (0x2001, 0x1003)):
        if tag in ds:
            b = _first_number(ds[tag].value)
            if b is None:
                continue
            if tag == (0x0043, 0x1039):
                b = b % GE_BVALUE_BIAS
            return float(b)
    return None


@dataclass
class DicomImageHeader:
    """What indexing keeps of one file: path, series, b-value and geometry."""

    path: str
    series_uid: str
    bvalue_s_mm2: float | None
    orientation: tuple
    position_lps: tuple
    shape: tuple


@dataclass
class DicomSeriesInfo:
    """One series found in a folder: identity, b-values and the files that hold it."""

    series_uid: str
    series_number: int | None
    description: str
    manufacturer: str
    image_type: str
    headers: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)

    @property
    def bvalues_s_mm2(self) -> list:
        """Return the distinct b-values (s/mm2) of the series, sorted (None where a file had none)."""
        found = sorted({h.bvalue_s_mm2 for h in self.headers if h.bvalue_s_mm2 is not None})
        return group_bvalues(np.asarray(found)).tolist() if found else []

    @property
    def is_derived(self) -> bool:
        """Return True for scanner-computed maps (ADC, FA, ...), which are never b-images."""
        parts = {p.strip().upper() for p in self.image_type.split("\\")}
        return bool(parts.intersection(DERIVED_IMAGE_TYPES))

    def label(self) -> str:
        """Return a one-line description for listings and error messages."""
        return (f"series {self.series_number} '{self.description}' ({len(self.headers)} files, "
                f"b = {', '.join(f'{b:g}' for b in self.bvalues_s_mm2) or 'none'})")


def group_bvalues(bvalues: np.ndarray, tolerance: float = B_TOLERANCE_S_MM2) -> np.ndarray:
    """Return ``bvalues`` with near-equal values replaced by their shell's rounded mean (b < tol -> 0)."""
    b = np.asarray(bvalues, dtype=float).copy()
    b[b < tolerance] = 0.0
    order = np.argsort(b)
    shells = np.cumsum(np.r_[0, np.diff(b[order]) > tolerance])
    means = np.array([b[order][shells == s].mean() for s in range(shells[-1] + 1)]) if b.size else np.array([])
    grouped = np.empty_like(b)
    grouped[order] = np.round(means[shells], 3) if b.size else b
    return grouped


def index_dicom_folder(folder: str | os.PathLike) -> tuple[list[DicomSeriesInfo], list[str]]:
    """Return (series found, files skipped with reasons) for every DICOM file below ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DicomDwiError(f"{folder}: not a folder")
    series: dict[str, DicomSeriesInfo] = {}
    skipped: list[str] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=_INDEX_TAGS)
        except Exception as error:  # noqa: BLE001 - any unreadable file is listed and skipped
            skipped.append(f"{path}: not readable as DICOM ({type(error).__name__})")
            continue
        if "SeriesInstanceUID" not in ds or "ImagePositionPatient" not in ds:
            skipped.append(f"{path}: not an image with a position (SOP class {ds.get('SOPClassUID', '?')})")
            continue
        info = series.setdefault(str(ds.SeriesInstanceUID), DicomSeriesInfo(
            series_uid=str(ds.SeriesInstanceUID),
            series_number=int(ds.SeriesNumber) if ds.get("SeriesNumber") not in (None, "") else None,
            description=str(ds.get("SeriesDescription", "")),
            manufacturer=str(ds.get("Manufacturer", "")),
            image_type="\\".join(ds.get("ImageType", [])),
            metadata={
                "manufacturer": str(ds.get("Manufacturer", "")),
                "series_description": str(ds.get("SeriesDescription", "")),
                "series_number": ds.get("SeriesNumber"),
                "series_uid": str(ds.SeriesInstanceUID),
                "study_uid": str(ds.get("StudyInstanceUID", "")),
                "patient_id": str(ds.get("PatientID", "")),
                "study_date": str(ds.get("StudyDate", "")),
                "repetition_time_ms": _first_number(ds.get("RepetitionTime")),
                "echo_time_ms": _first_number(ds.get("EchoTime")),
                "field_strength_t": _first_number(ds.get("MagneticFieldStrength")),
                "slice_thickness_mm": _first_number(ds.get("SliceThickness")),
                "enhanced": str(ds.get("SOPClassUID", "")) == _ENHANCED_MR or int(ds.get("NumberOfFrames", 1) or 1) > 1,
            },
        ))
        info.headers.append(DicomImageHeader(
            path=str(path),
            series_uid=info.series_uid,
            bvalue_s_mm2=bvalue_from_header(ds),
            orientation=tuple(float(v) for v in ds.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0])),
            position_lps=tuple(float(v) for v in ds.ImagePositionPatient),
            shape=(int(ds.get("Rows", 0)), int(ds.get("Columns", 0))),
        ))
    return list(series.values()), skipped


def select_dwi_series(series: list[DicomSeriesInfo], choice: str | int | None = None) -> DicomSeriesInfo:
    """Return the DWI series to load: the only candidate, or the one matching ``choice``.

    ``choice`` matches a series number, UID or description. Derived maps are refused with a message.
    """
    if choice is not None:
        matches = [s for s in series if str(choice) in (str(s.series_number), s.series_uid, s.description)]
        if not matches:
            listing = "; ".join(s.label() for s in series) or "no series"
            raise DicomDwiError(f"no series matches '{choice}'; found: {listing}")
        chosen = matches[0]
        if chosen.is_derived:
            raise DicomDwiError(f"{chosen.label()} is a derived map ({chosen.image_type}), not b-images")
        return chosen
    candidates = [s for s in series if not s.is_derived and len(s.bvalues_s_mm2) >= 2]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        derived = [s for s in series if s.is_derived]
        if derived:
            raise DicomDwiError("only derived maps found (not b-images): " + "; ".join(
                f"{s.label()} [{s.image_type}]" for s in derived))
        listing = "; ".join(s.label() for s in series) or "no DICOM images"
        raise DicomDwiError(f"no multi-b diffusion series found ({listing})")
    raise DicomDwiError("several DWI series found, choose one by number, UID or description: "
                        + "; ".join(s.label() for s in candidates))


def _pixels(path: str) -> np.ndarray:
    """Return one file's pixel array with RescaleSlope/Intercept applied, as float64 [j, i]."""
    ds = pydicom.dcmread(path)
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise DicomDwiError(f"{path}: enhanced multi-frame DICOM is not supported yet")
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    return ds.pixel_array.astype(np.float64) * slope + intercept


def load_series(info: DicomSeriesInfo) -> DwiVolume:
    """Return the series as a DwiVolume: one trace volume per b-value on one RAS grid."""
    headers = info.headers
    if info.metadata.get("enhanced"):
        raise DicomDwiError(f"{info.label()}: enhanced multi-frame DICOM is not supported yet")
    missing_b = [h.path for h in headers if h.bvalue_s_mm2 is None]
    if missing_b:
        raise DicomDwiError(f"{missing_b[0]}: no b-value in any known tag ({len(missing_b)} files like it)")
    orientation = np.array(headers[0].orientation)
    if any(not np.allclose(h.orientation, orientation, atol=1e-4) for h in headers):
        raise DicomDwiError(f"{info.label()}: images have different orientations")
    if len({h.shape for h in headers}) != 1:
        raise DicomDwiError(f"{info.label()}: images have different matrix sizes")
    row_dir, col_dir = orientation[:3], orientation[3:]
    normal = np.cross(row_dir, col_dir)
    distance = np.array([np.dot(h.position_lps, normal) for h in headers])
    slice_positions = np.unique(np.round(distance, 3))
    bvalues = group_bvalues(np.array([h.bvalue_s_mm2 for h in headers]))
    shells = np.unique(bvalues)
    if shells.size < 2:
        raise DicomDwiError(f"{info.label()}: only one b-value ({shells[0]:g} s/mm2); IVIM needs several")
    k_of = np.searchsorted(slice_positions, np.round(distance, 3))
    b_of = np.searchsorted(shells, bvalues)
    counts = np.zeros((shells.size, slice_positions.size), dtype=int)
    np.add.at(counts, (b_of, k_of), 1)
    if (counts == 0).any():
        b_missing, k_missing = np.argwhere(counts == 0)[0]
        raise DicomDwiError(f"{info.label()}: b = {shells[b_missing]:g} has no image at slice {k_missing} "
                            f"({int((counts == 0).sum())} slice images missing)")
    rows, cols = headers[0].shape
    log_sum = np.zeros((shells.size, slice_positions.size, rows, cols))
    for h, b, k in zip(headers, b_of, k_of):
        log_sum[b, k] += np.log(np.maximum(_pixels(h.path), 1e-6))  # geometric mean over directions
    data = np.exp(log_sum / counts[:, :, None, None]).astype(np.float32)

    first = pydicom.dcmread(headers[int(np.argmin(distance))].path, stop_before_pixels=True)
    row_spacing, col_spacing = (float(v) for v in first.PixelSpacing)
    slice_spacing = float(np.median(np.diff(slice_positions))) if slice_positions.size > 1 else float(
        first.get("SliceThickness", 1.0))
    ijk_to_lps = np.eye(4)
    ijk_to_lps[:3, 0] = row_dir * col_spacing
    ijk_to_lps[:3, 1] = col_dir * row_spacing
    ijk_to_lps[:3, 2] = normal * slice_spacing
    ijk_to_lps[:3, 3] = [float(v) for v in first.ImagePositionPatient]
    metadata = dict(info.metadata, source=str(Path(headers[0].path).parent), files=len(headers))
    return DwiVolume(bvalues_s_mm2=shells, data=data, ijk_to_ras=LPS_TO_RAS @ ijk_to_lps, metadata=metadata)


def load_dwi_dicom(folder: str | os.PathLike, series: str | int | None = None) -> DwiVolume:
    """Return the multi-b DWI found below ``folder`` (searched recursively); ``series`` picks one of several."""
    found, skipped = index_dicom_folder(folder)
    if not found:
        raise DicomDwiError(f"{folder}: no DICOM images found" + (f" ({skipped[0]})" if skipped else ""))
    volume = load_series(select_dwi_series(found, series))
    volume.metadata["skipped_files"] = skipped
    return volume
