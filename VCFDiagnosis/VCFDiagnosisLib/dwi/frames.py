"""One 2D diffusion image as indexed from a DICOM header, whatever file layout holds it.

A :class:`DicomFrame` is a classic single-frame file, one frame of an enhanced multi-frame file or one
tile of a Siemens mosaic. Indexing reads headers only; the pixel reader later uses ``path``, ``frame``
and ``tile`` to find the pixels and ``rescale`` to turn stored values into signal.

Kinds of image (``kind``): ``"b0"`` (b < 1 s/mm2), ``"isotropic"`` (a scanner trace: enhanced
DiffusionDirectionality ISOTROPIC, Siemens ImageType TRACEW, Philips (2001,1004) = 'I'), ``"directional"``
(one gradient direction: DIRECTIONAL/BMATRIX or a non-zero gradient vector) or ``"unknown"`` (b > 0, no
direction information). A b > 0 image with an explicit zero gradient vector counts as isotropic. ``derived`` names why an image is a scanner-computed map (ADC, FA, ...) and never
a b-image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pydicom

from .bvalues import PHILIPS_DIFFUSION_FLAG_TAG, bvalue_from_header, first_number
from .mosaic import is_mosaic, mosaic_slice_count, mosaic_slice_positions, mosaic_tile_shape

#: ImageType / FrameType values of scanner-computed maps that are not b-images.
DERIVED_IMAGE_TYPES = frozenset({"ADC", "EADC", "FA", "COLFA", "TENSOR", "TRACE_ADC", "EXP", "EXPADC",
                                 "DERIVED_ADC", "ADC_UNSPECIFIED"})
_GRADIENT_TAGS = {
    "siemens": ((0x0019, 0x100E),),
    "ge": ((0x0019, 0x10BB), (0x0019, 0x10BC), (0x0019, 0x10BD)),
    "philips": ((0x2005, 0x10B0), (0x2005, 0x10B1), (0x2005, 0x10B2)),
}


@dataclass
class DicomFrame:
    """One 2D image of a series: where its pixels are, its b-value, kind and geometry (LPS, mm)."""

    path: str
    bvalue_s_mm2: float | None
    kind: str
    orientation: tuple
    position_lps: tuple
    shape: tuple
    pixel_spacing: tuple
    rescale: tuple = (1.0, 0.0)
    frame: int | None = None
    tile: int | None = None
    n_tiles: int | None = None
    derived: str | None = None
    gradient: tuple | None = None
    sop_uid: str = ""
    echo_time_ms: float | None = None
    image_type: frozenset = frozenset()
    complex_part: str = ""

    @property
    def key(self) -> tuple:
        """Return (path, frame, tile): what identifies the pixels of this image."""
        return (self.path, self.frame, self.tile)


def image_type_tokens(value) -> set[str]:
    """Return the upper-case values of an ImageType / FrameType element."""
    if value is None:
        return set()
    if isinstance(value, str):
        value = value.split("\\")
    return {str(v).strip().upper() for v in value}


#: GE's private image type (0043,102F): which part of the complex signal a GE image holds.
GE_IMAGE_TYPE_TAG = (0x0043, 0x102F)
_GE_PARTS = {0: "magnitude", 1: "phase", 2: "real", 3: "imaginary"}
_TYPE_PARTS = {"M": "magnitude", "MAGNITUDE": "magnitude", "P": "phase", "PHASE": "phase", "R": "real",
               "REAL": "real", "I": "imaginary", "IMAGINARY": "imaginary"}


def complex_part_of(image_type: set[str], component: str = "", ge_private=None) -> str:
    """Return ``magnitude``/``phase``/``real``/``imaginary`` for an image, or '' when nothing says.

    Sources, first that answers: the enhanced ComplexImageComponent, the ImageType/FrameType tokens (Siemens and
    Philips write M, P, R, I; MAGNITUDE, PHASE, ... in enhanced files), GE's private image type (0043,102F).
    """
    if component.strip().upper() in _TYPE_PARTS:
        return _TYPE_PARTS[component.strip().upper()]
    parts = {_TYPE_PARTS[t] for t in image_type if t in _TYPE_PARTS}
    if len(parts) == 1:
        return parts.pop()
    number = first_number(ge_private)
    return _GE_PARTS.get(int(number), "") if number is not None and number == int(number) else ""


def derived_reason(image_type: set[str], bvalue: float | None, label: str = "ImageType") -> str | None:
    """Return why an image with this ImageType and b-value is a derived map, or None for a b-image."""
    hits = sorted(image_type & DERIVED_IMAGE_TYPES)
    if hits:
        return f"{label} {'/'.join(hits)} (scanner-computed map)"
    if "DERIVED" in image_type and bvalue is None and not image_type & {"TRACEW", "TRACE"}:
        return f"{label} DERIVED without a b-value"
    return None


def _numbers(value) -> list[float]:
    """Return all numbers of a DICOM value (multi-value, string or raw little-endian doubles)."""
    if value is None:
        return []
    if isinstance(value, bytes):
        text = value.decode("ascii", errors="replace").strip("\x00 ")
        try:
            return [float(v) for v in text.split("\\")] if text else []
        except ValueError:
            pass
        if len(value) in (24, 12):
            return list(np.frombuffer(value, "<f8" if len(value) == 24 else "<f4").astype(float))
        return []
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return [float(v) for v in value]
    number = first_number(value)
    return [] if number is None else [number]


def classic_gradient(ds: pydicom.Dataset) -> tuple | None:
    """Return the diffusion gradient direction of a classic image (standard or vendor tag), or None."""
    if "DiffusionGradientOrientation" in ds:
        return tuple(float(v) for v in ds.DiffusionGradientOrientation)
    for tags in _GRADIENT_TAGS.values():
        if tags[0] not in ds:
            continue
        values = [v for tag in tags if tag in ds for v in _numbers(ds[tag].value)]
        if len(values) == 3:
            return tuple(values)
    return None


def classify_kind(bvalue: float | None, directionality: str, isotropic_flag: bool, gradient: tuple | None) -> str:
    """Return the kind of one diffusion image: 'b0', 'isotropic', 'directional' or 'unknown'."""
    if bvalue is not None and bvalue < 1.0:
        return "b0"
    if directionality == "ISOTROPIC" or isotropic_flag:
        return "isotropic"
    if directionality in ("DIRECTIONAL", "BMATRIX"):
        return "directional"
    if gradient is not None:
        # an explicit zero gradient at b > 0 is a scanner trace (Philips' mixed-in isotropic image)
        return "directional" if np.linalg.norm(gradient) > 1e-3 else "isotropic"
    return "unknown"


def numbers_or_nan(value, count: int) -> tuple:
    """Return ``count`` floats of a multi-valued DICOM element; a value that is missing or not a number is NaN.

    The assembler then refuses the image naming the file and the element (instead of skipping it, which would
    look like a missing slice).
    """
    values = list(value) if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else (
        [] if value is None else str(value).split("\\"))
    out = []
    for item in values[:count]:
        try:
            out.append(float(item))
        except (TypeError, ValueError):
            out.append(float("nan"))
    return tuple(out + [float("nan")] * (count - len(out)))


def pixel_spacing_of(ds: pydicom.Dataset) -> tuple[float, float]:
    """Return PixelSpacing (row spacing, column spacing) in mm, (1, 1) when absent (NaN where not a number)."""
    spacing = ds.get("PixelSpacing") or [1.0, 1.0]
    return numbers_or_nan(spacing, 2)


def rescale_of(item: pydicom.Dataset, fallback: tuple = (1.0, 0.0)) -> tuple[float, float]:
    """Return (RescaleSlope, RescaleIntercept) of ``item`` or ``fallback`` when it has none."""
    slope = first_number(item.get("RescaleSlope"))
    intercept = first_number(item.get("RescaleIntercept"))
    if slope is None and intercept is None:
        return fallback
    return (slope if slope not in (None, 0.0) else 1.0), (intercept or 0.0)


def frames_from_classic(ds: pydicom.Dataset, path: str) -> tuple[list[DicomFrame], list[str]]:
    """Return the images of one classic (single-frame) file, one per mosaic tile for a mosaic, and warnings."""
    image_type = image_type_tokens(ds.get("ImageType"))
    bvalue = bvalue_from_header(ds)
    gradient = classic_gradient(ds)
    flag = ds.get(PHILIPS_DIFFUSION_FLAG_TAG)
    flag_value = flag.value if flag is not None else None
    if isinstance(flag_value, bytes):
        flag_value = flag_value.decode("ascii", errors="ignore")
    isotropic = (str(flag_value or "").strip().upper() == "I") or bool(image_type & {"TRACEW", "TRACE"})
    kind = classify_kind(bvalue, str(ds.get("DiffusionDirectionality", "")).upper(), isotropic, gradient)
    orientation = numbers_or_nan(ds.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0]), 6)
    common = {"path": path, "bvalue_s_mm2": bvalue, "kind": kind, "orientation": orientation,
              "pixel_spacing": pixel_spacing_of(ds), "rescale": rescale_of(ds),
              "derived": derived_reason(image_type, bvalue), "gradient": gradient,
              "sop_uid": str(ds.get("SOPInstanceUID", "") or ""), "echo_time_ms": first_number(ds.get("EchoTime")),
              "image_type": frozenset(image_type),
              "complex_part": complex_part_of(image_type, ge_private=ds[GE_IMAGE_TYPE_TAG].value
                                              if GE_IMAGE_TYPE_TAG in ds else None)}
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows < 1 or cols < 1:
        raise ValueError(f"Rows x Columns = {rows} x {cols}: no image")
    if not is_mosaic(ds):
        position = numbers_or_nan(ds.ImagePositionPatient, 3)
        return [DicomFrame(position_lps=position, shape=(rows, cols), **common)], []
    n_slices = mosaic_slice_count(ds)
    if not n_slices:
        raise ValueError("mosaic image without (0019,100A) NumberOfImagesInMosaic or a CSA header")
    _, tile_rows, tile_cols = mosaic_tile_shape(rows, cols, n_slices)
    positions, warnings = mosaic_slice_positions(ds, n_slices, path)
    frames = [DicomFrame(position_lps=tuple(positions[t]), shape=(tile_rows, tile_cols), tile=t,
                         n_tiles=n_slices, **common) for t in range(n_slices)]
    return frames, warnings
