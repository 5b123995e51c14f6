"""NIfTI-1 / NIfTI-2 single files (``.nii``, ``.nii.gz``): the header checked, the voxels read with size caps.

The header is parsed here (NIfTI-1: 348 bytes, NIfTI-2: 540 bytes, either byte order) and checked before any
voxel is read: magic, ``dim[0]`` in 1..7, every dimension >= 1, a scalar datatype, a sane ``vox_offset``,
finite non-zero voxel sizes (``pixdim``), finite qform/sform entries (when their codes are set) and a voxel data
size within :func:`~.limits.max_image_bytes`. The voxels are then read (gzip: streamed, :mod:`.streams`) into a
buffer of exactly the announced size: a shorter file is "truncated", a gzip stream holding more is refused.
``scl_slope``/``scl_inter`` are applied as the NIfTI standard says (a slope of 0 or not finite: no scaling).
NaN voxels stay NaN (the IVIM fit reports them as invalid input).

Geometry is not computed here: the DWI reader asks ITK (header only) so that qform/sform precedence stays ITK's.
Every problem is a :class:`~.errors.DwiInputError` whose message starts with the file.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DwiInputError
from .limits import check_image_bytes
from .streams import Payload, read_payload, regular_file, truncated, verify_payload

NIFTI1_HEADER_BYTES = 348
NIFTI2_HEADER_BYTES = 540
#: header extensions larger than this (bytes between the header and the voxels) are refused
MAX_VOX_OFFSET = 64 << 20
#: NIfTI datatype code -> numpy type of a scalar voxel
SCALAR_TYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4", 1024: "i8",
                1280: "u8"}
#: datatype codes that are not one real number per voxel
NON_SCALAR_TYPES = {1: "binary (1 bit)", 32: "complex64", 128: "RGB24", 1536: "float128", 1792: "complex128",
                    2048: "complex256", 2304: "RGBA32"}


@dataclass(frozen=True)
class NiftiHeader:
    """What the reader needs from a NIfTI header (dimensions i, j, k, t, ...; sizes in bytes)."""

    path: str
    version: int
    header_bytes: int
    dims: tuple[int, ...]
    dtype: np.dtype
    vox_offset: int
    scl_slope: float
    scl_inter: float

    @property
    def n_voxels(self) -> int:
        """Return the number of voxels (product of the dimensions)."""
        return math.prod(self.dims)

    @property
    def n_bytes(self) -> int:
        """Return the voxel data size the header announces, in bytes."""
        return self.n_voxels * self.dtype.itemsize

    @property
    def array_shape(self) -> tuple[int, ...]:
        """Return the numpy shape of the voxels, slowest axis first (``[t, k, j, i]`` for 4D)."""
        return tuple(reversed(self.dims))

    @property
    def scaled(self) -> bool:
        """Return True when ``scl_slope``/``scl_inter`` change the stored values."""
        return (self.scl_slope, self.scl_inter) != (1.0, 0.0)

    def describe(self) -> str:
        """Return 'dims 96 x 96 x 30 x 8 of int16' for messages."""
        return f"dims {' x '.join(map(str, self.dims))} of {self.dtype.name}"


def _error(path, problem: str) -> DwiInputError:
    return DwiInputError(f"{path}: {problem}")


def _size_field(head: bytes) -> tuple[int | None, str]:
    """Return (header size 348/540 or None, byte order '<'/'>') from the first 4 bytes."""
    for order in "<>":
        size = struct.unpack_from(order + "i", head)[0]
        if size in (NIFTI1_HEADER_BYTES, NIFTI2_HEADER_BYTES):
            return size, order
    return None, "<"


#: Header fields: name -> ((struct format, byte offset) in NIfTI-1, (format, offset) in NIfTI-2).
HEADER_FIELDS = {
    "dim": (("8h", 40), ("8q", 16)),
    "datatype": (("h", 70), ("h", 12)),
    "pixdim": (("8f", 76), ("8d", 104)),
    "vox_offset": (("f", 108), ("q", 168)),
    "scl": (("2f", 112), ("2d", 176)),
    "codes": (("2h", 252), ("2i", 344)),  # qform_code, sform_code
    "quatern": (("6f", 256), ("6d", 352)),  # quatern_b, c, d, qoffset_x, y, z
    "srow": (("12f", 280), ("12d", 400)),
}
MAGIC_BYTES = {1: slice(344, 348), 2: slice(4, 12)}


def header_fields(head: bytes, version: int, order: str) -> dict:
    """Return the raw (unchecked) header fields of :data:`HEADER_FIELDS` plus ``magic`` (NIfTI-1 or -2)."""
    fields = {"magic": head[MAGIC_BYTES[version]]}
    for name, layouts in HEADER_FIELDS.items():
        fmt, offset = layouts[version - 1]
        values = struct.unpack_from(order + fmt, head, offset)
        fields[name] = values[0] if len(values) == 1 else values
    return fields


def header_version(head: bytes) -> tuple[int | None, str]:
    """Return (NIfTI version 1 or 2, or None; byte order '<'/'>') from the header size field."""
    size, order = _size_field(head)
    return (None if size is None else 1 if size == NIFTI1_HEADER_BYTES else 2), order


def _check_magic(path, version: int, magic: bytes) -> None:
    if version == 1 and magic == b"ni1\x00":
        raise _error(path, "a NIfTI .hdr/.img pair header (magic 'ni1'): the voxels are in a separate .img file; "
                           "convert it to a single .nii/.nii.gz")
    wanted = b"n+1\x00" if version == 1 else b"n+2\x00\r\n\x1a\n"
    if magic != wanted:
        raise _error(path, f"not a readable NIfTI file (magic {magic!r}, expected {wanted!r})")


def _check_dims(path, dim: tuple) -> tuple[int, ...]:
    n = int(dim[0])
    if not 1 <= n <= 7:
        raise _error(path, f"NIfTI header dim[0] = {n}: the number of dimensions must be 1 to 7")
    dims = tuple(int(d) for d in dim[1: n + 1])
    for axis, size in enumerate(dims, start=1):
        if size < 1:
            raise _error(path, f"NIfTI header dim[{axis}] = {size}: every dimension must be at least 1")
    return dims


def _check_dtype(path, datatype: int, order: str) -> np.dtype:
    if datatype in SCALAR_TYPES:
        return np.dtype(SCALAR_TYPES[datatype]).newbyteorder(order)
    if datatype in NON_SCALAR_TYPES:
        raise _error(path, f"voxel type {NON_SCALAR_TYPES[datatype]} (NIfTI datatype {datatype}) is not a scalar "
                           "image")
    raise _error(path, f"unknown NIfTI datatype code {datatype}")


def _check_geometry_fields(path, fields: dict, n_dims: int) -> None:
    """Refuse non-finite or zero voxel sizes and non-finite qform/sform entries (when their codes say they count)."""
    pixdim = fields["pixdim"]
    for axis in range(1, min(n_dims, 3) + 1):
        if not math.isfinite(pixdim[axis]) or pixdim[axis] == 0:
            raise _error(path, f"NIfTI header pixdim[{axis}] = {pixdim[axis]:g}: a voxel size must be a finite, "
                               "non-zero number (mm)")
    qform_code, sform_code = fields["codes"]
    if qform_code > 0:
        values = (pixdim[0], *fields["quatern"])
        if not all(math.isfinite(v) for v in values):
            raise _error(path, "NIfTI qform (quatern_b/c/d, qoffset, qfac) holds a value that is not finite")
        b, c, d = fields["quatern"][:3]
        if b * b + c * c + d * d > 1.0 + 1e-3:
            raise _error(path, f"NIfTI qform quaternion ({b:g}, {c:g}, {d:g}) has a norm above 1")
    if sform_code > 0:
        srow = np.array(fields["srow"], dtype=float).reshape(3, 4)
        if not np.isfinite(srow).all():
            raise _error(path, "NIfTI sform (srow_x/y/z) holds a value that is not finite")
        if n_dims >= 3 and abs(np.linalg.det(srow[:, :3])) < 1e-12:
            raise _error(path, "NIfTI sform matrix is singular (voxel axes do not span 3D space)")


def _check_offset(path, value: float, header_bytes: int) -> int:
    if not math.isfinite(value) or value != int(value):
        raise _error(path, f"NIfTI header vox_offset = {value:g} is not a whole number of bytes")
    offset = int(value)
    if offset < header_bytes or offset > MAX_VOX_OFFSET:
        raise _error(path, f"NIfTI header vox_offset = {offset}: voxel data must start between byte {header_bytes} "
                           f"and {MAX_VOX_OFFSET}")
    return offset


def _scaling(fields: dict) -> tuple[float, float]:
    slope, inter = (float(v) for v in fields["scl"])
    if not math.isfinite(slope) or slope == 0.0:
        return 1.0, 0.0
    return slope, inter if math.isfinite(inter) else 0.0


def parse_nifti_header(head: bytes, path: str | os.PathLike) -> NiftiHeader:
    """Return the checked header of a NIfTI file from its first bytes (at least 348, 540 for NIfTI-2)."""
    if len(head) < 4:
        raise _error(path, f"not a readable NIfTI file ({'empty' if not head else f'only {len(head)} bytes'})")
    size, order = _size_field(head)
    if size is None:
        zero = "; it starts with zero bytes: a zero-filled file?" if not any(head[:4]) else ""
        raise _error(path, f"not a readable NIfTI file (header size field is {struct.unpack_from('<i', head)[0]}, "
                           f"expected 348 or 540{zero})")
    if len(head) < size:
        raise truncated(path, size, len(head), "NIfTI header")
    version = 1 if size == NIFTI1_HEADER_BYTES else 2
    fields = header_fields(head, version, order)
    _check_magic(path, version, fields["magic"])
    dims = _check_dims(path, fields["dim"])
    dtype = _check_dtype(path, int(fields["datatype"]), order)
    _check_geometry_fields(path, fields, len(dims))
    offset = _check_offset(path, float(fields["vox_offset"]), size)
    slope, inter = _scaling(fields)
    header = NiftiHeader(str(path), version, size, dims, dtype, offset, slope, inter)
    check_image_bytes(path, header.n_bytes, header.describe())
    return header


def _encoding(path: Path) -> str:
    """Return 'gzip' when the file starts with the gzip magic bytes, else 'raw' (whatever its name says)."""
    with open(path, "rb") as handle:
        return "gzip" if handle.read(2) == b"\x1f\x8b" else "raw"


def _read_header(stream: Payload, path: Path) -> NiftiHeader:
    head = stream.read(NIFTI1_HEADER_BYTES)
    size, _ = _size_field(head) if len(head) >= 4 else (None, "<")
    if size == NIFTI2_HEADER_BYTES:
        head += stream.read(NIFTI2_HEADER_BYTES - len(head))
    header = parse_nifti_header(head, path)
    gap = header.vox_offset - header.header_bytes
    skipped = stream.skip(gap)
    if skipped < gap:
        raise truncated(path, header.vox_offset, header.header_bytes + skipped, "header and extensions")
    return header


def read_nifti_header(path: str | os.PathLike) -> NiftiHeader:
    """Return the checked header of the NIfTI file ``path`` (reads only the header)."""
    path = regular_file(path, "NIfTI file")
    with Payload(path, _encoding(path)) as stream:
        return _read_header(stream, path)


def _scaled(header: NiftiHeader, raw: np.ndarray) -> np.ndarray:
    if not header.scaled:
        return raw
    out_type = np.float64 if raw.dtype.itemsize > 4 else np.float32
    return raw.astype(out_type) * out_type(header.scl_slope) + out_type(header.scl_inter)


def read_nifti(path: str | os.PathLike) -> tuple[NiftiHeader, np.ndarray]:
    """Return (header, voxels) of a NIfTI file; voxels shaped :attr:`NiftiHeader.array_shape`, native byte order.

    Raises :class:`DwiInputError` naming the file for every problem (see the module docstring).
    """
    path = regular_file(path, "NIfTI file")
    with Payload(path, _encoding(path)) as stream:
        header = _read_header(stream, path)
        buffer = read_payload(stream, header.n_bytes)
    raw = buffer.view(header.dtype).reshape(header.array_shape)
    if not raw.dtype.isnative:
        raw = raw.astype(raw.dtype.newbyteorder("="))
    return header, _scaled(header, raw)


def verify_nifti_file(path: str | os.PathLike) -> NiftiHeader:
    """Check a whole NIfTI file (header, voxel data size, gzip integrity) without keeping its voxels."""
    path = regular_file(path, "NIfTI file")
    with Payload(path, _encoding(path)) as stream:
        header = _read_header(stream, path)
        verify_payload(stream, header.n_bytes)
    return header
