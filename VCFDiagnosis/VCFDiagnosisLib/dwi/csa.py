"""Siemens CSA header (private (0029,1010) image / (0029,1020) series): a minimal reader of named values.

Layout (SV10, little-endian): ``b"SV10"``, 4 bytes, uint32 tag count, uint32 unused; then per tag a
64-byte name, int32 VM, 4-byte VR, int32 SyngoDT, int32 item count, int32 unused; then per item four int32
(the second is the item length in bytes) and the item's text padded to a multiple of 4 bytes. The older
CSA1 layout has no 8-byte signature. Only what the DWI loader needs is read: values as lists of strings.
"""

from __future__ import annotations

import struct

CSA_IMAGE_HEADER_TAG = (0x0029, 0x1010)


def parse_csa_header(blob: bytes) -> dict[str, list[str]]:
    """Return ``{name: [item strings]}`` of a CSA header; an unparsable blob gives what was read so far."""
    if not blob or len(blob) < 16:
        return {}
    offset = 8 if blob[:4] == b"SV10" else 0
    n_tags = struct.unpack_from("<I", blob, offset)[0]
    offset += 8
    values: dict[str, list[str]] = {}
    if n_tags > 1000:
        return values
    try:
        for _ in range(n_tags):
            name = blob[offset:offset + 64].split(b"\x00", 1)[0].decode("latin-1")
            n_items = struct.unpack_from("<i", blob, offset + 76)[0]
            offset += 84
            items = []
            for _ in range(max(n_items, 0)):
                length = struct.unpack_from("<i", blob, offset + 4)[0]
                offset += 16
                if length < 0 or offset + length > len(blob):
                    return values
                text = blob[offset:offset + length].split(b"\x00", 1)[0].decode("latin-1").strip()
                items.append(text)
                offset += (length + 3) // 4 * 4
            values[name] = [item for item in items if item]
    except struct.error:
        return values
    return values


def csa_numbers(values: dict[str, list[str]], name: str) -> list[float]:
    """Return the numeric items of one CSA entry (empty when absent or not numeric)."""
    out = []
    for item in values.get(name, []):
        try:
            out.append(float(item))
        except ValueError:
            continue
    return out
