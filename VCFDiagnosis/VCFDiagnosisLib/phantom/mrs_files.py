"""The phantom's single-voxel MR spectrum: synthesis and writers (Siemens ``.rda``, standard DICOM MRS).

Sign conventions (see :mod:`VCFDiagnosisLib.mrs.model` and ``shared/design/FORMATS.md``):

* the ``.rda`` stores the FID in the RDA / NIfTI-MRS convention: ``spectrum = fftshift(fft(fid))`` and
  ``ppm = 4.7 - f / f0``, as little-endian float64 (re, im) pairs after the ASCII header;
* the DICOM MR Spectroscopy Storage file stores the complex conjugate of that FID (the standard DICOM
  sign), float32 interleaved (re, im) in SpectroscopyData (5600,0020).

Voxel geometry (LPS mm): a box of ``readout x phase x thickness`` mm along the DWI slab's row, column
and normal, centred on the lesion centroid. RDA: VOIPosition* is the centre, ``PositionVector`` the
corner ``centre - readout/2 * row - phase/2 * column`` (as Siemens writes it), VOINormal is
``column x row`` (as in a real Skyra RDA). DICOM: ImagePositionPatient (PlanePositionSequence) is the
centre of the single 1 x 1 "pixel", i.e. the voxel centre (DICOM's meaning of ImagePositionPatient, and
what a real Philips MRS file does: its ImagePositionPatient equals MidSlabPosition), PixelSpacing =
[phase, readout], SliceThickness = thickness, and the VolumeLocalizationSequence holds the three slabs
(thickness, unit normal, midpoint = centre).

Spectral SNR definition: peak height of the noiseless water line in ``|fftshift(fft(fid))|`` divided by
the standard deviation of the noise in the real part of the spectrum (= ``noise_sd * sqrt(N)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import MRSpectroscopyStorage

from ..mrs.model import WATER_PPM, ppm_axis, spectrum_from_fid, synthesize_fid
from .dicom_dwi import PatientInfo, ds_string, file_meta_for

MRS_FREQUENCY_MHZ = 123.2
MRS_BANDWIDTH_HZ = 2000.0
MRS_POINTS = 1024
MRS_TE_MS = 30.0
MRS_TR_MS = 2000.0
MRS_AVERAGES = 64


@dataclass(frozen=True)
class MrsVoxel:
    """A single-voxel box: centre (LPS mm), size (readout, phase, thickness) mm along row, column, normal."""

    centre_lps: np.ndarray
    size_mm: tuple[float, float, float]
    row_lps: np.ndarray
    col_lps: np.ndarray

    @property
    def normal_lps(self) -> np.ndarray:
        """Return the unit normal row x column (LPS)."""
        return np.cross(self.row_lps, self.col_lps)

    @property
    def corner_lps(self) -> np.ndarray:
        """Return the in-plane corner ``centre - readout/2 * row - phase/2 * column`` (LPS mm)."""
        return self.centre_lps - 0.5 * self.size_mm[0] * self.row_lps - 0.5 * self.size_mm[1] * self.col_lps


@dataclass(frozen=True)
class MrsAcquisition:
    """The drawn spectrum parameters and the FID (RDA convention)."""

    fid: np.ndarray
    frequency_mhz: float
    dwell_s: float
    water_area: float
    lwr: float
    water_linewidth_hz: float
    fat_linewidth_hz: float
    phase_deg: float
    shift_hz: float
    snr: float
    noise_sd: float

    def to_json(self) -> dict:
        """Return the parameters (not the FID) as plain JSON types."""
        return {
            "frequency_mhz": self.frequency_mhz,
            "dwell_s": self.dwell_s,
            "spectral_width_hz": 1.0 / self.dwell_s,
            "points": int(self.fid.size),
            "center_ppm": WATER_PPM,
            "water_area": self.water_area,
            "LWR": self.lwr,
            "water_linewidth_hz": self.water_linewidth_hz,
            "fat_linewidth_hz": self.fat_linewidth_hz,
            "phase_deg": self.phase_deg,
            "shift_hz": self.shift_hz,
            "snr": None if math.isinf(self.snr) else self.snr,
            "snr_definition": "noiseless water peak height in |fftshift(fft(fid))| / SD of the real spectrum "
            "noise (noise_sd * sqrt(points)); null = no noise",
            "noise_sd_per_channel": self.noise_sd,
            "te_ms": MRS_TE_MS,
            "tr_ms": MRS_TR_MS,
            "averages": MRS_AVERAGES,
            "area_definition": "FID amplitude at t=0 of a component; LWR = area(1.30 ppm) / area(4.70 ppm)",
            "fat_profile": "Hamilton et al. 2011 (VCFDiagnosisLib.mrs.model.HAMILTON_FAT_PEAKS)",
            "sign_convention": "rda: spectrum = fftshift(fft(fid)), ppm = 4.7 - f/f0; "
            "DICOM SpectroscopyData holds conj(fid)",
        }


def simulate_spectrum(lwr: float, rng: np.random.Generator, snr: float = 150.0) -> MrsAcquisition:
    """Return a drawn 3 T PRESS spectrum (water + Hamilton fat at ``lwr``) in the RDA sign convention.

    Drawn: water area 4000..10000 (a.u.), water and fat linewidths 20..35 Hz, zero-order phase
    -20..20 deg, frequency shift -3..3 Hz. ``snr = inf`` gives a noiseless FID.
    """
    if not snr > 0:
        raise ValueError(f"MRS SNR must be > 0 (inf for no noise), got {snr!r}")
    dwell = 1.0 / MRS_BANDWIDTH_HZ
    params = {
        "water_area": float(rng.uniform(4000.0, 10000.0)),
        "water_linewidth_hz": float(rng.uniform(20.0, 35.0)),
        "fat_linewidth_hz": float(rng.uniform(20.0, 35.0)),
        "phase_deg": float(rng.uniform(-20.0, 20.0)),
        "shift_hz": float(rng.uniform(-3.0, 3.0)),
    }
    common = {"n_points": MRS_POINTS, "dwell_s": dwell, "frequency_mhz": MRS_FREQUENCY_MHZ, "lwr": float(lwr)}
    water_only = synthesize_fid(**{**common, **params, "lwr": 0.0})
    spectrum = np.abs(spectrum_from_fid(water_only))
    ppm = ppm_axis(MRS_POINTS, dwell, MRS_FREQUENCY_MHZ)
    peak = float(spectrum[np.abs(ppm - WATER_PPM) < 0.3].max())
    noise_sd = 0.0 if math.isinf(snr) else peak / (float(snr) * math.sqrt(MRS_POINTS))
    noise_rng = np.random.default_rng(rng.integers(0, 2**63))
    fid = synthesize_fid(**common, **params, noise_sd=noise_sd, rng=noise_rng)
    return MrsAcquisition(fid=fid, frequency_mhz=MRS_FREQUENCY_MHZ, dwell_s=dwell, lwr=float(lwr),
                          snr=float(snr), noise_sd=noise_sd, **params)


def _lps_fields(prefix: str, vector: np.ndarray) -> list[str]:
    return [f"{prefix}[{n}]: {float(x):.6f}" for n, x in enumerate(vector)]


def write_rda(path: Path, acq: MrsAcquisition, voxel: MrsVoxel, patient: PatientInfo, description: str) -> None:
    """Write a Siemens ``.rda`` file: CRLF ``Key: value`` header, then float64 LE (re, im) FID pairs."""
    normal = np.cross(voxel.col_lps, voxel.row_lps)
    readout, phase, thickness = (float(s) for s in voxel.size_mm)
    lines = [
        ">>> Begin of header <<<",
        f"PatientName: {patient.name}",
        f"PatientID: {patient.patient_id}",
        "PatientSex: O",
        "PatientBirthDate: ",
        f"StudyDate: {patient.study_date}",
        f"StudyTime: {patient.study_time}.000000",
        f"SeriesDate: {patient.study_date}",
        f"SeriesDescription: {description}",
        f"ProtocolName: {description}",
        "PatientPosition: HFS",
        "SeriesNumber: 7",
        "ModelName: Skyra",
        "SequenceName: *svs_se",
        "SequenceDescription: *svs_se",
        f"TR: {MRS_TR_MS:.6f}",
        f"TE: {MRS_TE_MS:.6f}",
        "TM: 0.000000",
        "TI: 0.000000",
        f"DwellTime: {acq.dwell_s * 1e6:g}",
        "EchoNumber: 0",
        f"NumberOfAverages: {MRS_AVERAGES:.6f}",
        f"MRFrequency: {acq.frequency_mhz:.6f}",
        "Nucleus: 1H",
        "MagneticFieldStrength: 3.000000",
        "NumOfPhaseEncodingSteps: 1",
        "FlipAngle: 90.000000",
        f"VectorSize: {acq.fid.size}",
        "CSIMatrixSize[0]: 1",
        "CSIMatrixSize[1]: 1",
        "CSIMatrixSize[2]: 1",
        "HammingFilter: Off",
        "FrequencyCorrection: NO",
        f"SliceThickness: {thickness:.6f}",
        *_lps_fields("PositionVector", voxel.corner_lps),
        *_lps_fields("RowVector", voxel.row_lps),
        *_lps_fields("ColumnVector", voxel.col_lps),
        f"VOIPositionSag: {voxel.centre_lps[0]:.6f}",
        f"VOIPositionCor: {voxel.centre_lps[1]:.6f}",
        f"VOIPositionTra: {voxel.centre_lps[2]:.6f}",
        f"VOIThickness: {thickness:.6f}",
        f"VOIPhaseFOV: {phase:.6f}",
        f"VOIReadoutFOV: {readout:.6f}",
        f"VOINormalSag: {normal[0]:.6f}",
        f"VOINormalCor: {normal[1]:.6f}",
        f"VOINormalTra: {normal[2]:.6f}",
        "VOIRotationInPlane: 0.000000",
        f"FoVHeight: {phase:.6f}",
        f"FoVWidth: {readout:.6f}",
        f"FoV3D: {thickness:.6f}",
        "NumberOfRows: 1",
        "NumberOfColumns: 1",
        "NumberOf3DParts: 1",
        f"PixelSpacingRow: {phase:.6f}",
        f"PixelSpacingCol: {readout:.6f}",
        f"PixelSpacing3D: {thickness:.6f}",
        ">>> End of header <<<",
    ]
    header = ("\r\n".join(lines) + "\r\n").encode("latin-1")
    data = np.column_stack([acq.fid.real, acq.fid.imag]).astype("<f8").tobytes()
    path.write_bytes(header + data)


def _item(**elements) -> Dataset:
    item = Dataset()
    for key, value in elements.items():
        setattr(item, key, value)
    return item


def write_dicom_mrs(
    path: Path,
    acq: MrsAcquisition,
    voxel: MrsVoxel,
    patient: PatientInfo,
    manufacturer: str,
    description: str,
    make_uid: Callable[..., str],
) -> str:
    """Write a standard DICOM MR Spectroscopy Storage file (conjugated FID); return its SOPInstanceUID."""
    readout, phase, thickness = (float(s) for s in voxel.size_mm)
    sop_uid = make_uid("mrs-instance")
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "SPECTROSCOPY", "NONE"]
    ds.SOPClassUID = MRSpectroscopyStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = patient.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = patient.study_time
    ds.AcquisitionDateTime = patient.study_date + patient.study_time
    ds.AccessionNumber = ""
    ds.Modality = "MR"
    ds.Manufacturer = manufacturer
    ds.InstitutionName = "VCFDiagnosis synthetic phantom"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Synthetic lumbar spine (VCFDiagnosis phantom)"
    ds.SeriesDescription = description
    ds.PatientName = patient.name
    ds.PatientID = patient.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.BodyPartExamined = "LSPINE"
    ds.MagneticFieldStrength = ds_string(3.0)
    ds.ProtocolName = description
    ds.PatientPosition = "HFS"
    ds.ContentQualification = "RESEARCH"
    ds.PulseSequenceName = "svs_se"
    ds.EchoPulseSequence = "SPIN"
    ds.MultiPlanarExcitation = "NO"
    ds.SpectrallySelectedSuppression = "NONE"
    ds.GeometryOfKSpaceTraversal = "RECTILINEAR"
    ds.SegmentedKSpaceTraversal = "SINGLE"
    ds.SpectralWidth = 1.0 / acq.dwell_s
    ds.ChemicalShiftReference = WATER_PPM
    ds.VolumeLocalizationTechnique = "PRESS"
    ds.Decoupling = "NO"
    ds.KSpaceFiltering = "NONE"
    ds.TimeDomainFiltering = "NONE"
    ds.NumberOfZeroFills = 0
    ds.BaselineCorrection = "NONE"
    ds.TransmitterFrequency = acq.frequency_mhz
    ds.ResonantNucleus = "1H"
    ds.FrequencyCorrection = "NO"
    ds.FirstOrderPhaseCorrection = "NO"
    ds.WaterReferencedPhaseCorrection = "NO"
    ds.MRSpectroscopyAcquisitionType = "SINGLE_VOXEL"
    ds.SpectroscopyAcquisitionDataColumns = int(acq.fid.size)
    ds.SpectroscopyAcquisitionPhaseRows = 1
    ds.SpectroscopyAcquisitionPhaseColumns = 1
    ds.SpectroscopyAcquisitionOutOfPlanePhaseSteps = 1
    ds.VolumeLocalizationSequence = DicomSequence([
        _item(SlabThickness=size, SlabOrientation=[float(x) for x in direction],
              MidSlabPosition=[float(x) for x in voxel.centre_lps])
        for size, direction in ((readout, voxel.row_lps), (phase, voxel.col_lps), (thickness, voxel.normal_lps))
    ])
    ds.StudyInstanceUID = patient.study_uid
    ds.SeriesInstanceUID = make_uid("mrs-series")
    ds.StudyID = "1"
    ds.SeriesNumber = "7"
    ds.InstanceNumber = "1"
    ds.FrameOfReferenceUID = patient.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.NumberOfFrames = "1"
    ds.Rows = 1
    ds.Columns = 1
    ds.DataPointRows = 1
    ds.DataPointColumns = int(acq.fid.size)
    ds.DataRepresentation = "COMPLEX"
    ds.SignalDomainColumns = "TIME"
    ds.SharedFunctionalGroupsSequence = DicomSequence([_item(
        MREchoSequence=DicomSequence([_item(EffectiveEchoTime=MRS_TE_MS)]),
        MRTimingAndRelatedParametersSequence=DicomSequence([_item(
            RepetitionTime=MRS_TR_MS, FlipAngle=90.0, EchoTrainLength=1, RFEchoTrainLength=1,
            GradientEchoTrainLength=0)]),
        MRAveragesSequence=DicomSequence([_item(NumberOfAverages=float(MRS_AVERAGES))]),
        PixelMeasuresSequence=DicomSequence([_item(
            PixelSpacing=[ds_string(phase), ds_string(readout)], SliceThickness=ds_string(thickness))]),
        PlanePositionSequence=DicomSequence([_item(
            ImagePositionPatient=[ds_string(x) for x in voxel.centre_lps])]),
        PlaneOrientationSequence=DicomSequence([_item(
            ImageOrientationPatient=[ds_string(x) for x in (*voxel.row_lps, *voxel.col_lps)])]),
    )])
    ds.PerFrameFunctionalGroupsSequence = DicomSequence([_item(
        FrameContentSequence=DicomSequence([_item(FrameAcquisitionNumber=1, StackID="1",
                                                  InStackPositionNumber=1)]))])
    conj = np.conj(acq.fid)
    ds.SpectroscopyData = np.column_stack([conj.real, conj.imag]).astype("<f4").tobytes()
    ds.file_meta = file_meta_for(MRSpectroscopyStorage, sop_uid, make_uid("implementation"))
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return str(sop_uid)
