"""One entry for every archive operation, whatever the protocol: find, retrieve (to a local folder), store."""

from __future__ import annotations

import os
from pathlib import Path

from .locations import PacsLocation, parse_location


def _module(location: PacsLocation):
    if location.scheme == "dimse":
        from . import dimse

        return dimse
    from . import dicomweb

    return dicomweb


def find_series(url: str, patient_id: str | None = None, study_date: str | None = None,
                modality: str | None = None) -> list[dict]:
    """Return the series of the studies at ``url`` matching the filters (see :func:`.dicomweb.find_series`)."""
    location = parse_location(url)
    return _module(location).find_series(location, patient_id, study_date, modality)


def retrieve(url: str, cache_dir: str | os.PathLike) -> Path:
    """Retrieve the series ``url`` names into ``cache_dir``; return the local folder (whole, or an error)."""
    location = parse_location(url)
    return _module(location).retrieve_series(location, cache_dir)


def store(url: str, paths: list[str | os.PathLike]) -> int:
    """Store DICOM files at the archive ``url``; return how many were stored."""
    location = parse_location(url)
    return _module(location).store(location, paths)


_PROCESS_CACHE: list[str] = []


def use_cache_dir(folder: str | os.PathLike) -> None:
    """Retrieve archive series into ``folder`` from now on in this process (kept: a later run reuses them)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    _PROCESS_CACHE[:] = [str(Path(folder).resolve())]


def process_cache_dir() -> str:
    """Return this process's retrieval cache (temporary, removed at exit): series are retrieved once per process."""
    if not _PROCESS_CACHE:
        from ..outputs.scratch import make_cache_dir

        _PROCESS_CACHE.append(make_cache_dir())
    return _PROCESS_CACHE[0]


def local_input(value: str | None, cache_dir: str | os.PathLike | None = None) -> str | None:
    """Return ``value`` as it is, or for an archive location the local copy: the series' folder, or its file when
    the series holds one object (a SEG, a spectrum). ``cache_dir`` None: a temporary folder removed at exit.
    Raises :class:`.locations.TransferError` naming the location."""
    from .locations import is_pacs_location

    if not is_pacs_location(value):
        return value
    folder = retrieve(value, cache_dir if cache_dir is not None else process_cache_dir())
    files = sorted(p for p in folder.iterdir() if p.suffix == ".dcm")
    return str(files[0]) if len(files) == 1 else str(folder)
