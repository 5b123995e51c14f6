"""The 4D NIfTI export keeps the source integer type when it is exact (else float32), its gzip is one standard
member, and the ``.bval`` and the atomic, refuse-to-overwrite behaviour are unchanged (issue 13)."""

from __future__ import annotations

import gzip
import math
import os
import stat
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from pydicom.uid import generate_uid

from VCFDiagnosisLib.app.cli import main
from VCFDiagnosisLib.dwi.export import exact_integer_voxels, gzip_file, write_dwi_nifti
from VCFDiagnosisLib.dwi.loader import load_dwi
from VCFDiagnosisLib.dwi.nifti_file import read_nifti, read_nifti_header
from VCFDiagnosisLib.dwi.volume import DwiVolume
from VCFDiagnosisLib.phantom import generate_patient

SIEMENS_B_TAG = (0x0019, 0x100C)
#: NIfTI datatype code and bitpix of the numpy types the export writes
NIFTI_CODES = {"uint16": (512, 16), "int16": (4, 16), "uint8": (2, 8), "float32": (16, 32)}


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> dict[str, Path]:
    """Small noisy phantom DICOM folders: Siemens style (uint16, slope 1) and Philips style (rescaled)."""
    root = tmp_path_factory.mktemp("dwi-export")
    return {vendor: generate_patient(root, seed=11, vendor=vendor, matrix=40, n_slices=4, snr=40.0,
                                     case_id=f"export-{vendor}").case_dir / "dwi"
            for vendor in ("siemens", "philips")}


def header_codes(path: Path) -> tuple[int, int]:
    """Return (datatype, bitpix) read from the raw NIfTI-1 header bytes of a .nii.gz."""
    with gzip.open(path, "rb") as handle:
        head = handle.read(348)
    return int(np.frombuffer(head, "<i2", 1, 70)[0]), int(np.frombuffer(head, "<i2", 1, 72)[0])


def read_back(path: Path) -> np.ndarray:
    """Return the voxels of a written 4D NIfTI as ``[b, k, j, i]`` in their stored type (project reader)."""
    header, voxels = read_nifti(path)
    assert not header.scaled
    return voxels


def add_b0_repeats(folder: Path, target: Path, offset: int) -> None:
    """Copy a Siemens-style folder to ``target`` with a second b = 0 image per slice (pixels + ``offset``)."""
    target.mkdir()
    for path in sorted(folder.iterdir()):
        (target / path.name).write_bytes(path.read_bytes())
        ds = pydicom.dcmread(path)
        if float(ds[SIEMENS_B_TAG].value) != 0:
            continue
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.PixelData = (ds.pixel_array.astype(np.uint16) + np.uint16(offset)).tobytes()
        ds.save_as(target / f"repeat-{path.name}")


def test_integer_source_is_written_as_uint16_equal_to_the_dicom_pixels(series, tmp_path, capsys):
    folder = series["siemens"]
    out = tmp_path / "dwi.nii.gz"
    assert main(["dwi", str(folder), "--out", str(out)]) == 0
    assert "written" in capsys.readouterr().out
    dwi = load_dwi(folder)
    assert dwi.metadata["stored_pixel_type"] == "uint16" and dwi.data.dtype == np.float32  # the fit's input
    assert header_codes(out) == NIFTI_CODES["uint16"]
    voxels = read_back(out)
    assert voxels.dtype == np.uint16
    np.testing.assert_array_equal(voxels, dwi.data)
    # every DICOM image's pixels are, exactly, one slice of the volume of its b-value
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        t = int(np.flatnonzero(dwi.bvalues_s_mm2 == float(ds[SIEMENS_B_TAG].value))[0])
        assert any(np.array_equal(ds.pixel_array, voxels[t, k]) for k in range(voxels.shape[1])), path.name
    image = sitk.ReadImage(str(out))
    assert image.GetPixelID() == sitk.sitkUInt16
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), dwi.data)
    assert (tmp_path / "dwi.bval").read_text() == "0 50 100 150 200 400 600 800\n"


def test_rescaled_source_is_written_as_float32_with_the_loaded_values(series, tmp_path):
    dwi = load_dwi(series["philips"])
    assert not np.array_equal(dwi.data, np.round(dwi.data))  # the rescale slope makes non-integers
    nifti, bval = write_dwi_nifti(dwi, tmp_path / "philips.nii.gz")
    assert header_codes(nifti) == NIFTI_CODES["float32"]
    voxels = read_back(nifti)
    assert voxels.dtype == np.float32
    np.testing.assert_array_equal(voxels, dwi.data)
    assert bval.read_text() == " ".join(f"{b:g}" for b in dwi.bvalues_s_mm2) + "\n"


@pytest.mark.parametrize(("offset", "written"), [(1, "float32"), (0, "uint16")])
def test_averaged_repeats_keep_uint16_only_when_the_mean_is_a_whole_number(series, tmp_path, offset, written):
    folder = tmp_path / "repeats"
    add_b0_repeats(series["siemens"], folder, offset)
    dwi = load_dwi(folder)
    assert dwi.metadata["volumes_per_bvalue"]["0"] == 2
    single = load_dwi(series["siemens"])
    np.testing.assert_array_equal(dwi.data[0], single.data[0] + offset / 2)  # x.5 when offset is odd
    nifti, _ = write_dwi_nifti(dwi, tmp_path / "repeats.nii.gz")
    assert header_codes(nifti) == NIFTI_CODES[written]
    voxels = read_back(nifti)
    assert voxels.dtype == np.dtype(written)
    np.testing.assert_array_equal(voxels, dwi.data)


