"""Shared inputs for the hostile corpus: one small phantom patient, generated once per process, copied per case."""

from __future__ import annotations

import functools
import math
import shutil
import tempfile
from pathlib import Path


@functools.cache
def phantom_source() -> Path:
    """Return the folder of a small synthetic metastatic patient (80 x 80 x 8, noiseless), made once."""
    from VCFDiagnosisLib.phantom import generate_patient

    root = Path(tempfile.mkdtemp(prefix="vcfdiag-hostile-"))
    patient = generate_patient(root, seed=5, group="metastatic", vendor="standard", matrix=80, n_slices=8,
                               snr=math.inf, case_id="P1")
    return patient.case_dir


def copy_patient(sandbox: Path, name: str = "patient") -> Path:
    """Copy the shared phantom patient into ``sandbox/name`` and return that folder.

    It holds ``dwi/`` (DICOM), ``roi/lesion_label.nii.gz``, ``roi/lesion.seg.nrrd``, ``mrs/lesion.rda`` and
    ``mrs/lesion_mrs.dcm``.
    """
    target = Path(sandbox) / name
    shutil.copytree(phantom_source(), target)
    return target
