"""Data safety of the DWI input path (each test fails on the code before the fix).

* truncated or corrupt NIfTI/NRRD (compressed or not), masks and label maps, and truncated DICOM pixel data are
  errors naming the file ("truncated: header says N bytes of voxel data, file has M", "corrupt gzip stream");
* compressed inputs are decompressed with a cap (what the header says plus a small slack, and a ceiling):
  memory stays bounded whatever the stream holds;
* zero-filled files are refused from their first bytes, in milliseconds;
* implausible b-values (> 10,000 s/mm2, GE's 1e9 bias, negative) are errors naming the file and the value;
* messages name the right files: a duplicated DICOM file and the file it copies, a non-finite
  ImagePositionPatient;
* ``dwi``/``fit`` raise for the CLI's contract (exit 2, one line) instead of printing;
* a fuzz of NIfTI headers, NRRD headers and truncated DICOM files: a result or one ValueError naming the file.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import shutil
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hostile.cases_dwi import (
    B_WITH_0,
    MB,
    SHAPE,
    TRUTH,
    affine,
    cut,
    dicom_files_at,
    edit_dicom,
    gzip_bomb,
    ivim_volume,
    nifti_header,
    nrrd_dwi,
    unreadable_file,
    write_bval,
    write_nifti_dwi,
    zero_file,
)

from VCFDiagnosisLib.app import cli
from VCFDiagnosisLib.app.commands import dwi as dwi_command
from VCFDiagnosisLib.app.commands import fit as fit_command
from VCFDiagnosisLib.dwi.bvalues import bvalue_problem
from VCFDiagnosisLib.dwi.dicom import DicomDwiError, index_dicom_folder, load_dwi_dicom
from VCFDiagnosisLib.dwi.errors import DwiInputError
from VCFDiagnosisLib.dwi.limits import MAX_IMAGE_BYTES_ENV, parse_byte_count
from VCFDiagnosisLib.dwi.loader import check_image_file, load_dwi
from VCFDiagnosisLib.dwi.mosaic import mosaic_slice_count
from VCFDiagnosisLib.dwi.nifti import read_dwi_nifti, read_fsl_bval, read_mask_nifti
from VCFDiagnosisLib.dwi.nrrd import load_dwi_nrrd
from VCFDiagnosisLib.dwi.shells import dwi_from_volumes
from VCFDiagnosisLib.phantom import generate_patient

nib = pytest.importorskip("nibabel")
N_BYTES = int(np.prod(SHAPE)) * len(B_WITH_0) * 4  # voxel data of the generated DWI (float32)


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    """A small noiseless phantom DICOM series (8 b-values x 3 slices of 24 x 24, one file per image)."""
    root = tmp_path_factory.mktemp("dwi-hostile")
    return generate_patient(root, seed=4, vendor="standard", matrix=24, n_slices=3, snr=math.inf,
                            case_id="h").case_dir


@pytest.fixture
def folder(series, tmp_path) -> Path:
    """A writable copy of the phantom's DICOM folder."""
    target = tmp_path / "dwi"
    shutil.copytree(series / "dwi", target)
    return target


def _starts_with_file(error: BaseException, path: Path) -> None:
    assert str(error).startswith(f"{path}: "), str(error)


# ---- 1. truncated and corrupt files -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["dwi.nii.gz", "dwi.nii"])
def test_truncated_nifti_is_an_error_with_both_sizes(tmp_path, name):
    path = cut(write_nifti_dwi(tmp_path / name), drop_bytes=200 if name == "dwi.nii" else 30)
    with pytest.raises(DwiInputError, match=rf"truncated: header says {N_BYTES} bytes of voxel data, file has") as error:
        read_dwi_nifti(path)
    _starts_with_file(error.value, path)
    if name == "dwi.nii":
        assert str(error.value).endswith(f"file has {N_BYTES - 200}")


def test_truncated_nifti_gz_never_loads_with_zero_voxels(tmp_path):
    """Before: ITK filled the missing half with zeros and ``fit`` reported values from it."""
    rng = np.random.default_rng(0)
    data = ivim_volume(B_WITH_0) * rng.uniform(0.5, 1.5, SHAPE)[..., None].astype(np.float32)
    path = cut(write_nifti_dwi(tmp_path / "dwi.nii.gz", data=data), 0.5)
    with pytest.raises(DwiInputError, match="truncated"):
        load_dwi(path)


