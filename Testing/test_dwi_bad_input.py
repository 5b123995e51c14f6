"""Broken or inconsistent DWI DICOM: skipped files are listed, and every inconsistency is an error that says
what is wrong and where (file, b-value, slice)."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pydicom
import pytest

from VCFDiagnosisLib.dwi.bvalues import bvalue_from_header, first_number, group_bvalues
from VCFDiagnosisLib.dwi.dicom import DicomDwiError, index_dicom_folder, load_dwi_dicom
from VCFDiagnosisLib.phantom import generate_patient


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """A small noiseless standard-style phantom series (8 b-values x 5 slices, random file names)."""
    root = tmp_path_factory.mktemp("dwi-bad")
    return generate_patient(root, seed=2, vendor="standard", matrix=24, n_slices=5, snr=math.inf,
                            case_id="bad").case_dir / "dwi"


@pytest.fixture
def copy(series, tmp_path):
    """A writable copy of the series and a function returning its files at one b-value."""
    folder = tmp_path / "dwi"
    shutil.copytree(series, folder)

    def files_at(b: float) -> list:
        return sorted(p for p in folder.iterdir()
                      if bvalue_from_header(pydicom.dcmread(p, stop_before_pixels=True)) == b)

    return folder, files_at


def _rewrite(paths, change) -> None:
    for p in paths:
        ds = pydicom.dcmread(p)
        change(ds)
        ds.save_as(p)


def test_junk_and_hidden_files_are_skipped_and_listed(copy):
    folder, _ = copy
    (folder / "notes.txt").write_text("not dicom")
    (folder / "sub").mkdir()
    (folder / "sub" / "empty.dcm").write_bytes(b"")
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    dwi = load_dwi_dicom(folder)
    assert len(dwi.bvalues_s_mm2) == 8
    skipped = " ".join(dwi.metadata["skipped_files"])
    assert "notes.txt" in skipped and "empty.dcm" in skipped and ".DS_Store" not in skipped


def test_truncated_pixel_data_is_an_error_naming_the_file_and_the_sizes(copy):
    folder, files_at = copy
    victim = files_at(200)[0]
    victim.write_bytes(victim.read_bytes()[:-300])
    with pytest.raises(DicomDwiError, match=r"truncated: header says 1152 bytes of pixel data, file has 852") as error:
        load_dwi_dicom(folder)
    assert str(error.value).startswith(f"{victim}: ")


def test_truncated_header_is_skipped_and_named_in_the_error(copy):
    folder, files_at = copy
    victim = files_at(600)[0]
    victim.write_bytes(victim.read_bytes()[:400])
    _, skipped = index_dicom_folder(folder)
    assert any(victim.name in s for s in skipped)
    with pytest.raises(DicomDwiError, match=r"b = 600 has no image at slice") as error:
        load_dwi_dicom(folder)
    assert victim.name in str(error.value)


def test_orientation_differing_between_bvalues_is_an_error(copy):
    folder, files_at = copy

    def tilt(ds):
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]

    _rewrite(files_at(400), tilt)
    with pytest.raises(DicomDwiError, match=r"inconsistent orientation .* \(b = 400\)"):
        load_dwi_dicom(folder)


def test_matrix_differing_between_bvalues_is_an_error(copy):
    folder, files_at = copy

    def crop(ds):
        pixels = ds.pixel_array[:20, :20].copy()
        ds.Rows, ds.Columns = pixels.shape
        ds.PixelData = pixels.tobytes()

    _rewrite(files_at(800), crop)
    with pytest.raises(DicomDwiError, match=r"inconsistent matrix .*b = 800"):
        load_dwi_dicom(folder)


def test_field_of_view_moved_between_bvalues_is_an_error(copy):
    folder, files_at = copy

    def shift(ds):
        row = np.array(ds.ImageOrientationPatient[:3], dtype=float)
        ds.ImagePositionPatient = [f"{v:.6f}" for v in np.array(ds.ImagePositionPatient, dtype=float) + 5 * row]

    _rewrite(files_at(50), shift)
    with pytest.raises(DicomDwiError, match=r"inconsistent geometry .*b = 50.*5.00 mm off"):
        load_dwi_dicom(folder)


def test_a_slice_missing_at_every_bvalue_breaks_the_regular_grid(copy):
    folder, files_at = copy
    for b in (0, 50, 100, 150, 200, 400, 600, 800):
        ds_paths = files_at(b)
        positions = [float(pydicom.dcmread(p, stop_before_pixels=True).SliceLocation) for p in ds_paths]
        ds_paths[int(np.argsort(positions)[2])].unlink()  # the middle slice
    with pytest.raises(DicomDwiError, match="not evenly spaced"):
        load_dwi_dicom(folder)


def test_no_b0_is_allowed_with_a_warning(copy):
    folder, files_at = copy
    for p in files_at(0):
        p.unlink()
    dwi = load_dwi_dicom(folder)
    assert dwi.bvalues_s_mm2[0] == 50
    assert any("no b = 0" in w for w in dwi.metadata["warnings"])


def test_missing_bvalue_tag_is_an_error_naming_the_file(copy):
    folder, files_at = copy
    victim = files_at(150)[0]
    _rewrite([victim], lambda ds: delattr(ds, "DiffusionBValue"))
    with pytest.raises(DicomDwiError, match=f"{victim.name}: no b-value in any known tag"):
        load_dwi_dicom(folder)


def test_derived_series_next_to_a_dwi_series_is_never_chosen(copy, tmp_path):
    folder, files_at = copy
    adc = tmp_path / "adc"
    adc.mkdir()
    for p in files_at(800):
        ds = pydicom.dcmread(p)
        ds.ImageType = ["DERIVED", "PRIMARY", "DIFFUSION", "ADC"]
        ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.4242"
        ds.SeriesNumber = 42
        del ds.DiffusionBValue
        ds.save_as(adc / p.name)
    shutil.move(str(adc), folder / "adc")
    dwi = load_dwi_dicom(folder)
    assert dwi.metadata["series_number"] == 5
    with pytest.raises(DicomDwiError, match=r"series 42 .*derived"):
        load_dwi_dicom(folder, series=42)


def test_vendor_bvalue_decoding_edge_cases():
    ds = pydicom.Dataset()
    ds.add_new((0x2001, 0x1003), "UN", np.float32(273.0).tobytes())  # Philips FL stored as raw bytes
    assert bvalue_from_header(ds) == 273
    ds = pydicom.Dataset()
    ds.add_new((0x0043, 0x1039), "IS", ["1000", "1073741832", "0", "0"])  # real GE HyperBand header
    assert bvalue_from_header(ds) == 1000
    ds = pydicom.Dataset()
    ds.DiffusionBValue = 1_000_000_600.0
    assert bvalue_from_header(ds) == 600
    assert first_number(b"abc") is None and first_number("") is None
    np.testing.assert_array_equal(group_bvalues([0.004, 1000.4, 999.6, 0.001, 0]), [0, 1000, 1000, 0, 0])
    assert group_bvalues([]).size == 0


def test_indexing_reads_headers_only(copy):
    folder, _ = copy
    for p in folder.iterdir():  # cut every file inside its pixel data: headers stay intact
        p.write_bytes(p.read_bytes()[:-200])
    found, skipped = index_dicom_folder(folder)
    assert len(found) == 1 and not skipped and len(found[0].headers) == 40
    with pytest.raises(DicomDwiError, match="no image has readable pixel data"):
        load_dwi_dicom(folder)
