"""Tests of the digital phantom: every file is read back with independent, test-local code.

Readers used here: pydicom (DWI DICOM, DICOM MRS), SimpleITK (DICOM series geometry, .seg.nrrd pixels),
nibabel (NIfTI label map), a minimal RDA parser and a minimal NRRD header parser written below. The
generator's own helpers are not used to read anything back.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from VCFDiagnosisLib.app.cli import main
from VCFDiagnosisLib.phantom import generate_patient, sample_lesion, simulate_patient

VENDORS = ("siemens", "ge", "philips", "standard")
STUDY_B = [0.0, 50.0, 100.0, 150.0, 200.0, 400.0, 600.0, 800.0]
SMALL = {"matrix": 64, "n_slices": 5}
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])
HAMILTON = ((0.90, 0.088), (1.30, 0.642), (1.59, 0.058), (2.03, 0.062), (2.25, 0.058), (2.75, 0.006),
            (4.20, 0.039), (5.29, 0.047))


# ---------------------------------------------------------------------------------------- test-local readers
def read_dwi_folder(folder: Path) -> list[pydicom.Dataset]:
    """Return every DICOM dataset of a DWI folder (with pixels)."""
    return [pydicom.dcmread(p) for p in sorted(folder.iterdir())]


def private_value(ds: pydicom.Dataset, group: int, creator: str, offset: int):
    """Return the value of private element (group, xx<offset>) reserved by ``creator`` (None if absent)."""
    for block in range(0x10, 0x100):
        tag = (group << 16) | block
        if tag in ds and str(ds[tag].value).strip() == creator:
            element = (group << 16) | (block << 8) | offset
            return ds[element].value if element in ds else None
    return None


def bvalue_of(ds: pydicom.Dataset, vendor: str) -> float:
    """Return the b-value of one file, read the way each vendor style stores it."""
    if vendor == "siemens":
        return float(private_value(ds, 0x0019, "SIEMENS MR HEADER", 0x0C))
    if vendor == "ge":
        return float(int(private_value(ds, 0x0043, "GEMS_PARM_01", 0x39)[0]) % 1_000_000_000)
    if vendor == "philips":
        return float(private_value(ds, 0x2001, "Philips Imaging DD 001", 0x03))
    return float(ds[0x00189087].value)


def normal_of(ds: pydicom.Dataset) -> np.ndarray:
    iop = np.array([float(x) for x in ds.ImageOrientationPatient])
    return np.cross(iop[:3], iop[3:])


def group_by_b(datasets, vendor: str) -> dict[float, list[pydicom.Dataset]]:
    """Return {b: datasets sorted by position along the slice normal}."""
    groups = defaultdict(list)
    for ds in datasets:
        groups[bvalue_of(ds, vendor)].append(ds)
    for items in groups.values():
        items.sort(key=lambda d: float(np.dot(np.array([float(x) for x in d.ImagePositionPatient]), normal_of(d))))
    return dict(sorted(groups.items()))


def stack_signal(groups: dict[float, list[pydicom.Dataset]]) -> np.ndarray:
    """Return the rescaled signal [b, k, j, i] of grouped datasets."""
    out = []
    for items in groups.values():
        vol = []
        for ds in items:
            slope = float(getattr(ds, "RescaleSlope", 1.0))
            intercept = float(getattr(ds, "RescaleIntercept", 0.0))
            vol.append(ds.pixel_array.astype(float) * slope + intercept)
        out.append(np.stack(vol))
    return np.stack(out)


def read_rda(path: Path) -> tuple[dict[str, str], np.ndarray]:
    """Return (header dict, complex FID) of a Siemens .rda file."""
    raw = path.read_bytes()
    end_marker = b">>> End of header <<<\r\n"
    end = raw.index(end_marker) + len(end_marker)
    header_text = raw[:end].decode("latin-1")
    assert header_text.startswith(">>> Begin of header <<<\r\n")
    assert "\r\n" in header_text and "\n" not in header_text.replace("\r\n", "")
    header = {}
    for line in header_text.split("\r\n")[1:-2]:
        key, _, value = line.partition(": ")
        header[key] = value
    values = np.frombuffer(raw[end:], dtype="<f8")
    return header, values[0::2] + 1j * values[1::2]


def read_dicom_mrs(path: Path) -> tuple[pydicom.Dataset, np.ndarray]:
    """Return (dataset, FID in the RDA sign convention) of a standard DICOM MRS file."""
    ds = pydicom.dcmread(path)
    values = np.frombuffer(ds.SpectroscopyData, dtype="<f4").astype(float)
    return ds, np.conj(values[0::2] + 1j * values[1::2])


def ppm_and_spectrum(fid: np.ndarray, dwell_s: float, mhz: float) -> tuple[np.ndarray, np.ndarray]:
    spectrum = np.fft.fftshift(np.fft.fft(fid))
    freq = np.fft.fftshift(np.fft.fftfreq(fid.size, dwell_s))
    return 4.7 - freq / mhz, spectrum


def read_nrrd_header(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Return (fields, key:=value pairs) of a NRRD header."""
    raw = path.read_bytes()
    head = raw[: raw.index(b"\n\n")].decode("latin-1").split("\n")
    assert head[0].startswith("NRRD000")
    fields, keys = {}, {}
    for line in head[1:]:
        if line.startswith("#"):
            continue
        if ":=" in line:
            k, v = line.split(":=", 1)
            keys[k] = v
        else:
            k, v = line.split(": ", 1)
            fields[k] = v
    return fields, keys


