"""Reader for Siemens CSA non-image spectroscopy DICOM (``.IMA``, SOP class 1.3.12.2.1107.5.9.1).

The FID is float32 re/im pairs in (7fe1,1010); the parameters live in the CSA image header
(0029,1110), parsed here (CSA1 and CSA2 "SV10" layouts). The data follow the RDA convention
(no conjugation). ``RealDwellTime`` is in ns, ``VoiPosition`` the voxel centre in LPS mm,
``VoiReadoutFoV`` / ``VoiPhaseFoV`` / ``VoiThickness`` its extent along the row / column / normal of
``ImageOrientationPatient``.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from .header_values import finite_number
from .spectrum import MAX_POINTS, Spectrum, check_acquisition, check_fid, voxel_geometry

SIEMENS_CSA_NON_IMAGE_SOP = "1.3.12.2.1107.5.9.1"


def parse_csa_header(blob: bytes) -> dict[str, list[str]]:
    """Return the tags of a Siemens CSA header as ``{name: [item strings]}`` (empty items dropped).

    Layout (little-endian): CSA2 starts with ``b"SV10"`` + 4 bytes, then ``n_tags`` (uint32) and an
    unused uint32; CSA1 starts directly with ``n_tags``. Each tag: name (64 bytes, NUL-terminated),
    VM (int32), VR (4 bytes), SyngoDT (int32), number of items (int32), a marker (int32); each item:
    four int32 (the 2nd is the item length in CSA2, the 1st in CSA1) then the data padded to 4 bytes.
    """
    csa2 = blob[:4] == b"SV10"
    pos = 8 if csa2 else 0
    if len(blob) < pos + 8:
        raise ValueError("CSA header too short")
    n_tags = struct.unpack_from("<I", blob, pos)[0]
    if not 0 < n_tags <= 1000:
        raise ValueError(f"CSA header claims {n_tags} tags")
    pos += 8
    tags: dict[str, list[str]] = {}
    for _ in range(n_tags):
        if pos + 84 > len(blob):
            raise ValueError("CSA header truncated")
        name = blob[pos : pos + 64].split(b"\0", 1)[0].decode("latin-1")
        n_items = struct.unpack_from("<i", blob, pos + 76)[0]
        pos += 84
        if not 0 <= n_items <= 10000:
            raise ValueError(f"CSA tag {name!r} claims {n_items} items")
        values = []
        for _ in range(n_items):
            if pos + 16 > len(blob):
                raise ValueError("CSA header truncated")
            lengths = struct.unpack_from("<4i", blob, pos)
            length = lengths[1] if csa2 else lengths[0]
            pos += 16
            if length < 0 or pos + length > len(blob):
                raise ValueError(f"CSA item of tag {name!r} runs past the end of the header")
            text = blob[pos : pos + length].split(b"\0", 1)[0].decode("latin-1").strip()
            if text:
                values.append(text)
            pos += (length + 3) // 4 * 4
        tags[name] = values
    return tags


def _to_float(text: str, name: str, path: str) -> float:
    """Return the finite number in a CSA item; ValueError naming the file and the tag otherwise."""
    return finite_number(text, path, f"CSA header tag '{name}'")


def _csa_float(tags: dict[str, list[str]], name: str, path: str = "CSA header") -> float | None:
    """Return the first item of a CSA tag as a finite float (None if absent)."""
    values = tags.get(name) or []
    return _to_float(values[0], name, path) if values else None


def _csa_floats(tags: dict[str, list[str]], name: str, count: int, path: str = "CSA header") -> list[float] | None:
    """Return the first ``count`` items of a CSA tag as finite floats (None if fewer)."""
    values = tags.get(name) or []
    return [_to_float(v, name, path) for v in values[:count]] if len(values) >= count else None


def _csa_count(tags: dict[str, list[str]], name: str, path: str, default: int = 1) -> int:
    """Return a CSA count/size tag as an int >= 0 (``default`` if absent or 0)."""
    value = _csa_float(tags, name, path)
    if value is None or value == 0:
        return default
    if value != round(value) or value < 0 or value > MAX_POINTS:
        raise ValueError(f"{path}: CSA header tag '{name}' is not a plausible count ({value:g})")
    return int(value)


def read_siemens_csa(ds, path: str) -> Spectrum:
    """Return the :class:`Spectrum` of a Siemens CSA spectroscopy DICOM dataset (pydicom Dataset)."""
    if (0x0029, 0x1110) not in ds:
        raise ValueError(f"{path}: Siemens spectroscopy DICOM without a CSA image header (0029,1110)")
    if (0x7FE1, 0x1010) not in ds:
        raise ValueError(f"{path}: Siemens spectroscopy DICOM without spectroscopy data (7fe1,1010)")
    try:
        tags = parse_csa_header(bytes(ds[0x0029, 0x1110].value))
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: unreadable Siemens CSA header: {exc}") from None
    warnings: list[str] = []
    n = _csa_count(tags, "DataPointColumns", path, 0) or _csa_count(tags, "SpectroscopyAcquisitionDataColumns", path, 0)
    dwell_ns = _csa_float(tags, "RealDwellTime", path)
    f0 = _csa_float(tags, "ImagingFrequency", path)
    if not n or not dwell_ns or not f0:
        raise ValueError(f"{path}: CSA header lacks DataPointColumns / RealDwellTime / ImagingFrequency")
    check_acquisition(n, dwell_ns * 1e-9, f0, path)
    rows = _csa_count(tags, "Rows", path)
    cols = _csa_count(tags, "Columns", path)
    frames = _csa_count(tags, "NumberOfFrames", path)
    if rows * cols * frames > 1:
        raise ValueError(f"{path}: CSI data ({rows}x{cols}x{frames} voxels); only single-voxel "
                         "spectroscopy is supported")
    raw = bytes(ds[0x7FE1, 0x1010].value)
    if len(raw) < n * 8:
        raise ValueError(f"{path}: spectroscopy data (7fe1,1010) truncated: {len(raw)} bytes for "
                         f"{n} points (need {n * 8})")
    if len(raw) > n * 8:
        raise ValueError(f"{path}: spectroscopy data (7fe1,1010) has {len(raw)} bytes, the header says "
                         f"{n} points ({n * 8} bytes): wrong size or multi-voxel data")
    pairs = np.frombuffer(raw, dtype="<f4").astype(float)
    fid = check_fid(pairs[0::2] + 1j * pairs[1::2], path)
    centre = _csa_floats(tags, "VoiPosition", 3, path)
    iop = _csa_floats(tags, "ImageOrientationPatient", 6, path)
    size = [_csa_float(tags, k, path) for k in ("VoiReadoutFoV", "VoiPhaseFoV", "VoiThickness")]
    averages = _csa_float(tags, "NumberOfAverages", path)
    hamming = _csa_float(tags, "HammingFilterWidth", path)
    te = _csa_float(tags, "EchoTime", path)
    tr = _csa_float(tags, "RepetitionTime", path)
    return Spectrum(
        fid=fid,
        dwell_s=dwell_ns * 1e-9,
        frequency_mhz=f0,
        te_ms=te if te is not None else _dicom_float(ds, "EchoTime"),
        tr_ms=tr if tr is not None else _dicom_float(ds, "RepetitionTime"),
        averages=round(averages) if averages else None,
        water_suppressed=None,
        **voxel_geometry(centre, size, warnings, *((iop[:3], iop[3:]) if iop else ())),
        vendor="Siemens",
        source_format="siemens-csa-dicom",
        source_path=str(path),
        apodized=bool(hamming) if hamming is not None else None,
        warnings=warnings,
    )


def _dicom_float(ds, keyword: str) -> float | None:
    """Return a finite float attribute of the dataset, None if absent or unreadable."""
    value = ds.get(keyword)
    try:
        number = float(value) if value not in (None, "") else None
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is not None and math.isfinite(number) else None
