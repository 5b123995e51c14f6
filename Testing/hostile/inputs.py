"""Shared inputs for the hostile corpus: one small phantom patient, generated once per process, copied per case."""

from __future__ import annotations

import atexit
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
    atexit.register(shutil.rmtree, root, True)
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


def unwritable_path(sandbox: Path, name: str = "unwritable") -> Path:
    """Return a folder path under which nothing can be created, even by root (a read-only file system).

    Not root: a sandbox folder without write permission. Root ignores permissions, so ``/proc`` is used.
    """
    import os

    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/proc") / f"vcfdiag-{name}"
    folder = Path(sandbox) / name
    folder.mkdir(exist_ok=True)
    folder.chmod(0o555)
    return folder / "inside"


def write_manifest(path: Path, rows: list[dict], delimiter: str = "\t") -> Path:
    """Write a batch manifest (columns case_id, dwi, roi, spectrum, label, reader) and return its path."""
    columns = ("case_id", "dwi", "roi", "spectrum", "label", "reader")
    lines = [delimiter.join(columns)]
    for row in rows:
        lines.append(delimiter.join(str(row.get(c, "")) for c in columns))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)