def ivim(b, s0, d, dstar, f):
    b = np.asarray(b, float)
    return s0 * ((1 - f) * np.exp(-b * d) + f * np.exp(-b * dstar))


# ---------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def noiseless_cases(tmp_path_factory) -> dict:
    """One noiseless small patient per vendor style (same seed, so the same image)."""
    out = tmp_path_factory.mktemp("noiseless")
    return {v: generate_patient(out, seed=7, vendor=v, snr=math.inf, mrs_snr=math.inf,
                                case_id=f"case-{v}", **SMALL) for v in VENDORS}


@pytest.fixture(scope="module")
def default_like_case(tmp_path_factory):
    """A noisy patient at the default SNR (40) and MRS SNR (150), smaller grid."""
    out = tmp_path_factory.mktemp("noisy")
    return generate_patient(out, seed=3, group="metastatic", vendor="siemens", matrix=96, n_slices=6)


# ---------------------------------------------------------------------------------------- DWI DICOM
@pytest.mark.parametrize("vendor", VENDORS)
def test_bvalues_are_exact_in_each_vendor_style(noiseless_cases, vendor):
    case = noiseless_cases[vendor]
    datasets = read_dwi_folder(case.dwi_dir)
    n_slices = case.truth["geometry"]["shape_kji"][0]
    assert len(datasets) == len(STUDY_B) * n_slices
    groups = group_by_b(datasets, vendor)
    assert list(groups) == STUDY_B == case.truth["bvalues_s_mm2"]
    assert all(len(items) == n_slices for items in groups.values())
    for ds in datasets:
        b = bvalue_of(ds, vendor)
        has_standard = 0x00189087 in ds
        if vendor == "siemens":
            assert ds.Manufacturer == "SIEMENS" and not has_standard
            assert ds[0x00190010].value == "SIEMENS MR HEADER" and ds[0x0019100C].VR == "IS"
            assert list(ds.ImageType)[:3] == ["ORIGINAL", "PRIMARY", "DIFFUSION"]
            assert ("TRACEW" in ds.ImageType) == (b > 0)
        elif vendor == "ge":
            assert ds.Manufacturer == "GE MEDICAL SYSTEMS"
            raw = [int(x) for x in ds[0x00431039].value]
            assert ds[0x00430010].value == "GEMS_PARM_01" and raw[0] >= 1_000_000_000 and raw[1:] == [8, 0, 0]
            assert has_standard == (b > 0)
        elif vendor == "philips":
            assert ds.Manufacturer == "Philips Medical Systems" and has_standard
            assert ds[0x00189087].value == b and ds[0x20011003].VR == "FL"
            assert private_value(ds, 0x2001, "Philips Imaging DD 001", 0x04) == ("I" if b > 0 else None)
        else:
            assert has_standard and 0x00190010 not in ds and 0x00430010 not in ds and 0x20010010 not in ds


