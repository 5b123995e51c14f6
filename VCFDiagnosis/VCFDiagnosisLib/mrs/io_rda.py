"""Reader for Siemens ``.rda`` spectroscopy exports (ASCII header + little-endian float64 re/im pairs).

The RDA data are already averaged and coil-combined and follow the convention of :mod:`.spectrum`
(``spectrum = fftshift(fft(fid))``, ``ppm = 4.7 - f/f0``): no conjugation. The voxel centre is
``VOIPositionSag/Cor/Tra`` (LPS mm), its extent ``VOIReadoutFOV`` along ``RowVector``, ``VOIPhaseFOV``
along ``ColumnVector`` and ``VOIThickness`` along their cross product. ``PositionVector`` is not the
voxel centre and is ignored.
"""

from __future__ import annotations

import numpy as np

from .header_values import header_number
from .spectrum import Spectrum, check_fid, lps_to_ras, orientation_from_row_column_lps


def _number(fields: dict[str, str], key: str, path: str, warnings: list[str], required: bool = True):
    """Return an RDA header number (see :func:`.header_values.header_number`)."""
    return header_number(fields, key, path, warnings, "RDA header", required)


BEGIN = b">>> Begin of header <<<"
END = b">>> End of header <<<"


def is_rda(head: bytes) -> bool:
    """Return True when the first bytes of a file look like a Siemens RDA header."""
    return BEGIN in head[:256]


def _decode(raw: bytes) -> tuple[str, bool]:
    """Return the header text and whether it had to be decoded as latin-1 (not UTF-8)."""
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("latin-1"), True


def parse_rda_header(text: str) -> dict[str, str]:
    """Return the ``Key: value`` pairs of an RDA header (values stripped strings)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, value = line.split(":", 1)
        fields[key.strip()] = value.strip()
    return fields


def read_rda(path: str) -> Spectrum:
    """Return the :class:`Spectrum` of a Siemens ``.rda`` file (ValueError on malformed files)."""
    with open(path, "rb") as handle:
        blob = handle.read()
    start, end = blob.find(BEGIN), blob.find(END)
    if start < 0 or end < 0:
        raise ValueError(f"{path}: not a Siemens RDA file (no '>>> Begin/End of header <<<' markers)")
    data_start = end + len(END)
    while data_start < len(blob) and blob[data_start : data_start + 1] in (b"\r", b"\n"):
        data_start += 1
    warnings: list[str] = []
    text, latin1 = _decode(blob[start + len(BEGIN) : end])
    if latin1:
        warnings.append("RDA header is not UTF-8 (decoded as latin-1)")
    fields = parse_rda_header(text)

    n = int(_number(fields, "VectorSize", path, warnings))
    dwell_us = _number(fields, "DwellTime", path, warnings)
    f0 = _number(fields, "MRFrequency", path, warnings)
    if n < 8 or dwell_us <= 0 or f0 <= 0:
        raise ValueError(f"{path}: implausible RDA header (VectorSize {n}, DwellTime {dwell_us}, "
                         f"MRFrequency {f0})")
    voxels = 1
    for k in range(3):
        size = _number(fields, f"CSIMatrixSize[{k}]", path, warnings, required=False)
        voxels *= int(size) if size else 1
    if voxels > 1:
        raise ValueError(f"{path}: this RDA holds a CSI grid of {voxels} voxels; only single-voxel "
                         "spectroscopy is supported (export one voxel)")
    payload = blob[data_start:]
    expected = n * 16
    if len(payload) < expected:
        raise ValueError(f"{path}: RDA data block truncated: {len(payload)} bytes for VectorSize {n} "
                         f"(need {expected})")
    if len(payload) > expected:
        extra = len(payload) - expected
        if extra % expected == 0:
            raise ValueError(f"{path}: RDA data block holds {len(payload) // expected} spectra of "
                             f"VectorSize {n}: wrong header size or multi-voxel data")
        warnings.append(f"RDA data block has {extra} trailing bytes (ignored)")
    pairs = np.frombuffer(payload[:expected], dtype="<f8")
    fid = check_fid(pairs[0::2] + 1j * pairs[1::2], path)
    if np.max(np.abs(fid)) > 1e30:
        raise ValueError(f"{path}: RDA data values are implausible (|x| > 1e30): wrong header or corrupt data")

    centre = [_number(fields, f"VOIPosition{a}", path, warnings, required=False) for a in ("Sag", "Cor", "Tra")]
    row = [_number(fields, f"RowVector[{k}]", path, warnings, required=False) for k in range(3)]
    col = [_number(fields, f"ColumnVector[{k}]", path, warnings, required=False) for k in range(3)]
    size = [_number(fields, k, path, warnings, required=False)
            for k in ("VOIReadoutFOV", "VOIPhaseFOV", "VOIThickness")]
    hamming = fields.get("HammingFilter", "").strip().lower()
    averages = _number(fields, "NumberOfAverages", path, warnings, required=False)
    return Spectrum(
        fid=fid,
        dwell_s=dwell_us * 1e-6,
        frequency_mhz=f0,
        te_ms=_number(fields, "TE", path, warnings, required=False),
        tr_ms=_number(fields, "TR", path, warnings, required=False),
        averages=round(averages) if averages is not None else None,
        water_suppressed=None,
        voxel_center_ras=lps_to_ras(centre) if None not in centre else None,
        voxel_size_mm=np.asarray(size, dtype=float) if None not in size else None,
        voxel_orientation_ras=(orientation_from_row_column_lps(row, col)
                               if None not in row + col and np.linalg.norm(row) > 0 and np.linalg.norm(col) > 0
                               else None),
        vendor="Siemens",
        source_format="rda",
        source_path=str(path),
        apodized=(hamming in ("on", "yes", "true", "1")) if hamming else None,
        warnings=warnings,
    )
