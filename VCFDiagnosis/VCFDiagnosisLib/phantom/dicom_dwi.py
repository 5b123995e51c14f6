"""Write the phantom's multi-b DWI as classic single-frame MR Image Storage DICOM (one file per slice per b).

Every file: Explicit VR Little Endian with a proper file meta group, uint16 pixels, one series
(one SeriesInstanceUID for all b-values), oblique sagittal geometry (ImageOrientationPatient,
ImagePositionPatient per slice along the normal, PixelSpacing, SliceThickness != SpacingBetweenSlices),
TR 1600 ms, TE 72 ms, 3 T. Each b > 0 image is a trace (isotropic) image. File names are random hex
strings, and InstanceNumber follows acquisition order (b-major), not the file-name order.

Where the b-value lives depends on ``vendor`` (see ``shared/design/FORMATS.md``):

* ``standard``: Diffusion b-value (0018,9087) only;
* ``siemens``: private creator "SIEMENS MR HEADER" at (0019,0010), b in (0019,100C) IS, no (0018,9087);
  ImageType ORIGINAL\\PRIMARY\\DIFFUSION\\NONE for b = 0 and ...\\TRACEW for the trace images;
* ``ge``: private creator "GEMS_PARM_01" at (0043,0010), (0043,1039) IS ``[b + 1000000000, 8, 0, 0]``
  (GE's multi-b bias: b = value % 1e9); (0018,9087) on b > 0 files only;
* ``philips``: private creator "Philips Imaging DD 001" at (2001,0010), (2001,1003) FL b and (0018,9087);
  (2001,1004) CS 'I' (isotropic trace) on b > 0 files; pixels are rescaled (stored value * RescaleSlope +
  RescaleIntercept = signal) so a reader must apply the rescale.

For the other vendors the stored value is the signal rounded to an integer (no rescale tags).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage
from pydicom.valuerep import format_number_as_ds

from .geometry import SlabGeometry
from .options import VENDORS

GE_B_BIAS = 1_000_000_000
TR_MS, TE_MS, FIELD_T, LARMOR_MHZ = 1600.0, 72.0, 3.0, 123.2

_VENDOR_INFO = {
    "siemens": ("SIEMENS", "Skyra"),
    "ge": ("GE MEDICAL SYSTEMS", "DISCOVERY MR750"),
    "philips": ("Philips Medical Systems", "Ingenia"),
    "standard": ("VCFDiagnosis", "Synthetic phantom"),
}


@dataclass(frozen=True)
class PatientInfo:
    """Synthetic identifiers written into every file (never real data)."""

    name: str
    patient_id: str
    study_uid: str
    frame_of_reference_uid: str
    study_date: str = "20190101"
    study_time: str = "090000"


def ds_string(value: float) -> str:
    """Return ``value`` formatted as a DICOM DS string of at most 16 characters."""
    return format_number_as_ds(float(value))


def file_meta_for(sop_class_uid: str, sop_instance_uid: str, implementation_uid: str) -> FileMetaDataset:
    """Return a Part 10 file meta group (Explicit VR Little Endian)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = implementation_uid
    meta.ImplementationVersionName = "VCFDIAG_PHANTOM"
    return meta


def pixel_scaling(vendor: str, max_signal: float) -> tuple[float, float]:
    """Return (RescaleSlope, RescaleIntercept) so that stored * slope + intercept = signal.

    Philips style: a non-trivial slope and intercept with the maximum signal stored near 30000 (values
    exactly representable as DS strings). Other vendors: (1, 0), the signal rounded to an integer.
    """
    if vendor != "philips":
        return 1.0, 0.0
    intercept = -100.0
    slope = float(ds_string(float(f"{(max_signal - intercept) / 30000.0:.4g}")))
    return max(slope, 1e-4), intercept