def test_dicom_files_are_well_formed_and_deterministic(noiseless_cases, tmp_path):
    case = noiseless_cases["siemens"]
    paths = sorted(case.dwi_dir.iterdir())
    datasets = [pydicom.dcmread(p) for p in paths]
    for ds in datasets:
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.file_meta.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.1.1.4" == ds.SOPClassUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert ds.BitsAllocated == 16 and ds.PixelRepresentation == 0
        assert float(ds.RepetitionTime) == 1600 and float(ds.EchoTime) == 72
        assert float(ds.MagneticFieldStrength) == 3
        assert float(ds.SliceThickness) == 5.0 and float(ds.SpacingBetweenSlices) == 5.5
        assert str(ds.PatientName).startswith("PHANTOM^")
    assert len({ds.SeriesInstanceUID for ds in datasets}) == 1
    assert len({ds.SOPInstanceUID for ds in datasets}) == len(datasets)
    instance_in_name_order = [int(ds.InstanceNumber) for ds in datasets]
    assert sorted(instance_in_name_order) == list(range(1, len(datasets) + 1))
    assert instance_in_name_order != sorted(instance_in_name_order)
    # same seed and case id -> identical UIDs and file names
    again = generate_patient(tmp_path, seed=7, vendor="siemens", snr=math.inf, mrs_snr=math.inf,
                             case_id="case-siemens", **SMALL)
    assert sorted(p.name for p in again.dwi_dir.iterdir()) == [p.name for p in paths]
    assert pydicom.dcmread(again.dwi_dir / paths[0].name).SOPInstanceUID == datasets[0].SOPInstanceUID


@pytest.mark.parametrize("vendor", ["siemens", "philips"])
def test_series_geometry_matches_truth(noiseless_cases, vendor):
    case = noiseless_cases[vendor]
    truth = np.array(case.truth["geometry"]["ijk_to_ras"])
    groups = group_by_b(read_dwi_folder(case.dwi_dir), vendor)
    name_of = {}
    for p in case.dwi_dir.iterdir():
        name_of[pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID] = str(p)
    for items in groups.values():
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames([name_of[ds.SOPInstanceUID] for ds in items])
        image = reader.Execute()
        direction = np.array(image.GetDirection()).reshape(3, 3)
        spacing = np.array(image.GetSpacing())
        ijk_to_ras = np.eye(4)
        ijk_to_ras[:3, :3] = LPS_TO_RAS @ direction * spacing
        ijk_to_ras[:3, 3] = LPS_TO_RAS @ np.array(image.GetOrigin())
        np.testing.assert_allclose(ijk_to_ras, truth, atol=1e-4)
    np.testing.assert_allclose(spacing, [340 / 64, 340 / 64, 5.5], atol=1e-6)
    unit = direction
    assert unit[1, 0] > 0.9 and unit[2, 1] < -0.9 and unit[0, 2] < -0.9  # row ~ +Y, column ~ -Z, normal ~ -X (LPS)
    off_axis = np.abs(unit - np.round(unit))
    assert np.all(off_axis.max(axis=0) > math.sin(math.radians(1.5)))  # every axis genuinely oblique


@pytest.mark.parametrize("vendor", ["philips", "ge"])
def test_noiseless_lesion_voxels_follow_the_ivim_model(noiseless_cases, vendor):
    case = noiseless_cases[vendor]
    t = case.truth
    groups = group_by_b(read_dwi_folder(case.dwi_dir), vendor)
    signal = stack_signal(groups)
    label = np.asarray(nib.load(case.label_path).dataobj).transpose(2, 1, 0)  # [i,j,k] -> [k,j,i]
    assert signal.shape[1:] == label.shape
    lesion = signal[:, label == 1]
    les = t["lesion"]
    expected = ivim(STUDY_B, les["S0"], les["D_mm2_s"], les["Dstar_mm2_s"], les["f_fraction"])
    slope = float(t["dicom"]["dwi"]["rescale_slope"])
    if vendor == "philips":
        assert slope != 1.0 and float(t["dicom"]["dwi"]["rescale_intercept"]) != 0.0
    assert lesion.shape[1] == t["roi"]["voxel_count"] > 0
    assert np.abs(lesion - expected[:, None]).max() <= 0.5 * slope + 1e-6
    # background air is exactly zero without noise; disc follows its own tissue model
    assert signal[:, 0, 0, 0].max() <= 0.5 * slope + 1e-6


