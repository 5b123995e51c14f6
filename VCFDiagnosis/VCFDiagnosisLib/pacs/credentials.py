"""Archive credentials: from the environment or a file, never from a command line, a location or a log.

``VCFDIAGNOSIS_PACS_USER`` and ``VCFDIAGNOSIS_PACS_PASSWORD``, or ``VCFDIAGNOSIS_PACS_CREDENTIALS`` naming a JSON
file ``{"user": ..., "password": ...}`` that only its owner can read (a file others can read is refused).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from ..errors import InputError

USER_ENV, PASSWORD_ENV, FILE_ENV = "VCFDIAGNOSIS_PACS_USER", "VCFDIAGNOSIS_PACS_PASSWORD", "VCFDIAGNOSIS_PACS_CREDENTIALS"


def pacs_credentials(environ=os.environ) -> tuple[str, str] | None:
    """Return (user, password) for the archive, or None when none is configured."""
    if environ.get(FILE_ENV):
        path = Path(environ[FILE_ENV])
        try:
            if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise InputError(str(path), "the credentials file may be readable by its owner only (chmod 600)")
            data = json.loads(path.read_text(encoding="utf-8"))
            return str(data["user"]), str(data["password"])
        except (OSError, ValueError, KeyError, TypeError):
            raise InputError(str(path), 'not a readable credentials file ({"user": ..., "password": ...})') from None
    if environ.get(USER_ENV) is not None:
        return environ[USER_ENV], environ.get(PASSWORD_ENV, "")
    return None
