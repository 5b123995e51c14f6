"""Multi-b diffusion DICOM (any mix of series, searched recursively) into a :class:`~.volume.DwiVolume`.

What it reads (facts: ``design/FORMATS.md``):

* classic one-image-per-file series, Siemens mosaics (:mod:`.mosaic`) and enhanced multi-frame files
  (:mod:`.enhanced`), each image becoming a :class:`~.frames.DicomFrame`;
* the b-value from the standard (0018,9087) or per-frame MRDiffusionSequence, else Siemens (0019,100C),
  GE (0043,1039) (bias of 1e9 removed) or Philips (2001,1003) (:mod:`.bvalues`);
* RescaleSlope/Intercept (per frame for enhanced files) applied; directional images of one b combined
  into the trace by geometric mean; Philips isotropic images mixed into directional ones dropped
  (:mod:`.assemble`);
* derived series and frames (ADC, EADC, FA maps, ISOTROPIC frames without a b-value) are never b-images:
  a derived series is refused with a message, derived frames of a mixed file are excluded.

Indexing reads headers only (no pixel data), after a sniff of each file's first bytes (zero-filled or non-DICOM
files are skipped in milliseconds); pixels are read once, for the chosen series only. Data safety: a file of
the chosen series whose pixel data is truncated or unreadable, and a damaged or unreadable file anywhere in the
folder (it may hold images of the series), are errors naming the file, never a series with images left out.
"""

from __future__ import annotations

import os
import warnings as warnings_module
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom

from .assemble import assemble_dwi, raise_inconsistent
from .bvalues import B_TOLERANCE_S_MM2, GE_BVALUE_BIAS, bvalue_from_header, first_number, group_bvalues
from .enhanced import ENHANCED_MR_STORAGE, enhanced_acquisition, frames_from_enhanced, is_enhanced
from .errors import DicomDwiError, DwiInputError
from .frames import DERIVED_IMAGE_TYPES, DicomFrame, frames_from_classic
from .mosaic import is_mosaic
from .pixels import NotDicomError, read_dataset, read_frame_pixels
from .volume import DwiVolume

__all__ = [
    "B_TOLERANCE_S_MM2", "DERIVED_IMAGE_TYPES", "GE_BVALUE_BIAS", "DicomDwiError", "DicomFrame",
    "DicomImageHeader", "DicomSeriesInfo", "bvalue_from_header", "group_bvalues", "index_dicom_files",
    "index_dicom_folder", "load_dwi_dicom", "load_series", "select_dwi_series",
]

#: kept for code written against the first version (one classic file = one image)
DicomImageHeader = DicomFrame
_ENHANCED_MR = ENHANCED_MR_STORAGE
_IMAGE_STORAGE_PREFIX = "1.2.840.10008.5.1.4.1.1."
#: marks skipped files that look like DICOM but are damaged (named again when the series is incomplete)
DAMAGED = "damaged DICOM"
#: marks skipped files that could not be opened (permissions, I/O errors)
UNREADABLE = "cannot read"


@dataclass
class DicomSeriesInfo:
    """One series found in a folder: identity, metadata and its indexed images (``headers``)."""

    series_uid: str
    series_number: int | None
    description: str
    manufacturer: str
    image_type: str
    headers: list = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    files: set = field(default_factory=set)
    warnings: list = field(default_factory=list)
    #: ``{path: header read while indexing}``, its pixel data deferred: the pixels are read without parsing the file's
    #: header a second time (:func:`~.pixels.read_frame_pixels` takes each one out as it reads it).
    datasets: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def b_images(self) -> list[DicomFrame]:
        """Return the images that are not derived maps."""
        return [h for h in self.headers if h.derived is None]

    @property
    def bvalues_s_mm2(self) -> list:
        """Return the distinct b-values (s/mm2, grouped into shells, sorted) of the series' b-images."""
        found = [h.bvalue_s_mm2 for h in self.b_images if h.bvalue_s_mm2 is not None]
        return sorted(set(group_bvalues(np.asarray(found)).tolist())) if found else []

    @property
    def is_derived(self) -> bool:
        """Return True when every image is a scanner-computed map (ADC, FA, ...), never b-images."""
        return bool(self.headers) and not self.b_images

    @property
    def derived_reason(self) -> str:
        """Return why the series' images are derived maps ('' for a b-image series)."""
        reasons = sorted({h.derived for h in self.headers if h.derived})
        return "; ".join(reasons)

    def label(self) -> str:
        """Return a one-line description for listings and error messages."""
        derived = f" [derived: {self.derived_reason}]" if self.is_derived else ""
        return (f"series {self.series_number} '{self.description}' ({len(self.files)} files, "
                f"{len(self.headers)} images, b = {', '.join(f'{b:g}' for b in self.bvalues_s_mm2) or 'none'})"
                + derived)


