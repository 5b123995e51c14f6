"""Numbers from text headers (Siemens RDA, Philips SPAR): clear errors, comma decimals tolerated.

Every problem is a ValueError whose message starts with the file, names the header kind and the field, e.g.
``x.rda: RDA header field 'MRFrequency' is not a finite number ('inf')``.
"""

from __future__ import annotations

import math
import re

_COMMA_DECIMAL = re.compile(r"[-+]?\d+,\d+([eE][-+]?\d+)?")


def header_number(fields: dict[str, str], key: str, path: str, warnings: list[str], header: str,
                  required: bool = True) -> float | None:
    """Return the finite number stored under ``key``; None if absent and not ``required``.

    A comma decimal separator (``2,5``) is read as a point, once noted in ``warnings``. A missing required
    field, a non-number or a non-finite value (``inf``, ``nan``) raises ValueError naming the file (``path``),
    the header kind and the field.
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
    return finite_number(value, path, f"{header} field '{key}'", shown=raw)


def finite_number(text: str, path: str, what: str, shown: str | None = None) -> float:
    """Return ``text`` as a finite float; ValueError ``<path>: <what> is not a (finite) number (<text>)``."""
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{path}: {what} is not a number ({text if shown is None else shown!r})") from None
    if not math.isfinite(number):
        raise ValueError(f"{path}: {what} is not a finite number ({text if shown is None else shown!r})")
    return number


def header_count(fields: dict[str, str], key: str, path: str, warnings: list[str], header: str,
                 minimum: int, maximum: int, required: bool = True) -> int | None:
    """Return the whole number stored under ``key`` (a size or count) within ``minimum..maximum``.

    ValueError naming the file, header and field for a fraction (``1024.5``) or a value out of range
    (negative sizes, zero points, absurdly large counts); None if absent and not ``required``.
    """
    number = header_number(fields, key, path, warnings, header, required)
    if number is None:
        return None
    if number != round(number):
        raise ValueError(f"{path}: {header} field '{key}' is not a whole number ({fields[key]!r})")
    if not minimum <= number <= maximum:
        raise ValueError(f"{path}: {header} field '{key}' is {fields[key]!r}, expected {minimum}..{maximum}")
    return int(number)


def check_range(value: float, low: float, high: float, path: str, what: str, unit: str) -> float:
    """Return ``value`` if ``low <= value <= high`` (finite), else raise ValueError naming the file and ``what``."""
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{path}: implausible {what} {value:g} {unit} (expected {low:g}..{high:g} {unit})")
    return value
