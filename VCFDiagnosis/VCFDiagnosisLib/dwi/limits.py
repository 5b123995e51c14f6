"""Size limits of every image the DWI layer reads (NIfTI, NRRD, DICOM pixels, gzip copies of DICOM files).

Two caps apply to every read:

* **what the header says**: the voxel data of an image must have exactly the size its header announces (a
  shorter file is truncated, a compressed stream that decompresses to more than that plus
  :data:`DECOMPRESSION_SLACK_BYTES` is refused as a decompression bomb or a wrong header);
* **an absolute ceiling**: no image may announce more than :func:`max_image_bytes` bytes of voxel data
  (default :data:`DEFAULT_MAX_IMAGE_BYTES`, 4 GiB; set ``VCFDIAGNOSIS_MAX_IMAGE_BYTES`` to a number of bytes,
  optionally with a K, M, G or T suffix (binary units), to change it). A 4D DWI of 512 x 512 x 60 slices x 50
  volumes of float32 is 3.1 GB; anything above the ceiling is refused before a byte is allocated.

Compressed data are decompressed in chunks (:mod:`.streams`), so memory stays within the cap.
"""

from __future__ import annotations

import os

from .errors import DwiInputError

#: environment variable that overrides the ceiling (bytes, or a number with a K/M/G/T suffix)
MAX_IMAGE_BYTES_ENV = "VCFDIAGNOSIS_MAX_IMAGE_BYTES"
#: default ceiling on the voxel data of one image: 4 GiB
DEFAULT_MAX_IMAGE_BYTES = 4 << 30
#: a compressed stream may hold this many bytes more than its header describes (padding) before it is refused
DECOMPRESSION_SLACK_BYTES = 64 << 10
_SUFFIXES = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_byte_count(text: str) -> int:
    """Return the number of bytes of ``text`` ('4294967296', '4G', '512M', '1.5G'); ValueError if it is not one."""
    value = text.strip().upper().removesuffix("B").removesuffix("I")
    suffix = value[-1:] if value[-1:] in _SUFFIXES else ""
    number = float(value[: len(value) - len(suffix)])
    if not number > 0 or number != number or number == float("inf"):
        raise ValueError(f"not a positive size: {text!r}")
    return int(number * _SUFFIXES[suffix])


def max_image_bytes() -> int:
    """Return the ceiling on the voxel data of one image, in bytes (environment override, else 4 GiB)."""
    text = os.environ.get(MAX_IMAGE_BYTES_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_IMAGE_BYTES
    try:
        return parse_byte_count(text)
    except (ValueError, IndexError) as error:
        raise DwiInputError(f"{MAX_IMAGE_BYTES_ENV}={text!r}: not a size in bytes (e.g. 4G or 4294967296)") from error


def format_bytes(n_bytes: int) -> str:
    """Return ``n_bytes`` for a message: '1152 bytes', '6.7 GB'."""
    if n_bytes < 10_000:
        return f"{n_bytes} bytes"
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= size:
            return f"{n_bytes} bytes ({n_bytes / size:.3g} {unit})"
    return f"{n_bytes} bytes"


def check_image_bytes(path, n_bytes: int, what: str) -> None:
    """Raise :class:`DwiInputError` naming ``path`` if ``n_bytes`` (what the header announces) exceeds the ceiling.

    ``what`` describes the image for the message, e.g. 'dims 1024 x 1024 x 100 x 16 of float32'.
    """
    limit = max_image_bytes()
    if n_bytes > limit:
        raise DwiInputError(f"{path}: header describes {what}, {format_bytes(n_bytes)} of voxel data, above the "
                            f"limit of {format_bytes(limit)} (set {MAX_IMAGE_BYTES_ENV} to raise it)")
