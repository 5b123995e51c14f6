"""Archive credentials: from the environment or a file, never from a command line, a location or a log, and sent
only to the archives the user named.

``VCFDIAGNOSIS_PACS_USER`` and ``VCFDIAGNOSIS_PACS_PASSWORD``, or ``VCFDIAGNOSIS_PACS_CREDENTIALS`` naming a JSON
file ``{"user": ..., "password": ..., "hosts": ["pacs.local:443"]}`` that only its owner can read (a file others
can read is refused). They go only to the ``HOST:PORT`` pairs listed in ``VCFDIAGNOSIS_PACS_HOSTS`` (comma-separated)
or the file's ``hosts``: a manifest row or a location naming another host never receives them. Over plain http
(``dicomweb://``) they go only to a loopback archive; elsewhere use ``dicomwebs://`` (https). DIMSE sends none (no
user identity negotiation): protect a DIMSE archive by its network and AE titles.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from ..errors import InputError
from .locations import PacsLocation, is_loopback

USER_ENV, PASSWORD_ENV, FILE_ENV = "VCFDIAGNOSIS_PACS_USER", "VCFDIAGNOSIS_PACS_PASSWORD", "VCFDIAGNOSIS_PACS_CREDENTIALS"
HOSTS_ENV = "VCFDIAGNOSIS_PACS_HOSTS"


def _configured(environ) -> tuple[str, str, set[str]] | None:
    """Return (user, password, allowed HOST:PORT) configured, or None."""
    hosts = {h.strip().lower() for h in environ.get(HOSTS_ENV, "").split(",") if h.strip()}
    if environ.get(FILE_ENV):
        path = Path(environ[FILE_ENV])
        try:
            mode = path.stat().st_mode
        except OSError:
            raise InputError(str(path), "the credentials file cannot be read") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InputError(str(path), "the credentials file may be readable by its owner only (chmod 600)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            hosts |= {str(h).strip().lower() for h in data.get("hosts", [])}
            return str(data["user"]), str(data["password"]), hosts
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            raise InputError(str(path), 'not a credentials file ({"user": ..., "password": ..., "hosts": [...]})') \
                from None
    if environ.get(USER_ENV) is not None:
        return environ[USER_ENV], environ.get(PASSWORD_ENV, ""), hosts
    return None


def pacs_credentials(location: PacsLocation, environ=os.environ) -> tuple[str, str] | None:
    """Return (user, password) to send to ``location``'s archive, None when none is configured.

    Raises InputError when credentials are configured but this archive is not one they may go to (not listed in
    ``VCFDIAGNOSIS_PACS_HOSTS`` / the file's ``hosts``, or plain http to another machine).
    """
    configured = _configured(environ)
    if configured is None:
        return None
    user, password, hosts = configured
    where = f"{location.host}:{location.port}".lower()
    if where not in hosts:
        raise InputError(location.display(), f"credentials are configured, but {where} is not an archive they may "
                                              f"be sent to: add it to {HOSTS_ENV} (or the credentials file's hosts)")
    if location.scheme == "dicomweb" and not is_loopback(location.host):
        raise InputError(location.display(), "credentials are not sent over plain http to another machine: use "
                                              "dicomwebs:// (https)")
    return user, password
