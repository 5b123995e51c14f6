"""Slicer / NA-MIC diffusion NRRD (``.nrrd`` attached or ``.nhdr`` detached) into a DwiVolume.

Header facts used (NRRD0004/0005): ``type``, ``dimension: 4``, ``sizes``, ``space`` (RAS, LPS or LAS
names), ``space directions`` (one vector per axis, ``none`` for the gradient list axis), ``space origin``,
``kinds``, ``endian``, ``encoding`` (raw, gzip, bzip2, ascii), ``data file`` / ``byte skip`` for
detached data, ``measurement frame``; key/value pairs ``DWMRI_b-value:=b`` and
``DWMRI_gradient_NNNN:=gx gy gz`` (``DWMRI_NEX_NNNN:=n`` repeats a gradient n times).

The b-value of volume i is ``b * |g_i|^2`` (gradients are scaled so that the largest has norm 1); the
measurement frame rotates gradients only, so it does not change b-values (it is kept in metadata).
Volumes are grouped by b like DICOM images: several directions at one b give the trace by geometric mean,
b = 0 repeats are averaged. Data are read with numpy (no per-voxel loops).

Safety: the header is read line by line with a size cap (a file not starting with ``NRRD`` is refused after 4
bytes); ``sizes`` must be whole numbers >= 1 and the data size within :func:`~.limits.max_image_bytes`; the
data must hold exactly the announced bytes (raw: "truncated: header says N bytes of voxel data, file has M";
gzip/bzip2: streamed, a damaged stream is "corrupt", a longer one a decompression bomb). b-values must be
plausible (:func:`~.bvalues.bvalue_problem`). :func:`verify_nrrd_file` checks any NRRD (e.g. a ``.seg.nrrd``)
without keeping its samples.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from .bvalues import bvalue_problem, group_bvalues
from .errors import DwiInputError
from .limits import DECOMPRESSION_SLACK_BYTES, check_image_bytes
from .streams import Payload, read_payload, regular_file, truncated, verify_payload
from .volume import LPS_TO_RAS, DwiVolume

_TYPES = {
    "signed char": "i1", "int8": "i1", "int8_t": "i1", "uchar": "u1", "unsigned char": "u1", "uint8": "u1",
    "uint8_t": "u1", "short": "i2", "short int": "i2", "signed short": "i2", "signed short int": "i2",
    "int16": "i2", "int16_t": "i2", "ushort": "u2", "unsigned short": "u2", "unsigned short int": "u2",
    "uint16": "u2", "uint16_t": "u2", "int": "i4", "signed int": "i4", "int32": "i4", "int32_t": "i4",
    "uint": "u4", "unsigned int": "u4", "uint32": "u4", "uint32_t": "u4", "longlong": "i8", "int64": "i8",
    "int64_t": "i8", "ulonglong": "u8", "uint64": "u8", "uint64_t": "u8", "float": "f4", "double": "f8",
}
#: NRRD space name -> matrix taking that space to RAS
_SPACE_TO_RAS = {
    "right-anterior-superior": np.eye(4), "ras": np.eye(4),
    "left-posterior-superior": LPS_TO_RAS, "lps": LPS_TO_RAS,
    "left-anterior-superior": np.diag([-1.0, 1.0, 1.0, 1.0]), "las": np.diag([-1.0, 1.0, 1.0, 1.0]),
}


def _vectors(text: str) -> list[np.ndarray | None]:
    """Return the ``(x,y,z)`` vectors of a NRRD field (``none`` gives None)."""
    out = []
    for token in text.replace(") (", ")\t(").split():
        token = token.strip()
        if token.lower() == "none":
            out.append(None)
        elif token.startswith("("):
            out.append(np.array([float(v) for v in token.strip("()").split(",")]))
    return out


#: a NRRD header longer than this (bytes), or a header line longer than MAX_HEADER_LINE, is refused
MAX_HEADER_BYTES = 1 << 20
MAX_HEADER_LINE = 64 << 10
_ENCODINGS = {"raw": "raw", "gzip": "gzip", "gz": "gzip", "bzip2": "bzip2", "bz2": "bzip2", "ascii": "ascii",
              "txt": "ascii", "text": "ascii"}
#: an ASCII-encoded value takes at most this many characters (with its separator)
_ASCII_CHARS_PER_VALUE = 40


def read_nrrd_header(path: str | os.PathLike) -> tuple[dict, dict, int]:
    """Return (fields with lower-case names, key/value pairs, byte offset of attached data) of a NRRD file.

    Only the header is read (at most :data:`MAX_HEADER_BYTES`): a file that does not start with ``NRRD`` is
    refused after 4 bytes.
    """
    path = regular_file(path, "NRRD file")
    fields: dict[str, str] = {}
    pairs: dict[str, str] = {}
    with open(path, "rb") as stream:
        magic = stream.read(4)
        if magic != b"NRRD":
            what = "it starts with zero bytes: a zero-filled file?" if magic and not any(magic) else "no NRRD magic line"
            raise DwiInputError(f"{path}: not a NRRD file ({what})")
        stream.readline(MAX_HEADER_LINE)
        while True:
            line = stream.readline(MAX_HEADER_LINE)
            if stream.tell() > MAX_HEADER_BYTES or (len(line) == MAX_HEADER_LINE and not line.endswith(b"\n")):
                raise DwiInputError(f"{path}: NRRD header longer than {MAX_HEADER_BYTES} bytes or a line longer than "
                                    f"{MAX_HEADER_LINE} bytes (no blank line ending the header?)")
            if not line or line in (b"\n", b"\r\n"):
                break
            text = line.decode("latin-1").rstrip("\r\n")
            if text.startswith("#"):
                continue
            if ":=" in text:
                key, value = text.split(":=", 1)
                pairs[key.strip()] = value.strip()
            elif ": " in text:
                key, value = text.split(": ", 1)
                fields[key.strip().lower()] = value.strip()
        offset = stream.tell()
    return fields, pairs, offset


def _int_field(path, fields: dict, name: str, default: str | None = None) -> int:
    text = fields.get(name, default)
    if text is None:
        raise DwiInputError(f"{path}: NRRD header has no '{name}' field")
    try:
        return int(text)
    except ValueError as error:
        raise DwiInputError(f"{path}: NRRD field '{name}: {text}' is not a whole number") from error


def nrrd_sizes(path, fields: dict) -> list[int]:
    """Return the checked ``sizes`` of a NRRD header (one per dimension, each >= 1)."""
    dimension = _int_field(path, fields, "dimension")
    if not 1 <= dimension <= 16:
        raise DwiInputError(f"{path}: NRRD dimension {dimension} is not 1 to 16")
    text = fields.get("sizes")
    if text is None:
        raise DwiInputError(f"{path}: NRRD header has no 'sizes' field")
    try:
        sizes = [int(v) for v in text.split()]
    except ValueError as error:
        raise DwiInputError(f"{path}: NRRD field 'sizes: {text}' is not a list of whole numbers") from error
    if len(sizes) != dimension:
        raise DwiInputError(f"{path}: NRRD 'sizes' lists {len(sizes)} values for dimension {dimension}")
    if min(sizes) < 1:
        raise DwiInputError(f"{path}: NRRD sizes {' '.join(map(str, sizes))}: every size must be at least 1")
    return sizes


def nrrd_dtype(path, fields: dict) -> np.dtype:
    """Return the numpy type of the samples (byte order from ``endian``)."""
    type_name = fields.get("type", "").lower()
    if type_name not in _TYPES:
        raise DwiInputError(f"{path}: NRRD type '{type_name}' is not supported")
    endian = fields.get("endian", "little").lower()
    if endian not in ("little", "big"):
        raise DwiInputError(f"{path}: NRRD endian '{endian}' is not little or big")
    return np.dtype(_TYPES[type_name]).newbyteorder("<" if endian == "little" else ">")


def _data_source(path: Path, fields: dict, offset: int) -> tuple[Path, int]:
    """Return (file holding the data, byte offset of the data in it) for attached or detached data."""
    data_file = fields.get("data file") or fields.get("datafile")
    if not data_file:
        return path, offset
    if data_file.startswith("LIST") or len(data_file.split()) > 1:
        raise DwiInputError(f"{path}: multi-file NRRD data ('data file: {data_file}') is not supported")
    if _int_field(path, fields, "line skip", "0"):
        raise DwiInputError(f"{path}: NRRD 'line skip' is not supported")
    source = Path(data_file) if os.path.isabs(data_file) else path.parent / data_file
    return regular_file(source, "NRRD data file"), 0


def _read_ascii(path: Path, stream: Payload, n_values: int) -> np.ndarray:
    limit = n_values * _ASCII_CHARS_PER_VALUE + DECOMPRESSION_SLACK_BYTES
    text = stream.read(limit + 1)
    if len(text) > limit:
        raise DwiInputError(f"{path}: ASCII NRRD data longer than {limit} bytes for {n_values} values")
    try:
        flat = np.array(text.split()[: n_values + 1], dtype=float)
    except ValueError as error:
        raise DwiInputError(f"{path}: ASCII NRRD data holds something that is not a number") from error
    if flat.size < n_values:
        raise DwiInputError(f"{path}: truncated: header says {n_values} values of ASCII data, file has {flat.size}")
    return flat[:n_values]


def read_nrrd_samples(path: str | os.PathLike, fields: dict, offset: int, *, keep: bool = True) -> np.ndarray | None:
    """Return the samples of a NRRD file, flat in file order (native byte order), read with size checks.

    Raw data must hold the announced bytes (after ``byte skip``); gzip/bzip2 data are decompressed in chunks
    and must hold exactly that much (plus a small slack). ``keep=False`` checks the data without keeping it.
    """
    path = Path(path)
    sizes = nrrd_sizes(path, fields)
    dtype = nrrd_dtype(path, fields)
    n_values = math.prod(sizes)
    n_bytes = n_values * dtype.itemsize
    check_image_bytes(path, n_bytes, f"sizes {' x '.join(map(str, sizes))} of {dtype.name}")
    encoding = _ENCODINGS.get(fields.get("encoding", "raw").lower())
    if encoding is None:
        raise DwiInputError(f"{path}: NRRD encoding '{fields.get('encoding')}' is not supported")
    source, start = _data_source(path, fields, offset)
    skip = _int_field(path, fields, "byte skip", "0")
    if skip < -1 or (skip == -1 and encoding != "raw"):
        raise DwiInputError(f"{path}: NRRD 'byte skip: {skip}' is not supported with encoding {encoding}")
    if skip == -1:  # raw data at the end of the file
        start = max(source.stat().st_size - n_bytes, start)
        skip = 0
    with Payload(source, "raw" if encoding == "ascii" else encoding, start) as stream:
        if stream.skip(skip) < skip:
            raise truncated(source, skip, stream.position, "skipped bytes before the data")
        if encoding == "ascii":
            return _read_ascii(source, stream, n_values)
        if not keep:
            verify_payload(stream, n_bytes)
            return None
        buffer = read_payload(stream, n_bytes)
    flat = buffer.view(dtype)
    return flat if flat.dtype.isnative else flat.astype(flat.dtype.newbyteorder("="))


def verify_nrrd_file(path: str | os.PathLike) -> dict:
    """Check a whole NRRD file (header, data size, compressed stream) without keeping its samples; return fields."""
    fields, _, offset = read_nrrd_header(path)
    read_nrrd_samples(path, fields, offset, keep=False)
    return fields


def nrrd_bvalues(pairs: dict, n_volumes: int, path: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Return (b-value per volume s/mm2, gradient per volume [n, 3]) from DWMRI_* key/value pairs.

    The nominal b-value and every volume's b-value must be plausible (:func:`~.bvalues.bvalue_problem`).
    """
    if "DWMRI_b-value" not in pairs:
        raise DwiInputError(f"{path}: no DWMRI_b-value key: not a diffusion NRRD")
    try:
        b_nominal = float(pairs["DWMRI_b-value"])
    except ValueError as error:
        raise DwiInputError(f"{path}: DWMRI_b-value '{pairs['DWMRI_b-value']}' is not a number") from error
    problem = bvalue_problem(b_nominal)
    if problem:
        raise DwiInputError(f"{path}: DWMRI_b-value: {problem}")
    gradients: list[np.ndarray] = []
    for index in range(n_volumes):
        key = f"DWMRI_gradient_{index:04d}"
        if key in pairs:
            try:
                vector = np.array([float(v) for v in pairs[key].split()])
                repeats = int(pairs.get(f"DWMRI_NEX_{index:04d}", "1"))
            except ValueError as error:
                raise DwiInputError(f"{path}: {key} '{pairs[key]}' is not three numbers") from error
            if vector.shape != (3,) or not np.isfinite(vector).all():
                raise DwiInputError(f"{path}: {key} '{pairs[key]}' is not three finite numbers")
            gradients.extend([vector] * max(1, min(repeats, n_volumes - len(gradients))))
        if len(gradients) >= n_volumes:
            break
    if len(gradients) != n_volumes:
        raise DwiInputError(f"{path}: {len(gradients)} DWMRI_gradient entries for {n_volumes} volumes")
    g = np.array(gradients[:n_volumes], dtype=float)
    norm2 = (g ** 2).sum(axis=1)
    scale = norm2.max() if norm2.max() > 0 else 1.0
    return b_nominal * norm2 / scale, g


