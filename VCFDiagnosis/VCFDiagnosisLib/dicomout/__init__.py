"""A case's results as DICOM objects that live with the images (pure core: highdicom, pydicom, numpy).

:mod:`.sources` finds the DWI images the objects derive from, :mod:`.objects` builds the Parametric Maps, the
Segmentation, the TID 1500 measurement report and the Encapsulated PDF, :mod:`.export` writes them atomically.
``highdicom`` is the optional extra ``[dicom]``.
"""
