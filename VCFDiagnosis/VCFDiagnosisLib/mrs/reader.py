"""One entry point for every supported spectroscopy format: :func:`read_spectrum`.

Dispatch is on content first (RDA header marker, NIfTI magic, DICOM SOP class), then on the
extension (``.sdat``/``.spar``). Screenshots, localizers and ordinary images are refused with a
ValueError that names the file and says what to export instead.
"""

from __future__ import annotations

import os
import warnings

from . import io_dicom_mrs, io_nifti_mrs, io_philips, io_rda, io_siemens_dicom
from .spectrum import Spectrum

SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"
MR_IMAGE_SOPS = ("1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1")
#: Larger files are not single-voxel spectra (a NIfTI-MRS with 32 coils x 64 transients x 4096 points is 64 MiB).
MAX_FILE_BYTES = 1 << 30
EXPORT_HINT = ("export the spectroscopy data itself: a Siemens .rda file or the spectroscopy DICOM "
               "(Siemens CSA non-image / MR Spectroscopy Storage), a Philips SDAT/SPAR pair or NIfTI-MRS")


def _read_dicom(path: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's VR / charset notes are not the user's business here
        return _read_dicom_quietly(path)


def _read_dicom_quietly(path: str):
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        return pydicom.dcmread(path)
    except InvalidDicomError:
        try:
            ds = pydicom.dcmread(path, force=True)
        except Exception:  # noqa: BLE001 - any parse failure means "not DICOM"
            return None
        return ds if "SOPClassUID" in ds or (0x5600, 0x0020) in ds or (0x7FE1, 0x1010) in ds else None
    except (OSError, ValueError, EOFError, TypeError, KeyError):
        return None


def _image_type(ds) -> list[str]:
    value = ds.get("ImageType") or []
    return [str(v).upper() for v in (value if isinstance(value, (list, tuple)) or hasattr(value, "__iter__")
                                     and not isinstance(value, str) else [value])]


def spectrum_from_dicom(ds, path: str) -> Spectrum:
    """Return the :class:`Spectrum` of a DICOM dataset, or raise ValueError for non-spectroscopy objects."""
    sop = str(ds.get("SOPClassUID", ""))
    image_type = _image_type(ds)
    if sop == io_siemens_dicom.SIEMENS_CSA_NON_IMAGE_SOP or (0x7FE1, 0x1010) in ds:
        return io_siemens_dicom.read_siemens_csa(ds, path)
    if sop == io_dicom_mrs.DICOM_MRS_SOP or (0x5600, 0x0020) in ds:
        return io_dicom_mrs.read_dicom_mrs(ds, path)
    if sop.startswith(SECONDARY_CAPTURE_PREFIX) or "SPECTRUM" in image_type:
        what = "a screenshot of a spectrum (Secondary Capture)" if "SPECTROSCOPY" in image_type or \
            "SPECTRUM" in image_type else "a Secondary Capture image"
        raise ValueError(f"{path}: {what}, not spectroscopy data; {EXPORT_HINT}")
    if "REFERENCEIMAGE" in image_type:
        raise ValueError(f"{path}: a spectroscopy localizer (reference image), not spectroscopy data; "
                         f"{EXPORT_HINT}")
    if "PixelData" in ds or sop in MR_IMAGE_SOPS:
        raise ValueError(f"{path}: an image (SOP class {sop or 'unknown'}), not spectroscopy data; {EXPORT_HINT}")
    raise ValueError(f"{path}: DICOM object of SOP class {sop or 'unknown'} holds no spectroscopy data; "
                     f"{EXPORT_HINT}")


def read_spectrum(path: str | os.PathLike) -> Spectrum:
    """Return the :class:`Spectrum` of a single-voxel MRS file in any supported format.

    Raises ValueError (one line that starts with the path) for unsupported, corrupt, truncated or
    non-spectroscopy files and for folders, FileNotFoundError for missing files and other OSErrors (e.g.
    PermissionError, with ``filename`` set) when the file cannot be opened. Any other failure of a format
    reader on hostile bytes is turned into such a ValueError too: no traceback reaches the user.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a folder, not a spectroscopy file (give the .rda/.dcm/.IMA/.SDAT/.nii file)")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise ValueError(f"{path}: not a regular file (a device, pipe or socket), not a spectroscopy file")
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{path}: {size / 2**30:.1f} GiB is far too large for a single-voxel spectrum "
                         f"(limit {MAX_FILE_BYTES / 2**30:g} GiB)")
    try:
        return _dispatch(path)
    except OSError as exc:
        if exc.filename is not None:
            raise  # the OS refused the file (permission, I/O error): the error names it
        raise ValueError(f"{path}: unreadable spectroscopy file ({' '.join(str(exc).split())[:200]})") from exc
    except ValueError as exc:
        message = " ".join(str(exc).split()) or type(exc).__name__
        if message.startswith((path, os.path.splitext(path)[0])):  # this file or its SDAT/SPAR partner
            raise
        raise ValueError(f"{path}: {message}") from exc
    except Exception as exc:  # noqa: BLE001 - hostile bytes must give a message, not a traceback
        detail = " ".join(str(exc).split())[:200]
        raise ValueError(f"{path}: unreadable or corrupt spectroscopy file ({type(exc).__name__}: {detail})") from exc


def _dispatch(path: str) -> Spectrum:
    """Return the :class:`Spectrum` of ``path``, choosing the reader by content, then by extension."""
    with open(path, "rb") as handle:
        head = handle.read(1024)
    lower = path.lower()
    if io_rda.is_rda(head) or lower.endswith(".rda"):
        return io_rda.read_rda(path)
    if lower.endswith((".sdat", ".spar")):
        return io_philips.read_philips_sdat(path)
    if head[:2] == b"\x1f\x8b" or lower.endswith((".nii", ".nii.gz")) or io_nifti_mrs.is_nifti(head):
        blob_head = io_nifti_mrs.read_nifti_bytes(path)[:540] if head[:2] == b"\x1f\x8b" else head
        if io_nifti_mrs.is_nifti(blob_head):
            return io_nifti_mrs.read_nifti_mrs(path)
        if lower.endswith((".nii", ".nii.gz")):
            raise ValueError(f"{path}: not a valid NIfTI file (bad header)")
    if b"LCModel" in head[:200] or lower.endswith((".coord", ".table", ".print")):
        raise ValueError(f"{path}: LCModel output (fit results), not spectroscopy data; {EXPORT_HINT}")
    if lower.endswith(".dat"):
        raise ValueError(f"{path}: raw Siemens Twix data (per-coil, per-average) are not supported; "
                         "export the spectrum as .rda or spectroscopy DICOM")
    if len(head) == 0:
        raise ValueError(f"{path}: empty file")
    ds = _read_dicom(path)
    if ds is not None:
        try:
            return spectrum_from_dicom(ds, path)
        except (ValueError, OSError):
            raise
        except Exception as exc:  # noqa: BLE001 - pydicom parses elements lazily: corrupt ones fail here
            detail = " ".join(str(exc).split())[:200]
            raise ValueError(f"{path}: corrupt DICOM data element ({type(exc).__name__}: {detail})") from exc
    raise ValueError(f"{path}: unrecognised file format (expected Siemens .rda or spectroscopy DICOM, Philips "
                     "SDAT/SPAR or NIfTI-MRS)")


def looks_like_spectrum(path: str | os.PathLike) -> bool:
    """Return True if ``path`` looks like a single-voxel spectrum this package reads, from its header only.

    Cheap and never raises (for drag-and-drop readers that are asked about every file): RDA header marker,
    SPAR/SDAT extension, NIfTI with complex data on a 1 x 1 x 1 grid, or DICOM of the MR Spectroscopy or
    Siemens CSA non-image SOP class.
    """
    try:
        path = os.fspath(path)
        lower = path.lower()
        with open(path, "rb") as handle:
            head = handle.read(1024)
        if io_rda.is_rda(head):
            return True
        if lower.endswith((".spar", ".sdat")):
            return True
        if head[:2] == b"\x1f\x8b" or io_nifti_mrs.is_nifti(head):
            if head[:2] == b"\x1f\x8b":
                import gzip

                with gzip.open(path, "rb") as handle:
                    head = handle.read(1024)
            header = io_nifti_mrs.parse_nifti_header(head, path)
            return header["datatype"] in (32, 1792) and tuple(header["shape"][:3]) == (1, 1, 1)
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
        return str(ds.get("SOPClassUID", "")) in (io_dicom_mrs.DICOM_MRS_SOP,
                                                  io_siemens_dicom.SIEMENS_CSA_NON_IMAGE_SOP)
    except Exception:  # noqa: BLE001 - any failure means "not a spectrum we read"
        return False
