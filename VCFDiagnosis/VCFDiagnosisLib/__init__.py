"""VCFDiagnosisLib: the numerical/IO core, the MRML logic and the entry points of VCFDiagnosis.

The folders are the layers (each importable on its own; ``Testing/test_layout.py`` enforces it):

1. pure core, never imports ``slicer``, ``vtk`` or qt: :mod:`.ivim` (IVIM engine), :mod:`.mrs`
   (spectroscopy), :mod:`.dwi` (DICOM/NIfTI/NRRD diffusion readers), :mod:`.analysis` (one case from
   arrays: ROI statistics, study models, results rows, settings, report), :mod:`.outputs` (atomic writes,
   safe output paths), :mod:`.batch` (manifest runner, takes a per-case function), :mod:`.cohort`
   (study statistics), :mod:`.phantom` (synthetic patients), :mod:`.errors`;
2. MRML glue and the module Logic, :mod:`.mrml` (``slicer`` MRML classes only, never qt or ``slicer.app``);
3. entry points, :mod:`.app` (the ``vcfdiagnosis`` command); the Qt widget is ``VCFDiagnosis.py`` beside
   this package.

Results are research outputs, never a diagnosis.
"""

__version__ = "0.1.0"
