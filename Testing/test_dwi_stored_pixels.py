"""The quick path to DICOM pixel values equals pydicom's ``pixel_array`` on every real and generated file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from VCFDiagnosisLib.dwi import pixels as pixels_module
from VCFDiagnosisLib.dwi.pixels import stored_pixels
from VCFDiagnosisLib.phantom import generate_patient

REAL = Path(__file__).parent / "Data" / "dwi-dicom"


def _datasets():
    from VCFDiagnosisLib.dwi.pixels import read_dataset

    for path in sorted(p for p in REAL.rglob("*") if p.is_file()):
        try:
            ds = read_dataset(str(path))  # .dcm.gz copies too (Philips R57, Siemens XA30 classic)
        except Exception:  # noqa: BLE001 - not DICOM (licences, json)
            continue
        if "PixelData" in ds:
            yield path, ds


def _same(ds) -> bool:
    quick, reference = stored_pixels(ds), ds.pixel_array
    return quick.dtype == reference.dtype and quick.shape == reference.shape and np.array_equal(quick, reference)


def test_real_vendor_files_give_pydicoms_values_and_most_take_the_quick_path(monkeypatch):
    """GE, Philips, Siemens classic/enhanced/mosaic files of Testing/Data: the same values, dtype and shape."""
    checked, slow = 0, []
    original = pydicom.Dataset.pixel_array
    for path, ds in _datasets():
        assert _same(ds), path
        checked += 1
        with monkeypatch.context() as patched:  # which files does the quick path leave to pydicom?
            patched.setattr(pydicom.Dataset, "pixel_array",
                            property(lambda d, p=path: slow.append(p) or original.fget(d)))
            stored_pixels(ds)
    assert checked >= 250
    assert len(slow) <= 0.2 * checked, slow  # the speed is real: most real files are uncompressed little endian


@pytest.mark.parametrize("vendor", ["siemens", "ge", "philips"])
def test_phantom_series_load_the_same_through_either_path(vendor, tmp_path, monkeypatch):
    patient = generate_patient(tmp_path / vendor, seed=3, vendor=vendor, matrix=32, n_slices=3, fat_series=False)
    from VCFDiagnosisLib.dwi.dicom import load_dwi_dicom

    quick = load_dwi_dicom(patient.dwi_dir).data
    monkeypatch.setattr(pixels_module, "stored_pixels", lambda ds: ds.pixel_array)
    reference = load_dwi_dicom(patient.dwi_dir).data
    np.testing.assert_array_equal(quick, reference)


def _synthetic(values: np.ndarray, bits_stored: int, signed: bool) -> pydicom.Dataset:
    from pydicom.dataset import FileMetaDataset

    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.Rows, ds.Columns = values.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
    ds.PixelRepresentation = int(signed)
    ds.PixelData = values.astype("<i2" if signed else "<u2").tobytes()
    return ds


@pytest.mark.parametrize("case", ["12 of 16 bits", "overlay bits above BitsStored", "signed 12 of 16", "signed 16"])
def test_the_cases_pydicom_must_handle_still_give_its_values(case):
    rng = np.random.default_rng(7)
    values = rng.integers(0, 4096, (6, 5))
    if case == "overlay bits above BitsStored":
        values[0, 0] |= 1 << 13
    signed = case.startswith("signed")
    if signed:
        values = values - 2048
    ds = _synthetic(values, 16 if case == "signed 16" else 12, signed)
    assert _same(ds), case


@pytest.mark.filterwarnings("ignore:Deferred read warning")
@pytest.mark.parametrize("change", ["truncated", "removed"])
def test_a_file_changed_after_indexing_is_named_never_read_as_zeros(change, tmp_path):
    """Pixels are read from the headers kept while indexing (deferred): a file cut short or removed in between is
    an error naming it, as when it was read again from scratch."""
    from VCFDiagnosisLib.dwi.dicom import DicomDwiError, index_dicom_folder, load_series, select_dwi_series

    patient = generate_patient(tmp_path / "p", seed=4, vendor="siemens", matrix=128, n_slices=2, fat_series=False)
    series = select_dwi_series(index_dicom_folder(patient.dwi_dir, keep_headers=True)[0])
    assert len(series.datasets) == len(series.files)  # every header kept, pixel data left in the files
    victim = sorted(series.files)[5]
    if change == "truncated":
        data = Path(victim).read_bytes()
        Path(victim).write_bytes(data[: len(data) - 700])
    else:
        Path(victim).unlink()
    with pytest.raises(DicomDwiError, match=Path(victim).name) as raised:
        load_series(series)
    assert ("truncated" if change == "truncated" else "not readable") in str(raised.value)
    assert not series.datasets or victim not in series.datasets


def test_a_file_without_file_meta_is_left_to_pydicom(tmp_path):
    """No transfer syntax (a bare data set, read with force): pydicom detects the encoding (here big endian), so
    the quick path must not assume little endian."""
    from VCFDiagnosisLib.dwi.pixels import read_dataset

    values = np.arange(12, dtype=np.uint16).reshape(3, 4) * 100
    ds = _synthetic(values, 16, False)
    del ds.file_meta
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.PixelData = values.astype(">u2").tobytes()
    path = tmp_path / "bare.dcm"
    ds.save_as(path, implicit_vr=False, little_endian=False, enforce_file_format=False)
    read = read_dataset(str(path))
    assert "TransferSyntaxUID" not in getattr(read, "file_meta", {})
    try:
        reference = read.pixel_array
    except Exception as error:  # noqa: BLE001 - pydicom may refuse it: then so must the quick path
        with pytest.raises(type(error)):
            stored_pixels(read)
    else:
        np.testing.assert_array_equal(stored_pixels(read), reference)


def test_kept_headers_are_bounded_and_give_the_same_volume(tmp_path, monkeypatch):
    """At most KEPT_HEADERS_MAX headers are kept while indexing (the rest is read again), with the same result."""
    from VCFDiagnosisLib.dwi import dicom as dicom_module
    from VCFDiagnosisLib.dwi.dicom import index_dicom_folder, load_dwi_dicom

    patient = generate_patient(tmp_path / "p", seed=6, vendor="ge", matrix=96, n_slices=2, fat_series=False)
    full = load_dwi_dicom(patient.dwi_dir).data
    assert not index_dicom_folder(patient.dwi_dir)[0][0].datasets  # kept only when asked for
    monkeypatch.setattr(dicom_module, "KEPT_HEADERS_MAX", 5)
    (series,), _ = index_dicom_folder(patient.dwi_dir, keep_headers=True)
    assert len(series.datasets) == 5 < len(series.files)
    np.testing.assert_array_equal(load_dwi_dicom(patient.dwi_dir).data, full)
