"""The phantom patient's chemical-shift-encoded water-fat series: 6-echo gradient-echo magnitude with known PDFF/R2*.

The series covers the DWI's slab (same centre, tilt, slices) on a finer in-plane grid (:data:`GRE_MATRIX_SCALE`),
so a reader and the ROI resampling are tested on a grid that is not the DWI's. Signal per voxel: the model of
:mod:`VCFDiagnosisLib.fat.model` (multi-peak fat, one R2*) with the tissue's proton density, PDFF and R2*, plus
complex Gaussian noise taken to magnitude (Rician), at the proton frequency the DICOM files state
(ImagingFrequency, :data:`.dicom_dwi.LARMOR_MHZ`, a nominal 3 T magnet at 2.89 T). Echo times are those of a 3 T 6-echo protocol
(:data:`ECHO_TIMES_MS`: first echo and spacing 1.2 ms, as the 3 T multi-echo Dixon protocols of the vendors use
about 1.0-1.3 ms).

Tissue values are assumptions inside published 3 T ranges, not fits to data: normal adult lumbar marrow PDFF
45 % with R2* 110 1/s (trabecular bone shortens T2*), disc 0 % / 25 1/s, muscle 4 % / 35 1/s, CSF 0 % / 5 1/s.
The lesion's PDFF is the one whose study-style MRS FF (:func:`VCFDiagnosisLib.fat.relation.pdff_from_mrs_ff`) is
the lesion's FF, so both fat sources agree on the truth; its R2* is 70 1/s (oedema, fewer trabeculae).
``snr`` is the marrow proton density over the noise SD per channel.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..fat.model import complex_signal
from ..fat.relation import pdff_from_mrs_ff
from .anatomy import AnatomyParameters, build_label_map
from .dicom_dwi import LARMOR_MHZ
from .geometry import SlabGeometry
from .tissues import BACKGROUND, CSF, DISC, LESION, MARROW, MUSCLE, LesionParameters

ECHO_TIMES_MS = (1.2, 2.4, 3.6, 4.8, 6.0, 7.2)
#: The GRE in-plane matrix is this times the DWI's (same field of view): a finer grid than the DWI.
GRE_MATRIX_SCALE = 1.25
#: Proton density of normal marrow: the reference of the series' SNR.
MARROW_PD = 1000.0
LESION_R2STAR_PER_S = 70.0
#: The phase at t = 0 (rad) and the off-resonance field map: a smooth inhomogeneity up to about +-60 Hz over the
#: slab (a shimmed 3 T spine), which the phase images carry and the complex fit recovers.
PHASE_AT_ZERO_RAD = 0.4
FIELD_MAP_AMPLITUDE_HZ = (35.0, 25.0)  # a sine across the columns, a linear gradient down the rows


@dataclass(frozen=True)
class FatTissue:
    """Water-fat truth of one tissue: proton density (scanner units), PDFF (percent), R2* (1/s)."""

    name: str
    label: int
    proton_density: float
    pdff_percent: float
    r2star_per_s: float


BACKGROUND_FAT_TISSUES: tuple[FatTissue, ...] = (
    FatTissue("background_air", BACKGROUND, 0.0, 0.0, 0.0),
    FatTissue("normal_marrow", MARROW, MARROW_PD, 45.0, 110.0),
    FatTissue("intervertebral_disc", DISC, 700.0, 0.0, 25.0),
    FatTissue("paraspinal_muscle", MUSCLE, 600.0, 4.0, 35.0),
    FatTissue("csf", CSF, 900.0, 0.0, 5.0),
)


def fat_tissue_table(lesion: LesionParameters) -> tuple[FatTissue, ...]:
    """Return every tissue's water-fat truth; the lesion's PDFF matches its MRS FF (see the module docstring)."""
    lesion_tissue = FatTissue("lesion", LESION, 900.0, float(pdff_from_mrs_ff(lesion.FF_percent)),
                              LESION_R2STAR_PER_S)
    return tuple(sorted((*BACKGROUND_FAT_TISSUES, lesion_tissue), key=lambda t: t.label))


@dataclass
class FatSeriesData:
    """The simulated water-fat series: grid, echoes, noisy magnitudes and the truth maps."""

    geometry: SlabGeometry
    labels: np.ndarray
    echo_times_ms: tuple
    magnitude: np.ndarray  # (echo, k, j, i), scanner units
    phase: np.ndarray  # (echo, k, j, i), radians (-pi..pi)
    field_map_hz: np.ndarray  # truth (k, j, i)
    pdff_percent: np.ndarray  # truth (k, j, i), NaN in air
    r2star_per_s: np.ndarray  # truth (k, j, i), NaN in air
    tissues: tuple
    snr: float
    noise_sigma: float

    def truth_json(self) -> dict:
        """Return the series' truth as plain JSON types."""
        return {
            "echo_times_ms": list(self.echo_times_ms),
            "field_strength_T": 3.0,
            "f0_mhz": LARMOR_MHZ,
            "snr": None if not np.isfinite(self.snr) else float(self.snr),
            "snr_definition": "normal marrow proton density / noise SD per channel (Rician magnitude)",
            "noise_sigma": float(self.noise_sigma),
            "model": "S(t) = (W + F c(t)) exp(-R2* t) exp(i (phi + 2 pi psi t)), c(t) the multi-peak fat spectrum "
                     "of the MRS engine (Hamilton et al. 2011 peaks), W = PD (1 - PDFF), F = PD PDFF; magnitude and "
                     "phase images of the noisy complex signal",
            "phase_at_zero_rad": PHASE_AT_ZERO_RAD,
            "field_map": f"{FIELD_MAP_AMPLITUDE_HZ[0]:g} Hz sin(2 pi i / columns) + {FIELD_MAP_AMPLITUDE_HZ[1]:g} Hz "
                         "(2 j / rows - 1), the same on every slice",
            "geometry": self.geometry.to_json(),
            "tissues": {t.name: {k: (float(v) if isinstance(v, float) else v) for k, v in asdict(t).items()}
                        for t in self.tissues},
        }


