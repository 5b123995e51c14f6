"""Reader for NIfTI-MRS (NIfTI-1 or NIfTI-2 header, complex data, JSON header extension code 44).

Parsed with numpy + json only (no nibabel). Data are shaped ``(1, 1, 1, points[, dim5[, dim6[, dim7]]])``;
``pixdim[4]`` is the dwell time (s); the JSON extension holds ``SpectrometerFrequency`` (MHz),
``EchoTime`` / ``RepetitionTime`` (s), ``WaterSuppressed`` and the ``dim_5..7`` tags (``DIM_COIL``,
``DIM_DYN``, ``DIM_EDIT`` ...). On disk NIfTI-MRS uses the RDA sign convention: no conjugation.
Coils are combined (:func:`processing.combine_coils`), transients (``DIM_DYN``) aligned and averaged.
The voxel geometry comes from the sform (else qform) affine, already in RAS.
"""

from __future__ import annotations

import gzip
import json
import math
import struct
import zlib

import numpy as np

from ..dwi.nifti_file import NIFTI1_HEADER_BYTES, NIFTI2_HEADER_BYTES, header_fields, header_version
from . import processing
from .spectrum import Spectrum, check_acquisition, check_fid

NIFTI_MRS_EXTENSION_CODE = 44
_DTYPES = {32: np.complex64, 1792: np.complex128, 2048: None}


def is_nifti(head: bytes) -> bool:
    """Return True when the (decompressed) first bytes look like a NIfTI-1 or NIfTI-2 header."""
    if len(head) < 348:
        return False
    for endian in "<>":
        size = struct.unpack_from(endian + "i", head, 0)[0]
        if size == 348 and head[344:347] in (b"n+1", b"ni1"):
            return True
        if size == 540 and head[4:7] in (b"n+2", b"ni2"):
            return True
    return False


def read_nifti_bytes(path: str) -> bytes:
    """Return the (gunzipped) bytes of a NIfTI file."""
    with open(path, "rb") as handle:
        blob = handle.read()
    if blob[:2] == b"\x1f\x8b":
        try:
            blob = gzip.decompress(blob)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt gzip stream ({exc})") from None
    return blob


