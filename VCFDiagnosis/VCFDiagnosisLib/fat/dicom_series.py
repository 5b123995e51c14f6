"""Water-fat DICOM series on one grid: multi-echo gradient-echo magnitude (and phase), and single maps.

Indexing and pixel reading are the DWI loader's (:mod:`VCFDiagnosisLib.dwi.dicom`: classic, enhanced and any
mix of files, recursive, headers first, damaged files named); each echo (or a map) is assembled on its grid by
the same rules as a DWI volume (slices by position along the normal, evenly spaced, one orientation, no
duplicates: :func:`VCFDiagnosisLib.dwi.assemble.assemble_dwi` with one "b = 0" volume), and every echo must sit on
the first echo's grid. Echo times come from EchoTime (classic) or the per-frame EffectiveEchoTime (enhanced);
magnitude and phase from ImageType/FrameType (M, P), ComplexImageComponent or GE's (0043,102F).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from ..dwi.assemble import assemble_dwi
from ..dwi.dicom import DicomSeriesInfo
from ..dwi.errors import DicomDwiError
from ..dwi.frames import DERIVED_IMAGE_TYPES
from ..dwi.pixels import read_frame_pixels

#: Echo times (ms) closer than this are one echo.
ECHO_TOLERANCE_MS = 0.005
#: Fewest echoes a PDFF/R2* fit accepts (three unknowns: water, fat, R2*).
MIN_ECHOES = 3
#: The proton's gyromagnetic ratio / 2 pi (MHz/T): the proton frequency from the field strength.
PROTON_MHZ_PER_T = 42.577478


def proton_frequency_mhz(metadata: dict, label: str) -> float:
    """Return the series' proton frequency (MHz): ImagingFrequency, else 42.577 x MagneticFieldStrength; the fat
    peaks' offsets in Hz depend on it, so a series with neither is refused."""
    f0 = metadata.get("imaging_frequency_mhz")
    if f0 and 5.0 < float(f0) < 1000.0:
        return float(f0)
    field = metadata.get("field_strength_t")
    if field and 0.1 < float(field) < 25.0:
        return PROTON_MHZ_PER_T * float(field)
    raise FatInputError(f"{label}: no ImagingFrequency or MagneticFieldStrength: the fat frequencies depend on the "
                        "field strength")


class FatInputError(DicomDwiError):
    """A water-fat input that cannot be used (the message names the file or series and the problem)."""


@dataclass
class EchoSeries:
    """Multi-echo GRE magnitude on one grid: ``magnitude[echo, k, j, i]`` at ``echo_times_ms`` (ascending)."""

    echo_times_ms: np.ndarray
    magnitude: np.ndarray
    ijk_to_ras: np.ndarray
    metadata: dict = field(default_factory=dict)
    phase: np.ndarray | None = None

    @property
    def shape_kji(self) -> tuple[int, int, int]:
        """Return the grid shape (k, j, i)."""
        return tuple(int(n) for n in self.magnitude.shape[1:])


#: ImageType/FrameType values naming a scanner map, with the map they name (``pdff``, ``r2star``, ``t2star``).
MAP_KIND_TOKENS = {"FF": "pdff", "FAT_FRACTION": "pdff", "FATFRACTION": "pdff", "PDFF": "pdff", "R2_STAR": "r2star",
                   "R2STAR": "r2star", "R2*": "r2star", "T2_STAR": "t2star", "T2STAR": "t2star", "T2*": "t2star"}
#: ImageType/FrameType values of scanner-computed water-fat maps (and Dixon outputs) that are not echoes.
MAP_IMAGE_TYPES = frozenset(MAP_KIND_TOKENS) | {"W", "F", "WATER", "FAT", "IN_PHASE", "OPP_PHASE", "OUT_PHASE", "IP",
                                                "OP", "WATER_FRACTION"}


