"""Reader for standard DICOM MR Spectroscopy Storage (SOP 1.2.840.10008.5.1.4.1.1.4.2; Siemens XA, Philips).

SpectroscopyData (5600,0020) holds float32 re/im pairs, frame after frame. This format stores the
complex conjugate of the RDA / NIfTI-MRS convention, so the FID is conjugated on reading. Frames of
very different signal level (e.g. Philips: a water-suppressed frame plus an unsuppressed water
reference) are not averaged together: the weak frames are the spectrum, the strong ones are kept as
``Spectrum.reference_fid``. Similar frames are averaged after frequency/phase alignment.
"""

from __future__ import annotations

import math

import numpy as np

from . import processing
from .header_values import check_range
from .spectrum import MAX_DWELL_S, MIN_DWELL_S, Spectrum, check_acquisition, check_fid, voxel_geometry

DICOM_MRS_SOP = "1.2.840.10008.5.1.4.1.1.4.2"


def _first(ds, keyword: str, sequences: tuple[str, ...] = ()):
    """Return a value found at top level, in the shared or the first per-frame functional groups."""
    if keyword in ds and ds.get(keyword) not in (None, ""):
        return ds.get(keyword)
    groups = []
    for group_seq in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        items = ds.get(group_seq)
        if items:
            groups.append(items[0])
    for group in groups:
        for seq_name in sequences:
            seq = group.get(seq_name)
            if seq and keyword in seq[0] and seq[0].get(keyword) not in (None, ""):
                return seq[0].get(keyword)
    return None


def _float(value) -> float | None:
    """Return a finite float, or None for a missing, unreadable or non-finite value."""
    try:
        number = float(value) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is not None and math.isfinite(number) else None


def _floats(value, count: int) -> list[float] | None:
    """Return ``count`` finite floats from a multi-valued attribute, or None if it is not exactly that."""
    if value is None or isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != count:
        return None
    numbers = [_float(v) for v in value]
    return None if None in numbers else numbers


def _int(ds, keyword: str, default: int, path: str) -> int:
    """Return a whole-number attribute (``default`` if absent); ValueError naming the file if it is not one."""
    value = ds.get(keyword, default)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{path}: DICOM {keyword} is not a number ({value!r})") from None
    if not math.isfinite(number) or number != round(number) or number < 0:
        raise ValueError(f"{path}: DICOM {keyword} is not a whole number >= 0 ({value!r})")
    return int(number)


