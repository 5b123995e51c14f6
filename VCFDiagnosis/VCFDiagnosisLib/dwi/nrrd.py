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
"""

from __future__ import annotations

import bz2
import gzip
import os
from pathlib import Path

import numpy as np

from .bvalues import group_bvalues
from .errors import DwiInputError
from .shells import dwi_from_volumes
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


def read_nrrd_header(path: str | os.PathLike) -> tuple[dict, dict, int]:
    """Return (fields with lower-case names, key/value pairs, byte offset of attached data) of a NRRD file."""
    path = Path(path)
    fields: dict[str, str] = {}
    pairs: dict[str, str] = {}
    with open(path, "rb") as stream:
        magic = stream.readline()
        if not magic.startswith(b"NRRD"):
            raise DwiInputError(f"{path}: not a NRRD file (no NRRD magic line)")
        while True:
            line = stream.readline()
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


def _raw_data(path: Path, fields: dict, offset: int, n_bytes: int) -> bytes:
    """Return the (decompressed) data bytes of a NRRD file, attached or detached."""
    data_file = fields.get("data file") or fields.get("datafile")
    source = path
    if data_file:
        if data_file.startswith("LIST") or len(data_file.split()) > 1:
            raise DwiInputError(f"{path}: multi-file NRRD data ('data file: {data_file}') is not supported")
        source = (path.parent / data_file) if not os.path.isabs(data_file) else Path(data_file)
        offset = 0
    skip = int(fields.get("byte skip", "0"))
    encoding = fields.get("encoding", "raw").lower()
    try:
        with open(source, "rb") as stream:
            stream.seek(offset)
            blob = stream.read()
    except OSError as error:
        raise DwiInputError(f"{source}: cannot read NRRD data ({error.strerror})") from error
    if encoding in ("gzip", "gz"):
        blob = gzip.decompress(blob)
    elif encoding in ("bzip2", "bz2"):
        blob = bz2.decompress(blob)
    elif encoding in ("ascii", "txt", "text"):
        return blob
    elif encoding != "raw":
        raise DwiInputError(f"{path}: NRRD encoding '{encoding}' is not supported")
    if skip == -1:
        return blob[len(blob) - n_bytes:]
    return blob[skip:skip + n_bytes]


def nrrd_bvalues(pairs: dict, n_volumes: int, path: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Return (b-value per volume s/mm2, gradient per volume [n, 3]) from DWMRI_* key/value pairs."""
    if "DWMRI_b-value" not in pairs:
        raise DwiInputError(f"{path}: no DWMRI_b-value key: not a diffusion NRRD")
    b_nominal = float(pairs["DWMRI_b-value"])
    gradients: list[np.ndarray] = []
    for index in range(n_volumes):
        key = f"DWMRI_gradient_{index:04d}"
        if key in pairs:
            gradients.append(np.array([float(v) for v in pairs[key].split()]))
            for _ in range(int(pairs.get(f"DWMRI_NEX_{index:04d}", "1")) - 1):
                gradients.append(gradients[-1])
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
    if int(fields.get("dimension", "0")) != 4:
        raise DwiInputError(f"{path}: a diffusion NRRD must be 4D, got dimension {fields.get('dimension')}")
    sizes = [int(v) for v in fields["sizes"].split()]
    type_name = fields.get("type", "").lower()
    if type_name not in _TYPES:
        raise DwiInputError(f"{path}: NRRD type '{type_name}' is not supported")
    dtype = np.dtype(_TYPES[type_name]).newbyteorder("<" if fields.get("endian", "little") == "little" else ">")
    directions = _vectors(fields.get("space directions", ""))
    if len(directions) != 4 or sum(d is None for d in directions) != 1:
        raise DwiInputError(f"{path}: 'space directions' must give 3 vectors and one 'none' (the gradient axis)")
    list_axis = next(a for a, d in enumerate(directions) if d is None)
    spatial = [a for a in range(4) if a != list_axis]
    space = fields.get("space", "").lower()
    if space not in _SPACE_TO_RAS:
        raise DwiInputError(f"{path}: NRRD space '{fields.get('space')}' is not supported (RAS, LPS or LAS)")
    n_values = int(np.prod(sizes))
    blob = _raw_data(path, fields, offset, n_values * dtype.itemsize)
    if fields.get("encoding", "raw").lower() in ("ascii", "txt", "text"):
        flat = np.array(blob.split(), dtype=float)
    else:
        if len(blob) < n_values * dtype.itemsize:
            raise DwiInputError(f"{path}: NRRD data truncated ({len(blob)} of {n_values * dtype.itemsize} bytes)")
        flat = np.frombuffer(blob, dtype=dtype, count=n_values)
    array = flat.reshape(sizes[::-1])  # numpy axis (3 - a) is NRRD axis a (the first NRRD axis is fastest)
    array = np.transpose(array, [3 - list_axis] + [3 - a for a in spatial[::-1]]).astype(np.float32)
    bvalues, gradients = nrrd_bvalues(pairs, sizes[list_axis], str(path))

    ijk_to_space = np.eye(4)
    for column, axis in enumerate(spatial):
        ijk_to_space[:3, column] = directions[axis]
    origin = _vectors(fields.get("space origin", "(0,0,0)"))
    ijk_to_space[:3, 3] = origin[0] if origin and origin[0] is not None else 0.0
    ijk_to_ras = _SPACE_TO_RAS[space] @ ijk_to_space

    shells_b = group_bvalues(bvalues)
    shells = np.unique(shells_b)
    if shells.size < min_bvalues:
        raise DwiInputError(f"{path}: only {shells.size} b-value ({', '.join(f'{b:g}' for b in shells)} s/mm2); "
                            f"at least {min_bvalues} needed")
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
