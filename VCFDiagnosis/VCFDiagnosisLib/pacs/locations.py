"""Archive locations: ``dicomweb://HOST:PORT/ROOT/studies/S/series/R`` and ``dimse://AET@HOST:PORT/studies/S/series/R``.

``dicomweb://`` is DICOMweb over http, ``dicomwebs://`` over https; ``ROOT`` is the service's path (Orthanc:
``/dicom-web``). For ``dimse://`` the part before ``@`` is the archive's (called) AE title; this program calls as
``VCFDIAGNOSIS_AET`` (default ``VCFDIAG``). A location never carries credentials: ``user:password@`` is refused
(they come from the environment or a file, :mod:`.credentials`), so they cannot reach a command line, a log, a
manifest or a message. :meth:`PacsLocation.display` is what messages show.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import InputError, RunFailed

SCHEMES = ("dicomweb", "dicomwebs", "dimse")


class TransferError(RunFailed):
    """A find, retrieve or store failed; the message names the location, never credentials. A RunFailed: the
    command line's error contract reports it (exit 1) and a batch makes it the case's error row."""
UID = re.compile(r"[0-9]+(\.[0-9]+)*")
AE_TITLE = re.compile(r"[ -~]{1,16}")
DEFAULT_CALLING_AET = "VCFDIAG"


@dataclass(frozen=True)
class PacsLocation:
    """Where a study or series lies on an archive (see the module docstring)."""

    scheme: str
    host: str
    port: int
    root: str = ""
    called_aet: str = ""
    study_uid: str | None = None
    series_uid: str | None = None

    @property
    def base_url(self) -> str:
        """Return the DICOMweb service URL (``http(s)://host:port/root``)."""
        http = "https" if self.scheme == "dicomwebs" else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{http}://{host}:{self.port}{self.root}"

    @property
    def calling_aet(self) -> str:
        """Return this program's AE title for DIMSE (``VCFDIAGNOSIS_AET``, default VCFDIAG)."""
        return os.environ.get("VCFDIAGNOSIS_AET", DEFAULT_CALLING_AET)[:16]

    def display(self) -> str:
        """Return the location as text for messages (it never holds credentials)."""
        where = f"{self.called_aet}@" if self.scheme == "dimse" else ""
        tail = "".join(f"/{k}/{v}" for k, v in (("studies", self.study_uid), ("series", self.series_uid)) if v)
        return f"{self.scheme}://{where}{self.host}:{self.port}{self.root}{tail}"


def is_loopback(host: str) -> bool:
    """Return True if ``host`` names only this machine (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_pacs_location(text: str | None) -> bool:
    """Return True if ``text`` is written as an archive location (one of :data:`SCHEMES`)."""
    return bool(text) and str(text).split("://", 1)[0].lower() in SCHEMES and "://" in str(text)


def parse_location(text: str) -> PacsLocation:
    """Return the location written in ``text``; InputError (without the text's credentials) if it is not one."""
    parts = urlsplit(str(text))
    scheme = parts.scheme.lower()
    shown = f"{scheme}://{parts.hostname or '?'}" + (f":{parts.port}" if parts.port else "")
    if scheme not in SCHEMES:
        raise InputError(shown, f"not an archive location (use {', '.join(s + '://' for s in SCHEMES)})")
    if parts.password is not None or (scheme != "dimse" and parts.username is not None):
        raise InputError(shown, "credentials are never part of a location: set VCFDIAGNOSIS_PACS_USER and "
                                "VCFDIAGNOSIS_PACS_PASSWORD, or VCFDIAGNOSIS_PACS_CREDENTIALS (a file)")
    try:
        port = parts.port
    except ValueError:
        raise InputError(shown, "the port is not a number") from None
    if not parts.hostname or not port:
        raise InputError(shown, "a location needs HOST:PORT")
    segments = [s for s in parts.path.split("/") if s]
    ids: dict[str, str] = {}
    while len(segments) >= 2 and segments[-2] in ("studies", "series") and UID.fullmatch(segments[-1]):
        if segments[-2] in ids:
            raise InputError(shown, f"'{segments[-2]}' is named twice")
        if segments[-2] == "series" and "studies" in ids:
            raise InputError(shown, "the series comes after its study: .../studies/<StudyUID>/series/<SeriesUID>")
        ids[segments[-2]] = segments[-1]
        segments = segments[:-2]
    if "series" in ids and "studies" not in ids:
        raise InputError(shown, "a series is named inside its study: .../studies/<StudyUID>/series/<SeriesUID>")
    aet = ""
    if scheme == "dimse":
        aet = parts.username or "ANY-SCP"
        if not AE_TITLE.fullmatch(aet) or segments:
            raise InputError(shown, "a DIMSE location is dimse://AET@HOST:PORT[/studies/S[/series/R]]")
    root = "/" + "/".join(segments) if segments else ""
    return PacsLocation(scheme, parts.hostname, int(port), root, aet, ids.get("studies"), ids.get("series"))
