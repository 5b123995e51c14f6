"""The product's DICOM DWI loader on phantom series in every vendor style, and its refusals."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from VCFDiagnosisLib.dwi.dicom import DicomDwiError, bvalue_from_header, group_bvalues, load_dwi_dicom
from VCFDiagnosisLib.phantom import generate_patient


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory) -> dict:
    """One small noiseless phantom per vendor style (same seed: same image, different b-value tags)."""
    root = tmp_path_factory.mktemp("dwi-phantoms")
    cases = {}
    for vendor in ("standard", "siemens", "ge", "philips"):
        patient = generate_patient(root, seed=11, group="osteoporotic", vendor=vendor, matrix=48, n_slices=5,
                                   snr=math.inf, case_id=f"dwi-{vendor}")
        cases[vendor] = (patient.case_dir, json.loads(patient.truth_path.read_text()))
    return cases


@pytest.mark.parametrize("vendor", ["standard", "siemens", "ge", "philips"])
def test_phantom_series_loads_with_exact_bvalues_and_geometry(phantoms, vendor):
    case_dir, truth = phantoms[vendor]
    dwi = load_dwi_dicom(case_dir / "dwi")
    np.testing.assert_array_equal(dwi.bvalues_s_mm2, truth["bvalues_s_mm2"])
    np.testing.assert_allclose(dwi.ijk_to_ras, truth["geometry"]["ijk_to_ras"], atol=1e-4)
    assert list(dwi.shape_kji) == truth["geometry"]["shape_kji"]
    # slice spacing (5.5 mm) is taken from positions, not from SliceThickness (5 mm)
    assert dwi.spacing_mm[2] == pytest.approx(truth["geometry"]["slice_spacing_mm"], abs=1e-4)


def test_vendor_styles_give_the_same_image(phantoms):
    reference = load_dwi_dicom(phantoms["standard"][0] / "dwi").data
    for vendor in ("siemens", "ge", "philips"):
        data = load_dwi_dicom(phantoms[vendor][0] / "dwi").data
        # philips stores with a rescale slope: equal within one quantisation step of its scaling
        np.testing.assert_allclose(data, reference, atol=0.6 if vendor != "philips" else 1.5, err_msg=vendor)


def test_lesion_signal_follows_the_ivim_model_of_the_truth(phantoms):
    case_dir, truth = phantoms["standard"]
    dwi = load_dwi_dicom(case_dir / "dwi")
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(case_dir / "roi" / "lesion_label.nii.gz")))
    lesion = truth["lesion"]
    b = np.asarray(truth["bvalues_s_mm2"])
    model = lesion["S0"] * ((1 - lesion["f_fraction"]) * np.exp(-b * lesion["D_mm2_s"])
                            + lesion["f_fraction"] * np.exp(-b * lesion["Dstar_mm2_s"]))
    measured = dwi.data[:, label > 0]
    assert measured.shape[1] == truth["roi"]["voxel_count"]
    np.testing.assert_allclose(np.median(measured, axis=1), model, rtol=0.01)


def test_geometry_agrees_with_simpleitk_reading_of_one_b_value(phantoms, tmp_path):
    case_dir, _ = phantoms["siemens"]
    files = [p for p in (case_dir / "dwi").iterdir() if bvalue_from_header(pydicom.dcmread(p, stop_before_pixels=True)) == 0]
    b0_dir = tmp_path / "b0"
    b0_dir.mkdir()
    for p in files:
        shutil.copy(p, b0_dir / p.name)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(b0_dir)))
    image = reader.Execute()
    direction = np.array(image.GetDirection()).reshape(3, 3)
    lps = np.eye(4)
    lps[:3, :3] = direction * np.array(image.GetSpacing())
    lps[:3, 3] = image.GetOrigin()
    dwi = load_dwi_dicom(case_dir / "dwi")
    np.testing.assert_allclose(np.diag([-1, -1, 1, 1]) @ lps, dwi.ijk_to_ras, atol=1e-4)
    np.testing.assert_allclose(sitk.GetArrayFromImage(image), dwi.data[0], atol=0.6)


def test_bvalue_tags_by_vendor():
    ds = pydicom.Dataset()
    ds.add_new((0x0043, 0x0010), "LO", "GEMS_PARM_01")
    ds.add_new((0x0043, 0x1039), "IS", ["1000000800", "8", "0", "0"])
    assert bvalue_from_header(ds) == 800
    ds = pydicom.Dataset()
    ds.add_new((0x0043, 0x1039), "IS", ["1000010000", "8", "0", "0"])  # b >= 10000 survives the bias removal
    assert bvalue_from_header(ds) == 10000
    ds = pydicom.Dataset()
    ds.add_new((0x0019, 0x100C), "UN", b"150 ")
    assert bvalue_from_header(ds) == 150
    assert bvalue_from_header(pydicom.Dataset()) is None
    np.testing.assert_array_equal(group_bvalues(np.array([0.003, 800.2, 0.0, 799.8, 50])), [0, 800, 0, 800, 50])


def test_missing_slice_single_b_and_derived_series_are_clear_errors(phantoms, tmp_path):
    case_dir, _ = phantoms["standard"]
    broken = tmp_path / "broken"
    shutil.copytree(case_dir / "dwi", broken)
    victim = next(p for p in sorted(broken.iterdir())
                  if bvalue_from_header(pydicom.dcmread(p, stop_before_pixels=True)) == 400)
    victim.unlink()
    with pytest.raises(DicomDwiError, match=r"b = 400 has no image at slice"):
        load_dwi_dicom(broken)

    single = tmp_path / "single"
    single.mkdir()
    for p in (case_dir / "dwi").iterdir():
        if bvalue_from_header(pydicom.dcmread(p, stop_before_pixels=True)) == 0:
            shutil.copy(p, single / p.name)
    with pytest.raises(DicomDwiError, match="no multi-b diffusion series"):
        load_dwi_dicom(single)

    derived = tmp_path / "derived"
    derived.mkdir()
    for p in list((case_dir / "dwi").iterdir())[:5]:
        ds = pydicom.dcmread(p)
        ds.ImageType = ["DERIVED", "PRIMARY", "DIFFUSION", "ADC"]
        ds.SeriesInstanceUID = "1.2.3.4.5"
        ds.save_as(derived / p.name)
    with pytest.raises(DicomDwiError, match="derived"):
        load_dwi_dicom(derived)
    (derived / "junk.txt").write_text("not dicom")
    with pytest.raises(DicomDwiError):
        load_dwi_dicom(derived)


def test_two_series_need_a_choice(phantoms, tmp_path):
    both = tmp_path / "both"
    shutil.copytree(phantoms["standard"][0] / "dwi", both / "a")
    for p in (phantoms["ge"][0] / "dwi").iterdir():
        ds = pydicom.dcmread(p)
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.77"
        ds.SeriesNumber = 77
        (both / "b").mkdir(exist_ok=True)
        ds.save_as(both / "b" / p.name)
    with pytest.raises(DicomDwiError, match="several DWI series"):
        load_dwi_dicom(both)
    chosen = load_dwi_dicom(both, series=77)
    assert chosen.metadata["series_number"] == 77
    assert len(chosen.bvalues_s_mm2) == 8
