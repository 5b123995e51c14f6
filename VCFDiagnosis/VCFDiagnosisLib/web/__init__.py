"""The reading station in the browser (``vcfdiagnosis serve``): trame-slicer's MRML scene, slice views and
Segment Editor with the module's Logic and settings model (optional extra ``[web]``).

:mod:`.cases` and :mod:`.uploads` (what the station reads and where it writes) and :mod:`.plots` (figure dicts)
are pure core; :mod:`.station` is the controller on the MRML scene; :mod:`.page` the trame page; :mod:`.server`
starts it. Results are research outputs, never a diagnosis.
"""