def test_rician_noise_matches_the_snr_definition_and_b_images_are_traces():
    data = simulate_patient(seed=11, snr=20.0, matrix=96, n_slices=4)
    sigma = 1000.0 / 20.0
    background = data.dwi.data[:, data.tissue_labels == 0]
    assert background[0].mean() == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.02)  # b = 0: Rayleigh mean
    # b > 0: traces, the geometric mean of 3 Rayleigh magnitudes: mean sqrt(2) Gamma(7/6)^3 sigma, CV 0.342
    assert background[1:].mean() == pytest.approx(sigma * math.sqrt(2) * math.gamma(7 / 6) ** 3, rel=0.02)
    assert background[1:].std() / background[1:].mean() == pytest.approx(0.342, rel=0.05)
    assert data.dwi.metadata["combination"] == {"0": "single image", **{f"{b:g}": "scanner trace"
                                                                         for b in data.dwi.bvalues_s_mm2[1:]}}
    lesion_b0 = data.dwi.data[0, data.lesion_mask]
    assert lesion_b0.mean() == pytest.approx(1000.0, rel=0.03)
    assert lesion_b0.std() == pytest.approx(sigma, rel=0.35)
    clean = simulate_patient(seed=11, snr=math.inf, matrix=96, n_slices=4)
    np.testing.assert_array_equal(clean.dwi.data, clean.noiseless)


# ---------------------------------------------------------------------------------------- ROI files
def test_label_map_and_segmentation_files(noiseless_cases):
    case = noiseless_cases["ge"]
    t = case.truth
    img = nib.load(case.label_path)
    np.testing.assert_allclose(img.affine, np.array(t["geometry"]["ijk_to_ras"]), atol=1e-4)
    arr = np.asarray(img.dataobj)
    assert set(np.unique(arr)) == {0, 1}
    assert int(arr.sum()) == t["roi"]["voxel_count"]
    ijk = np.argwhere(arr == 1).mean(axis=0)
    centroid = img.affine @ np.append(ijk, 1.0)
    np.testing.assert_allclose(centroid[:3], t["roi"]["centroid_ras"], atol=1e-6)

    fields, keys = read_nrrd_header(case.segmentation_path)
    assert fields["dimension"] == "3" and fields["space"] == "left-posterior-superior"
    assert fields["type"] in ("unsigned char", "uchar", "uint8")
    assert keys["Segment0_ID"] == keys["Segment0_Name"] == "lesion"
    assert keys["Segment0_LabelValue"] == "1" and keys["Segment0_Layer"] == "0"
    assert len(keys["Segment0_Color"].split()) == 3
    assert keys["Segmentation_MasterRepresentation"] == "Binary labelmap"
    assert "Binary labelmap" in keys["Segmentation_ContainedRepresentationNames"].split("|")
    assert keys["Segmentation_ReferenceImageExtentOffset"] == "0 0 0"
    extent = [int(x) for x in keys["Segment0_Extent"].split()]
    i, j, k = np.nonzero(arr)
    assert extent == [i.min(), i.max(), j.min(), j.max(), k.min(), k.max()]
    seg = sitk.ReadImage(str(case.segmentation_path))
    np.testing.assert_array_equal(sitk.GetArrayFromImage(seg), arr.transpose(2, 1, 0))
    origin_ras = LPS_TO_RAS @ np.array(seg.GetOrigin())
    np.testing.assert_allclose(origin_ras, np.array(t["geometry"]["ijk_to_ras"])[:3, 3], atol=1e-4)


