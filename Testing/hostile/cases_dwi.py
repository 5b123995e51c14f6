"""Hostile inputs for the DWI/IVIM path (``vcfdiagnosis dwi``, ``fit`` and ``run``): truncated and corrupt files,
decompression bombs, zero-filled files, implausible b-values, misleading-message traps, DWIs without b = 0 and a
fuzz of reader inputs (folders, devices, absurd headers). Every input is generated here: NIfTI with nibabel from a
known IVIM signal, DICOM from the phantom patient (:mod:`.inputs`), NRRD and gzip streams by hand.

The builders (:func:`write_nifti_dwi`, :func:`nifti_header`, :func:`gzip_bomb`, :func:`cut`, ...) are also used by
``Testing/test_dwi_hostile.py``.
"""

from __future__ import annotations

import csv
import gzip
import os
import shutil
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import OUT, HostileCase
from .inputs import copy_patient

AREA = "dwi"
#: the synthetic IVIM truth of every generated NIfTI DWI (S0 signal units, D and D* mm2/s, f fraction)
TRUTH = {"S0": 1000.0, "D": 1.0e-3, "Dstar": 0.03, "f": 0.15}
B_WITH_0 = (0.0, 50.0, 100.0, 200.0, 400.0, 600.0, 800.0)
B_NO_0 = (50.0, 100.0, 200.0, 400.0, 600.0, 800.0)
SHAPE = (6, 5, 3)  # i, j, k
MB = 1 << 20


# ---- generated inputs -----------------------------------------------------------------------------------