@pytest.mark.parametrize("damage", ["crc", "deflate", "garbage-after"])
def test_corrupt_gzip_stream_is_named(tmp_path, damage):
    path = write_nifti_dwi(tmp_path / "dwi.nii.gz")
    blob = bytearray(path.read_bytes())
    if damage == "crc":
        blob[-8] ^= 0xFF
    elif damage == "deflate":
        blob[10] = 0x07  # first deflate block of reserved type 11
    else:
        blob += b"trailing garbage that is not a gzip member"
    path.write_bytes(bytes(blob))
    with pytest.raises(DwiInputError, match="corrupt gzip stream") as error:
        read_dwi_nifti(path)
    _starts_with_file(error.value, path)


def test_truncated_and_corrupt_masks_are_named(tmp_path):
    dwi = read_dwi_nifti(write_nifti_dwi(tmp_path / "dwi.nii.gz"))
    mask = tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(np.random.default_rng(1).integers(0, 2, SHAPE).astype(np.uint8), affine()), mask)
    assert read_mask_nifti(mask, dwi).shape == dwi.shape_kji
    cut(mask, drop_bytes=12)
    with pytest.raises(DwiInputError, match="truncated") as error:
        read_mask_nifti(mask, dwi)
    _starts_with_file(error.value, mask)


def test_label_maps_and_segmentations_are_checked_before_a_slicer_reader(series, tmp_path):
    """``check_image_file`` is what the ROI readers should call: ITK/VTK read a truncated label map as zeros."""
    label = tmp_path / "lesion_label.nii"
    nib.save(nib.load(series / "roi" / "lesion_label.nii.gz"), label)
    seg = tmp_path / "lesion.seg.nrrd"
    shutil.copy(series / "roi" / "lesion.seg.nrrd", seg)
    check_image_file(label)
    check_image_file(seg)
    check_image_file(series / "roi" / "lesion_label.nii.gz")
    for path in (label, seg):
        cut(path, drop_bytes=40)
        with pytest.raises(DwiInputError) as error:
            check_image_file(path)
        _starts_with_file(error.value, path)


@pytest.mark.parametrize("encoding", ["raw", "gzip"])
def test_truncated_nrrd_is_named(tmp_path, encoding):
    path = nrrd_dwi(tmp_path / "dwi.nrrd", encoding)
    assert load_dwi_nrrd(path).bvalues_s_mm2.tolist() == [0, 50, 100, 200, 400, 800]
    cut(path, drop_bytes=64)
    with pytest.raises(DwiInputError, match="truncated") as error:
        load_dwi_nrrd(path)
    _starts_with_file(error.value, path)


def test_truncated_dicom_pixel_data_is_an_error_naming_the_file(folder):
    victim = dicom_files_at(folder, 800.0)[0]
    cut(victim, drop_bytes=100)  # 24 x 24 x 2 = 1152 bytes of pixel data
    with pytest.raises(DicomDwiError, match="truncated: header says 1152 bytes of pixel data, file has 1052") as error:
        load_dwi_dicom(folder)
    _starts_with_file(error.value, victim)


def test_damaged_file_next_to_a_complete_series_is_an_error(folder, series):
    extra = folder / "zz_damaged.dcm"
    shutil.copy(next(folder.iterdir()), extra)
    cut(extra, keep_fraction=0.15)  # header cut: no SeriesInstanceUID, it may belong to the series
    with pytest.raises(DicomDwiError, match="zz_damaged.dcm: damaged DICOM") as error:
        load_dwi_dicom(folder)
    assert str(error.value).startswith(str(extra))


# ---- 2. decompression bombs --------------------------------------------------------------------------------

