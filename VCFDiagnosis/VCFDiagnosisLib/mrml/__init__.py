"""MRML glue and the module Logic (layer 2): ``slicer`` MRML classes only, never qt or ``slicer.app``.

Modules: :mod:`.logic` (``VCFDiagnosisLogic``, what the widget, console, CLI and self-tests call),
:mod:`.nodes` (arrays to and from volume, segmentation, table and plot nodes), :mod:`.headless`
(start-up of an MRML scene and module logics without the Slicer application), :mod:`.selftests`.
"""