# ---------------------------------------------------------------------------------------- spectroscopy
def test_rda_and_dicom_mrs_peaks_geometry_and_agreement(default_like_case):
    case = default_like_case
    m = case.truth["mrs"]
    header, fid = read_rda(case.rda_path)
    ds, fid_dcm = read_dicom_mrs(case.mrs_dicom_path)
    dwell = float(header["DwellTime"]) * 1e-6
    mhz = float(header["MRFrequency"])
    assert fid.size == int(header["VectorSize"]) == 1024 == ds.DataPointColumns
    assert dwell == pytest.approx(1 / 2000.0) and mhz == pytest.approx(123.2)
    assert float(header["TE"]) == 30 and float(header["TR"]) == 2000 and float(header["NumberOfAverages"]) == 64
    assert header["HammingFilter"] == "Off" and header["CSIMatrixSize[0]"] == "1"
    # the two files hold the same FID (DICOM conjugated, float32)
    np.testing.assert_allclose(fid_dcm, fid, atol=1e-6 * np.abs(fid).max())
    for name, data, width, freq in (("rda", fid, 1 / dwell, mhz),
                                    ("dicom", fid_dcm, float(ds.SpectralWidth), float(ds.TransmitterFrequency))):
        ppm, spec = ppm_and_spectrum(data, 1 / width, freq)
        mag = np.abs(spec)
        water = ppm[np.argmax(np.where((ppm > 3.5) & (ppm < 6.0), mag, 0))]
        fat = ppm[np.argmax(np.where((ppm > 0.5) & (ppm < 2.5), mag, 0))]
        assert water == pytest.approx(4.7, abs=0.05), name
        assert fat == pytest.approx(1.3, abs=0.05), name
    # geometry: RDA centre and corner, DICOM corner and slabs
    centre = np.array([float(header[f"VOIPosition{a}"]) for a in ("Sag", "Cor", "Tra")])
    row = np.array([float(header[f"RowVector[{n}]"]) for n in range(3)])
    col = np.array([float(header[f"ColumnVector[{n}]"]) for n in range(3)])
    size = (float(header["VOIReadoutFOV"]), float(header["VOIPhaseFOV"]), float(header["VOIThickness"]))
    assert size == (15.0, 15.0, 15.0)
    centroid_lps = LPS_TO_RAS @ np.array(case.truth["roi"]["centroid_ras"])
    np.testing.assert_allclose(centre, centroid_lps, atol=1e-5)
    corner = np.array([float(header[f"PositionVector[{n}]"]) for n in range(3)])
    np.testing.assert_allclose(corner, centre - 7.5 * row - 7.5 * col, atol=1e-4)
    assert np.linalg.norm(corner - centre) > 10
    shared = ds.SharedFunctionalGroupsSequence[0]
    ipp = np.array([float(x) for x in shared.PlanePositionSequence[0].ImagePositionPatient])
    iop = np.array([float(x) for x in shared.PlaneOrientationSequence[0].ImageOrientationPatient])
    np.testing.assert_allclose(ipp, centre, atol=1e-4)  # centre of the single pixel, as Philips writes it
    np.testing.assert_allclose(iop, np.concatenate([row, col]), atol=1e-5)
    assert [float(x) for x in shared.PixelMeasuresSequence[0].PixelSpacing] == [15.0, 15.0]
    assert float(shared.PixelMeasuresSequence[0].SliceThickness) == 15.0
    assert float(shared.MREchoSequence[0].EffectiveEchoTime) == 30
    assert float(shared.MRTimingAndRelatedParametersSequence[0].RepetitionTime) == 2000
    assert float(shared.MRAveragesSequence[0].NumberOfAverages) == 64
    slabs = ds.VolumeLocalizationSequence
    assert len(slabs) == 3
    for slab in slabs:
        np.testing.assert_allclose([float(x) for x in slab.MidSlabPosition], centre, atol=1e-4)
        assert float(slab.SlabThickness) == 15.0
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.4.2" and list(ds.ImageType)[2] == "SPECTROSCOPY"
    assert ds.ResonantNucleus == "1H" and float(ds.ChemicalShiftReference) == 4.7
    assert ds.SpectrallySelectedSuppression == "NONE" and ds.VolumeLocalizationTechnique == "PRESS"
    assert ds.Rows == ds.Columns == ds.DataPointRows == int(ds.NumberOfFrames) == 1
    assert m["frequency_mhz"] == pytest.approx(mhz) and 20 <= m["water_linewidth_hz"] <= 35