def _affine_from_quaternion(b, c, d, qoffset, pixdim) -> np.ndarray:
    a = np.sqrt(max(0.0, 1.0 - (b * b + c * c + d * d)))
    rot = np.array([
        [a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
        [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
        [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b],
    ])
    qfac = -1.0 if pixdim[0] < 0 else 1.0
    scale = np.array([pixdim[1], pixdim[2], pixdim[3] * qfac])
    affine = np.eye(4)
    affine[:3, :3] = rot * scale
    affine[:3, 3] = qoffset
    return affine


def parse_nifti_header(blob: bytes, path: str) -> dict:
    """Return the fields of a NIfTI-1/2 header needed for MRS: dims, datatype, pixdim, offset, affine."""
    if not is_nifti(blob[:540]):
        raise ValueError(f"{path}: not a NIfTI file")
    version, endian = header_version(blob)
    header_size = NIFTI1_HEADER_BYTES if version == 1 else NIFTI2_HEADER_BYTES
    if len(blob) < header_size:
        raise ValueError(f"{path}: NIfTI-{version} header truncated ({len(blob)} bytes)")
    fields = header_fields(blob, version, endian)
    dim, datatype, pixdim, vox_offset = fields["dim"], fields["datatype"], fields["pixdim"], fields["vox_offset"]
    sform_code, quat = fields["codes"][1], fields["quatern"]
    srow = np.array(fields["srow"]).reshape(3, 4)
    ndim = int(dim[0])
    if not 4 <= ndim <= 7:
        raise ValueError(f"{path}: NIfTI-MRS needs 4 to 7 dimensions, the header says {ndim}")
    if any(int(d) < 1 for d in dim[1 : ndim + 1]):
        raise ValueError(f"{path}: NIfTI header has a zero or negative dimension: {list(dim[1 : ndim + 1])}")
    if not (math.isfinite(vox_offset) and header_size <= vox_offset < 2**62):
        raise ValueError(f"{path}: NIfTI vox_offset {vox_offset} does not point past the {header_size}-byte header")
    if sform_code > 0:
        affine = np.vstack([srow, [0, 0, 0, 1]])
    else:
        affine = _affine_from_quaternion(*quat[:3], quat[3:], pixdim)
    return {"endian": endian, "version": version, "shape": tuple(int(v) for v in dim[1:ndim + 1]),
            "datatype": int(datatype), "pixdim": pixdim, "vox_offset": int(vox_offset),
            "affine": affine, "header_size": header_size}


def parse_extensions(blob: bytes, header: dict) -> dict[int, list[bytes]]:
    """Return the header extensions ``{code: [content bytes]}`` between the header and the data."""
    pos = header["header_size"]
    found: dict[int, list[bytes]] = {}
    if len(blob) < pos + 4 or blob[pos] == 0:
        return found
    pos += 4
    end = header["vox_offset"] if header["vox_offset"] > pos else len(blob)
    while pos + 8 <= end:
        size, code = struct.unpack_from(header["endian"] + "2i", blob, pos)
        if size < 8 or pos + size > len(blob):
            break
        found.setdefault(code, []).append(blob[pos + 8 : pos + size])
        pos += size
    return found


def _json_header(raw: bytes, path: str) -> dict:
    """Return the NIfTI-MRS JSON header extension as a dict (UTF-8, else latin-1); ValueError if not JSON."""
    raw = raw.rstrip(b"\0 ")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    try:
        meta = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: NIfTI-MRS JSON header extension is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: NIfTI-MRS JSON header extension is a {type(meta).__name__}, not an object")
    return meta


def _meta_number(meta: dict, key: str, path: str) -> float | None:
    """Return the finite number under ``key`` of the JSON header (first item of a list); None if absent."""
    value = meta.get(key)
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{path}: NIfTI-MRS JSON field '{key}' is not a finite number ({value!r})")
    return float(value)


def read_nifti_mrs(path: str) -> Spectrum:
    """Return the :class:`Spectrum` of a NIfTI-MRS file (``.nii`` or ``.nii.gz``)."""
    path = str(path)
    blob = read_nifti_bytes(path)
    header = parse_nifti_header(blob, path)
    exts = parse_extensions(blob, header)
    if NIFTI_MRS_EXTENSION_CODE not in exts:
        raise ValueError(f"{path}: NIfTI without the NIfTI-MRS JSON extension (code 44): an image, not "
                         "a spectrum; convert the spectroscopy data with spec2nii")
    meta = _json_header(exts[NIFTI_MRS_EXTENSION_CODE][0], path)
    shape = header["shape"]
    n = shape[3]
    dwell = float(header["pixdim"][4])
    f0 = _meta_number(meta, "SpectrometerFrequency", path)
    if f0 is None:
        raise ValueError(f"{path}: NIfTI-MRS JSON header has no SpectrometerFrequency")
    check_acquisition(n, dwell, f0, path)
    if math.prod(shape[:3]) > 1:
        raise ValueError(f"{path}: NIfTI-MRS with {shape[0]}x{shape[1]}x{shape[2]} voxels (CSI/MRSI); only "
                         "single-voxel spectroscopy is supported")
    dtype = _DTYPES.get(header["datatype"])
    if dtype is None:
        raise ValueError(f"{path}: NIfTI-MRS datatype {header['datatype']} is not complex64/complex128")
    dtype = np.dtype(dtype).newbyteorder(header["endian"])
    count = math.prod(shape)
    start = header["vox_offset"]
    needed = count * dtype.itemsize
    if len(blob) < start + needed:
        raise ValueError(f"{path}: NIfTI-MRS data truncated: {max(len(blob) - start, 0)} bytes for shape {shape} "
                         f"(need {needed})")
    data = np.frombuffer(blob, dtype=dtype, count=count, offset=start).astype(complex)
    data = check_fid(data.reshape(shape, order="F"), path)
    warnings: list[str] = []
    extra = data.reshape(n, *shape[4:], order="F") if len(shape) > 4 else data.reshape(n, order="F")
    # move the spectral axis last: (dim5, dim6, dim7, points)
    extra = np.moveaxis(extra, 0, -1)
    tags = [meta.get(f"dim_{k}", "DIM_DYN") for k in range(5, 5 + extra.ndim - 1)]
    frames = int(np.prod(extra.shape[:-1])) if extra.ndim > 1 else 1
    if "DIM_COIL" in tags:
        axis = tags.index("DIM_COIL")
        extra = processing.combine_coils(np.moveaxis(extra, axis, 0))
        tags.pop(axis)
        warnings.append(f"{shape[4 + axis]} uncombined coils combined (weighted by signal / noise variance)")
    others = [t for t in tags if t not in ("DIM_DYN", "DIM_MEAS")]
    if others:
        warnings.append(f"NIfTI-MRS dimensions {others} averaged together as if they were transients")
    extra = extra.reshape(-1, n)
    transients = extra.shape[0]
    fid = check_fid(processing.align_and_average(extra, dwell) if extra.shape[0] > 1 else extra[0], path)
    affine = header["affine"]
    sizes = np.linalg.norm(affine[:3, :3], axis=0)
    orientation = affine[:3, :3] / np.where(sizes > 0, sizes, 1.0)
    te = _meta_number(meta, "EchoTime", path)
    tr = _meta_number(meta, "RepetitionTime", path)
    averages = _meta_number(meta, "NumberOfAverages", path)
    ws = meta.get("WaterSuppressed")
    return Spectrum(
        fid=fid,
        dwell_s=dwell,
        frequency_mhz=f0,
        te_ms=float(te) * 1e3 if te is not None else None,
        tr_ms=float(tr) * 1e3 if tr is not None else None,
        averages=round(averages) if averages is not None else (transients if transients > 1 else None),
        water_suppressed=bool(ws) if isinstance(ws, (bool, int)) else None,
        voxel_center_ras=affine[:3, 3].copy(),
        voxel_size_mm=sizes,
        voxel_orientation_ras=orientation,
        vendor=str(meta.get("Manufacturer", "")),
        source_format="nifti-mrs",
        source_path=path,
        apodized=None,
        frames=frames,
        warnings=warnings,
    )
