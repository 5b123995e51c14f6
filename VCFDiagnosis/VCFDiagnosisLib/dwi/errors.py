"""Errors raised by the DWI input layer (every message names the file or series and the problem)."""

from __future__ import annotations


class DwiInputError(ValueError):
    """An input (DICOM folder, NIfTI + .bval, NRRD) cannot give a usable multi-b DWI."""


class DicomDwiError(DwiInputError):
    """A DICOM folder cannot give a usable multi-b DWI; the message says which file or series and why."""
