"""Reader for Philips SDAT/SPAR spectroscopy (SPAR: ``key : value`` text; SDAT: VAX F-float complex).

A VAX F-float is 4 bytes stored as two little-endian 16-bit words, the first holding sign, 8-bit
exponent (bias 128) and the high fraction bits, with a hidden leading ``0.1`` bit: swapping the two
words gives the IEEE-754 single bit pattern of ``4 x value``. SDAT stores the complex conjugate of the
RDA / NIfTI-MRS convention, so the FID is conjugated on reading. Geometry: ``lr/ap/cc_off_center``
(the voxel centre, LPS mm: x = right-to-left, y = anterior-to-posterior, z = foot-to-head),
``lr/ap/cc_size`` (mm) and ``lr/ap/cc_angulation`` (degrees, rotations about the LPS axes).
"""

from __future__ import annotations

import os

import numpy as np

from . import processing
from .header_values import check_range, header_count, header_number
from .spectrum import (
    MAX_DWELL_S,
    MAX_POINTS,
    MIN_DWELL_S,
    MIN_POINTS,
    Spectrum,
    check_acquisition,
    check_fid,
    lps_to_ras,
    voxel_geometry,
)


def _num(fields: dict[str, str], key: str, path: str, warnings: list[str], required: bool = True):
    """Return a SPAR number (see :func:`.header_values.header_number`)."""
    return header_number(fields, key, path, warnings, "SPAR", required)


def vax_float32_to_float(raw: bytes) -> np.ndarray:
    """Return the float64 values of little-endian VAX F-floats (4 bytes each; zero exponent -> 0)."""
    if len(raw) % 4:
        raise ValueError("VAX float data length is not a multiple of 4 bytes")
    words = np.frombuffer(raw, dtype="<u2").reshape(-1, 2)
    bits = (words[:, 0].astype(np.uint32) << 16) | words[:, 1].astype(np.uint32)
    exponent = (bits >> 23) & 0xFF
    values = bits.view(np.float32).astype(float) / 4.0
    values[exponent == 0] = 0.0
    return values


def parse_spar(path: str) -> tuple[dict[str, str], list[str]]:
    """Return the ``key : value`` fields of a SPAR file and reading warnings (latin-1 fallback)."""
    with open(path, "rb") as handle:
        blob = handle.read()
    warnings = []
    try:
        text = blob.decode("utf-8")
    except UnicodeDecodeError:
        text = blob.decode("latin-1")
        warnings.append("SPAR file is not UTF-8 (decoded as latin-1)")
    fields: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("!") or ":" not in line:
            continue
        key, value = line.split(":", 1)
        fields[key.strip().lower()] = value.strip().strip('"')
    return fields, warnings


def _partner(path: str, ext: str) -> str:
    """Return the SDAT/SPAR file paired with ``path`` (same stem, either letter case)."""
    stem, _ = os.path.splitext(path)
    for candidate in (stem + ext.lower(), stem + ext.upper()):
        if os.path.exists(candidate):
            return candidate
    raise ValueError(f"{path}: the matching {ext.upper()} file ({os.path.basename(stem)}{ext}) is missing")


def _rotation_lps(lr_deg: float, ap_deg: float, cc_deg: float) -> np.ndarray:
    """Return the LPS rotation applied to the voxel axes for Philips angulations (degrees)."""
    a, b, c = np.deg2rad([lr_deg, ap_deg, cc_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def read_philips_sdat(path: str) -> Spectrum:
    """Return the :class:`Spectrum` of a Philips SDAT/SPAR pair (either file may be given)."""
    path = str(path)
    ext = os.path.splitext(path)[1].lower()
    sdat = path if ext == ".sdat" else _partner(path, ".sdat")
    spar = path if ext == ".spar" else _partner(path, ".spar")
    fields, warnings = parse_spar(spar)
    n = header_count(fields, "samples", spar, warnings, "SPAR", MIN_POINTS, MAX_POINTS)
    rows = header_count(fields, "rows", spar, warnings, "SPAR", 0, 1 << 16, required=False) or 1
    sw = _num(fields, "sample_frequency", spar, warnings)
    f0_hz = _num(fields, "synthesizer_frequency", spar, warnings)
    check_range(sw, 1.0 / MAX_DWELL_S, 1.0 / MIN_DWELL_S, spar, "SPAR sample_frequency", "Hz")
    check_acquisition(n, 1.0 / sw, f0_hz / 1e6, spar)
    for key in ("dim2_pnts", "dim3_pnts"):
        if (_num(fields, key, spar, warnings, required=False) or 1) > 1 and \
                fields.get("phase_encoding_enable", "no").lower() == "yes":
            raise ValueError(f"{spar}: CSI (phase-encoded) SDAT; only single-voxel spectroscopy is supported")
    with open(sdat, "rb") as handle:
        raw = handle.read()
    expected = n * rows * 8
    if len(raw) < expected:
        raise ValueError(f"{sdat}: SDAT data truncated: {len(raw)} bytes for {rows} x {n} points "
                         f"(need {expected})")
    if len(raw) > expected:
        raise ValueError(f"{sdat}: SDAT has {len(raw)} bytes but the SPAR says {rows} x {n} points "
                         f"({expected} bytes)")
    values = vax_float32_to_float(raw)
    frames = check_fid(values[0::2] + 1j * values[1::2], sdat).reshape(rows, n)
    frames = np.conj(frames)  # SDAT stores the mirror of the RDA / NIfTI-MRS convention
    fid = processing.align_and_average(frames, 1.0 / sw) if rows > 1 else frames[0]
    centre = [_num(fields, f"{a}_off_center", spar, warnings, required=False) for a in ("lr", "ap", "cc")]
    size = [_num(fields, f"{a}_size", spar, warnings, required=False) for a in ("lr", "ap", "cc")]
    ang = [_num(fields, f"{a}_angulation", spar, warnings, required=False) or 0.0 for a in ("lr", "ap", "cc")]
    orientation = lps_to_ras(_rotation_lps(*ang).T).T  # columns: rotated LR, AP, CC axes in RAS
    te = _num(fields, "echo_time", spar, warnings, required=False)
    tr = _num(fields, "repetition_time", spar, warnings, required=False)
    averages = _num(fields, "averages", spar, warnings, required=False)
    if rows > 1:
        warnings.append(f"{rows} SDAT rows averaged after alignment")
    return Spectrum(
        fid=fid,
        dwell_s=1.0 / sw,
        frequency_mhz=f0_hz / 1e6,
        te_ms=te,
        tr_ms=tr,
        averages=round(averages) if averages else None,
        water_suppressed=None,
        **voxel_geometry(centre, size, warnings, orientation_ras=orientation),
        vendor="Philips",
        source_format="philips-sdat",
        source_path=sdat,
        apodized=None,
        frames=rows,
        warnings=warnings,
    )
