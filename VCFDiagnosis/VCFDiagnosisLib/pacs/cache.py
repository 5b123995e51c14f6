"""Where retrieved series go: ``<cache>/<archive>/<StudyUID>/<SeriesUID>/`` (``archive``: a safe name of the
location's scheme, host and port, so two archives never share a copy), filled in a staging folder and moved into place
whole (with a ``.complete`` marker), so a series is either there entirely or not at all; a complete one is reused."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .locations import PacsLocation

COMPLETE = ".complete"
#: Prefix of a retrieval's staging folder, followed by the retrieving process's pid.
STAGING = ".partial-"


def series_folder(location: PacsLocation, cache_dir: str | os.PathLike) -> Path:
    """Return the cache folder of the series ``location`` names (it may not exist yet)."""
    from ..outputs.safe_paths import case_folder_name

    archive = case_folder_name(f"{location.scheme}-{location.host}-{location.port}")
    return Path(cache_dir).resolve() / archive / str(location.study_uid) / str(location.series_uid)


def cached_series(location: PacsLocation, cache_dir: str | os.PathLike) -> Path | None:
    """Return the series' folder if it was retrieved whole before, else None."""
    folder = series_folder(location, cache_dir)
    return folder if (folder / COMPLETE).is_file() else None


@contextlib.contextmanager
def filling_series(location: PacsLocation, cache_dir: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder for the series; on success move it into place (replacing an incomplete one)."""
    from ..outputs.scratch import remove_dead_process_folders

    target = series_folder(location, cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_process_folders(target.parent, STAGING)  # a killed retrieval's leftovers (its pid is gone)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING}{os.getpid()}-", dir=target.parent))
    try:
        yield staging
        (staging / COMPLETE).write_text(str(sum(1 for p in staging.iterdir())))
        if (target / COMPLETE).is_file():
            return  # another run finished the same series meanwhile: use its copy, never remove it
        if target.exists():
            shutil.rmtree(target)  # an incomplete copy (no marker)
        try:
            os.replace(staging, target)
        except OSError:
            if not (target / COMPLETE).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