def gre_geometry(dwi_geometry: SlabGeometry) -> SlabGeometry:
    """Return the water-fat series' grid: the DWI's slab on a finer in-plane matrix (same field of view)."""
    matrix = int(round(dwi_geometry.shape_kji[1] * GRE_MATRIX_SCALE))
    fov = dwi_geometry.pixel_spacing_mm * dwi_geometry.shape_kji[1]
    return SlabGeometry.oblique_sagittal(
        matrix=matrix, n_slices=dwi_geometry.shape_kji[0], fov_mm=fov,
        slice_thickness_mm=dwi_geometry.slice_thickness_mm,
        slice_gap_mm=dwi_geometry.slice_spacing_mm - dwi_geometry.slice_thickness_mm,
        centre_lps=dwi_geometry.centre_lps, tilt_deg=dwi_geometry.tilt_deg)


def simulate_fat_series(dwi_geometry: SlabGeometry, anatomy: AnatomyParameters, lesion: LesionParameters,
                        rng: np.random.Generator, snr: float = 40.0,
                        echo_times_ms=ECHO_TIMES_MS) -> FatSeriesData:
    """Return the patient's water-fat series (see the module docstring); ``snr`` inf gives noiseless images."""
    geometry = gre_geometry(dwi_geometry)
    labels = build_label_map(geometry, anatomy)
    tissues = fat_tissue_table(lesion)
    size = max(t.label for t in tissues) + 1
    pd, pdff, r2 = (np.zeros(size) for _ in range(3))
    for t in tissues:
        pd[t.label], pdff[t.label], r2[t.label] = t.proton_density, t.pdff_percent, t.r2star_per_s
    te_s = np.asarray(echo_times_ms, float) * 1e-3
    water, fat = pd[labels] * (1 - pdff[labels] / 100.0), pd[labels] * pdff[labels] / 100.0
    nk, nj, ni = labels.shape
    jj, ii = np.meshgrid(np.arange(nj), np.arange(ni), indexing="ij")
    field = np.broadcast_to(FIELD_MAP_AMPLITUDE_HZ[0] * np.sin(2 * np.pi * ii / ni)
                            + FIELD_MAP_AMPLITUDE_HZ[1] * (2.0 * jj / max(nj - 1, 1) - 1.0), labels.shape)
    shape = (len(te_s),) + (1,) * labels.ndim
    clean = (complex_signal(te_s, water, fat, r2[labels], f0_mhz=LARMOR_MHZ)  # the frequency the files state
             * np.exp(1j * (PHASE_AT_ZERO_RAD + 2 * np.pi * field[None] * te_s.reshape(shape))))
    sigma = 0.0 if not np.isfinite(snr) else MARROW_PD / float(snr)
    noisy_complex = clean + sigma * (rng.standard_normal(clean.shape) + 1j * rng.standard_normal(clean.shape))
    noisy = np.abs(noisy_complex)
    air = labels == BACKGROUND
    truth_pdff = np.where(air, np.nan, pdff[labels])
    truth_r2 = np.where(air, np.nan, r2[labels])
    return FatSeriesData(geometry, labels, tuple(float(t) for t in echo_times_ms), noisy.astype(np.float32),
                         np.angle(noisy_complex).astype(np.float32), np.array(field), truth_pdff, truth_r2, tissues,
                         float(snr), sigma)