def affine() -> np.ndarray:
    """Return the oblique ijk -> RAS matrix (mm) of the generated NIfTI DWIs."""
    c, s = np.cos(0.2), np.sin(0.2)
    out = np.eye(4)
    out[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag([1.5, 1.4, 4.0])
    out[:3, 3] = [-20.0, 10.0, 5.0]
    return out


def ivim_volume(bvalues, shape=SHAPE) -> np.ndarray:
    """Return the noiseless IVIM signal of :data:`TRUTH` as float32 ``(i, j, k, b)``."""
    from VCFDiagnosisLib.ivim import ivim_signal

    ones = np.ones(shape)
    return ivim_signal(np.asarray(bvalues, float), TRUTH["S0"] * ones, TRUTH["D"], TRUTH["Dstar"],
                       TRUTH["f"]).astype(np.float32)


def write_bval(nifti_path: Path, bvalues) -> Path:
    """Write the FSL ``.bval`` of ``nifti_path`` (same stem) and return it."""
    name = Path(nifti_path).name
    stem = name[: -len(".nii.gz")] if name.endswith(".nii.gz") else name.removesuffix(".nii")
    path = Path(nifti_path).with_name(stem + ".bval")
    path.write_text(" ".join(str(b) for b in bvalues) + "\n")
    return path


def write_nifti_dwi(path: Path, bvalues=B_WITH_0, data: np.ndarray | None = None, dtype=np.float32,
                    slope: float | None = None, bval_text: str | None = None) -> Path:
    """Write a 4D NIfTI-1 DWI (nibabel) of the IVIM truth (or ``data``) and its ``.bval``; return the NIfTI path.

    ``dtype`` may be big-endian ('>f4'); ``slope`` stores integers scaled by ``scl_slope``.
    """
    import nibabel as nib

    volume = ivim_volume(bvalues) if data is None else data
    header = nib.Nifti1Header()
    if slope is not None:
        header.set_data_dtype(np.int16)
        image = nib.Nifti1Image(np.round(volume / slope).astype(np.int16), affine(), header)
        image.header.set_slope_inter(slope, 0.0)
    else:
        header.set_data_dtype(dtype)
        image = nib.Nifti1Image(volume.astype(dtype), affine(), header)
    nib.save(image, path)
    if bval_text is None:
        write_bval(path, bvalues)
    else:
        write_bval(path, []).write_text(bval_text)
    return Path(path)


def nifti_header(shape: tuple, dtype=np.float32, **fields) -> bytes:
    """Return 352 bytes (header + empty extension flag) of a NIfTI-1 file; ``fields`` override header fields.

    Header fields are set without nibabel's checks (e.g. ``dim=[4, 5, -5, 3, 6, 1, 1, 1]``, ``pixdim=...``).
    """
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(dtype)
    header.set_qform(affine(), 1)
    header.set_sform(affine(), 1)
    header["vox_offset"] = 352
    for name, value in fields.items():
        header[name] = value
    return header.binaryblock + b"\0\0\0\0"


def gzip_stream(path: Path, head: bytes, n_zero_bytes: int = 0, tail: bytes = b"") -> Path:
    """Write ``head`` + ``n_zero_bytes`` zeros + ``tail`` as one gzip member, streamed (small memory)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    chunk = bytes(4 * MB)
    with open(path, "wb") as handle:
        handle.write(compressor.compress(head))
        left = n_zero_bytes
        while left > 0:
            handle.write(compressor.compress(chunk[: min(left, len(chunk))]))
            left -= min(left, len(chunk))
        handle.write(compressor.compress(tail))
        handle.write(compressor.flush())
    return Path(path)


def gzip_bomb(path: Path, head: bytes, n_zero_bytes: int) -> Path:
    """Write a gzip bomb: ``head`` then ``n_zero_bytes`` zeros (about 1000:1 compressed)."""
    return gzip_stream(path, head, n_zero_bytes)


def cut(path: Path, keep_fraction: float = 0.5, drop_bytes: int | None = None) -> Path:
    """Truncate ``path`` in place to ``keep_fraction`` of its size (or by ``drop_bytes``); return it."""
    blob = Path(path).read_bytes()
    size = len(blob) - drop_bytes if drop_bytes is not None else int(len(blob) * keep_fraction)
    Path(path).write_bytes(blob[:size])
    return Path(path)


def zero_file(path: Path, size: int = 50 * MB) -> Path:
    """Write ``size`` zero bytes to ``path`` (a sparse-free, real file); return it."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        chunk = bytes(4 * MB)
        left = size
        while left > 0:
            handle.write(chunk[: min(left, len(chunk))])
            left -= min(left, len(chunk))
    return Path(path)


def unreadable_file(path: Path) -> Path:
    """Make ``path`` a file that cannot be read, even by root (a link to ``/proc/self/mem``, which fails with EIO).

    Not root: a file without read permission.
    """
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        os.symlink("/proc/self/mem", path)
    else:
        Path(path).write_bytes(b"DICM")
        Path(path).chmod(0)
    return Path(path)


def nrrd_dwi(path: Path, encoding: str = "raw", bvalue: float = 800.0, extra: str = "") -> Path:
    """Write a Slicer DWI NRRD (gradient axis first) of the IVIM truth at b = 0, 50, 100, 200, 400, 800."""
    b = np.array([0, 50, 100, 200, 400, 800.0])
    data = np.moveaxis(ivim_volume(b), -1, 0)  # (b, i, j, k): NRRD's first axis is the fastest
    payload = np.ascontiguousarray(data.transpose(3, 2, 1, 0)).astype("<f4").tobytes()  # k, j, i, b in C order
    gradients = "".join(f"DWMRI_gradient_{n:04d}:=0 0 {np.sqrt(v / 800.0):.9f}\n" for n, v in enumerate(b))
    direction = affine()
    vectors = " ".join("(" + ",".join(f"{v:.9g}" for v in direction[:3, a]) + ")" for a in range(3))
    header = (f"NRRD0005\ntype: float\ndimension: 4\nspace: right-anterior-superior\nsizes: {b.size} "
              f"{SHAPE[0]} {SHAPE[1]} {SHAPE[2]}\nspace directions: none {vectors}\n"
              "kinds: list domain domain domain\nendian: little\n"
              f"encoding: {encoding}\nspace origin: ({','.join(f'{v:g}' for v in direction[:3, 3])})\n"
              f"{extra}modality:=DWMRI\nDWMRI_b-value:={bvalue:.12g}\n{gradients}\n").encode()
    body = gzip.compress(payload) if encoding == "gzip" else payload
    Path(path).write_bytes(header + body)
    return Path(path)


def dicom_files_at(folder: Path, bvalue: float) -> list[Path]:
    """Return the phantom's DICOM files at one b-value (sorted)."""
    import pydicom

    from VCFDiagnosisLib.dwi.bvalues import bvalue_from_header

    return sorted(p for p in Path(folder).iterdir()
                  if bvalue_from_header(pydicom.dcmread(p, stop_before_pixels=True)) == bvalue)


def edit_dicom(paths, **attributes) -> None:
    """Set DICOM attributes (keyword=value) in each file, in place (pydicom's warnings about invalid values off)."""
    import warnings

    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in paths:
            ds = pydicom.dcmread(path)
            for keyword, value in attributes.items():
                setattr(ds, keyword, value)
            ds.save_as(path)


def phantom_dwi(sandbox: Path) -> Path:
    """Copy the phantom patient into the sandbox; return its DICOM DWI folder."""
    return copy_patient(sandbox) / "dwi"


def phantom_without_b0(sandbox: Path) -> Path:
    """Return the phantom's DICOM DWI folder with every b = 0 file removed."""
    folder = phantom_dwi(sandbox)
    for path in dicom_files_at(folder, 0.0):
        path.unlink()
    return folder


# ---- checks ---------------------------------------------------------------------------------------------

def _map(sandbox: Path, stem: str) -> np.ndarray:
    import nibabel as nib

    return np.asarray(nib.load(Path(sandbox) / OUT / f"{stem}.nii.gz").dataobj, dtype=float)


def fitted_like_truth(d_rtol: float = 0.05, f_rtol: float | None = 0.05, warning: str | None = None) -> Callable:
    """Return a check: the fitted D (and f) maps of ``sandbox/out`` match :data:`TRUTH`; ``warning`` is printed."""

    def check(sandbox: Path, outcome) -> None:
        d, f, adc = _map(sandbox, "D"), _map(sandbox, "f"), _map(sandbox, "ADC")
        assert np.isfinite(d).all() and np.isfinite(adc).all(), "D/ADC maps have NaN voxels"
        assert np.allclose(d, TRUTH["D"], rtol=d_rtol), f"D {np.nanmedian(d):.4g}, truth {TRUTH['D']}"
        if f_rtol is not None:
            assert np.allclose(f, TRUTH["f"], rtol=f_rtol), f"f {np.nanmedian(f):.4g}, truth {TRUTH['f']}"
        if warning is not None:
            assert warning in outcome.stdout, f"no {warning!r} in stdout"

    return check


def dicom_fit_without_b0(sandbox: Path, outcome) -> None:
    """The phantom without b = 0 gives D within 5 % of the lesion truth, with the no-b0 warning."""
    import json

    truth = json.loads((Path(sandbox) / "patient" / "truth.json").read_text())["lesion"]
    d = _map(sandbox, "D")
    assert "no b = 0: S0 fitted" in outcome.stdout, "no warning about the missing b = 0"
    assert np.isfinite(d).sum() > 100, "almost no voxel fitted"
    lesion = np.abs(d - truth["D_mm2_s"]) < 0.05 * truth["D_mm2_s"]
    assert lesion.sum() >= 20, f"fewer than 20 voxels within 5 % of the lesion D {truth['D_mm2_s']:.4g}"


def results_rows(sandbox: Path) -> list[dict]:
    """Return the rows of ``sandbox/out/results.tsv``."""
    with open(Path(sandbox) / OUT / "results.tsv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def run_without_b0(sandbox: Path, outcome) -> None:
    """``run`` without b = 0: the row has D (within 5 % of truth), D*, f, ADC, and the no-b0 flag."""
    import json

    truth = json.loads((Path(sandbox) / "patient" / "truth.json").read_text())["lesion"]
    row = results_rows(sandbox)[0]
    assert "no b = 0: S0 fitted, D*/f less reliable" in row["flags"], row["flags"]
    assert row["status"] == "warning", row["status"]
    for column in ("D", "Dstar", "f", "ADC"):
        assert np.isfinite(float(row[column] or "nan")), f"{column} is not finite"
    assert abs(float(row["D"]) / truth["D_mm2_s"] - 1) < 0.05, (row["D"], truth["D_mm2_s"])


def fast(limit_s: float = 3.0) -> Callable:
    """Return a check: the command took less than ``limit_s`` seconds (zero-filled files are sniffed, not parsed)."""

    def check(sandbox: Path, outcome) -> None:
        assert outcome.seconds < limit_s, f"took {outcome.seconds:.2f} s"

    return check


def nothing_written(sandbox: Path, outcome) -> None:
    """No output file was written."""
    out = Path(sandbox) / OUT
    assert not out.exists() or not any(out.rglob("*.nii.gz")), "maps were written for a refused input"


def stdout_has(*texts: str) -> Callable:
    """Return a check: every text occurs in stdout."""

    def check(sandbox: Path, outcome) -> None:
        for text in texts:
            assert text in outcome.stdout, f"no {text!r} in stdout"

    return check


# ---- builders -------------------------------------------------------------------------------------------

def _out(sandbox: Path) -> str:
    return str(Path(sandbox) / OUT)


def _fit(dwi: Path, sandbox: Path, *extra: str) -> list[str]:
    return ["fit", "--dwi", str(dwi), "--out", _out(sandbox), "--method", "nlls", *extra]


def _run(dwi: Path, sandbox: Path, roi: Path | None = None) -> list[str]:
    roi = roi or Path(sandbox) / "patient" / "roi" / "lesion_label.nii.gz"
    if not roi.exists():
        copy_patient(sandbox)
    return ["run", "--dwi", str(dwi), "--roi", str(roi), "--out", _out(sandbox), "--no-report", "--maps", "none"]


def _nifti_fit(prepare: Callable[[Path], None] | None = None, name: str = "dwi.nii.gz", command: str = "fit",
               **write) -> Callable:
    """Builder: a generated NIfTI DWI (``write`` options), changed by ``prepare(path)``, given to ``command``."""

    def build(sandbox: Path) -> list[str]:
        path = write_nifti_dwi(Path(sandbox) / name, **write)
        if prepare is not None:
            prepare(path)
        if command == "dwi":
            return ["dwi", str(path)]
        if command == "run":
            return _run(path, sandbox)
        return _fit(path, sandbox)

    return build


def _raw_nifti(shape: tuple, data_bytes: int | None = None, name: str = "dwi.nii", command: str = "fit",
               bvalues=B_WITH_0, **fields) -> Callable:
    """Builder: a NIfTI written byte by byte (header ``fields`` unchecked) with ``data_bytes`` zero data bytes."""

    def build(sandbox: Path) -> list[str]:
        path = Path(sandbox) / name
        dims = [d for d in shape if d > 0] or [1]
        size = data_bytes if data_bytes is not None else int(np.prod(dims)) * 4
        path.write_bytes(nifti_header(tuple(abs(d) or 1 for d in shape), **fields) + bytes(size))
        write_bval(path, bvalues)
        return ["dwi", str(path)] if command == "dwi" else _fit(path, sandbox)

    return build


def _corrupt_deflate(path: Path) -> None:
    """Make the first deflate block of a gzip file invalid (block type 11, reserved)."""
    blob = bytearray(path.read_bytes())
    blob[10] = 0x07  # gzip header is 10 bytes (no name: nibabel writes none); BFINAL=1, BTYPE=11
    path.write_bytes(bytes(blob))


def _corrupt_crc(path: Path) -> None:
    """Flip the stored CRC-32 of a gzip member (its last 8 bytes are CRC-32 and size)."""
    blob = bytearray(path.read_bytes())
    blob[-8] ^= 0xFF
    path.write_bytes(bytes(blob))


def _uncompressed_named_gz(path: Path) -> None:
    path.write_bytes(gzip.decompress(path.read_bytes()))


def _two_gzip_members(path: Path) -> None:
    """Rewrite the .nii.gz as two concatenated gzip members (as pigz/bgzip may write)."""
    raw = gzip.decompress(path.read_bytes())
    half = len(raw) // 2
    path.write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))