def read_dicom_mrs(ds, path: str) -> Spectrum:
    """Return the :class:`Spectrum` of a standard DICOM MR Spectroscopy dataset (pydicom Dataset)."""
    if (0x5600, 0x0020) not in ds:
        raise ValueError(f"{path}: MR Spectroscopy DICOM without SpectroscopyData (5600,0020)")
    warnings: list[str] = []
    acq_type = str(ds.get("MRSpectroscopyAcquisitionType", "SINGLE_VOXEL") or "SINGLE_VOXEL").upper()
    rows, cols = _int(ds, "Rows", 1, path) or 1, _int(ds, "Columns", 1, path) or 1
    if acq_type not in ("SINGLE_VOXEL", "") or rows * cols > 1:
        raise ValueError(f"{path}: CSI spectroscopy ({acq_type}, {rows}x{cols} voxels); only single-voxel "
                         "spectroscopy is supported")
    n = _int(ds, "DataPointColumns", 0, path)
    n_rows = _int(ds, "DataPointRows", 1, path) or 1
    frames = _int(ds, "NumberOfFrames", 1, path) or 1
    sw = _float(ds.get("SpectralWidth"))
    f0 = _float(ds.get("TransmitterFrequency"))
    if not n or not sw or not f0:
        raise ValueError(f"{path}: MR Spectroscopy DICOM lacks DataPointColumns / SpectralWidth / "
                         "TransmitterFrequency (or they are not finite numbers)")
    check_range(sw, 1.0 / MAX_DWELL_S, 1.0 / MIN_DWELL_S, path, "SpectralWidth", "Hz")
    check_acquisition(n, 1.0 / sw, f0, path)
    raw = bytes(ds[0x5600, 0x0020].value)
    per_frame = n * n_rows * 8
    if len(raw) < per_frame * frames:
        raise ValueError(f"{path}: SpectroscopyData truncated: {len(raw)} bytes for {frames} frame(s) x "
                         f"{n_rows} x {n} points (need {per_frame * frames})")
    if len(raw) > per_frame * frames:
        raise ValueError(f"{path}: SpectroscopyData has {len(raw)} bytes, the header says {frames} frame(s) "
                         f"x {n_rows} x {n} points ({per_frame * frames} bytes)")
    signal_domain = str(ds.get("SignalDomainColumns", "TIME") or "TIME").upper()
    pairs = np.frombuffer(raw, dtype="<f4").astype(float)
    data = check_fid(pairs[0::2] + 1j * pairs[1::2], path).reshape(frames * n_rows, n)
    if signal_domain == "FREQUENCY":
        data = np.fft.ifft(np.fft.ifftshift(data, axes=-1), axis=-1)
        warnings.append("SpectroscopyData stored in the frequency domain (converted to a FID)")
    data = np.conj(data)  # standard DICOM MRS stores the mirror of the RDA / NIfTI-MRS convention

    fid, reference, _ = processing.split_reference_frames(data)
    if reference is not None:
        warnings.append(f"{reference.shape[0]} of {data.shape[0]} frames are ~{processing.level_ratio(data):.0f}x "
                        "stronger (an unsuppressed water reference): kept apart as reference_fid, "
                        "not averaged with the spectrum")
    fid = check_fid(processing.align_and_average(fid, 1.0 / sw) if fid.shape[0] > 1 else fid[0], path)
    ref_avg = None
    if reference is not None:
        ref_avg = processing.align_and_average(reference, 1.0 / sw) if reference.shape[0] > 1 else reference[0]

    suppression = _first(ds, "SpectrallySelectedSuppression", ("MRModifierSequence",))
    water_suppressed = None
    if suppression:
        water_suppressed = "WATER" in str(suppression).upper()
    te = _float(_first(ds, "EffectiveEchoTime", ("MREchoSequence",))) or _float(ds.get("EchoTime"))
    tr = _float(_first(ds, "RepetitionTime", ("MRTimingAndRelatedParametersSequence",)))
    averages = _float(_first(ds, "NumberOfAverages", ("MRAveragesSequence",)))
    ipp = _first(ds, "ImagePositionPatient", ("PlanePositionSequence",))
    iop = _first(ds, "ImageOrientationPatient", ("PlaneOrientationSequence",))
    spacing = _first(ds, "PixelSpacing", ("PixelMeasuresSequence",))
    thickness = _float(_first(ds, "SliceThickness", ("PixelMeasuresSequence",)))
    if thickness is None:
        slabs = ds.get("VolumeLocalizationSequence") or []
        if len(slabs) == 1 and _float(slabs[0].get("SlabThickness")):
            thickness = _float(slabs[0].get("SlabThickness"))
            warnings.append("voxel thickness taken from VolumeLocalizationSequence (no SliceThickness)")
    iop, spacing, centre = _floats(iop, 6), _floats(spacing, 2), _floats(ipp, 3)
    size = None
    if spacing is not None and thickness is not None:
        # PixelSpacing = (between rows = along the column direction, between columns = along the row)
        size = [spacing[1], spacing[0], thickness]
    ref_ppm = _float(ds.get("ChemicalShiftReference"))
    return Spectrum(
        fid=fid,
        dwell_s=1.0 / sw,
        frequency_mhz=f0,
        te_ms=te,
        tr_ms=tr,
        averages=round(averages) if averages else None,
        water_suppressed=water_suppressed,
        center_ppm=ref_ppm if ref_ppm is not None and 3.0 < ref_ppm < 6.0 else 4.7,
        **voxel_geometry(centre, size, warnings, *((iop[:3], iop[3:]) if iop else ())),
        vendor=str(ds.get("Manufacturer", "") or ""),
        source_format="dicom-mrs",
        source_path=str(path),
        apodized=str(ds.get("TimeDomainFiltering", "NONE")).upper() not in ("NONE", ""),
        frames=frames * n_rows,
        reference_fid=ref_avg,
        warnings=warnings,
    )