def test_written_uint16_nifti_reads_back_and_exports_again_as_uint16(series, tmp_path):
    first, _ = write_dwi_nifti(load_dwi(series["siemens"]), tmp_path / "a.nii.gz")
    again = load_dwi(first)
    assert again.metadata["stored_pixel_type"] == "uint16"
    second, _ = write_dwi_nifti(again, tmp_path / "b.nii.gz")
    assert header_codes(second) == NIFTI_CODES["uint16"]
    np.testing.assert_array_equal(read_back(second), read_back(first))


def small_dwi(values: np.ndarray, stored: str | None = None) -> DwiVolume:
    """Return a 2-b DWI of shape [2, 1, 2, 2] holding ``values`` (8 numbers), 2 mm voxels."""
    meta = {"stored_pixel_type": stored} if stored else {}
    return DwiVolume(np.array([0.0, 800.0]), np.asarray(values, dtype=np.float32).reshape(2, 1, 2, 2),
                     np.diag([2.0, 2.0, 2.0, 1.0]), meta)


@pytest.mark.parametrize(("values", "stored", "written"), [
    ([0, 1, 2, 3, 4, 5, 6, 65535], "uint16", "uint16"),
    ([0, 1, 2, 3, 4, 5, 6, 7], "int16", "int16"),        # the source's type is kept even when uint16 fits
    ([0, 1, 2, 3, 4, 5, 6, 7], "uint8", "uint8"),
    ([-5, 1, 2, 3, 4, 5, 6, 7], "uint16", "int16"),      # not in the source's range: the next exact type
    ([-5, 1, 2, 3, 4, 5, 6, 7], None, "int16"),
    ([0, 1, 2, 3, 4, 5, 6, 70000], "uint16", "float32"),  # beyond 16 bits
    ([0, 1, 2, 3, 4, 5, 6, 7.5], "uint16", "float32"),    # a non-integer mean
    ([0, 1, 2, 3, 4, 5, 6, math.nan], "uint16", "float32"),
    ([0, 1, 2, 3, 4, 5, 6, math.inf], "uint16", "float32"),
])
def test_voxel_type_is_the_first_exact_integer_type_else_float32(tmp_path, values, stored, written):
    dwi = small_dwi(values, stored)
    nifti, _ = write_dwi_nifti(dwi, tmp_path / "small.nii.gz")
    assert header_codes(nifti) == NIFTI_CODES[written]
    header = read_nifti_header(nifti)
    assert header.dtype == np.dtype(written) and header.dims == (2, 2, 1, 2)
    np.testing.assert_array_equal(read_back(nifti), dwi.data)


def test_exact_integer_voxels_ignores_a_stored_type_that_is_not_an_integer():
    data = np.arange(6, dtype=np.float32)
    assert exact_integer_voxels(data, "float32").dtype == np.uint16
    assert exact_integer_voxels(data, "nonsense").dtype == np.uint16
    assert exact_integer_voxels(np.empty(0, dtype=np.float32)) is None


def test_uncompressed_nii_output_and_output_permissions_follow_the_umask(tmp_path):
    nifti, bval = write_dwi_nifti(small_dwi(np.arange(8)), tmp_path / "plain.nii")
    assert nifti.read_bytes()[344:348] == b"n+1\x00"  # not gzipped
    np.testing.assert_array_equal(read_back(nifti), np.arange(8).reshape(2, 1, 2, 2))
    umask = os.umask(0)
    os.umask(umask)
    for path in (nifti, bval):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.bval", "plain.nii"]  # no staging left


def test_existing_output_is_refused_without_force_and_left_unchanged(tmp_path):
    from VCFDiagnosisLib.dwi.errors import DwiInputError

    nifti, _ = write_dwi_nifti(small_dwi(np.arange(8)), tmp_path / "d.nii.gz")
    before = nifti.read_bytes()
    with pytest.raises(DwiInputError, match="d.nii.gz: output exists; use --force"):
        write_dwi_nifti(small_dwi(np.arange(8) + 1), nifti)
    assert nifti.read_bytes() == before
    write_dwi_nifti(small_dwi(np.arange(8) + 1), nifti, force=True)
    np.testing.assert_array_equal(read_back(nifti).ravel(), np.arange(8) + 1)


def test_gzip_file_round_trips_a_file(tmp_path):
    source = tmp_path / "raw.bin"
    source.write_bytes(bytes(range(256)) * 5000)
    gzip_file(source, tmp_path / "raw.bin.gz")
    packed = (tmp_path / "raw.bin.gz").read_bytes()
    assert gzip.decompress(packed) == source.read_bytes()
    member = zlib.decompressobj(wbits=31)
    assert member.decompress(packed) == source.read_bytes() and member.eof and member.unused_data == b""  # one member
    assert packed[8] == 4  # XFL: fastest
    gzip_file(source, tmp_path / "again.gz")
    assert (tmp_path / "again.gz").read_bytes() == packed  # reproducible bytes (mtime 0, no name)
