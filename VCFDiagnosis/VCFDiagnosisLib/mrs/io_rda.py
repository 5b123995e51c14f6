"""Reader for Siemens ``.rda`` spectroscopy exports (ASCII header + little-endian float64 re/im pairs).

The RDA data are already averaged and coil-combined and follow the convention of :mod:`.spectrum`
(``spectrum = fftshift(fft(fid))``, ``ppm = 4.7 - f/f0``): no conjugation. The voxel centre is
``VOIPositionSag/Cor/Tra`` (LPS mm), its extent ``VOIReadoutFOV`` along ``RowVector``, ``VOIPhaseFOV``
along ``ColumnVector`` and ``VOIThickness`` along their cross product. ``PositionVector`` is not the
voxel centre and is ignored.
"""

from __future__ import annotations

import numpy as np

from .header_values import header_count, header_number
from .spectrum import MAX_POINTS, MIN_POINTS, Spectrum, check_acquisition, check_fid, voxel_geometry


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


def _count(fields: dict[str, str], key: str, path: str, warnings: list[str], minimum: int, maximum: int,
           required: bool = True) -> int | None:
    """Return an RDA header size/count (see :func:`.header_values.header_count`)."""
    return header_count(fields, key, path, warnings, "RDA header", minimum, maximum, required)


def header_terminator_length(blob: bytes, after: int) -> int:
    """Return the length (0-2 bytes) of the one line terminator (CRLF, LF or CR) that ends the header."""
    if blob[after : after + 2] == b"\r\n":
        return 2
    return 1 if blob[after : after + 1] in (b"\n", b"\r") else 0


def locate_data(blob: bytes, after: int, expected: int, path: str, warnings: list[str]) -> bytes:
    """Return the ``expected`` data bytes that follow the header marker ending at byte ``after``.

    The header ends with exactly one line terminator (CRLF, or LF): a first data byte 0x0A or 0x0D is data,
    not a line break, so exactly one terminator is skipped. The size from the header (``expected`` bytes,
    VectorSize x 2 x float64) is cross-checked with the file size: a few extra blank lines after the header
    (the surplus bytes all CR/LF) are skipped by taking the data from the file end; otherwise too few bytes
    = truncated, a surplus of whole spectra = wrong VectorSize or multi-voxel data, another surplus =
    trailing bytes (ignored, with a warning).
    """
    natural = after + header_terminator_length(blob, after)
    from_end = len(blob) - expected
    if natural < from_end <= natural + 8 and blob[natural:from_end].strip(b"\r\n") == b"":
        warnings.append(f"{from_end - natural} extra line-break bytes after the RDA header (skipped)")
        return blob[from_end:]
    available = len(blob) - natural
    points = expected // 16
    if available == expected:
        return blob[natural:]
    if available < expected:
        raise ValueError(f"{path}: RDA data block truncated: {max(available, 0)} bytes for VectorSize {points} "
                         f"(need {expected})")
    if available % expected == 0:
        raise ValueError(f"{path}: RDA data block holds {available // expected} spectra of VectorSize {points}: "
                         "wrong header size or multi-voxel data")
    warnings.append(f"RDA data block has {available - expected} trailing bytes (ignored)")
    return blob[natural : natural + expected]


def read_rda(path: str) -> Spectrum:
    """Return the :class:`Spectrum` of a Siemens ``.rda`` file (ValueError naming the file when malformed)."""
    with open(path, "rb") as handle:
        blob = handle.read()
    start, end = blob.find(BEGIN), blob.find(END)
    if start < 0 or end < 0 or end < start:
        raise ValueError(f"{path}: not a Siemens RDA file (no '>>> Begin/End of header <<<' markers)")
    warnings: list[str] = []
    text, latin1 = _decode(blob[start + len(BEGIN) : end])
    if latin1:
        warnings.append("RDA header is not UTF-8 (decoded as latin-1)")
    fields = parse_rda_header(text)

    n = _count(fields, "VectorSize", path, warnings, MIN_POINTS, MAX_POINTS)
    dwell_us = _number(fields, "DwellTime", path, warnings)
    f0 = _number(fields, "MRFrequency", path, warnings)
    check_acquisition(n, dwell_us * 1e-6, f0, path)
    voxels = 1
    for k in range(3):
        size = _count(fields, f"CSIMatrixSize[{k}]", path, warnings, 0, MAX_POINTS, required=False)
        voxels *= size or 1
    if voxels > 1:
        raise ValueError(f"{path}: this RDA holds a CSI grid of {voxels} voxels; only single-voxel "
                         "spectroscopy is supported (export one voxel)")
    payload = locate_data(blob, end + len(END), n * 16, path, warnings)
    pairs = np.frombuffer(payload, dtype="<f8")
    fid = check_fid(pairs[0::2] + 1j * pairs[1::2], path)

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
        **voxel_geometry(centre, size, warnings, row, col),
        vendor="Siemens",
        source_format="rda",
        source_path=str(path),
        apodized=(hamming in ("on", "yes", "true", "1")) if hamming else None,
        warnings=warnings,
    )
