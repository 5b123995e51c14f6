"""Temporary cache folders that carry their process id, so the next start removes those of killed processes.

A process killed with ``kill -9`` runs no clean-up; its folder ``vcfdiag-cache-<pid>-*`` in the temporary
directory is removed by the next :func:`make_cache_dir` of any process, once no process with that pid runs.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

CACHE_PREFIX = "vcfdiag-cache-"


def make_cache_dir() -> str:
    """Return a new temporary cache folder ``vcfdiag-cache-<pid>-*``, removed when this process exits.

    Folders that processes killed without a chance to clean up (``kill -9``) left behind are removed here too:
    their name holds the pid, and a pid that no longer runs owns nothing.
    """
    remove_stale_cache_dirs()
    path = tempfile.mkdtemp(prefix=f"{CACHE_PREFIX}{os.getpid()}-")
    atexit.register(shutil.rmtree, path, True)
    return path


def remove_stale_cache_dirs() -> None:
    """Remove ``vcfdiag-cache-<pid>-*`` folders of processes that no longer run."""
    remove_dead_process_folders(Path(tempfile.gettempdir()), CACHE_PREFIX)


def remove_dead_process_folders(root: Path, prefix: str) -> None:
    """Remove the folders ``<root>/<prefix><pid>-*`` whose process no longer runs (a killed run's leftovers)."""
    try:
        entries = list(Path(root).glob(f"{prefix}*-*"))
    except OSError:
        return
    for entry in entries:
        pid_text = entry.name[len(prefix):].split("-", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except (PermissionError, OSError):
            continue