def _gzip_padding(path: Path) -> None:
    """Append 1 kB of zeros inside the gzip stream after the voxels (within the slack)."""
    raw = gzip.decompress(path.read_bytes())
    gzip_stream(path, raw, 1024)


def _nifti_stream_bomb(sandbox: Path) -> list[str]:
    path = Path(sandbox) / "dwi.nii.gz"
    volume = ivim_volume(B_WITH_0)
    head = nifti_header(volume.shape)
    gzip_bomb(path, head + volume.tobytes(order="F"), 256 * MB)
    write_bval(path, B_WITH_0)
    return ["dwi", str(path)]


def _nifti_header_bomb(command: str) -> Callable:
    def build(sandbox: Path) -> list[str]:
        path = Path(sandbox) / "dwi.nii.gz"
        gzip_bomb(path, nifti_header((1024, 1024, 100, 16)), 8 * MB)
        write_bval(path, [0, 50] * 8)
        return ["dwi", str(path)] if command == "dwi" else _fit(path, sandbox)

    return build


def _nrrd(encoding: str = "raw", prepare: Callable[[Path], None] | None = None, **kw) -> Callable:
    def build(sandbox: Path) -> list[str]:
        path = nrrd_dwi(Path(sandbox) / "dwi.nrrd", encoding, **kw)
        if prepare is not None:
            prepare(path)
        return ["dwi", str(path)]

    return build