def test_noiseless_spectrum_matches_truth_and_gives_the_lwr(noiseless_cases):
    case = noiseless_cases["siemens"]
    m = case.truth["mrs"]
    lwr = case.truth["lesion"]["LWR"]
    _, fid = read_rda(case.rda_path)
    # independent model of the truth: Lorentzian water + Hamilton fat lines, phase and shift
    t = np.arange(fid.size) * m["dwell_s"]
    model = np.zeros(fid.size, complex)
    lines = [(4.7, m["water_area"], m["water_linewidth_hz"])]
    lines += [(ppm, lwr * m["water_area"] / 0.642 * share, m["fat_linewidth_hz"]) for ppm, share in HAMILTON]
    for ppm, area, fwhm in lines:
        freq = (4.7 - ppm) * m["frequency_mhz"] + m["shift_hz"]
        model += area * np.exp(-np.pi * fwhm * t + 2j * np.pi * freq * t)
    model *= np.exp(1j * np.deg2rad(m["phase_deg"]))
    np.testing.assert_allclose(fid, model, atol=1e-9 * m["water_area"])
    # simple window integrals of the phased real spectrum: fat(0.95..1.45) / water(4.1..5.3)
    freq = np.fft.fftshift(np.fft.fftfreq(fid.size, m["dwell_s"]))
    ppm = 4.7 - (freq - m["shift_hz"]) / m["frequency_mhz"]
    phased = fid * np.exp(-1j * np.deg2rad(m["phase_deg"]))
    phased[0] *= 0.5  # first-point correction: no baseline offset in the real spectrum
    spec = np.fft.fftshift(np.fft.fft(phased)).real
    water = spec[np.abs(ppm - 4.7) < 0.6].sum()
    fat = spec[(ppm > 0.95) & (ppm < 1.45)].sum()
    mirrored = spec[(ppm > 7.95) & (ppm < 8.45)].sum()  # where the fat lands if the sign is wrong
    assert fat / water == pytest.approx(lwr, rel=0.4)  # window integration is biased (FORMATS.md): loose bound
    assert fat > 3 * abs(mirrored)


