"""Diffusion b-values: where vendors store them in DICOM headers, and how near-equal values are grouped.

Units are s/mm2 throughout. Facts (``design/FORMATS.md``): the standard Diffusion b-value (0018,9087);
Siemens (0019,100C) (IS, often stored as raw bytes with VR UN); GE (0043,1039) ``[b, ...]`` where multi-b and
synthetic-b series add a bias of 1,000,000,000 to the first value (b = value modulo 1e9, which keeps
b >= 10000 intact); Philips (2001,1003) FL (raw little-endian float32 when the VR is UN). Philips stores its
"b0" repeats as b = 0.001 ... 0.004: :func:`group_bvalues` puts everything below 1 s/mm2 at 0.

Plausibility (:func:`bvalue_problem`): a b-value must be finite, >= 0 and at most :data:`MAX_BVALUE_S_MM2`
(10,000 s/mm2); a value of about 1e9 + b is GE's bias left in by a converter. Every reader refuses such values
with the file and the value, instead of using them or merging a negative b into b = 0.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pydicom is imported by the DICOM readers; the NIfTI/NRRD checks use this module without it
    import pydicom

#: b-values closer than this (s/mm2) are one shell; b below it counts as 0 (Philips stores b0 as 0.001).
B_TOLERANCE_S_MM2 = 1.0
#: GE adds this to the first value of (0043,1039) for multi-b / synthetic-b series.
GE_BVALUE_BIAS = 1_000_000_000

STANDARD_BVALUE_TAG = (0x0018, 0x9087)
SIEMENS_BVALUE_TAG = (0x0019, 0x100C)
GE_BVALUE_TAG = (0x0043, 0x1039)
PHILIPS_BVALUE_TAG = (0x2001, 0x1003)
#: b-values above this (s/mm2) are refused: clinical IVIM uses <= 1000, research diffusion rarely above 5000
MAX_BVALUE_S_MM2 = 10_000.0
PHILIPS_DIFFUSION_FLAG_TAG = (0x2001, 0x1004)  # CS 'I' = scanner-computed isotropic (trace) image
BVALUE_TAGS = (STANDARD_BVALUE_TAG, SIEMENS_BVALUE_TAG, GE_BVALUE_TAG, PHILIPS_BVALUE_TAG)


def first_number(value, binary_format: str | None = None) -> float | None:
    """Return the first number of a DICOM value (number, multi-value, string or raw bytes), or None.

    Raw bytes (VR UN) are read as text, unless ``binary_format`` (a :mod:`struct` code such as ``"<f"``)
    says they hold a binary number and their length matches it.
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        if binary_format and len(value) >= struct.calcsize(binary_format):
            return float(struct.unpack_from(binary_format, value)[0])
        value = value.decode("ascii", errors="ignore").strip("\x00 ")
    if isinstance(value, str):
        value = value.split("\\")[0].strip()
        try:
            return float(value) if value else None
        except ValueError:
            return None
    if isinstance(value, Sequence):  # list, tuple, pydicom's MultiValue
        return first_number(value[0], binary_format) if len(value) else None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _private_value(ds: pydicom.Dataset, tag: tuple[int, int]) -> float | None:
    """Return the first number of one b-value tag of ``ds`` (vendor-specific decoding), or None."""
    if tag not in ds:
        return None
    element = ds[tag]
    binary = None
    if tag == PHILIPS_BVALUE_TAG and element.VR in ("UN", "OB"):
        binary = "<f"
    value = first_number(element.value, binary)
    if value is None or not np.isfinite(value):
        return None
    return value


def bvalue_from_header(ds: pydicom.Dataset) -> float | None:
    """Return the b-value (s/mm2) of one classic DICOM image, or None if no known tag holds it.

    The standard tag wins, then Siemens, GE and Philips private tags. Any value >= 1e9 has GE's bias removed
    (``value % 1e9``).
    """
    for tag in BVALUE_TAGS:
        b = _private_value(ds, tag)
        if b is None:
            continue
        if b >= GE_BVALUE_BIAS:
            b = b % GE_BVALUE_BIAS
        return float(b)
    return None


def bvalue_problem(b: float) -> str | None:
    """Return why ``b`` (s/mm2) is not a plausible b-value (the value is in the text), or None if it is one."""
    if not math.isfinite(b):
        return f"b-value {b} is not a finite number"
    if b < 0:
        return f"b-value {b:g} s/mm2 is negative"
    if b >= GE_BVALUE_BIAS:
        return (f"b-value {b:.0f} looks like GE's bias of 1e9 added to b = {b % GE_BVALUE_BIAS:g} s/mm2 "
                "(left in by a converter; the b-value is the value minus 1e9)")
    if b > MAX_BVALUE_S_MM2:
        return f"b-value {b:g} s/mm2 is implausible (above {MAX_BVALUE_S_MM2:,.0f} s/mm2)"
    return None


def group_bvalues(bvalues: np.ndarray, tolerance: float = B_TOLERANCE_S_MM2) -> np.ndarray:
    """Return ``bvalues`` with near-equal values replaced by their shell's rounded mean (b < tol -> 0).

    Values are sorted and split where consecutive values differ by more than ``tolerance`` (s/mm2); each
    value is replaced by the mean of its shell rounded to 0.001 s/mm2. The order of the input is kept.
    """
    b = np.asarray(bvalues, dtype=float).reshape(-1).copy()
    if b.size == 0:
        return b
    b[b < tolerance] = 0.0
    order = np.argsort(b, kind="stable")
    shells = np.cumsum(np.r_[0, np.diff(b[order]) > tolerance])
    sums = np.bincount(shells, weights=b[order])
    means = np.round(sums / np.bincount(shells), 3)
    grouped = np.empty_like(b)
    grouped[order] = means[shells]
    return grouped
