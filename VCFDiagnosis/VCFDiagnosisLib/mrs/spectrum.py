"""The :class:`Spectrum` container every MRS reader returns (one single-voxel, coil-combined FID).

Convention (the RDA / NIfTI-MRS on-disk one, see :mod:`.model`): ``spectrum = fftshift(fft(fid))`` and
``ppm = center_ppm - f / frequency_mhz`` with ``f = fftshift(fftfreq(n, dwell_s))`` in Hz. Readers of
formats stored with the opposite sign (standard DICOM MRS, Philips SDAT) conjugate on reading.
Geometry is in RAS millimetres (Slicer / NIfTI), converted from LPS (DICOM, Siemens, Philips) by
negating x and y.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import model


@dataclass
class Spectrum:
    """One single-voxel MR spectrum, normalised to the RDA / NIfTI-MRS sign convention.

    Attributes:
        fid: complex FID (averaged over transients, coil-combined), shape ``(points,)``.
        dwell_s: sampling interval in seconds (``spectral_width_hz = 1 / dwell_s``).
        frequency_mhz: spectrometer (receiver) frequency in MHz.
        te_ms, tr_ms: echo and repetition time in ms (None when the file has none).
        averages: number of averaged transients the FID stands for (header value, or frames averaged).
        water_suppressed: True / False from the header, None when the format does not say.
        center_ppm: chemical shift at the receiver frequency (4.7 unless the header says otherwise).
        voxel_center_ras: voxel centre (mm, RAS) or None.
        voxel_size_mm: voxel extent along the three columns of ``voxel_orientation_ras`` (mm) or None.
        voxel_orientation_ras: 3x3 matrix whose columns are the voxel axes as RAS unit vectors
            (for Siemens: row/readout, column/phase, slice normal) or None.
        vendor: "Siemens", "Philips", ... as far as the file says.
        source_format: "rda", "siemens-csa-dicom", "dicom-mrs", "philips-sdat", "nifti-mrs".
        source_path: the file read.
        apodized: True when the scanner filtered the FID (e.g. RDA HammingFilter on), None unknown.
        frames: number of transients/frames found in the file before averaging (1 for averaged data).
        reference_fid: an unsuppressed water reference stored in the same file, if any (same convention).
        warnings: human-readable warnings collected while reading.
    """

    fid: np.ndarray
    dwell_s: float
    frequency_mhz: float
    te_ms: float | None = None
    tr_ms: float | None = None
    averages: int | None = None
    water_suppressed: bool | None = None
    center_ppm: float = model.WATER_PPM
    voxel_center_ras: np.ndarray | None = None
    voxel_size_mm: np.ndarray | None = None
    voxel_orientation_ras: np.ndarray | None = None
    vendor: str = ""
    source_format: str = ""
    source_path: str = ""
    apodized: bool | None = None
    frames: int = 1
    reference_fid: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def points(self) -> int:
        """Number of complex points of the FID."""
        return int(self.fid.shape[-1])

    @property
    def spectral_width_hz(self) -> float:
        """Spectral width (receiver bandwidth) in Hz, ``1 / dwell_s``."""
        return 1.0 / self.dwell_s

    def time_s(self) -> np.ndarray:
        """Return the sampling times of the FID in seconds."""
        return model.time_axis_s(self.points, self.dwell_s)

    def frequency_hz(self) -> np.ndarray:
        """Return the frequency axis (Hz) of :meth:`spectrum`."""
        return model.frequency_axis_hz(self.points, self.dwell_s)

    def ppm(self) -> np.ndarray:
        """Return the nominal chemical-shift axis (ppm, decreasing) of :meth:`spectrum`."""
        return model.ppm_axis(self.points, self.dwell_s, self.frequency_mhz, self.center_ppm)

    def spectrum(self) -> np.ndarray:
        """Return the complex spectrum ``fftshift(fft(fid))``."""
        return model.spectrum_from_fid(self.fid)


def lps_to_ras(vector_lps) -> np.ndarray:
    """Return a point or direction converted from LPS (DICOM) to RAS (Slicer): negate x and y."""
    v = np.asarray(vector_lps, dtype=float).copy()
    v[..., 0] *= -1.0
    v[..., 1] *= -1.0
    return v


def orientation_from_row_column_lps(row_lps, column_lps) -> np.ndarray:
    """Return the 3x3 RAS orientation (columns: row, column, normal unit vectors) from LPS cosines."""
    row = np.asarray(row_lps, dtype=float)
    col = np.asarray(column_lps, dtype=float)
    row = row / np.linalg.norm(row)
    col = col / np.linalg.norm(col)
    normal = np.cross(row, col)
    return lps_to_ras(np.stack([row, col, normal], axis=1).T).T


#: Plausible acquisition limits shared by the readers: points, dwell time (s) and spectrometer frequency (MHz).
MIN_POINTS, MAX_POINTS = 8, 1 << 20
MIN_DWELL_S, MAX_DWELL_S = 1e-6, 1e-2  # spectral width 100 Hz .. 1 MHz
MIN_FREQUENCY_MHZ, MAX_FREQUENCY_MHZ = 1.0, 1000.0  # 1H from ~0.03 T to ~23 T
#: FID samples beyond this magnitude are a wrong data type or corrupt bytes, not a scanner's numbers.
MAX_ABS_SAMPLE = 1e30


def check_acquisition(points: int, dwell_s: float, frequency_mhz: float, path: str) -> None:
    """Raise ValueError naming ``path`` unless points, dwell time (s) and frequency (MHz) are plausible."""
    if not MIN_POINTS <= points <= MAX_POINTS:
        raise ValueError(f"{path}: implausible number of points {points} (expected {MIN_POINTS}..{MAX_POINTS})")
    if not (np.isfinite(dwell_s) and MIN_DWELL_S <= dwell_s <= MAX_DWELL_S):
        raise ValueError(f"{path}: implausible dwell time {dwell_s * 1e6:g} us (spectral width must be "
                         f"{1 / MAX_DWELL_S:g}..{1 / MIN_DWELL_S:g} Hz)")
    if not (np.isfinite(frequency_mhz) and MIN_FREQUENCY_MHZ <= frequency_mhz <= MAX_FREQUENCY_MHZ):
        raise ValueError(f"{path}: implausible spectrometer frequency {frequency_mhz:g} MHz (expected "
                         f"{MIN_FREQUENCY_MHZ:g}..{MAX_FREQUENCY_MHZ:g})")


def orientation_or_none(row_lps, column_lps, warnings: list[str]) -> np.ndarray | None:
    """Return :func:`orientation_from_row_column_lps`, or None (with a warning) for missing, non-finite,
    zero-length or parallel direction cosines."""
    if row_lps is None or column_lps is None or any(v is None for v in [*row_lps, *column_lps]):
        return None
    row, col = np.asarray(row_lps, dtype=float), np.asarray(column_lps, dtype=float)
    if row.shape != (3,) or col.shape != (3,) or not (np.all(np.isfinite(row)) and np.all(np.isfinite(col))):
        warnings.append("voxel orientation is not two finite 3-vectors: orientation ignored")
        return None
    norms = np.linalg.norm(row) * np.linalg.norm(col)
    if norms == 0 or np.linalg.norm(np.cross(row, col)) < 1e-3 * norms:
        warnings.append("voxel row and column directions are zero or parallel: orientation ignored")
        return None
    return orientation_from_row_column_lps(row, col)


def positive_sizes_or_none(sizes, warnings: list[str], what: str = "voxel size") -> np.ndarray | None:
    """Return the voxel edge lengths (mm) as an array, or None (with a warning) if any is missing or not > 0."""
    if sizes is None or any(v is None for v in sizes):
        return None
    values = np.asarray(sizes, dtype=float)
    if not np.all(np.isfinite(values) & (values > 0)):
        warnings.append(f"{what} {values.tolist()} mm is not positive: voxel geometry ignored")
        return None
    return values


def voxel_geometry(centre_lps, sizes_mm, warnings: list[str], row_lps=None, column_lps=None,
                   orientation_ras=None) -> dict:
    """Return the Spectrum voxel fields from a reader's header values (LPS, mm), each None when unusable.

    ``centre_lps`` becomes ``voxel_center_ras`` (None if any value is missing), ``sizes_mm`` ``voxel_size_mm``
    (:func:`positive_sizes_or_none`), and the row/column cosines ``voxel_orientation_ras``
    (:func:`orientation_or_none`) unless ``orientation_ras`` is already known (Philips angulations).
    """
    has_centre = centre_lps is not None and len(centre_lps) and None not in list(centre_lps)
    if orientation_ras is None and row_lps is not None and column_lps is not None:
        orientation_ras = orientation_or_none(row_lps, column_lps, warnings)
    return {"voxel_center_ras": lps_to_ras(centre_lps) if has_centre else None,
            "voxel_size_mm": positive_sizes_or_none(sizes_mm, warnings),
            "voxel_orientation_ras": orientation_ras}


def check_fid(fid: np.ndarray, path: str) -> np.ndarray:
    """Return ``fid`` as complex128 after checking it is non-empty, finite, not absurd and not all zeros.

    ValueError naming ``path`` otherwise (an all-zero FID would otherwise be "fitted" to noise).
    """
    fid = np.asarray(fid, dtype=complex)
    if fid.size == 0:
        raise ValueError(f"{path}: the spectroscopy data block is empty")
    if not np.all(np.isfinite(fid)):
        raise ValueError(f"{path}: the spectroscopy data contain NaN or infinite values (corrupt file?)")
    peak = float(np.max(np.abs(fid)))
    if peak == 0.0:
        raise ValueError(f"{path}: the FID is all zeros (no signal was stored)")
    if peak > MAX_ABS_SAMPLE:
        raise ValueError(f"{path}: spectroscopy data values are implausible (|x| up to {peak:.3g} > "
                         f"{MAX_ABS_SAMPLE:g}): wrong data type in the header or corrupt data")
    return fid