def test_header_above_the_ceiling_is_refused_before_any_allocation(tmp_path):
    path = gzip_bomb(tmp_path / "dwi.nii.gz", nifti_header((1024, 1024, 100, 16)), 4 * MB)
    write_bval(path, [0, 50] * 8)
    tracemalloc.start()
    try:
        with pytest.raises(DwiInputError, match=r"6710886400 bytes .* above the limit"):
            read_dwi_nifti(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MB


def test_stream_bomb_is_stopped_after_the_announced_size_with_bounded_memory(tmp_path):
    volume = ivim_volume(B_WITH_0)
    path = gzip_bomb(tmp_path / "dwi.nii.gz", nifti_header(volume.shape) + volume.tobytes(order="F"), 512 * MB)
    write_bval(path, B_WITH_0)
    tracemalloc.start()
    try:
        with pytest.raises(DwiInputError, match="decompresses to more than .* decompression bomb"):
            read_dwi_nifti(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MB, f"peak {peak / MB:.1f} MB while reading a 512 MB stream"


def test_nrrd_stream_bomb_is_stopped(tmp_path):
    path = nrrd_dwi(tmp_path / "dwi.nrrd", "gzip")
    blob = path.read_bytes()
    header = blob[: blob.index(b"\n\n") + 2]
    body = gzip_bomb(tmp_path / "body.gz", gzip.decompress(blob[len(header):]), 256 * MB).read_bytes()
    path.write_bytes(header + body)
    tracemalloc.start()
    try:
        with pytest.raises(DwiInputError, match="decompression bomb"):
            load_dwi_nrrd(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MB


def test_the_ceiling_is_configurable(tmp_path, monkeypatch):
    path = write_nifti_dwi(tmp_path / "dwi.nii.gz")
    monkeypatch.setenv(MAX_IMAGE_BYTES_ENV, "1K")
    with pytest.raises(DwiInputError, match=f"above the limit of 1024 bytes .*{MAX_IMAGE_BYTES_ENV}"):
        read_dwi_nifti(path)
    monkeypatch.setenv(MAX_IMAGE_BYTES_ENV, "64M")
    assert read_dwi_nifti(path).data.shape == (7, 3, 5, 6)
    monkeypatch.setenv(MAX_IMAGE_BYTES_ENV, "lots")
    with pytest.raises(DwiInputError, match=MAX_IMAGE_BYTES_ENV):
        read_dwi_nifti(path)
    assert parse_byte_count("4G") == 4 << 30 and parse_byte_count("4294967296") == 4 << 30


def test_gzip_dicom_copy_is_decompressed_with_the_ceiling(folder, monkeypatch):
    source = dicom_files_at(folder, 800.0)[0]
    bomb = folder / "zz_copy.dcm.gz"
    gzip_bomb(bomb, source.read_bytes(), 4 * MB)
    monkeypatch.setenv(MAX_IMAGE_BYTES_ENV, "1M")
    with pytest.raises(DicomDwiError, match=r"zz_copy.dcm.gz: gzip stream decompresses to more than") as error:
        load_dwi_dicom(folder)
    assert str(error.value).startswith(str(bomb))


# ---- 3. zero-filled files ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["dwi.nii", "dwi.nii.gz", "IM0001.dcm", "dwi.nrrd", "folder/IM0001"])
def test_zero_filled_files_are_refused_in_milliseconds(tmp_path, name):
    """Before: a 50 MB zero .dcm (or one in a DICOM folder) took 25-40 s (pydicom parsed 6 million empty
    elements); now every kind is refused from its first bytes."""
    path = zero_file(tmp_path / name, 50 * MB)
    write_bval(path, B_WITH_0)
    target = path.parent if name.startswith("folder/") else path
    started = time.perf_counter()
    with pytest.raises(DwiInputError) as error:
        load_dwi(target)
    seconds = time.perf_counter() - started
    assert seconds < 0.5, f"{seconds:.2f} s"
    assert str(error.value).startswith(str(target)) and "zero" in str(error.value)


def test_zero_filled_dicom_after_the_meta_header_is_refused(folder):
    source = next(folder.iterdir())
    victim = folder / "zz_zeros.dcm"
    meta_end = 132 + 12 + int.from_bytes(source.read_bytes()[140:144], "little")
    victim.write_bytes(source.read_bytes()[:meta_end] + bytes(8 * MB))
    started = time.perf_counter()
    found, skipped = index_dicom_folder(folder)
    assert time.perf_counter() - started < 2.0
    assert any("zz_zeros.dcm" in s and "zero" in s for s in skipped), skipped


# ---- 4. implausible b-values -------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "match"), [
    ("0 50 100 200 400 600 20000", r"b-value 20000 s/mm2 is implausible \(above 10,000 s/mm2\) \(volume 6\)"),
    ("0 50 100 200 400 600 1000000800", r"b-value 1000000800 looks like GE's bias of 1e9 added to b = 800"),
    ("0 -50 100 200 400 600 800", r"b-value -50 s/mm2 is negative \(volume 1\)"),
    ("0 50 nan 200 400 600 800", r"b-value nan is not a finite number"),
])
def test_implausible_bval_values_are_errors_naming_file_and_value(tmp_path, text, match):
    path = tmp_path / "dwi.bval"
    path.write_text(text + "\n")
    with pytest.raises(DwiInputError, match=match) as error:
        read_fsl_bval(path)
    _starts_with_file(error.value, path)


@pytest.mark.parametrize(("value", "match"), [(-50.0, "b-value -50 s/mm2 is negative"),
                                              (-0.5, "b-value -0.5 s/mm2 is negative"),
                                              (20000.0, "b-value 20000 s/mm2 is implausible")])
def test_negative_or_implausible_dicom_bvalue_is_an_error_not_merged_into_b0(folder, value, match):
    victim = dicom_files_at(folder, 50.0 if value < 0 else 800.0)[0]
    edit_dicom([victim], DiffusionBValue=value)
    with pytest.raises(DicomDwiError, match=match) as error:
        load_dwi_dicom(folder)
    _starts_with_file(error.value, victim)


def test_ge_bias_in_a_dicom_header_is_still_removed():
    ds = pydicom.Dataset()
    ds.add_new((0x0043, 0x1039), "IS", ["1000000800", "8", "0", "0"])
    from VCFDiagnosisLib.dwi.bvalues import bvalue_from_header

    assert bvalue_from_header(ds) == 800 and bvalue_problem(800.0) is None


def test_nrrd_and_node_bvalues_are_checked(tmp_path):
    with pytest.raises(DwiInputError, match="DWMRI_b-value: b-value 20000 s/mm2 is implausible"):
        load_dwi_nrrd(nrrd_dwi(tmp_path / "a.nrrd", bvalue=20000.0))
    with pytest.raises(ValueError, match="b-value -1 s/mm2 is negative"):
        dwi_from_volumes([-1.0, 800.0], np.ones((2, 1, 1, 1), np.float32), np.eye(4))


# ---- 5. messages name the right files ------------------------------------------------------------------------

def test_duplicate_file_message_names_the_copy_then_the_original(folder):
    original = dicom_files_at(folder, 400.0)[0]
    copy = folder / "zz_copy.dcm"
    shutil.copy2(original, copy)
    with pytest.raises(DicomDwiError) as error:
        load_dwi_dicom(folder)
    assert str(error.value).startswith(f"{copy}: duplicate of {original} (same SOPInstanceUID")


def test_extra_image_at_one_slice_is_not_called_a_missing_image(folder):
    source = dicom_files_at(folder, 400.0)[0]
    ds = pydicom.dcmread(source)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(folder / "zz_extra.dcm")
    with pytest.raises(DicomDwiError, match=r"b = 400 has 2 images at slice \d but 1 at the other slices") as error:
        load_dwi_dicom(folder)
    assert "zz_extra.dcm" in str(error.value) and source.name in str(error.value)
    assert "missing" not in str(error.value)


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom warns about the invalid DS it is given
@pytest.mark.parametrize("value", [["nan", "0", "0"], ["abc", "1", "2"]])
def test_non_finite_image_position_is_named_not_reported_as_a_missing_slice(folder, value):
    victim = dicom_files_at(folder, 600.0)[0]
    raw = victim.read_bytes()
    ds = pydicom.dcmread(victim)
    old = "\\".join(str(v) for v in ds.ImagePositionPatient).encode()
    new = "\\".join(value).encode()
    assert old in raw
    ds.ImagePositionPatient = value if value[0] == "nan" else ["0", "1", "2"]
    if value[0] == "nan":
        ds.save_as(victim)
    else:  # pydicom refuses to write 'abc' as DS: patch the bytes (same length, padded)
        padded = new.ljust(len(old), b" ")
        victim.write_bytes(raw.replace(old, padded[: len(old)], 1))
    with pytest.raises(DicomDwiError, match="ImagePositionPatient is not finite") as error:
        load_dwi_dicom(folder)
    _starts_with_file(error.value, victim)
    assert "missing" not in str(error.value)


# ---- 7. the CLI's error contract ---------------------------------------------------------------------------

def test_dwi_and_fit_commands_raise_instead_of_printing(tmp_path, capsys):
    missing = tmp_path / "absent.nii.gz"
    with pytest.raises(ValueError, match=f"{missing}: file not found"):
        dwi_command.run(argparse.Namespace(path=str(missing), series=None, json=False, out=None, force=False,
                                           list=False, allow_single_b=False))
    args = argparse.Namespace(dwi=str(missing), series=None, mask=None, method="nlls", b_threshold_s_mm2=200.0,
                              out=str(tmp_path / "o"), force=False, threads=None, jobs=None)
    with pytest.raises(ValueError, match=str(missing)):
        fit_command.run(args)
    assert capsys.readouterr().err == ""
    for bad in ({"b_threshold_s_mm2": float("nan")}, {"threads": 0}, {"jobs": 0}):
        with pytest.raises(ValueError, match="--b-threshold|--threads|--jobs"):
            fit_command.run(argparse.Namespace(**{**vars(args), **bad}))


def test_cli_prints_one_line_for_a_truncated_file_and_writes_nothing(tmp_path, capsys):
    path = cut(write_nifti_dwi(tmp_path / "dwi.nii.gz"), 0.7)
    assert cli.main(["fit", "--dwi", str(path), "--out", str(tmp_path / "maps")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"vcfdiagnosis fit: error: {path}: truncated") and len(err.splitlines()) == 1
    assert not (tmp_path / "maps").exists()


# ---- 8. reader fuzz ----------------------------------------------------------------------------------------

def _fuzzed_headers(count: int = 150):
    """Yield (label, header bytes) variants of a valid NIfTI-1 header: field edits and random byte flips."""
    good = bytearray(nifti_header(SHAPE + (len(B_WITH_0),)))
    edits = {"dim0_8": (40, np.int16(8)), "dim1_0": (42, np.int16(0)), "dim2_neg": (44, np.int16(-3)),
             "datatype_rgb": (70, np.int16(128)), "datatype_999": (70, np.int16(999)),
             "vox_offset_huge": (108, np.float32(1e12)), "vox_offset_frac": (108, np.float32(352.5)),
             "pixdim_inf": (80, np.float32(np.inf)), "pixdim_zero": (84, np.float32(0)),
             "quatern_nan": (256, np.float32(np.nan)), "srow_inf": (280, np.float32(np.inf)),
             "scl_slope_nan": (112, np.float32(np.nan)), "magic": (344, np.int32(0))}
    for label, (offset, value) in edits.items():
        variant = bytearray(good)
        raw = value.tobytes()
        variant[offset: offset + len(raw)] = raw
        yield label, bytes(variant)
    rng = np.random.default_rng(7)
    for index in range(count):
        variant = bytearray(good)
        for position in rng.integers(0, 348, rng.integers(1, 6)):
            variant[position] = int(rng.integers(0, 256))
        yield f"random{index}", bytes(variant)


def test_nifti_header_fuzz_gives_a_volume_or_one_error_naming_the_file(tmp_path):
    data = ivim_volume(B_WITH_0).tobytes(order="F")
    path = tmp_path / "dwi.nii"
    write_bval(path, B_WITH_0)
    outcomes = {"ok": 0, "error": 0}
    for label, header in _fuzzed_headers():
        path.write_bytes(header + data)
        try:
            dwi = read_dwi_nifti(path)
        except ValueError as error:
            assert str(error).startswith(f"{path}: "), (label, str(error))
            assert "\n" not in str(error), label
            outcomes["error"] += 1
        else:
            assert dwi.data.ndim == 4, label
            outcomes["ok"] += 1
    assert outcomes["error"] >= 13


def test_nrrd_header_fuzz_gives_a_volume_or_one_error_naming_the_file(tmp_path):
    source = nrrd_dwi(tmp_path / "good.nrrd")
    blob = source.read_bytes()
    header, body = blob[: blob.index(b"\n\n") + 1], blob[blob.index(b"\n\n") + 1:]
    lines = header.split(b"\n")
    rng = np.random.default_rng(3)
    path = tmp_path / "fuzz.nrrd"
    replacements = [b"sizes: 6 0 5 3", b"sizes: 6 -4 5 3", b"sizes: a b c d", b"dimension: 99", b"type: complex",
                    b"encoding: lzma", b"space directions: none (nan,0,0) (0,1,0) (0,0,1)", b"byte skip: -7",
                    b"space origin: (inf,0,0)", b"endian: middle", b"DWMRI_b-value:=abc", b"DWMRI_b-value:=-800",
                    b"DWMRI_gradient_0003:=1 nan 0", b"data file: /dev/zero", b"sizes: 6 99999 99999 99999"]
    for index in range(120):
        variant = list(lines)
        if index < len(replacements):
            key = replacements[index].split(b":")[0]
            variant = [replacements[index] if line.split(b":")[0] == key else line for line in variant]
        else:
            del variant[int(rng.integers(1, len(variant) - 1))]
        path.write_bytes(b"\n".join(variant) + body)
        try:
            load_dwi_nrrd(path)
        except ValueError as error:
            assert str(error).startswith(str(path)), (index, str(error))
            assert "\n" not in str(error)


def test_dicom_files_cut_anywhere_give_an_error_naming_the_file(series, tmp_path):
    source = series / "dwi"
    files = sorted(source.iterdir())
    size = files[0].stat().st_size
    for offset in range(0, size, max(size // 15, 1)):
        folder = tmp_path / f"cut{offset}"
        shutil.copytree(source, folder)
        victim = folder / files[0].name
        cut(victim, drop_bytes=size - offset)
        with pytest.raises(ValueError) as error:
            load_dwi_dicom(folder)
        assert victim.name in str(error.value), (offset, str(error.value))
        shutil.rmtree(folder)


def test_folder_file_and_device_mixups_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DwiInputError, match="no DICOM images found"):
        load_dwi(tmp_path / "empty")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("hello\n")
    with pytest.raises(DwiInputError, match="not a DICOM file"):
        load_dwi(tmp_path / "notes")
    device = tmp_path / "dwi.nii"
    os.symlink("/dev/zero", device)
    write_bval(device, B_WITH_0)
    with pytest.raises(DwiInputError, match="not a regular file"):
        load_dwi(device)
    dwi = read_dwi_nifti(write_nifti_dwi(tmp_path / "ok.nii.gz"))
    (tmp_path / "mask.nii").mkdir()
    with pytest.raises(DwiInputError, match=f"{tmp_path / 'mask.nii'}: is a folder"):
        read_mask_nifti(tmp_path / "mask.nii", dwi)
    bval_dir = tmp_path / "b.bval"
    bval_dir.mkdir()
    with pytest.raises(DwiInputError, match="is a folder"):
        read_fsl_bval(bval_dir)


def test_unreadable_file_in_a_dicom_folder_is_named(folder):
    victim = unreadable_file(folder / "IM_LOCKED")
    with pytest.raises(DicomDwiError, match="IM_LOCKED: cannot read") as error:
        load_dwi_dicom(folder)
    assert str(error.value).startswith(str(victim))


def test_absurd_mosaic_slice_count_is_refused():
    ds = pydicom.Dataset()
    ds.add_new((0x0019, 0x100A), "US", 60000)
    with pytest.raises(ValueError, match="NumberOfImagesInMosaic = 60000"):
        mosaic_slice_count(ds)


def test_valid_unusual_niftis_are_read_exactly(tmp_path):
    reference = read_dwi_nifti(write_nifti_dwi(tmp_path / "ref.nii.gz"))
    big_endian = read_dwi_nifti(write_nifti_dwi(tmp_path / "be.nii", dtype=">f4"))
    np.testing.assert_array_equal(big_endian.data, reference.data)
    scaled = read_dwi_nifti(write_nifti_dwi(tmp_path / "sc.nii.gz", slope=0.05))
    np.testing.assert_allclose(scaled.data, reference.data, atol=0.03)
    plain = write_nifti_dwi(tmp_path / "plain.nii.gz")
    plain.write_bytes(gzip.decompress(plain.read_bytes()))  # uncompressed, named .gz
    np.testing.assert_array_equal(read_dwi_nifti(plain).data, reference.data)
    np.testing.assert_allclose(reference.ijk_to_ras, affine(), atol=1e-5)
    assert reference.data[0, 0, 0, 0] == pytest.approx(TRUTH["S0"])
