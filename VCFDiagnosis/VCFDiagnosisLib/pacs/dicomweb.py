"""DICOMweb (QIDO-RS, WADO-RS, STOW-RS) with dicomweb-client: find, retrieve a series to a folder, store.

Every failure becomes :class:`TransferError` naming the location (never credentials) and the problem; nothing is
left half-retrieved (a series is written into a staging folder and moved into place whole).
"""

from __future__ import annotations

import os
from pathlib import Path

from .cache import cached_series, filling_series, series_folder
from .credentials import pacs_credentials
from .locations import UID, PacsLocation, TransferError

#: SOP classes of single-voxel spectra (MR Spectroscopy Storage; Siemens puts spectra in CSA non-image objects).
MRS_SOP_CLASSES = {"1.2.840.10008.5.1.4.1.1.4.2": "MR Spectroscopy", "1.3.12.2.1107.5.9.1": "Siemens CSA non-image"}
TIMEOUT_S = 60


def _client(location: PacsLocation):
    import requests
    from dicomweb_client.api import DICOMwebClient

    session = requests.Session()
    credentials = pacs_credentials(location)  # InputError if they may not go to this archive
    if credentials is not None:
        session.auth = credentials
    return DICOMwebClient(url=location.base_url, session=session, timeout=TIMEOUT_S)


def _failed(location: PacsLocation, what: str, error: Exception) -> TransferError:
    detail = getattr(getattr(error, "response", None), "status_code", None)
    reason = f"HTTP {detail}" if detail else type(error).__name__
    return TransferError(f"{location.display()}: {what} failed ({reason})")


def _value(item: dict, tag: str, default: str = "") -> str:
    values = item.get(tag, {}).get("Value") or [default]
    value = values[0]
    return str(value.get("Alphabetic", "")) if isinstance(value, dict) else str(value)


def find_series(location: PacsLocation, patient_id: str | None = None, study_date: str | None = None,
                modality: str | None = None) -> list[dict]:
    """Return one dict per series (study and series identifiers, description, modality, number of instances and
    ``kind``: ``DWI (n b-values)``, ``MRS`` or empty) of the studies matching the filters."""
    from pydicom import Dataset

    from ..dwi.dicom import bvalue_from_header

    client = _client(location)  # outside the try: a credentials problem keeps its own message
    filters = {k: v for k, v in (("PatientID", patient_id), ("StudyDate", study_date)) if v}
    if location.study_uid:
        filters["StudyInstanceUID"] = location.study_uid
    try:
        studies = client.search_for_studies(search_filters=filters)
        found = []
        for study in studies:
            study_uid = _value(study, "0020000D")
            for series in client.search_for_series(study_uid, search_filters={"Modality": modality} if modality
                                                   else None):
                series_uid = _value(series, "0020000E")
                row = {"patient_id": _value(study, "00100020"), "study_date": _value(study, "00080020"),
                       "study_uid": study_uid, "series_uid": series_uid, "modality": _value(series, "00080060"),
                       "series_number": _value(series, "00200011"), "description": _value(series, "0008103E"),
                       "instances": _value(series, "00201209", "?"), "kind": ""}
                metadata = [Dataset.from_json(m) for m in client.retrieve_series_metadata(study_uid, series_uid)]
                classes = {str(m.get("SOPClassUID", "")) for m in metadata}
                if classes & set(MRS_SOP_CLASSES):
                    row["kind"] = "MRS"
                else:
                    bvalues = {b for b in (bvalue_from_header(m) for m in metadata) if b is not None}
                    if len(bvalues) >= 2:
                        row["kind"] = f"DWI ({len(bvalues)} b-values)"
                found.append(row)
        return found
    except Exception as error:  # noqa: BLE001 - any client failure is a transfer failure at this location
        raise _failed(location, "find", error) from None


def retrieve_series(location: PacsLocation, cache_dir: str | os.PathLike) -> Path:
    """Retrieve the series ``location`` names into its folder of ``cache_dir`` (:mod:`.cache`); return that folder.

    A series already retrieved whole from this archive is reused. File names are the SOP instance UIDs (digits and
    dots, checked).
    """
    if not (location.study_uid and location.series_uid):
        raise TransferError(f"{location.display()}: name a series (.../studies/<StudyUID>/series/<SeriesUID>)")
    done = cached_series(location, cache_dir)
    if done is not None:
        return done
    client = _client(location)
    with filling_series(location, cache_dir) as staging:
        try:
            instances = client.retrieve_series(location.study_uid, location.series_uid)
        except Exception as error:  # noqa: BLE001
            raise _failed(location, "retrieve", error) from None
        if not instances:
            raise TransferError(f"{location.display()}: the series has no instance")
        for ds in instances:
            uid = str(ds.SOPInstanceUID)
            if not UID.fullmatch(uid):
                raise TransferError(f"{location.display()}: an instance has an unusable SOP Instance UID")
            ds.save_as(staging / f"{uid}.dcm", enforce_file_format=True)
    return series_folder(location, cache_dir)


def store(location: PacsLocation, paths: list[str | os.PathLike]) -> int:
    """Store DICOM files (STOW-RS); return how many were stored."""
    import pydicom

    datasets = [pydicom.dcmread(os.fspath(p)) for p in paths]
    client = _client(location)
    try:
        response = client.store_instances(datasets)
    except Exception as error:  # noqa: BLE001
        raise _failed(location, "store", error) from None
    failed = len(getattr(response, "FailedSOPSequence", None) or []) if response is not None else 0
    if failed:  # HTTP 202: some instances were refused
        raise TransferError(f"{location.display()}: store failed for {failed} of {len(datasets)} objects")
    return len(datasets)