def _text(ds: pydicom.Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return "\\".join(str(v) for v in value)
    return str(value) if value is not None else ""


def stored_pixel_type(ds: pydicom.Dataset) -> str | None:
    """Return the numpy name of the stored pixel integers ('uint16', 'int16', 'uint8', ...) from BitsAllocated
    and PixelRepresentation (0 unsigned, 1 signed), or None when they are missing or unusual.

    Only a preference for the NIfTI export (:mod:`.export` keeps this type when the values fit it exactly).
    """
    try:
        bits = int(ds.get("BitsAllocated"))
        signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    except (TypeError, ValueError):
        return None
    if bits not in (8, 16, 32):
        return None
    return f"{'' if signed else 'u'}int{bits}"


def series_metadata(ds: pydicom.Dataset, layout: str) -> dict:
    """Return the identifiers and acquisition parameters of a series from one of its headers (plain types)."""
    metadata = {
        "vendor": _text(ds, "Manufacturer"),
        "manufacturer": _text(ds, "Manufacturer"),
        "model": _text(ds, "ManufacturerModelName"),
        "software_versions": _text(ds, "SoftwareVersions"),
        "series_description": _text(ds, "SeriesDescription"),
        "series_number": int(ds.SeriesNumber) if ds.get("SeriesNumber") not in (None, "") else None,
        "series_uid": _text(ds, "SeriesInstanceUID"),
        "protocol_name": _text(ds, "ProtocolName"),
        "image_type": _text(ds, "ImageType"),
        "sop_class_uid": _text(ds, "SOPClassUID"),
        "dicom_layout": layout,
        "patient_id": _text(ds, "PatientID"),
        "patient_name": _text(ds, "PatientName"),
        "study_uid": _text(ds, "StudyInstanceUID"),
        "study_id": _text(ds, "StudyID"),
        "study_date": _text(ds, "StudyDate"),
        "study_description": _text(ds, "StudyDescription"),
        "accession_number": _text(ds, "AccessionNumber"),
        "frame_of_reference_uid": _text(ds, "FrameOfReferenceUID"),
        "repetition_time_ms": first_number(ds.get("RepetitionTime")),
        "echo_time_ms": first_number(ds.get("EchoTime")),
        "field_strength_t": first_number(ds.get("MagneticFieldStrength")),
        "imaging_frequency_mhz": first_number(ds.get("ImagingFrequency")),
        "slice_thickness_mm": first_number(ds.get("SliceThickness")),
        "spacing_between_slices_mm": first_number(ds.get("SpacingBetweenSlices")),
        "number_of_averages": first_number(ds.get("NumberOfAverages")),
        "pixel_bandwidth_hz": first_number(ds.get("PixelBandwidth")),
        "enhanced": layout == "enhanced",
        "stored_pixel_type": stored_pixel_type(ds),
    }
    if layout == "enhanced":
        for key, value in enhanced_acquisition(ds).items():
            if metadata.get(key) is None:
                metadata[key] = value
    return metadata


def _frames_of(ds: pydicom.Dataset, path: str) -> tuple[list[DicomFrame], str, list[str]]:
    """Return (images of one file, its layout 'classic'/'mosaic'/'enhanced', warnings); ValueError if none."""
    if is_enhanced(ds):
        return frames_from_enhanced(ds, path), "enhanced", []
    if "ImagePositionPatient" not in ds or "Rows" not in ds:
        raise ValueError(f"not an image with a position (SOP class {ds.get('SOPClassUID', '?')})")
    frames, warnings = frames_from_classic(ds, path)
    return frames, "mosaic" if is_mosaic(ds) else "classic", warnings


#: Values longer than this (pixel data) are left in the file while a header is read to be kept, bytes.
DEFERRED_PIXEL_BYTES = 16384
#: At most this many indexed headers are kept for the pixel pass; files beyond are read again from scratch, so the
#: memory a large folder's index holds stays bounded (a classic header is a few to a hundred kB in memory).
KEPT_HEADERS_MAX = 1000


def index_dicom_files(paths: list[str | os.PathLike], keep_headers: bool = False
                      ) -> tuple[list[DicomSeriesInfo], list[str]]:
    """Return (series found, files skipped with reasons) for the given files (headers only).

    With ``keep_headers`` each series keeps the headers it read (``datasets``, at most
    :data:`~.pixels.KEPT_HEADERS_MAX` in all, classic single-frame files only), so loading it does not parse them
    again; :func:`load_dwi_dicom` asks for them and drops those of the series it does not load.
    """
    series: dict[str, DicomSeriesInfo] = {}
    kept = 0
    skipped: list[str] = []
    for path in paths:
        path = str(path)
        keep = keep_headers and kept < KEPT_HEADERS_MAX and not path.endswith(".gz")  # a decompressed copy is not kept
        try:
            with warnings_module.catch_warnings():
                warnings_module.simplefilter("ignore")  # pydicom's complaints about damaged values
                # headers only: a kept one leaves its pixel data in the file (read later by seeking), others stop there
                ds = read_dataset(path, **({"defer_size": DEFERRED_PIXEL_BYTES} if keep else {"stop_before_pixels": True}))
        except NotDicomError as error:
            skipped.append(f"{path}: {error}")
            continue
        except pydicom.errors.InvalidDicomError:
            skipped.append(f"{path}: not a DICOM file")
            continue
        except DwiInputError as error:  # a .gz copy that is corrupt or too large: the message names the file
            skipped.append(f"{error} ({DAMAGED})")
            continue
        except OSError as error:
            skipped.append(f"{path}: {UNREADABLE} ({error.strerror or type(error).__name__})")
            continue
        except Exception as error:  # noqa: BLE001 - any unreadable file is listed and skipped
            skipped.append(f"{path}: {DAMAGED} header ({type(error).__name__})")
            continue
        meta_class = str(getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", ""))
        if "SeriesInstanceUID" not in ds:
            if meta_class.startswith(_IMAGE_STORAGE_PREFIX) and "SOPClassUID" not in ds:
                skipped.append(f"{path}: {DAMAGED} header (incomplete, truncated file?)")
            else:
                skipped.append(f"{path}: no SeriesInstanceUID (SOP class {ds.get('SOPClassUID', meta_class or '?')})")
            continue
        try:
            frames, layout, warnings = _frames_of(ds, path)
        except Exception as error:  # noqa: BLE001 - a header we cannot use is listed, not fatal
            skipped.append(f"{path}: {error}")
            continue
        uid = str(ds.SeriesInstanceUID)
        info = series.get(uid)
        if info is None:
            info = series[uid] = DicomSeriesInfo(
                series_uid=uid,
                series_number=int(ds.SeriesNumber) if ds.get("SeriesNumber") not in (None, "") else None,
                description=_text(ds, "SeriesDescription"),
                manufacturer=_text(ds, "Manufacturer"),
                image_type=_text(ds, "ImageType"),
                metadata=series_metadata(ds, layout),
            )
        info.headers.extend(frames)
        info.files.add(path)
        if keep and layout == "classic":  # an enhanced (large) header is read again when used
            info.datasets[path] = ds
            kept += 1
        info.warnings.extend(warnings)
    return list(series.values()), skipped


def index_dicom_folder(folder: str | os.PathLike, keep_headers: bool = False
                       ) -> tuple[list[DicomSeriesInfo], list[str]]:
    """Return (series found, files skipped with reasons) for every file below ``folder`` (recursive).

    Hidden files and folders (names starting with '.') are ignored; ``keep_headers`` as :func:`index_dicom_files`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DicomDwiError(f"{folder}: not a folder")
    paths = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        paths.extend(os.path.join(root, n) for n in sorted(names) if not n.startswith("."))
    return index_dicom_files(paths, keep_headers)


def _matches(info: DicomSeriesInfo, choice: str) -> bool:
    return choice in (str(info.series_number), info.series_uid) or choice.casefold() == info.description.casefold()


def select_dwi_series(series: list[DicomSeriesInfo], choice: str | int | None = None,
                      min_bvalues: int = 2) -> DicomSeriesInfo:
    """Return the DWI series to load: the only candidate, or the one matching ``choice``.

    ``choice`` matches a series number, UID or description (case-insensitive). A candidate has b-images
    with at least ``min_bvalues`` distinct b-values. Derived maps are refused with a message; several
    candidates without a choice are an error listing them.
    """
    if choice is not None:
        matches = [s for s in series if _matches(s, str(choice))]
        if not matches:
            listing = "; ".join(s.label() for s in series) or "no series"
            raise DicomDwiError(f"no series matches '{choice}'; found: {listing}")
        if len(matches) > 1:
            raise DicomDwiError(f"several series match '{choice}', use the series UID: "
                                + "; ".join(f"{s.label()} [{s.series_uid}]" for s in matches))
        chosen = matches[0]
        if chosen.is_derived:
            raise DicomDwiError(f"{chosen.label()} is a derived map, not b-images")
        return chosen
    candidates = [s for s in series if not s.is_derived and len(s.bvalues_s_mm2) >= min_bvalues]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        derived = [s for s in series if s.is_derived]
        if derived and not any(s.bvalues_s_mm2 for s in series):
            raise DicomDwiError("only derived maps found (not b-images): " + "; ".join(s.label() for s in derived))
        listing = "; ".join(s.label() for s in series) or "no DICOM images"
        what = "multi-b diffusion series" if min_bvalues > 1 else "diffusion series"
        single = [s for s in series if len(s.bvalues_s_mm2) == 1 and not s.is_derived]
        hint = (f"; only one b-value in {', '.join(f'series {s.series_number}' for s in single)}, "
                f"IVIM needs at least {min_bvalues}") if single and min_bvalues > 1 else ""
        raise DicomDwiError(f"no {what} found ({listing}){hint}")
    raise DicomDwiError("several DWI series found, choose one by number, UID or description: "
                        + "; ".join(s.label() for s in candidates))


def load_series(info: DicomSeriesInfo, min_bvalues: int = 2) -> DwiVolume:
    """Return one indexed series as a DwiVolume: one trace volume per b-value on one RAS grid."""
    if info.is_derived:
        raise DicomDwiError(f"{info.label()} is a derived map, not b-images")
    frames = info.b_images
    excluded = []
    n_derived = len(info.headers) - len(frames)
    if n_derived:
        excluded.append(f"{n_derived} derived image(s) not used ({info.derived_reason})")
    frames = sorted(frames, key=lambda f: (f.path, f.frame or 0, f.tile or 0))
    if len({f.shape for f in frames}) > 1:
        raise_inconsistent(frames, "shape", "matrix (Rows x Columns)", info.label())
    try:
        pixels, ok, problems = read_frame_pixels(frames, datasets=info.datasets)
    except DwiInputError as error:
        raise DicomDwiError(f"{error} ({info.label()})") from error
    if problems:
        more = f" and {len(problems) - 1} more file(s)" if len(problems) > 1 else ""
        if not ok:
            raise DicomDwiError(f"{info.label()}: no image has readable pixel data ({problems[0]}{more})")
        raise DicomDwiError(f"{problems[0]}{more} ({info.label()}; a series with unreadable images is not used)")
    metadata = dict(info.metadata, source=str(Path(frames[0].path).parent), files=len(info.files),
                    warnings=list(dict.fromkeys(info.warnings)), excluded_images=excluded)
    spacing = metadata.get("spacing_between_slices_mm") or metadata.get("slice_thickness_mm")
    volume = assemble_dwi(frames, pixels, label=info.label(), min_bvalues=min_bvalues,
                          single_slice_spacing_mm=spacing, metadata=metadata)
    volume.metadata["unreadable_files"] = []
    return volume


def load_dwi_dicom(path: str | os.PathLike, series: str | int | None = None, *,
                   min_bvalues: int = 2) -> DwiVolume:
    """Return the multi-b DWI found below the folder ``path`` (recursive) or in one DICOM file.

    ``series`` picks one of several DWI series (number, UID or description). ``min_bvalues`` is 2 for
    IVIM; 1 accepts a single-b trace series. Files that are not readable DICOM are skipped and listed in
    ``metadata["skipped_files"]``; warnings (no b = 0, unreadable pixel data, ...) go to
    ``metadata["warnings"]``.
    """
    path = Path(path)
    if path.is_file():
        found, skipped = index_dicom_files([path], keep_headers=True)
    else:
        found, skipped = index_dicom_folder(path, keep_headers=True)
    if not found:
        raise DicomDwiError(f"{path}: no DICOM images found" + (f" ({skipped[0]})" if skipped else ""))
    chosen = select_dwi_series(found, series, min_bvalues)
    for other in found:  # only the loaded series' headers are of use
        if other is not chosen:
            other.datasets.clear()
    damaged = [s for s in skipped if DAMAGED in s or UNREADABLE in s]
    try:
        volume = load_series(chosen, min_bvalues)
    except DicomDwiError as error:
        if damaged:
            raise DicomDwiError(f"{error} ({len(damaged)} damaged file(s) skipped, e.g. {damaged[0]})") from error
        if skipped:  # an empty or non-DICOM file may be the missing image: name it
            raise DicomDwiError(f"{error} ({len(skipped)} file(s) skipped, e.g. {skipped[0]})") from error
        raise
    if damaged:  # it may hold images of this series: loading without it could silently drop b-values or slices
        more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
        raise DicomDwiError(f"{damaged[0]}{more}: a damaged or unreadable file next to {chosen.label()}; it may hold "
                            "images of the series: repair or remove it")
    volume.metadata["skipped_files"] = skipped
    return volume
