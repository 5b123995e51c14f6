"""A synthetic VCF patient with known truth: simulate it in memory, or write it as a scanner-like case folder.

See :mod:`VCFDiagnosisLib.phantom` for the output layout. Randomness: every aspect (lesion parameters,
anatomy, slab geometry, DWI noise, spectrum, file names) has its own stream seeded from ``seed`` alone,
so the same seed gives the same image for every vendor style, and overriding a lesion parameter does
not change the rest of the patient.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.uid import generate_uid

from .. import __version__
from ..batch.manifest import MANIFEST_COLUMNS
from ..dwi.volume import LPS_TO_RAS, DwiVolume
from ..outputs.safe_paths import staged_case_folder
from .anatomy import AnatomyParameters, build_label_map, draw_anatomy
from .dicom_dwi import PatientInfo, write_dwi_series
from .dicom_fat import write_echo_series, write_vendor_maps
from .dwi_signal import add_trace_noise, noise_sigma_for_snr, noiseless_dwi, trace_combination
from .fat_series import FatSeriesData, simulate_fat_series
from .geometry import SlabGeometry
from .mrs_files import MrsAcquisition, MrsVoxel, simulate_spectrum, write_dicom_mrs, write_rda
from .options import DEFAULT_BVALUES, VENDORS
from .roi_files import LESION_SEGMENT_NAME, write_label_nifti, write_segmentation_nrrd
from .tissues import (
    GROUPS,
    LESION,
    LESION_S0,
    TABLE3_NOTE,
    LesionParameters,
    Tissue,
    sample_lesion,
    tissue_table,
)

GENERATOR_VERSION = f"VCFDiagnosis phantom 2 (VCFDiagnosisLib {__version__}; b > 0 images are 3-direction traces)"
MANIFEST_NAME = "manifest.tsv"
MANIFEST_READER = "phantom-truth"
#: Noise SD (PDFF points) added to the truth in the phantom's vendor PDFF map (a scanner's map is not exact).
VENDOR_MAP_NOISE_PERCENT = 1.0

_STREAMS = {"lesion": 1, "anatomy": 2, "geometry": 3, "noise": 4, "mrs": 5, "files": 6, "fat": 7, "fat_files": 8,
            "fat_maps": 9}


def _stream(seed: int, name: str) -> np.random.Generator:
    """Return the independent random generator of one aspect of the patient."""
    return np.random.default_rng([_STREAMS[name], seed])


def default_case_id(group: str, seed: int) -> str:
    """Return the default case identifier ``phantom-<group>-<seed>``."""
    return f"phantom-{group}-{seed}"


@dataclass
class PhantomData:
    """An in-memory synthetic patient: noisy DWI, noiseless signal, labels, spectrum and their truth."""

    case_id: str
    group: str
    seed: int
    snr: float
    noise_sigma: float
    geometry: SlabGeometry
    tissue_labels: np.ndarray
    lesion_mask: np.ndarray
    tissues: tuple[Tissue, ...]
    lesion: LesionParameters
    anatomy: AnatomyParameters
    noiseless: np.ndarray
    dwi: DwiVolume
    spectrum: MrsAcquisition
    mrs_voxel: MrsVoxel
    fat: FatSeriesData | None = None

    @property
    def lesion_centroid_ras(self) -> np.ndarray:
        """Return the RAS position (mm) of the lesion ROI centroid."""
        return mask_centroid_ras(self.lesion_mask, self.geometry)


def mask_centroid_ras(mask_kji: np.ndarray, geometry: SlabGeometry) -> np.ndarray:
    """Return the RAS position (mm) of the centroid of a non-empty mask [k, j, i] on ``geometry``."""
    k, j, i = np.nonzero(mask_kji)
    return (geometry.ijk_to_ras @ np.array([i.mean(), j.mean(), k.mean(), 1.0]))[:3]


@dataclass
class PhantomPatient:
    """A written phantom case: the paths (absolute) and the truth dictionary (as in truth.json)."""

    case_id: str
    case_dir: Path
    dwi_dir: Path
    label_path: Path
    segmentation_path: Path
    rda_path: Path
    mrs_dicom_path: Path
    truth_path: Path
    manifest_path: Path
    truth: dict = field(repr=False)
    seconds: float = 0.0
    fat_echoes_dir: Path | None = None
    fat_maps_dir: Path | None = None


def _checked_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}: expected one of {', '.join(choices)}")


def simulate_patient(
    *,
    seed: int = 0,
    group: str = "osteoporotic",
    snr: float = 40.0,
    matrix: int = 128,
    n_slices: int = 10,
    case_id: str | None = None,
    bvalues: Sequence[float] = DEFAULT_BVALUES,
    fov_mm: float = 340.0,
    slice_thickness_mm: float = 5.0,
    slice_gap_mm: float = 0.5,
    lesion_d: float | None = None,
    lesion_dstar: float | None = None,
    lesion_f: float | None = None,
    lesion_ff_percent: float | None = None,
    fracture_level: str | None = None,
    mrs_snr: float = 150.0,
    mrs_voxel_mm: float = 15.0,
    fat_snr: float = 40.0,
    fat_series: bool = True,
) -> PhantomData:
    """Return a synthetic patient in memory (nothing is written).

    ``snr`` is S0_lesion / sigma (sigma per Gaussian channel of the Rician noise; ``inf`` = noiseless).
    Lesion D, D* (mm2/s), f (fraction) and FF (percent) are drawn from the group's Table 3 distribution
    unless given. ``bvalues`` in s/mm2 (distinct, >= 0); ``mrs_snr`` is the spectral SNR (see
    :mod:`.mrs_files`), ``mrs_voxel_mm`` the edge of the cubic spectroscopy voxel. ``fat_series`` adds the 6-echo
    water-fat series (:mod:`.fat_series`) at ``fat_snr`` (normal marrow proton density / noise SD).
    """
    _check_choice("group", group, GROUPS)
    seed = _checked_seed(seed)
    b = np.asarray([float(x) for x in bvalues])
    if b.size < 2 or np.any(b < 0) or np.unique(b).size != b.size:
        raise ValueError(f"b-values must be >= 2 distinct values >= 0 s/mm2, got {list(bvalues)}")
    b = np.sort(b)
    if not mrs_voxel_mm > 0:
        raise ValueError(f"MRS voxel size must be > 0 mm, got {mrs_voxel_mm!r}")
    sigma = noise_sigma_for_snr(snr)
    case_id = case_id or default_case_id(group, seed)

    lesion = sample_lesion(group, _stream(seed, "lesion"), D=lesion_d, Dstar=lesion_dstar, f=lesion_f,
                           ff_percent=lesion_ff_percent)
    anatomy = draw_anatomy(group, _stream(seed, "anatomy"), fracture_level)
    g_rng = _stream(seed, "geometry")
    tilt = tuple(float(s * a) for s, a in zip(g_rng.choice([-1.0, 1.0], 3), g_rng.uniform(2.0, 7.0, 3)))
    centre = np.array([g_rng.uniform(-5, 5), g_rng.uniform(30, 60), g_rng.uniform(-140, -100)])
    geometry = SlabGeometry.oblique_sagittal(
        matrix=matrix, n_slices=n_slices, fov_mm=fov_mm, slice_thickness_mm=slice_thickness_mm,
        slice_gap_mm=slice_gap_mm, centre_lps=centre, tilt_deg=tilt,
    )
    labels = build_label_map(geometry, anatomy)
    lesion_mask = labels == LESION
    if not lesion_mask.any():
        raise ValueError(
            f"the lesion has no voxel on a {matrix}x{matrix}x{n_slices} grid: use a larger matrix or more slices"
        )
    tissues = tissue_table(lesion)
    noiseless = noiseless_dwi(labels, tissues, b)
    noisy = add_trace_noise(noiseless, sigma, _stream(seed, "noise"), b)
    dwi = DwiVolume(b, noisy, geometry.ijk_to_ras,
                    metadata={"source": "phantom", "case_id": case_id, "combination": trace_combination(b)})

    spectrum = simulate_spectrum(lesion.LWR, _stream(seed, "mrs"), snr=mrs_snr)
    centre_lps = LPS_TO_RAS[:3, :3] @ mask_centroid_ras(lesion_mask, geometry)
    voxel = MrsVoxel(centre_lps, (float(mrs_voxel_mm),) * 3, geometry.row_lps, geometry.col_lps)
    fat = (simulate_fat_series(geometry, anatomy, lesion, _stream(seed, "fat"), snr=fat_snr)
           if fat_series else None)
    return PhantomData(case_id, group, seed, float(snr), sigma, geometry, labels, lesion_mask, tissues, lesion,
                       anatomy, noiseless, dwi, spectrum, voxel, fat)


def truth_dict(data: PhantomData, vendor: str) -> dict:
    """Return every parameter of the patient as plain JSON types (truth.json without the file list)."""
    voxel = data.mrs_voxel
    lesion = data.lesion
    return {
        "case_id": data.case_id,
        "group": data.group,
        "vendor": vendor,
        "seed": data.seed,
        "generator_version": GENERATOR_VERSION,
        "snr": None if math.isinf(data.snr) else data.snr,
        "snr_definition": "SNR = lesion S0 at b=0 / sigma, sigma = SD of each Gaussian channel (real, imaginary) "
        "of the Rician noise; null = noiseless",
        "noise_sigma": data.noise_sigma,
        "lesion_S0": LESION_S0,
        "bvalues_s_mm2": [float(b) for b in data.dwi.bvalues_s_mm2],
        "ivim_model": "S(b) = S0*((1-f)*exp(-b*D) + f*exp(-b*D*)), D and D* in mm2/s, f fraction (MITK)",
        "geometry": data.geometry.to_json(),
        "tissues": {t.name: t.to_json() for t in data.tissues},
        "lesion": {
            "D_mm2_s": lesion.D_mm2_s,
            "Dstar_mm2_s": lesion.Dstar_mm2_s,
            "f_fraction": lesion.f_fraction,
            "S0": lesion.S0,
            "FF_percent": lesion.FF_percent,
            "LWR": lesion.LWR,
            "LWR_unit": "plain ratio area(1.3 ppm)/area(4.7 ppm), = FF/(100-FF)",
            "sampling": TABLE3_NOTE,
        },
        "anatomy": data.anatomy.to_json(),
        "roi": {
            "label_value": 1,
            "segment_name": LESION_SEGMENT_NAME,
            "voxel_count": int(data.lesion_mask.sum()),
            "centroid_ras": [float(x) for x in data.lesion_centroid_ras],
            "area_mm2_per_slice": [float(n) * data.geometry.pixel_spacing_mm ** 2
                                   for n in data.lesion_mask.sum(axis=(1, 2))],
        },
        "mrs": {
            **data.spectrum.to_json(),
            "voxel_centre_lps": [float(x) for x in voxel.centre_lps],
            "voxel_centre_ras": [float(x) for x in LPS_TO_RAS[:3, :3] @ voxel.centre_lps],
            "rda_position_vector_lps": [float(x) for x in voxel.corner_lps],
            "voxel_size_mm": {"readout_row": voxel.size_mm[0], "phase_column": voxel.size_mm[1],
                              "thickness_normal": voxel.size_mm[2]},
            "voxel_row_lps": [float(x) for x in voxel.row_lps],
            "voxel_column_lps": [float(x) for x in voxel.col_lps],
            "voxel_normal_lps": [float(x) for x in voxel.normal_lps],
        },
    }


def _uid_factory(case_id: str, seed: int, vendor: str):
    def make_uid(*parts: str) -> str:
        return str(generate_uid(entropy_srcs=["VCFDiagnosis-phantom", case_id, str(seed), vendor, *parts]))

    return make_uid


def _spectrum_entry(case_id: str, vendor: str) -> str:
    return f"{case_id}/mrs/lesion.rda" if vendor == "siemens" else f"{case_id}/mrs/lesion_mrs.dcm"


@contextlib.contextmanager
def _directory_lock(folder: Path):
    """Hold an exclusive advisory lock on ``folder`` itself (POSIX flock; no lock where unavailable)."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory lock, the rename below is still atomic
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def update_manifest(out_dir: Path, row: dict[str, str]) -> Path:
    """Add or replace (by case_id) one row of ``out_dir/manifest.tsv``; return the manifest path.

    Columns: :data:`MANIFEST_COLUMNS` (paths relative to ``out_dir``). The file is rewritten atomically
    (temporary file + rename) under an advisory lock on ``out_dir`` where the platform has one (POSIX), so
    concurrent generators writing into the same folder do not lose rows. A manifest written by an earlier version
    (the same columns without the later ones, e.g. ``fat``) gains the new columns, empty for its old rows.
    """
    path = out_dir / MANIFEST_NAME
    with _directory_lock(out_dir):
        rows: list[list[str]] = []
        if path.exists():
            lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
            header = tuple(lines[0].split("\t")) if lines else MANIFEST_COLUMNS
            if header != MANIFEST_COLUMNS[:len(header)]:
                raise ValueError(f"{path}: unexpected header {lines[0]!r}, expected {chr(9).join(MANIFEST_COLUMNS)}")
            rows = [ln.split("\t") + [""] * (len(MANIFEST_COLUMNS) - len(header)) for ln in lines[1:]]
        new = [str(row.get(c, "")) for c in MANIFEST_COLUMNS]
        rows = [r for r in rows if r and r[0] != new[0]] + [new]
        tmp = out_dir / f".{MANIFEST_NAME}.{uuid.uuid4().hex}.tmp"
        tmp.write_text("\n".join("\t".join(r) for r in [list(MANIFEST_COLUMNS), *rows]) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    return path


def generate_patient(
    out_dir: str | os.PathLike,
    *,
    seed: int = 0,
    group: str = "osteoporotic",
    vendor: str = "siemens",
    case_id: str | None = None,
    force: bool = False,
    vendor_fat_maps: bool = False,
    **options,
) -> PhantomPatient:
    """Simulate a patient and write its case folder ``out_dir/<case_id>``; return the paths and truth.

    ``vendor`` is the DICOM b-value tag style (:data:`.options.VENDORS`); ``options`` are the keywords of
    :func:`simulate_patient` (snr, matrix, n_slices, bvalues, fov_mm, slice_thickness_mm, slice_gap_mm,
    lesion_d, lesion_dstar, lesion_f, lesion_ff_percent, fracture_level, mrs_snr, mrs_voxel_mm).
    ``vendor_fat_maps`` also writes a PDFF and an R2*/T2* map series in the vendor's style (:mod:`.dicom_fat`;
    truth plus noise of :data:`VENDOR_MAP_NOISE_PERCENT`) into ``fat/maps``.
    An existing case folder is replaced only with ``force=True`` (FileExistsError otherwise). The folder
    is built next to the target and renamed into place, so a reader never sees a half-written case.
    The case is added to (or replaced in) ``out_dir/manifest.tsv``.
    """
    start = time.perf_counter()
    _check_choice("vendor style", vendor, VENDORS)
    _check_choice("group", group, GROUPS)
    seed = _checked_seed(seed)
    case_id = case_id or default_case_id(group, seed)
    if not case_id or any(c in case_id for c in "/\\\t\n") or case_id.startswith("."):
        raise ValueError(f"invalid case id {case_id!r}: no path separators, tabs or leading dot")
    out = Path(out_dir)
    case_dir = out / case_id
    if case_dir.exists() and not force:
        raise FileExistsError(f"phantom case folder already exists: {case_dir} (use force / --force to replace it)")
    data = simulate_patient(seed=seed, group=group, case_id=case_id, **options)
    with staged_case_folder(case_dir, replace=force, marker="truth.json") as staging:
        _write_case(staging, data, vendor, vendor_fat_maps)
    manifest = update_manifest(out, {
        "case_id": case_id,
        "dwi": f"{case_id}/dwi",
        "roi": f"{case_id}/roi/lesion_label.nii.gz",
        "spectrum": _spectrum_entry(case_id, vendor),
        "label": group,
        "reader": MANIFEST_READER,
        "fat": f"{case_id}/fat/echoes" if data.fat is not None else "",
    })
    truth = json.loads((case_dir / "truth.json").read_text(encoding="utf-8"))
    return PhantomPatient(
        case_id=case_id, case_dir=case_dir, dwi_dir=case_dir / "dwi",
        label_path=case_dir / "roi" / "lesion_label.nii.gz", segmentation_path=case_dir / "roi" / "lesion.seg.nrrd",
        rda_path=case_dir / "mrs" / "lesion.rda", mrs_dicom_path=case_dir / "mrs" / "lesion_mrs.dcm",
        truth_path=case_dir / "truth.json", manifest_path=manifest, truth=truth,
        seconds=time.perf_counter() - start,
        fat_echoes_dir=case_dir / "fat" / "echoes" if data.fat is not None else None,
        fat_maps_dir=case_dir / "fat" / "maps" if data.fat is not None and vendor_fat_maps else None,
    )


def _write_case(folder: Path, data: PhantomData, vendor: str, vendor_fat_maps: bool = False) -> None:
    """Write every file of one case into ``folder`` (created), truth.json last."""
    make_uid = _uid_factory(data.case_id, data.seed, vendor)
    patient = PatientInfo(
        name=f"PHANTOM^{data.group.upper()}^{data.seed}", patient_id=data.case_id,
        study_uid=make_uid("study"), frame_of_reference_uid=make_uid("frame-of-reference"),
    )
    (folder / "roi").mkdir(parents=True)
    (folder / "mrs").mkdir()
    dwi_info = write_dwi_series(folder / "dwi", data.dwi.data, data.dwi.bvalues_s_mm2, data.geometry, vendor,
                                patient, make_uid, _stream(data.seed, "files"))
    write_label_nifti(folder / "roi" / "lesion_label.nii.gz", data.lesion_mask, data.geometry)
    write_segmentation_nrrd(folder / "roi" / "lesion.seg.nrrd", data.lesion_mask, data.geometry)
    description = "svs_se_30_lesion (synthetic)"
    write_rda(folder / "mrs" / "lesion.rda", data.spectrum, data.mrs_voxel, patient, description)
    mrs_uid = write_dicom_mrs(folder / "mrs" / "lesion_mrs.dcm", data.spectrum, data.mrs_voxel, patient,
                              dwi_info["manufacturer"], description, make_uid)
    truth = truth_dict(data, vendor)
    truth["dicom"] = {
        "study_instance_uid": patient.study_uid,
        "frame_of_reference_uid": patient.frame_of_reference_uid,
        "dwi": {k: v for k, v in dwi_info.items() if k != "files"},
        "mrs_sop_instance_uid": mrs_uid,
        "patient_name": patient.name,
        "patient_id": patient.patient_id,
    }
    files = [f"dwi/{name}" for name in sorted(dwi_info["files"])]
    files += ["roi/lesion_label.nii.gz", "roi/lesion.seg.nrrd", "mrs/lesion.rda", "mrs/lesion_mrs.dcm", "truth.json"]
    if data.fat is not None:
        truth["fat"] = data.fat.truth_json()
        truth["fat"]["lesion_pdff_percent"] = next(t.pdff_percent for t in data.fat.tissues if t.name == "lesion")
        echoes = write_echo_series(folder / "fat" / "echoes", data.fat.magnitude, data.fat.echo_times_ms,
                                   data.fat.geometry, vendor, patient, make_uid, _stream(data.seed, "fat_files"),
                                   phase=data.fat.phase)
        truth["fat"]["dicom"] = {k: v for k, v in echoes.items() if k != "files"}
        files += [f"fat/echoes/{name}" for name in sorted(echoes["files"])]
        if vendor_fat_maps:
            rng = _stream(data.seed, "fat_maps")
            noise = VENDOR_MAP_NOISE_PERCENT * rng.standard_normal(data.fat.pdff_percent.shape)
            maps = write_vendor_maps(folder / "fat" / "maps", np.clip(data.fat.pdff_percent + noise, 0, 100),
                                     data.fat.r2star_per_s, data.fat.geometry, vendor, patient, make_uid, rng)
            truth["fat"]["vendor_maps"] = {k: v for k, v in maps.items() if k != "files"}
            truth["fat"]["vendor_maps"]["pdff_noise_sd_percent"] = VENDOR_MAP_NOISE_PERCENT
            files += [f"fat/maps/{name}" for name in sorted(maps["files"])]
    truth["files"] = files
    (folder / "truth.json").write_text(json.dumps(truth, indent=2, allow_nan=False) + "\n", encoding="utf-8")

