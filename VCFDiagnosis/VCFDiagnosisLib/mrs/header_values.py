"""Numbers from text headers (Siemens RDA, Philips SPAR): clear errors, comma decimals tolerated."""

from __future__ import annotations

import re

_COMMA_DECIMAL = re.compile(r"[-+]?\d+,\d+([eE][-+]?\d+)?")


def header_number(fields: dict[str, str], key: str, path: str, warnings: list[str], header: str,
                  required: bool = True) -> float | None:
    """Return the number stored under ``key``; None if absent and not ``required``.

    A comma decimal separator (``2,5``) is read as a point, once noted in ``warnings``. A missing required
    field or a non-number raises ValueError naming the file (``path``), the header kind and the field.
    """
    raw = fields.get(key)
    if raw is None or raw == "":
        if required:
            raise ValueError(f"{path}: {header} has no '{key}'")
        return None
    value = raw
    if _COMMA_DECIMAL.fullmatch(raw):
        value = raw.replace(",", ".")
        note = f"{header} uses comma decimal separators (read as points)"
        if note not in warnings:
            warnings.append(note)
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{path}: {header} field '{key}' is not a number: {raw!r}") from None
