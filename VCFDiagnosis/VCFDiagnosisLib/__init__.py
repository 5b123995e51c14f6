"""VCFDiagnosisLib: the numerical/IO core and the MRML logic of the VCFDiagnosis Slicer module.

Layers (each importable on its own):

1. pure core, no ``slicer`` import: :mod:`.ivim`, :mod:`.mrs`, :mod:`.dwi`, :mod:`.phantom`;
2. MRML glue and the module logic: :mod:`.logic` (imports ``slicer`` MRML classes only, never qt);
3. the Qt widget lives in ``VCFDiagnosis.py`` next to this package.

Results are research outputs, never a diagnosis.
"""

__version__ = "0.1.0"