def _nrrd_bomb(sandbox: Path) -> list[str]:
    path = nrrd_dwi(Path(sandbox) / "dwi.nrrd", "gzip")
    blob = path.read_bytes()
    header = blob[: blob.index(b"\n\n") + 2]
    payload = gzip.decompress(blob[len(header):])
    body = Path(sandbox) / "body.gz"
    gzip_bomb(body, payload, 256 * MB)
    path.write_bytes(header + body.read_bytes())
    body.unlink()
    return ["dwi", str(path)]


def _zero(name: str, command: str = "dwi", size: int = 50 * MB) -> Callable:
    def build(sandbox: Path) -> list[str]:
        path = zero_file(Path(sandbox) / name, size)
        if name.endswith((".nii", ".nii.gz")):
            write_bval(path, B_WITH_0)
        target = path.parent if name.count("/") else path
        return ["dwi", str(target)] if command == "dwi" else _fit(target, sandbox)

    return build


def _zero_next_to_phantom(sandbox: Path) -> list[str]:
    folder = phantom_dwi(sandbox)
    zero_file(folder / "IM_ZERO", 20 * MB)
    gzip_bomb(folder / "junk.dcm.gz", b"", 64 * MB)
    return ["dwi", str(folder)]


def _dicom(prepare: Callable[[Path], None], command: str = "dwi") -> Callable:
    """Builder: the phantom's DICOM folder changed by ``prepare(folder)``, given to ``command``."""

    def build(sandbox: Path) -> list[str]:
        folder = phantom_dwi(sandbox)
        prepare(folder)
        if command == "fit":
            return _fit(folder, sandbox)
        if command == "run":
            return _run(folder, sandbox)
        return ["dwi", str(folder)]

    return build


