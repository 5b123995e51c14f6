"""Files a browser uploads to the reading station: size-capped, written only under the server's work folder.

Each upload (one set of files for one role: ``dwi``, ``roi``, ``spectrum`` or ``fat``) gets a new folder
``<work>/uploads/<random hex>/``; a file keeps only a safe form of its base name (no folder part, no ``..``,
:func:`safe_upload_name`), made unique inside the upload. Nothing the client sends chooses a folder. An upload
over the size or file-count cap is refused whole and its folder removed. Pure core (standard library only).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..outputs.safe_paths import case_folder_name, is_plain_name, path_inside

#: Default cap of one upload (all its files together), bytes (1000 MB; MB = 10**6 bytes everywhere here).
DEFAULT_UPLOAD_LIMIT_BYTES = 1000 * 10**6
#: At most this many files in one upload (a DICOM series of a few thousand images fits).
MAX_UPLOAD_FILES = 5000
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}$")
#: The roles an upload can have, with what the station does with it.
UPLOAD_ROLES = {"dwi": "the multi-b DWI (DICOM files, or NIfTI + .bval/.bvec, or a DWI NRRD)",
                "roi": "an ROI: .seg.nrrd segmentation or NIfTI/NRRD label map",
                "spectrum": "a single-voxel spectrum (.rda, DICOM MRS, .IMA, .SPAR + .SDAT, NIfTI-MRS)",
                "fat": "water-fat imaging: the multi-echo gradient-echo DICOM files or the scanner's PDFF and R2*/T2* "
                       "map DICOM files"}


class UploadRejected(ValueError):
    """An upload broke a rule (size, count, role, empty); the message names the file and the rule."""


def safe_upload_name(name: str) -> str:
    """Return a file name safe to write for an uploaded file called ``name`` (its base name only).

    A plain base name (``[A-Za-z0-9][A-Za-z0-9._-]*``, up to 64 characters) is kept; any other becomes a slug of
    its stem plus a hash (:func:`~VCFDiagnosisLib.outputs.safe_paths.case_folder_name`) with its last one or two
    plain suffixes kept, so ``dwi.nii.gz`` stays readable by extension.
    """
    base = PurePosixPath(str(name).replace("\\", "/")).name or "file"
    if is_plain_name(base) and base not in (".", ".."):
        return base
    stem, suffixes = base, ""
    for _ in range(2):
        match = _SUFFIX.search(stem)
        if not match or match.start() == 0:
            break
        suffixes = match.group(0) + suffixes
        stem = stem[:match.start()]
    return case_folder_name(stem) + suffixes


@dataclass
class Upload:
    """An upload in progress or finished: its folder, role, the files written and their total size."""

    role: str
    folder: Path
    files: list[Path] = field(default_factory=list)
    total_bytes: int = 0


class UploadStore:
    """The upload folders of one station (see the module docstring); ``limit_bytes`` caps each upload."""

    def __init__(self, work_dir: str | os.PathLike, limit_bytes: int = DEFAULT_UPLOAD_LIMIT_BYTES,
                 max_files: int = MAX_UPLOAD_FILES) -> None:
        self.root = Path(work_dir).resolve() / "uploads"
        self.root.mkdir(parents=True, exist_ok=True)
        self.limit_bytes = int(limit_bytes)
        self.max_files = int(max_files)

    def begin(self, role: str) -> Upload:
        """Return a new, empty upload for ``role`` (its folder created under the work folder)."""
        if role not in UPLOAD_ROLES:
            raise UploadRejected(f"unknown upload role {role!r} (known: {', '.join(UPLOAD_ROLES)})")
        folder = path_inside(self.root, secrets.token_hex(8))
        folder.mkdir()
        return Upload(role, folder)

    def add(self, upload: Upload, name: str, content: bytes, declared_size: int | None = None) -> Path:
        """Write one file of ``upload``; raise UploadRejected (the upload removed) if a cap is broken."""
        size = len(content)
        if declared_size is not None and declared_size > self.limit_bytes - upload.total_bytes:
            size = max(size, int(declared_size))
        if upload.total_bytes + size > self.limit_bytes:
            self.discard(upload)
            raise UploadRejected(f"{name}: the upload is larger than the limit of {self.limit_bytes / 1e6:g} MB "
                                 "(serve --upload-limit-mb raises it)")
        if len(upload.files) >= self.max_files:
            self.discard(upload)
            raise UploadRejected(f"{name}: more than {self.max_files} files in one upload")
        target = self._unique(upload, safe_upload_name(name))
        with open(target, "xb") as handle:  # never replaces a file
            handle.write(content)
        upload.files.append(target)
        upload.total_bytes += size
        return target

    def finish(self, upload: Upload) -> Path:
        """Return what the station loads: the one file, or the upload folder (a DICOM series, NIfTI + .bval)."""
        if not upload.files:
            self.discard(upload)
            raise UploadRejected(f"no file was uploaded for the {upload.role}")
        if upload.role == "spectrum":
            paired = [f for f in upload.files if f.suffix.lower() in (".spar", ".sdat")]
            if paired:  # Philips: the reader takes either file of the pair
                return next((f for f in paired if f.suffix.lower() == ".spar"), paired[0])
        images = [f for f in upload.files if f.name.lower().endswith((".nii", ".nii.gz", ".nrrd", ".nhdr"))]
        if len(images) == 1:  # NIfTI with its .bval/.bvec beside it, or one NRRD
            return images[0]
        return upload.files[0] if len(upload.files) == 1 else upload.folder

    def discard(self, upload: Upload) -> None:
        """Remove an upload's folder and everything in it."""
        shutil.rmtree(upload.folder, ignore_errors=True)
        upload.files.clear()
        upload.total_bytes = 0

    @staticmethod
    def _unique(upload: Upload, name: str) -> Path:
        """Return a path for ``name`` inside the upload folder that no earlier file of the upload took."""
        candidate, number = path_inside(upload.folder, name), 1
        while candidate.exists():
            stem, dot, suffix = name.partition(".")
            candidate = path_inside(upload.folder, f"{stem}-{number}{dot}{suffix}")
            number += 1
        return candidate
