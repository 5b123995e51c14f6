"""DIMSE (C-FIND, C-GET, C-STORE) with pynetdicom: the same find / retrieve / store as :mod:`.dicomweb`.

The archive is ``dimse://AET@HOST:PORT``; this program calls as :attr:`PacsLocation.calling_aet`. Retrieval uses
C-GET (the archive sends the images back on the same association: no port of ours has to be reachable).
"""

from __future__ import annotations

import os
from pathlib import Path

from .cache import cached_series, filling_series, series_folder
from .dicomweb import MRS_SOP_CLASSES
from .locations import UID, PacsLocation, TransferError

TIMEOUT_S = 60
#: The storage classes C-GET accepts back: DWI images (classic and enhanced MR, secondary capture), spectra
#: (MR Spectroscopy, Siemens CSA non-image) and the objects this program writes (SEG, Parametric Map, SR, PDF).
RETRIEVED_CLASSES = ("1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1", "1.2.840.10008.5.1.4.1.1.4.2",
                     "1.3.12.2.1107.5.9.1", "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.66.4",
                     "1.2.840.10008.5.1.4.1.1.30", "1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.104.1")


def _association(location: PacsLocation, contexts, roles=(), handlers=()):
    from pynetdicom import AE

    ae = AE(ae_title=location.calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT_S
    for context in contexts:
        ae.add_requested_context(context)
    association = ae.associate(location.host, location.port, ae_title=location.called_aet,
                               ext_neg=list(roles) or None, evt_handlers=list(handlers) or None)
    if not association.is_established:
        raise TransferError(f"{location.display()}: the archive refused or did not answer the association")
    return association


def _find(association, model, query) -> list:
    """Return the identifiers (pydicom datasets) a C-FIND of ``query`` answers."""
    results = []
    for status, identifier in association.send_c_find(query, model):
        if status is None:
            raise TransferError("the archive stopped answering a C-FIND")
        if status.Status in (0xFF00, 0xFF01) and identifier is not None:
            results.append(identifier)
        elif status.Status not in (0x0000, 0xFF00, 0xFF01):
            raise TransferError(f"C-FIND failed with status 0x{status.Status:04X}")
    return results


def find_series(location: PacsLocation, patient_id: str | None = None, study_date: str | None = None,
                modality: str | None = None) -> list[dict]:
    """Return one dict per series, as :func:`.dicomweb.find_series` (``kind`` from the SOP classes only)."""
    from pydicom import Dataset
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind as FIND

    association = _association(location, [FIND])
    try:
        study_query = Dataset()
        study_query.QueryRetrieveLevel = "STUDY"
        study_query.PatientID = patient_id or ""
        study_query.StudyDate = study_date or ""
        study_query.StudyInstanceUID = location.study_uid or ""
        found = []
        for study in _find(association, FIND, study_query):
            series_query = Dataset()
            series_query.QueryRetrieveLevel = "SERIES"
            series_query.StudyInstanceUID = study.StudyInstanceUID
            series_query.SeriesInstanceUID = ""
            series_query.Modality = modality or ""
            series_query.SeriesDescription = ""
            series_query.SeriesNumber = ""
            series_query.NumberOfSeriesRelatedInstances = ""
            for series in _find(association, FIND, series_query):
                image_query = Dataset()
                image_query.QueryRetrieveLevel = "IMAGE"
                image_query.StudyInstanceUID, image_query.SeriesInstanceUID = (study.StudyInstanceUID,
                                                                              series.SeriesInstanceUID)
                image_query.SOPClassUID = ""
                classes = {str(i.get("SOPClassUID", "")) for i in _find(association, FIND, image_query)}
                found.append({"patient_id": str(study.get("PatientID", "")),
                              "study_date": str(study.get("StudyDate", "")),
                              "study_uid": str(study.StudyInstanceUID), "series_uid": str(series.SeriesInstanceUID),
                              "modality": str(series.get("Modality", "")),
                              "series_number": str(series.get("SeriesNumber", "")),
                              "description": str(series.get("SeriesDescription", "")),
                              "instances": str(series.get("NumberOfSeriesRelatedInstances", "?")),
                              "kind": "MRS" if classes & set(MRS_SOP_CLASSES) else ""})
        return found
    except TransferError as error:
        raise TransferError(f"{location.display()}: {error}") from None
    finally:
        association.release()


def retrieve_series(location: PacsLocation, cache_dir: str | os.PathLike) -> Path:
    """Retrieve the series with C-GET into its folder of ``cache_dir`` (whole or not at all); return it."""
    from pydicom import Dataset
    from pynetdicom import build_role, evt
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet as GET

    if not (location.study_uid and location.series_uid):
        raise TransferError(f"{location.display()}: name a series (.../studies/<StudyUID>/series/<SeriesUID>)")
    done = cached_series(location, cache_dir)
    if done is not None:
        return done
    received: list[str] = []
    with filling_series(location, cache_dir) as staging:

        def on_store(event):
            ds = event.dataset
            ds.file_meta = event.file_meta
            uid = str(ds.SOPInstanceUID)
            if not UID.fullmatch(uid):
                return 0xC211
            ds.save_as(staging / f"{uid}.dcm", enforce_file_format=True)
            received.append(uid)
            return 0x0000

        roles = [build_role(uid, scp_role=True) for uid in RETRIEVED_CLASSES]
        association = _association(location, [GET, *RETRIEVED_CLASSES], roles, [(evt.EVT_C_STORE, on_store)])
        try:
            query = Dataset()
            query.QueryRetrieveLevel = "SERIES"
            query.StudyInstanceUID, query.SeriesInstanceUID = location.study_uid, location.series_uid
            final = None
            for status, _ in association.send_c_get(query, GET):
                final = status
            if final is None or final.Status != 0x0000:
                code = "none" if final is None else f"0x{final.Status:04X}"
                raise TransferError(f"{location.display()}: C-GET did not complete (status {code})")
        finally:
            association.release()
        if not received:
            raise TransferError(f"{location.display()}: the series has no instance")
    return series_folder(location, cache_dir)


def store(location: PacsLocation, paths: list[str | os.PathLike]) -> int:
    """Store DICOM files with C-STORE; return how many were stored."""
    import pydicom

    datasets = [pydicom.dcmread(os.fspath(p)) for p in paths]
    contexts = sorted({str(ds.SOPClassUID) for ds in datasets})
    association = _association(location, contexts)
    try:
        for ds in datasets:
            try:
                status = association.send_c_store(ds)
            except (ValueError, RuntimeError) as error:  # e.g. no presentation context accepted for this class
                raise TransferError(f"{location.display()}: C-STORE refused ({type(error).__name__})") from None
            if status is None or status.Status != 0x0000:
                code = "none" if status is None else f"0x{status.Status:04X}"
                raise TransferError(f"{location.display()}: C-STORE of an instance failed (status {code})")
    finally:
        association.release()
    return len(datasets)