def _truncate_first_at(b: float, drop: int = 300) -> Callable[[Path], None]:
    def prepare(folder: Path) -> None:
        cut(dicom_files_at(folder, b)[0], drop_bytes=drop)

    return prepare


def _bvalue_at(b: float, value: float) -> Callable[[Path], None]:
    def prepare(folder: Path) -> None:
        edit_dicom(dicom_files_at(folder, b)[:1], DiffusionBValue=value)

    return prepare


def _duplicate(folder: Path) -> None:
    shutil.copy2(dicom_files_at(folder, 400.0)[0], folder / "zz_copy.dcm")


def _extra_image(folder: Path) -> None:
    import pydicom

    source = dicom_files_at(folder, 400.0)[0]
    ds = pydicom.dcmread(source)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(folder / "zz_extra.dcm")


def _nan_position(folder: Path) -> None:
    edit_dicom(dicom_files_at(folder, 600.0)[:1], ImagePositionPatient=["nan", "0", "0"])


def _unreadable_in_folder(folder: Path) -> None:
    unreadable_file(folder / "IM_UNREADABLE")


def _text_folder(sandbox: Path) -> list[str]:
    folder = Path(sandbox) / "notes"
    folder.mkdir()
    for index in range(5):
        (folder / f"note{index}.txt").write_text("not a DICOM file\n" * 20)
    return ["dwi", str(folder)]


def _empty_folder(sandbox: Path) -> list[str]:
    (Path(sandbox) / "empty").mkdir()
    return ["dwi", str(Path(sandbox) / "empty")]