def load_dwi_nrrd(path: str | os.PathLike, *, min_bvalues: int = 2) -> DwiVolume:
    """Return the DWI of a Slicer diffusion NRRD (``.nrrd`` / ``.nhdr``) on its RAS grid."""
    path = Path(path)
    fields, pairs, offset = read_nrrd_header(path)
    try:
        return _dwi_from_nrrd(path, fields, pairs, offset, min_bvalues)
    except DwiInputError:
        raise
    except (ValueError, IndexError, TypeError) as error:  # a malformed field: name the file
        raise DwiInputError(f"{path}: malformed NRRD header ({error})") from error


def _dwi_from_nrrd(path: Path, fields: dict, pairs: dict, offset: int, min_bvalues: int) -> DwiVolume:
    sizes = nrrd_sizes(path, fields)
    if len(sizes) != 4:
        raise DwiInputError(f"{path}: a diffusion NRRD must be 4D, got dimension {len(sizes)}")
    directions = _vectors(fields.get("space directions", ""))
    if len(directions) != 4 or sum(d is None for d in directions) != 1:
        raise DwiInputError(f"{path}: 'space directions' must give 3 vectors and one 'none' (the gradient axis)")
    if any(d is not None and (d.shape != (3,) or not np.isfinite(d).all()) for d in directions):
        raise DwiInputError(f"{path}: 'space directions' holds a vector that is not 3 finite numbers")
    list_axis = next(a for a, d in enumerate(directions) if d is None)
    spatial = [a for a in range(4) if a != list_axis]
    space = fields.get("space", "").lower()
    if space not in _SPACE_TO_RAS:
        raise DwiInputError(f"{path}: NRRD space '{fields.get('space')}' is not supported (RAS, LPS or LAS)")
    bvalues, gradients = nrrd_bvalues(pairs, sizes[list_axis], str(path))  # before the (possibly large) data
    flat = read_nrrd_samples(path, fields, offset)
    array = flat.reshape(sizes[::-1])  # numpy axis (3 - a) is NRRD axis a (the first NRRD axis is fastest)
    array = np.transpose(array, [3 - list_axis] + [3 - a for a in spatial[::-1]]).astype(np.float32)

    ijk_to_space = np.eye(4)
    for column, axis in enumerate(spatial):
        ijk_to_space[:3, column] = directions[axis]
    origin = _vectors(fields.get("space origin", "(0,0,0)"))
    ijk_to_space[:3, 3] = origin[0] if origin and origin[0] is not None else 0.0
    if not np.isfinite(ijk_to_space).all() or abs(np.linalg.det(ijk_to_space[:3, :3])) < 1e-12:
        raise DwiInputError(f"{path}: 'space origin' is not finite or 'space directions' do not span 3D space")
    ijk_to_ras = _SPACE_TO_RAS[space] @ ijk_to_space

    shells_b = group_bvalues(bvalues)
    shells = np.unique(shells_b)
    if shells.size < min_bvalues:
        raise DwiInputError(f"{path}: only {shells.size} b-value ({', '.join(f'{b:g}' for b in shells)} s/mm2); "
                            f"at least {min_bvalues} needed")
    from .shells import dwi_from_volumes  # here: checking a .seg.nrrd needs none of the DICOM machinery

    combined = dwi_from_volumes(bvalues, array, ijk_to_ras)  # one volume per shell, directions -> trace
    warnings = [] if shells[0] == 0 else [f"{path}: no b = 0 volume (lowest b = {shells[0]:g} s/mm2)"]
    measurement = _vectors(fields.get("measurement frame", ""))
    metadata = {
        "source": str(path),
        "format": "nrrd",
        "space": fields.get("space"),
        "nominal_bvalue_s_mm2": float(pairs["DWMRI_b-value"]),
        "volumes": int(sizes[list_axis]),
        "volumes_per_bvalue": {f"{b:g}": int((shells_b == b).sum()) for b in shells},
        "combination": combined.metadata["combination"],
        "gradients": gradients.tolist(),
        "measurement_frame": [v.tolist() for v in measurement if v is not None] if measurement else None,
        "modality": pairs.get("modality", ""),
        "warnings": warnings,
    }
    return DwiVolume(bvalues_s_mm2=combined.bvalues_s_mm2, data=combined.data, ijk_to_ras=ijk_to_ras,
                     metadata=metadata)