def is_echo_image(frame, part: str = "magnitude") -> bool:
    """Return True for an image of one complex ``part`` that is an acquired echo: not a water-fat or diffusion map
    (a DERIVED echo, e.g. distortion-corrected, is still an echo; images silent about their part are magnitude)."""
    return (frame.echo_time_ms is not None and (frame.complex_part or "magnitude") == part
            and not frame.image_type & (MAP_IMAGE_TYPES | DERIVED_IMAGE_TYPES))


def series_name(info: DicomSeriesInfo) -> str:
    """Return how messages name a series: ``series N 'description'``."""
    return f"series {info.series_number} '{info.description}'"


def echo_times_of(info: DicomSeriesInfo, part: str = "magnitude") -> list[float]:
    """Return the distinct echo times (ms, ascending) of a series' echo images of one complex ``part``."""
    times = sorted({round(f.echo_time_ms, 3) for f in info.headers if is_echo_image(f, part)})
    merged: list[float] = []
    for t in times:
        if not merged or t - merged[-1] > ECHO_TOLERANCE_MS:
            merged.append(t)
    return merged


def volume_on_grid(frames: list, label: str, single_slice_spacing_mm: float | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Return (volume [k, j, i] float32, ijk_to_ras) of images that form one 3D volume (one per slice);
    ``single_slice_spacing_mm`` is the slice spacing when there is one slice."""
    frames = [dataclasses.replace(f, bvalue_s_mm2=0.0, kind="b0") for f in frames]
    frames.sort(key=lambda f: (f.path, f.frame or 0, f.tile or 0))
    pixels, ok, problems = read_frame_pixels(frames)
    if problems:
        raise FatInputError(f"{problems[0]} ({label}; a series with unreadable images is not used)")
    volume = assemble_dwi(frames, pixels, label=label, min_bvalues=1, single_slice_spacing_mm=single_slice_spacing_mm)
    return volume.data[0], volume.ijk_to_ras


#: How rescaled phase images are read as radians: (range of the largest |value|, radians per unit, what it is). A
#: phase image spans its whole range (phase wraps in noise and background): the range is symmetric about 0, or it
#: starts at 0 when the images lost their rescale (read as the range's centre subtracted).
PHASE_SCALES = (((2.9, 3.3), 1.0, "radians"), ((170.0, 190.0), np.pi / 180.0, "degrees"),
                ((1950.0, 2150.0), np.pi / 2048.0, "a 4096-step range for -pi..pi (Siemens 0..4095 without its "
                                                   "rescale)"),
                ((2900.0, 3300.0), 1e-3, "milliradians (GE)"),
                ((3900.0, 4200.0), np.pi / 4096.0, "-4096..4096 for -pi..pi (Siemens)"))


def phase_in_radians(values: np.ndarray, label: str) -> tuple[np.ndarray | None, str]:
    """Return (phase in radians, how it was read) from rescaled phase images, or (None, why) when their range
    matches no known convention (the fit then uses the magnitudes only).

    A symmetric range (smallest value below -0.8 x the largest) is read by its end (:data:`PHASE_SCALES`); a range
    from 0 (e.g. Siemens 0..4095 after a converter dropped the rescale) by its span, centred.
    """
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
    if low < -0.8 * high:
        centre, half, note = 0.0, max(high, -low), ""
    elif low >= 0.0:
        centre, half, note = (low + high) / 2.0, (high - low) / 2.0, ", from 0 (centred)"
    else:
        centre, half, note = None, 0.0, ""
    for (lower, upper), per_unit, name in PHASE_SCALES if centre is not None else ():
        if lower <= half <= upper:
            return (values - centre) * per_unit, f"phase read as {name}{note}"
    return None, (f"{label}: phase images with values {low:.4g}..{high:.4g} match no known phase scaling (radians, "
                  "degrees, milliradians, +-4096, symmetric or from 0): the fit uses the magnitudes only")


def phase_partner(info: DicomSeriesInfo, others: list[DicomSeriesInfo]) -> DicomSeriesInfo | None:
    """Return the series holding the phase images of the magnitude series ``info``: itself when its images include
    phase at every echo, else the other series of phase images at the same echo times and frame of reference
    (Siemens writes them apart) whose series number is nearest (Siemens numbers it next); None when there is none,
    or two are equally near (a repeated acquisition: which phase is whose cannot be told)."""
    times = echo_times_of(info)
    if echo_times_of(info, "phase") == times:
        return info
    partners = [o for o in others if o is not info and echo_times_of(o, "phase") == times
                and o.metadata.get("frame_of_reference_uid") == info.metadata.get("frame_of_reference_uid")]
    if not partners:
        return None
    number = info.series_number if info.series_number is not None else 0
    distance = [abs((o.series_number if o.series_number is not None else 10**6) - number) for o in partners]
    nearest = [o for o, d in zip(partners, distance) if d == min(distance)]
    return nearest[0] if len(nearest) == 1 else None


def load_echo_series(info: DicomSeriesInfo, phase_info: DicomSeriesInfo | None = None) -> EchoSeries:
    """Return the magnitude echoes of one indexed multi-echo series, with the phase (radians) of ``phase_info``
    (the series itself or its partner, see :func:`phase_partner`) when given and readable; a note on the phase
    goes to ``metadata["phase"]``."""
    times = echo_times_of(info)
    if len(times) < MIN_ECHOES:
        raise FatInputError(f"{series_name(info)}: {len(times)} echo time(s) among its magnitude images; a PDFF/R2* fit "
                            f"needs at least {MIN_ECHOES}")
    volumes, phases, grid = [], [], None
    spacing = info.metadata.get("spacing_between_slices_mm") or info.metadata.get("slice_thickness_mm")

    def of_echo(source: DicomSeriesInfo, part: str, te: float) -> list:
        return [f for f in source.headers if is_echo_image(f, part) and abs(f.echo_time_ms - te) <= ECHO_TOLERANCE_MS]

    for number, te in enumerate(times, start=1):
        label = f"{series_name(info)}, echo {number} (TE {te:g} ms)"
        volume, matrix = volume_on_grid(of_echo(info, "magnitude", te), label, spacing)
        if grid is not None and (volume.shape != volumes[0].shape or not np.allclose(matrix, grid, atol=1e-3)):
            raise FatInputError(f"{label}: not on the grid of echo 1 (field of view or matrix changed between echoes)")
        grid = matrix if grid is None else grid
        volumes.append(volume)
    metadata = dict(info.metadata, echo_times_ms=list(times), files=len(info.files),
                    f0_mhz=proton_frequency_mhz(info.metadata, series_name(info)), phase="no phase images",
                    phase_problem="")
    phase = None
    if phase_info is not None:  # a phase that cannot be used leaves the magnitudes usable: a warning, not an error
        try:
            for number, te in enumerate(times, start=1):
                values, phase_grid = volume_on_grid(of_echo(phase_info, "phase", te),
                                                    f"{series_name(phase_info)}, echo {number} (TE {te:g} ms), phase",
                                                    spacing)
                if values.shape != volumes[0].shape or not np.allclose(phase_grid, grid, atol=1e-3):
                    raise FatInputError(f"{series_name(phase_info)}: its phase images are not on the magnitudes' grid")
                phases.append(values)
            phase, metadata["phase"] = phase_in_radians(np.stack(phases).astype(np.float64), series_name(phase_info))
        except DicomDwiError as error:  # unreadable, missing slices, another grid (FatInputError is one too)
            phase, metadata["phase"] = None, f"{error}: the fit uses the magnitudes only"
        if phase is None:
            metadata["phase_problem"] = metadata["phase"]
        else:
            metadata["phase"] += f" from {series_name(phase_info)}"
    return EchoSeries(np.asarray(times, float), np.stack(volumes), grid, metadata, phase)
