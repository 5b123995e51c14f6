"""Cases named by their place on an archive (PACS): DICOMweb (dicomweb-client) and DIMSE (pynetdicom).

:mod:`.locations` parses ``dicomweb://`` and ``dimse://`` locations (never with credentials in them),
:mod:`.credentials` reads credentials from the environment or a file, :mod:`.dicomweb` and :mod:`.dimse` find,
retrieve and store. Pure core (no slicer); the clients are the optional extra ``[dicom]``.
"""