def quantise(signal: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """Return the uint16 stored values for ``signal`` (clipped to 0..65535)."""
    return np.clip(np.rint((signal - intercept) / slope), 0, 65535).astype(np.uint16)


def _set_bvalue_tags(ds: Dataset, vendor: str, b: float) -> None:
    """Write the vendor's b-value tags for one file (and remove those that must be absent)."""
    b_int = round(b)
    if 0x00189087 in ds:
        del ds[0x00189087]
    if vendor == "standard":
        ds.DiffusionBValue = float(b)
    elif vendor == "siemens":
        ds.ImageType = ["ORIGINAL", "PRIMARY", "DIFFUSION", "TRACEW" if b > 0 else "NONE"]
        ds.SequenceName = f"*ep_b{b_int}t" if b > 0 else "*ep_b0"
        ds.private_block(0x0019, "SIEMENS MR HEADER", create=True).add_new(0x0C, "IS", str(b_int))
    elif vendor == "ge":
        if b > 0:
            ds.DiffusionBValue = float(b)
        block = ds.private_block(0x0043, "GEMS_PARM_01", create=True)
        block.add_new(0x39, "IS", [str(b_int + GE_B_BIAS), "8", "0", "0"])
    elif vendor == "philips":
        ds.DiffusionBValue = float(b)
        block = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
        block.add_new(0x03, "FL", float(b))
        if b > 0:
            block.add_new(0x04, "CS", "I")
        elif 0x20011004 in ds:
            del ds[0x20011004]
        ds.DiffusionDirectionality = "ISOTROPIC" if b > 0 else "NONE"


def mr_series_dataset(geometry: SlabGeometry, vendor: str, patient: PatientInfo, series_uid: str, *,
                      description: str, protocol: str, series_number: int, repetition_time_ms: float,
                      echo_time_ms: float) -> Dataset:
    """Return the header every file of one phantom MR series shares (classic MR Image Storage, uint16 pixels);
    the per-file elements (SOP UID, position, pixels, the b-value or echo) are set by the writer."""
    manufacturer, model = _VENDOR_INFO[vendor]
    nk, nj, ni = geometry.shape_kji
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.SOPClassUID = MRImageStorage
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = patient.study_date
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = patient.study_time
    ds.AccessionNumber = ""
    ds.Modality = "MR"
    ds.Manufacturer = manufacturer
    ds.ManufacturerModelName = model
    ds.InstitutionName = "VCFDiagnosis synthetic phantom"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Synthetic lumbar spine (VCFDiagnosis phantom)"
    ds.SeriesDescription = description
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.BodyPartExamined = "LSPINE"
    ds.SliceThickness = ds_string(geometry.slice_thickness_mm)
    ds.SpacingBetweenSlices = ds_string(geometry.slice_spacing_mm)
    ds.RepetitionTime = ds_string(repetition_time_ms)
    ds.EchoTime = ds_string(echo_time_ms)
    ds.ImagingFrequency = ds_string(LARMOR_MHZ)
    ds.MagneticFieldStrength = ds_string(FIELD_T)
    ds.ProtocolName = protocol
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = patient.study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "1"
    ds.SeriesNumber = str(series_number)
    ds.AcquisitionNumber = "1"
    ds.ImageOrientationPatient = [ds_string(x) for x in (*geometry.row_lps, *geometry.col_lps)]
    ds.FrameOfReferenceUID = patient.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = nj
    ds.Columns = ni
    ds.PixelSpacing = [ds_string(geometry.pixel_spacing_mm)] * 2
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    return ds


def random_file_names(rng: np.random.Generator, count: int) -> list[str]:
    """Return ``count`` distinct random DICOM file names (hex, so a reader cannot sort by name)."""
    names = [f"{x:016x}.dcm" for x in rng.integers(0, 2**63, size=count, dtype=np.int64)]
    if len(set(names)) != len(names):
        raise ValueError("random DICOM file names collided; use another seed")
    return names


def write_volume_slices(out_dir: Path, ds: Dataset, stored_kji: np.ndarray, geometry: SlabGeometry,
                        uids: list[str], names: list[str], first_instance: int, implementation_uid: str) -> None:
    """Write one file per slice of ``stored_kji`` (uint16) with the header ``ds`` (SOP UIDs and names per slice)."""
    normal = geometry.normal_lps
    for k in range(stored_kji.shape[0]):
        ds.SOPInstanceUID = uids[k]
        ds.InstanceNumber = str(first_instance + k)
        position = geometry.slice_position_lps(k)
        ds.ImagePositionPatient = [ds_string(x) for x in position]
        ds.SliceLocation = ds_string(float(position @ normal))
        ds.PixelData = stored_kji[k].astype("<u2").tobytes()
        ds.file_meta = file_meta_for(MRImageStorage, uids[k], implementation_uid)
        pydicom.dcmwrite(out_dir / names[k], ds, enforce_file_format=True)


def write_dwi_series(
    out_dir: Path,
    data_bkji: np.ndarray,
    bvalues_s_mm2: Sequence[float],
    geometry: SlabGeometry,
    vendor: str,
    patient: PatientInfo,
    make_uid: Callable[..., str],
    rng: np.random.Generator,
) -> dict:
    """Write one DICOM file per slice per b-value into ``out_dir``; return a description of what was written.

    ``data_bkji`` is the magnitude signal [b, k, j, i] in scanner units; ``make_uid(*parts)`` returns a
    deterministic UID for the given parts. The return value holds the file names, the rescale used and
    the series UID (plain JSON types).
    """
    if vendor not in VENDORS:
        raise ValueError(f"unknown vendor style {vendor!r}: expected one of {', '.join(VENDORS)}")
    bvalues = [float(b) for b in bvalues_s_mm2]
    if data_bkji.shape[0] != len(bvalues) or data_bkji.shape[1:] != tuple(geometry.shape_kji):
        raise ValueError(f"DWI data shape {data_bkji.shape} does not match b-values/grid")
    out_dir.mkdir(parents=True, exist_ok=True)
    nk = geometry.shape_kji[0]
    slope, intercept = pixel_scaling(vendor, float(np.max(data_bkji)))
    series_uid = make_uid("dwi-series")
    impl_uid = make_uid("implementation")
    names = random_file_names(rng, len(bvalues) * nk)
    ds = mr_series_dataset(geometry, vendor, patient, series_uid, description="ep2d_diff_IVIM_sag_trace (synthetic)",
                           protocol="ep2d_diff_IVIM_sag", series_number=5, repetition_time_ms=TR_MS,
                           echo_time_ms=TE_MS)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"]
    ds.ScanningSequence = "EP"
    ds.SequenceVariant = ["SK", "SP"]
    ds.ScanOptions = "FS"
    ds.MRAcquisitionType = "2D"
    ds.NumberOfAverages = "2"
    ds.EchoTrainLength = "1"
    if vendor == "philips":
        ds.RescaleIntercept = ds_string(intercept)
        ds.RescaleSlope = ds_string(slope)
        ds.RescaleType = "US"

    stored = quantise(data_bkji, slope, intercept)
    for ib, b in enumerate(bvalues):
        _set_bvalue_tags(ds, vendor, b)
        uids = [make_uid("dwi-image", str(ib), str(k)) for k in range(nk)]
        write_volume_slices(out_dir, ds, stored[ib], geometry, uids, names[ib * nk:(ib + 1) * nk], ib * nk + 1,
                            impl_uid)
    return {
        "files": names,
        "series_instance_uid": str(series_uid),
        "rescale_slope": float(slope),
        "rescale_intercept": float(intercept),
        "stored_dtype": "uint16",
        "manufacturer": _VENDOR_INFO[vendor][0],
        "repetition_time_ms": TR_MS,
        "echo_time_ms": TE_MS,
        "field_strength_T": FIELD_T,
    }
