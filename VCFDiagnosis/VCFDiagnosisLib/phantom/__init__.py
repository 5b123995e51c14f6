"""Digital phantom: synthetic VCF patients with known truth (layer 1, pure core: no slicer, no qt).

:func:`generate_patient` writes one scanner-like case folder; :func:`simulate_patient` returns the same
patient in memory. Output layout of ``generate_patient(DIR, ...)`` / ``vcfdiagnosis phantom --out DIR``::

    DIR/<case_id>/dwi/                     IVIM DWI DICOM (MR Image Storage), one file per slice per b,
                                           random file names; b-value tags in the chosen vendor style
    DIR/<case_id>/roi/lesion_label.nii.gz  lesion ROI label map (value 1) on the DWI grid
    DIR/<case_id>/roi/lesion.seg.nrrd      the same ROI as a 3D Slicer segmentation (one segment "lesion")
    DIR/<case_id>/mrs/lesion.rda           single-voxel spectrum of the lesion, Siemens RDA
    DIR/<case_id>/mrs/lesion_mrs.dcm       the same spectrum as standard DICOM MR Spectroscopy Storage
    DIR/<case_id>/truth.json               every parameter (plain JSON types)
    DIR/manifest.tsv                       case_id, dwi, roi, spectrum, label, reader (paths relative to
                                           DIR); one row per case, replaced by case_id

The default case id is ``phantom-<group>-<seed>``. Manifest: ``roi`` is the NIfTI label map,
``spectrum`` the ``.rda`` for the siemens style and the DICOM MRS file otherwise, ``label`` the group,
``reader`` ``phantom-truth`` (the ROI is the generator's truth, not a human reading).

Modules: :mod:`.tissues` (IVIM parameters, Table 3 sampling), :mod:`.geometry` (oblique slab),
:mod:`.anatomy` (label map), :mod:`.dwi_signal` (signal and Rician noise), :mod:`.dicom_dwi`,
:mod:`.roi_files`, :mod:`.mrs_files` (writers), :mod:`.patient` (orchestration, truth, manifest).
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    ".options": ("DEFAULT_BVALUES", "GROUPS"),
    ".patient": ("GENERATOR_VERSION", "PhantomData", "PhantomPatient", "default_case_id", "generate_patient",
        "simulate_patient", "update_manifest"),
    "..batch.manifest": ("MANIFEST_COLUMNS",),
    ".tissues": ("GROUP_DISTRIBUTIONS", "LesionParameters", "ivim_signal", "sample_lesion"),
}
__all__ = sorted(name for names in _EXPORTS.values() for name in names)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
