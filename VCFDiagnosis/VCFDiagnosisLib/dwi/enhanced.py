"""Enhanced (multi-frame) MR DICOM: one entry per frame from the functional groups.

Per frame (PerFrameFunctionalGroupsSequence item, else the SharedFunctionalGroupsSequence):
MRDiffusionSequence (DiffusionBValue (0018,9087), DiffusionDirectionality (0018,9075), gradient in
DiffusionGradientDirectionSequence), PlanePositionSequence (ImagePositionPatient), PlaneOrientationSequence
(ImageOrientationPatient), PixelMeasuresSequence (PixelSpacing), PixelValueTransformationSequence
(RescaleSlope/Intercept) and MRImageFrameTypeSequence (FrameType). Derived frames (an ADC FrameType, or
ISOTROPIC without a b-value, which is how Siemens XA stores its ADC maps) are marked ``derived``. A frame
without a b-value whose directionality is NONE has no diffusion weighting: b = 0.
"""

from __future__ import annotations

import pydicom

from .bvalues import GE_BVALUE_BIAS, first_number
from .frames import (
    DicomFrame,
    classify_kind,
    complex_part_of,
    derived_reason,
    image_type_tokens,
    numbers_or_nan,
    rescale_of,
)

ENHANCED_MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"


def is_enhanced(ds: pydicom.Dataset) -> bool:
    """Return True for a multi-frame image with per-frame functional groups."""
    return "PerFrameFunctionalGroupsSequence" in ds


def _group_item(frame_group: pydicom.Dataset | None, shared: pydicom.Dataset | None,
                keyword: str) -> pydicom.Dataset | None:
    """Return the first item of functional group ``keyword`` for one frame (per-frame, else shared)."""
    for source in (frame_group, shared):
        if source is not None and keyword in source and len(source[keyword].value):
            return source[keyword].value[0]
    return None


def frames_from_enhanced(ds: pydicom.Dataset, path: str) -> list[DicomFrame]:
    """Return one :class:`DicomFrame` per frame of an enhanced multi-frame image (headers only)."""
    per_frame = ds.PerFrameFunctionalGroupsSequence
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    rows, cols = int(ds.Rows), int(ds.Columns)
    if rows < 1 or cols < 1:
        raise ValueError(f"Rows x Columns = {rows} x {cols}: no image")
    sop_uid = str(ds.get("SOPInstanceUID", "") or "")
    top_type = image_type_tokens(ds.get("ImageType"))
    top_rescale = rescale_of(ds)
    frames = []
    for index, group in enumerate(per_frame):
        diffusion = _group_item(group, shared, "MRDiffusionSequence")
        bvalue = first_number(diffusion.get("DiffusionBValue")) if diffusion is not None else None
        directionality = str(diffusion.get("DiffusionDirectionality", "")).upper() if diffusion is not None else ""
        if bvalue is not None and bvalue >= GE_BVALUE_BIAS:
            bvalue %= GE_BVALUE_BIAS
        if bvalue is None and directionality == "NONE":
            bvalue = 0.0
        gradient = None
        if diffusion is not None and diffusion.get("DiffusionGradientDirectionSequence"):
            vector = diffusion.DiffusionGradientDirectionSequence[0].get("DiffusionGradientOrientation")
            gradient = tuple(float(v) for v in vector) if vector is not None else None
        frame_type_item = _group_item(group, shared, "MRImageFrameTypeSequence")
        frame_type = image_type_tokens(frame_type_item.get("FrameType")) if frame_type_item is not None else set()
        derived = (derived_reason(frame_type, bvalue, "FrameType") if frame_type else None) or (
            derived_reason(top_type, bvalue) if bvalue is None else None)
        if derived is None and directionality == "ISOTROPIC" and bvalue is None:
            derived = "ISOTROPIC frame without a b-value (an ADC/trace map)"
        position_item = _group_item(group, shared, "PlanePositionSequence")
        orientation_item = _group_item(group, shared, "PlaneOrientationSequence")
        if position_item is None or orientation_item is None:
            raise ValueError(f"frame {index + 1} has no PlanePositionSequence/PlaneOrientationSequence")
        measures = _group_item(group, shared, "PixelMeasuresSequence")
        spacing = measures.get("PixelSpacing") if measures is not None else None
        spacing = spacing or ds.get("PixelSpacing") or [1.0, 1.0]
        transform = _group_item(group, shared, "PixelValueTransformationSequence")
        echo = _group_item(group, shared, "MREchoSequence")
        frame_tokens = frame_type or top_type
        frames.append(DicomFrame(
            path=path,
            bvalue_s_mm2=bvalue,
            kind=classify_kind(bvalue, directionality, False, gradient),
            orientation=numbers_or_nan(orientation_item.get("ImageOrientationPatient"), 6),
            position_lps=numbers_or_nan(position_item.get("ImagePositionPatient"), 3),
            shape=(rows, cols),
            pixel_spacing=numbers_or_nan(spacing, 2),
            rescale=rescale_of(transform, top_rescale) if transform is not None else top_rescale,
            frame=index,
            derived=derived,
            gradient=gradient,
            sop_uid=sop_uid,
            echo_time_ms=first_number(echo.get("EffectiveEchoTime")) if echo is not None else None,
            image_type=frozenset(frame_tokens),
            complex_part=complex_part_of(frame_tokens, str(
                (frame_type_item.get("ComplexImageComponent", "") if frame_type_item is not None else "")
                or ds.get("ComplexImageComponent", "") or "")),
        ))
    return frames


def enhanced_acquisition(ds: pydicom.Dataset) -> dict:
    """Return TR/TE/slice thickness (ms, ms, mm) from an enhanced file's functional groups (None if absent)."""
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    first = ds.PerFrameFunctionalGroupsSequence[0] if ds.get("PerFrameFunctionalGroupsSequence") else None
    timing = _group_item(first, shared, "MRTimingAndRelatedParametersSequence")
    echo = _group_item(first, shared, "MREchoSequence")
    measures = _group_item(first, shared, "PixelMeasuresSequence")
    return {
        "repetition_time_ms": first_number(timing.get("RepetitionTime")) if timing is not None else None,
        "echo_time_ms": first_number(echo.get("EffectiveEchoTime")) if echo is not None else None,
        "slice_thickness_mm": first_number(measures.get("SliceThickness")) if measures is not None else None,
    }