def _mask_folder(sandbox: Path) -> list[str]:
    path = write_nifti_dwi(Path(sandbox) / "dwi.nii.gz")
    (Path(sandbox) / "mask.nii.gz").mkdir()
    return _fit(path, sandbox, "--mask", str(Path(sandbox) / "mask.nii.gz"))


def _mask_truncated(sandbox: Path) -> list[str]:
    import nibabel as nib

    path = write_nifti_dwi(Path(sandbox) / "dwi.nii.gz")
    mask = Path(sandbox) / "mask.nii"
    nib.save(nib.Nifti1Image(np.ones(SHAPE, np.uint8), affine()), mask)
    cut(mask, drop_bytes=20)
    return _fit(path, sandbox, "--mask", str(mask))


def _device_as_dwi(sandbox: Path) -> list[str]:
    path = Path(sandbox) / "dwi.nii"
    os.symlink("/dev/zero", path)
    write_bval(path, B_WITH_0)
    return _fit(path, sandbox)


def _binary_bval(sandbox: Path) -> list[str]:
    path = write_nifti_dwi(Path(sandbox) / "dwi.nii.gz")
    path.with_name("dwi.bval").write_bytes(bytes(range(256)) * 4)
    return _fit(path, sandbox)


def _nifti2(sandbox: Path) -> list[str]:
    import nibabel as nib

    path = Path(sandbox) / "dwi.nii.gz"
    nib.save(nib.Nifti2Image(ivim_volume(B_WITH_0), affine()), path)
    write_bval(path, B_WITH_0)
    return _fit(path, sandbox)


def _existing_output(sandbox: Path) -> list[str]:
    path = write_nifti_dwi(Path(sandbox) / "dwi.nii.gz")
    out = Path(sandbox) / OUT
    out.mkdir()
    (out / "D.nii.gz").write_bytes(b"earlier result")
    return _fit(path, sandbox)


def _earlier_output_kept(sandbox: Path, outcome) -> None:
    assert (Path(sandbox) / OUT / "D.nii.gz").read_bytes() == b"earlier result", "an existing map was replaced"


def _nex_bomb(path: Path) -> None:
    blob = path.read_bytes()
    path.write_bytes(blob.replace(b"DWMRI_gradient_0001:=", b"DWMRI_NEX_0000:=1000000000000\nDWMRI_gradient_0001:=",
                                  1))


def _case(name: str, build: Callable, expect_exit: int | tuple[int, ...], *message: str, check=None,
          process: bool = False) -> HostileCase:
    return HostileCase(name=f"dwi_{name}", area=AREA, build=build, expect_exit=expect_exit,
                       expect_in_message=tuple(message), check=check, process=process)