# ---------------------------------------------------------------------------------------- truth and sampling
def test_truth_json_is_plain_and_consistent(default_like_case):
    t = json.loads(default_like_case.truth_path.read_text())
    les = t["lesion"]
    assert les["LWR"] == pytest.approx(les["FF_percent"] / (100 - les["FF_percent"]), rel=1e-12)
    assert t["snr"] == 40.0 and t["noise_sigma"] == pytest.approx(1000.0 / 40.0)
    assert {"normal_marrow", "intervertebral_disc", "paraspinal_muscle", "csf", "lesion"} <= set(t["tissues"])
    assert t["tissues"]["lesion"]["D_mm2_s"] == les["D_mm2_s"]
    assert "not mutually consistent" in les["sampling"]
    assert t["geometry"]["shape_kji"] == [6, 96, 96]
    files = t["files"]
    assert len([f for f in files if f.startswith("dwi/")]) == 8 * 6
    for f in files:
        assert (default_like_case.case_dir / f).is_file(), f
    assert not [p for p in default_like_case.case_dir.parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def test_group_distributions_are_ordered_and_truncated():
    draws = {g: [sample_lesion(g, np.random.default_rng([9, s])) for s in range(300)]
             for g in ("osteoporotic", "metastatic")}
    stats = {g: {k: np.array([getattr(x, k) for x in v]) for k in ("D_mm2_s", "Dstar_mm2_s", "f_fraction",
                                                                    "FF_percent")}
             for g, v in draws.items()}
    ost, met = stats["osteoporotic"], stats["metastatic"]
    assert met["Dstar_mm2_s"].mean() > ost["Dstar_mm2_s"].mean() + 0.02
    assert met["D_mm2_s"].mean() < ost["D_mm2_s"].mean()
    assert met["f_fraction"].mean() < ost["f_fraction"].mean()
    assert met["FF_percent"].mean() < ost["FF_percent"].mean() - 6
    assert ost["FF_percent"].mean() == pytest.approx(24.73, abs=1.5)
    assert ost["Dstar_mm2_s"].mean() == pytest.approx(25.81e-3, rel=0.1)
    for s in stats.values():
        assert s["D_mm2_s"].min() >= 0.2e-3 and s["D_mm2_s"].max() <= 3e-3
        assert np.all(s["Dstar_mm2_s"] > 3 * s["D_mm2_s"]) and s["Dstar_mm2_s"].max() <= 0.15
        assert s["f_fraction"].min() >= 0.01 and s["f_fraction"].max() <= 0.5
        assert s["FF_percent"].min() >= 1 and s["FF_percent"].max() <= 70


def test_overrides_and_invalid_parameters():
    data = simulate_patient(seed=2, group="metastatic", matrix=48, n_slices=3, snr=math.inf,
                            lesion_d=1.2e-3, lesion_dstar=0.06, lesion_f=0.09, lesion_ff_percent=5.0)
    assert (data.lesion.D_mm2_s, data.lesion.Dstar_mm2_s, data.lesion.f_fraction) == (1.2e-3, 0.06, 0.09)
    assert data.lesion.LWR == pytest.approx(5 / 95)
    base = simulate_patient(seed=2, group="metastatic", matrix=48, n_slices=3, snr=math.inf)
    np.testing.assert_array_equal(base.tissue_labels, data.tissue_labels)  # overrides do not move the anatomy
    with pytest.raises(ValueError, match="lesion f"):
        simulate_patient(seed=2, matrix=48, n_slices=3, lesion_f=0.9)
    with pytest.raises(ValueError, match=r"D\*"):
        simulate_patient(seed=2, matrix=48, n_slices=3, lesion_d=2e-3, lesion_dstar=5e-3)
    with pytest.raises(ValueError, match="group"):
        simulate_patient(group="myeloma")


# ---------------------------------------------------------------------------------------- CLI and manifest
def test_cli_writes_layout_refuses_overwrite_and_keeps_one_manifest_row(tmp_path, capsys):
    args = ["phantom", "--out", str(tmp_path), "--seed", "5", "--matrix", "32", "--slices", "3", "--snr", "inf"]
    assert main(args) == 0
    case = tmp_path / "phantom-osteoporotic-5"
    out = capsys.readouterr().out
    assert str(case / "truth.json") in out and "lesion.seg.nrrd" in out
    for rel in ("roi/lesion_label.nii.gz", "roi/lesion.seg.nrrd", "mrs/lesion.rda", "mrs/lesion_mrs.dcm",
                "truth.json"):
        assert (case / rel).is_file(), rel
    assert len(list((case / "dwi").iterdir())) == 8 * 3
    stamp = (case / "truth.json").stat().st_mtime_ns

    assert main(args) != 0
    err = capsys.readouterr().err
    assert str(case) in err and "--force" in err
    assert (case / "truth.json").stat().st_mtime_ns == stamp

    assert main([*args, "--force", "--vendor", "ge"]) == 0
    assert json.loads((case / "truth.json").read_text())["vendor"] == "ge"
    assert main(["phantom", "--out", str(tmp_path), "--group", "metastatic", "--seed", "1", "--matrix", "32",
                 "--slices", "3", "--case-id", "met-1"]) == 0
    lines = (tmp_path / "manifest.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["case_id", "dwi", "roi", "spectrum", "label", "reader", "fat"]
    rows = {r.split("\t")[0]: r.split("\t") for r in lines[1:]}
    assert list(rows) == ["phantom-osteoporotic-5", "met-1"] and len(lines) == 3
    assert rows["met-1"][1:5] == ["met-1/dwi", "met-1/roi/lesion_label.nii.gz", "met-1/mrs/lesion.rda", "metastatic"]
    assert rows["phantom-osteoporotic-5"][3] == "phantom-osteoporotic-5/mrs/lesion_mrs.dcm"  # GE: DICOM MRS
    for row in rows.values():
        for rel in [*row[1:4], row[6]]:
            assert (tmp_path / rel).exists(), rel
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.tsv", "met-1", "phantom-osteoporotic-5"]
    with pytest.raises(FileExistsError, match="met-1"):
        generate_patient(tmp_path, seed=1, group="metastatic", case_id="met-1", matrix=32, n_slices=3)
    with pytest.raises(SystemExit):
        main(["phantom", "--out", str(tmp_path), "--group", "cancer"])
