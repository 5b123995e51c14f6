"""Diffusion-weighted image input (pure core): DICOM of any vendor, NIfTI with .bval, NRRD, to one
:class:`.volume.DwiVolume` (arrays in LPS/RAS with b-values in s/mm2); NIfTI export of the series."""