S = "{sandbox}"
CASES: list[HostileCase] = [
    # 1. truncated or corrupt files: an error naming the file, never half an image
    _case("nifti_gz_truncated_fit", _nifti_fit(lambda p: cut(p, 0.6)), 2, f"{S}/dwi.nii.gz: truncated: header says",
          check=nothing_written),
    _case("nifti_raw_truncated_fit", _nifti_fit(lambda p: cut(p, drop_bytes=100), name="dwi.nii"), 2,
          f"{S}/dwi.nii: truncated: header says 2520 bytes of voxel data, file has 2420"),
    _case("nifti_gz_bad_crc_dwi", _nifti_fit(_corrupt_crc, command="dwi"), 2, f"{S}/dwi.nii.gz: corrupt gzip stream"),
    _case("nifti_gz_bad_deflate_fit", _nifti_fit(_corrupt_deflate), 2, f"{S}/dwi.nii.gz: corrupt gzip stream"),
    _case("nifti_gz_truncated_run", _nifti_fit(lambda p: cut(p, 0.6), command="run"), 2,
          f"{S}/dwi.nii.gz: truncated: header says"),
    _case("nrrd_raw_truncated", _nrrd("raw", lambda p: cut(p, drop_bytes=64)), 2,
          f"{S}/dwi.nrrd: truncated: header says"),
    _case("nrrd_gzip_truncated", _nrrd("gzip", lambda p: cut(p, drop_bytes=40)), 2, f"{S}/dwi.nrrd:"),
    _case("mask_truncated_fit", _mask_truncated, 2, f"{S}/mask.nii: truncated: header says"),
    _case("dicom_pixels_truncated_dwi", _dicom(_truncate_first_at(200.0)), 2,
          "truncated: header says 12800 bytes of pixel data, file has 12500"),
    _case("dicom_pixels_truncated_run", _dicom(_truncate_first_at(800.0), "run"), 2,
          "truncated: header says 12800 bytes of pixel data"),
    # 2. decompression bombs: capped by the header and a ceiling, memory never beyond it
    _case("nifti_header_bomb_fit", _nifti_header_bomb("fit"), 2, f"{S}/dwi.nii.gz: header describes dims 1024 x 1024",
          "above the limit"),
    _case("nifti_stream_bomb_dwi", _nifti_stream_bomb, 2, f"{S}/dwi.nii.gz: the gzip stream decompresses to more",
          check=fast(5.0)),
    _case("nrrd_stream_bomb_dwi", _nrrd_bomb, 2, f"{S}/dwi.nrrd: the gzip stream decompresses to more", check=fast(5.0)),
    # 3. zero-filled files: refused from their first bytes
    _case("zero_nii_fit", _zero("dwi.nii", "fit"), 2, f"{S}/dwi.nii: not a readable NIfTI file", "zero-filled",
          check=fast()),
    _case("zero_nii_gz_dwi", _zero("dwi.nii.gz"), 2, f"{S}/dwi.nii.gz: not a readable NIfTI file", check=fast()),
    _case("zero_dcm_dwi", _zero("IM0001.dcm"), 2, f"{S}/IM0001.dcm: no DICOM images found", "zero-filled",
          check=fast()),
    _case("zero_nrrd_dwi", _zero("dwi.nrrd"), 2, f"{S}/dwi.nrrd: not a NRRD file", check=fast()),
    _case("zero_files_folder_fit", _zero("zeros/IM0001", "fit"), 2, f"{S}/zeros: no DICOM images found",
          check=fast()),
    _case("zero_files_next_to_series", _zero_next_to_phantom, 0, check=stdout_has("skipped", "IM_ZERO")),
    # 4. implausible b-values: refused with the file and the value
    _case("bval_above_10000_fit", _nifti_fit(bval_text="0 50 100 200 400 600 20000\n"), 2,
          f"{S}/dwi.bval: b-value 20000 s/mm2 is implausible"),
    _case("bval_ge_bias_fit", _nifti_fit(bval_text="0 50 100 200 400 600 1000000800\n"), 2,
          f"{S}/dwi.bval: b-value 1000000800 looks like GE's bias"),
    _case("bval_negative_dwi", _nifti_fit(bval_text="0 -50 100 200 400 600 800\n", command="dwi"), 2,
          f"{S}/dwi.bval: b-value -50 s/mm2 is negative"),
    _case("bval_ge_bias_run", _nifti_fit(bval_text="0 50 100 200 400 600 1000000800\n", command="run"), 2,
          f"{S}/dwi.bval: b-value 1000000800"),
    _case("dicom_negative_b_dwi", _dicom(_bvalue_at(50.0, -50.0)), 2, "b-value -50 s/mm2 is negative"),
    _case("dicom_b_50000_fit", _dicom(_bvalue_at(800.0, 50000.0), "fit"), 2, "b-value 50000 s/mm2 is implausible"),
    _case("nrrd_bvalue_implausible", _nrrd("raw", bvalue=1_000_000_800.0), 2, f"{S}/dwi.nrrd: DWMRI_b-value"),
    # 5. messages that name the right file in the right role
    _case("dicom_duplicate_file", _dicom(_duplicate), 2, f"{S}/patient/dwi/zz_copy.dcm: duplicate of {S}/patient/dwi/"),
    _case("dicom_extra_image_at_a_slice", _dicom(_extra_image), 2, "but 1 at the other slices", "zz_extra.dcm"),
    _case("dicom_nan_position", _dicom(_nan_position), 2, "ImagePositionPatient is not finite ([nan, 0, 0])",
          f"{S}/patient/dwi/"),
    # 6. no b = 0: S0 fitted, values reported with a warning
    _case("nifti_no_b0_fit", _nifti_fit(bvalues=B_NO_0), 0,
          check=fitted_like_truth(0.05, 0.05, "no b = 0: S0 fitted, D*/f less reliable")),
    _case("dicom_no_b0_fit", lambda s: _fit(phantom_without_b0(s), s), 0, check=dicom_fit_without_b0),
    _case("dicom_no_b0_run", lambda s: _run(phantom_without_b0(s), s), 0, check=run_without_b0),
    # 8. reader fuzz: one line naming the file
    _case("empty_folder", _empty_folder, 2, f"{S}/empty: no DICOM images found"),
    _case("folder_of_text_files", _text_folder, 2, f"{S}/notes: no DICOM images found", "not a DICOM file"),
    _case("mask_is_a_folder", _mask_folder, 2, f"{S}/mask.nii.gz: is a folder"),
    _case("nifti_dim0_zero", _raw_nifti((6, 5, 3, 7), dim=[0, 6, 5, 3, 7, 1, 1, 1]), 2,
          f"{S}/dwi.nii: NIfTI header dim[0] = 0"),
    _case("nifti_negative_dim", _raw_nifti((6, 5, 3, 7), dim=[4, 6, -5, 3, 7, 1, 1, 1]), 2,
          f"{S}/dwi.nii: NIfTI header dim[2] = -5"),
    _case("nifti_absurd_dims", _raw_nifti((6, 5, 3, 7), command="dwi", dim=[4, 32767, 32767, 32767, 7, 1, 1, 1]),
          2, f"{S}/dwi.nii: header describes dims 32767 x 32767 x 32767 x 7", "above the limit"),
    _case("nifti_nan_pixdim", _raw_nifti((6, 5, 3, 7), pixdim=[1, np.nan, 1.4, 4, 1, 1, 1, 1]), 2,
          f"{S}/dwi.nii: NIfTI header pixdim[1] = nan"),
    _case("nifti_nan_qform", _raw_nifti((6, 5, 3, 7), quatern_b=np.nan), 2, f"{S}/dwi.nii: NIfTI qform"),
    _case("nifti_rgb_voxels", _raw_nifti((6, 5, 3, 7), datatype=128, bitpix=24), 2, f"{S}/dwi.nii: voxel type RGB24"),
    _case("nifti2_file", _nifti2, 2, f"{S}/dwi.nii.gz: a NIfTI-2 file"),
    _case("bval_count_mismatch", _nifti_fit(bval_text="0 50 100 200 800\n"), 2,
          f"{S}/dwi.nii.gz: has 7 volumes but dwi.bval lists 5 b-values"),
    _case("bval_binary", _binary_bval, 2, f"{S}/dwi.bval: b-value file is not text"),
    _case("unreadable_file_in_folder", _dicom(_unreadable_in_folder), 2, f"{S}/patient/dwi/IM_UNREADABLE: cannot read"),
    _case("device_as_dwi", _device_as_dwi, 2, f"{S}/dwi.nii: not a regular file", check=fast()),
    _case("nrrd_absurd_nex", _nrrd("raw", _nex_bomb), 2, f"{S}/dwi.nrrd", check=fast()),
    _case("existing_maps_kept", _existing_output, 2, f"{S}/{OUT}/", "--force", check=_earlier_output_kept),
    # valid but unusual: read exactly, numbers checked
    _case("nifti_uncompressed_named_gz", _nifti_fit(_uncompressed_named_gz), 0, check=fitted_like_truth(1e-4, 1e-3)),
    _case("nifti_two_gzip_members", _nifti_fit(_two_gzip_members), 0, check=fitted_like_truth(1e-4, 1e-3)),
    _case("nifti_gzip_padding", _nifti_fit(_gzip_padding), 0, check=fitted_like_truth(1e-4, 1e-3)),
    _case("nifti_big_endian", _nifti_fit(name="dwi.nii", dtype=">f4"), 0, check=fitted_like_truth(1e-4, 1e-3)),
    _case("nifti_scaled_int16", _nifti_fit(slope=0.05), 0, check=fitted_like_truth(0.01, 0.02)),
    _case("nrrd_gzip_valid", _nrrd("gzip"), 0, check=stdout_has("b-values     0, 50, 100, 200, 400, 800 s/mm2")),
    _case("process_truncated_nifti", _nifti_fit(lambda p: cut(p, 0.6)), 2, f"{S}/dwi.nii.gz: truncated", process=True),
]
