"""Atomic output files: write under the final name in a hidden staging folder, then move into place.

A reader never sees a half-written file, an interrupted run leaves the previous file intact, and an
existing file is replaced only when asked (``overwrite=True``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path with the target's file name; on success move it onto ``path``.

    Raises FileExistsError (naming the file) if ``path`` exists and ``overwrite`` is False, and
    OSError if the block did not create the temporary file.
    """
    target = Path(path).resolve()
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target}: exists; pass overwrite=True (--force) to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=target.parent))
    try:
        temporary = staging / target.name
        yield temporary
        if not temporary.exists():
            raise OSError(f"{target}: nothing was written")
        os.replace(temporary, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
