"""DWI file layouts beyond classic single-frame DICOM: Siemens mosaic, enhanced multi-frame, Philips mixed
isotropic images, Slicer diffusion NRRD, and the :func:`load_dwi` dispatcher.

Each layout is written here from a small noiseless phantom (the truth), then read back: b-values, grid
(ijk_to_ras) and data must match. Directional images are written as ``trace * f`` with factors whose
geometric mean is 1, so the loader's geometric mean gives back the trace.
"""

from __future__ import annotations

import gzip
import math
import struct

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from VCFDiagnosisLib.dwi.csa import parse_csa_header
from VCFDiagnosisLib.dwi.dicom import DicomDwiError, load_dwi_dicom
from VCFDiagnosisLib.dwi.errors import DwiInputError
from VCFDiagnosisLib.dwi.loader import load_dwi
from VCFDiagnosisLib.dwi.mosaic import unpack_mosaic
from VCFDiagnosisLib.dwi.volume import LPS_TO_RAS
from VCFDiagnosisLib.phantom import generate_patient

DIRECTION_FACTORS = (0.5, 1.0, 2.0)  # geometric mean 1
GRADIENTS = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    """A noiseless phantom DWI (standard style) loaded by the product: the reference for every layout."""
    root = tmp_path_factory.mktemp("dwi-formats")
    patient = generate_patient(root, seed=5, vendor="standard", matrix=32, n_slices=5, snr=math.inf,
                               case_id="formats")
    return load_dwi_dicom(patient.case_dir / "dwi")


def _grid(dwi):
    lps = LPS_TO_RAS @ dwi.ijk_to_ras
    spacing = dwi.spacing_mm
    return lps, spacing, lps[:3, 0] / spacing[0], lps[:3, 1] / spacing[1], lps[:3, 2] / spacing[2]


def _base(sop_class: str, series_uid: str, dwi, rows: int, cols: int) -> Dataset:
    _, spacing, row_dir, col_dir, _ = _grid(dwi)
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.Modality = "MR"
    ds.Manufacturer = "SIEMENS"
    ds.SeriesInstanceUID = series_uid
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesNumber = 9
    ds.SeriesDescription = "synthetic layout"
    ds.PatientID = "SYNTH"
    ds.ImageOrientationPatient = [f"{v:.8f}" for v in (*row_dir, *col_dir)]
    ds.PixelSpacing = [f"{spacing[1]:.8f}", f"{spacing[0]:.8f}"]
    ds.SliceThickness = f"{spacing[2]:.8f}"
    ds.SpacingBetweenSlices = f"{spacing[2]:.8f}"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    return ds


def _save(ds: Dataset, path) -> None:
    ds.SOPInstanceUID = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    pydicom.dcmwrite(path, ds, enforce_file_format=True)


# ------------------------------------------------------------------------------------------ mosaic
def csa_blob(entries: dict[str, list[str]]) -> bytes:
    """Return a Siemens CSA header (SV10 layout) holding ``entries``."""
    out = b"SV10\x04\x03\x02\x01" + struct.pack("<II", len(entries), 77)
    for name, items in entries.items():
        out += name.encode().ljust(64, b"\0") + struct.pack("<i4siii", 1, b"FD\0\0", 4, len(items), 77)
        for item in items:
            data = item.encode() + b"\0"
            out += struct.pack("<4i", len(data), len(data), 77, len(data)) + data + b"\0" * (-len(data) % 4)
    return out


def write_mosaic_series(dwi, folder, *, csa: bool = True, descending: bool = False) -> None:
    """Write one Siemens mosaic file per b-value (slices in acquisition order along the CSA normal)."""
    folder.mkdir(parents=True)
    lps, spacing, row_dir, col_dir, normal = _grid(dwi)
    _, nk, nj, ni = dwi.data.shape
    grid = math.ceil(math.sqrt(nk))
    order = list(range(nk))[::-1] if descending else list(range(nk))
    first = (lps @ np.array([0, 0, order[0], 1.0]))[:3]
    corner = first - row_dir * spacing[0] * (grid * ni - ni) / 2 - col_dir * spacing[1] * (grid * nj - nj) / 2
    series_uid = generate_uid()
    for s, b in enumerate(dwi.bvalues_s_mm2):
        mosaic = np.zeros((grid * nj, grid * ni), dtype=np.uint16)
        for t, k in enumerate(order):
            r, c = divmod(t, grid)
            mosaic[r * nj:(r + 1) * nj, c * ni:(c + 1) * ni] = np.rint(dwi.data[s, k])
        ds = _base(MR_IMAGE, series_uid, dwi, grid * nj, grid * ni)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE", "ND", "MOSAIC"]
        ds.ImagePositionPatient = [f"{v:.8f}" for v in corner]
        ds.InstanceNumber = s + 1
        block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
        block.add_new(0x0A, "US", nk)
        block.add_new(0x0C, "IS", str(int(b)))
        if csa:
            sign = -1.0 if descending else 1.0
            ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True).add_new(0x10, "OB", csa_blob({
                "NumberOfImagesInMosaic": [str(nk)],
                "SliceNormalVector": [f"{sign * v:.8f}" for v in normal]}))
        ds.PixelData = mosaic.tobytes()
        _save(ds, folder / f"mosaic_{s:02d}.dcm")


@pytest.mark.parametrize("descending", [False, True])
def test_mosaic_series_unpacks_to_the_truth(truth, tmp_path, descending):
    write_mosaic_series(truth, tmp_path / "mosaic", descending=descending)
    dwi = load_dwi_dicom(tmp_path / "mosaic")
    assert dwi.metadata["dicom_layout"] == "mosaic"
    np.testing.assert_array_equal(dwi.bvalues_s_mm2, truth.bvalues_s_mm2)
    np.testing.assert_allclose(dwi.ijk_to_ras, truth.ijk_to_ras, atol=1e-4)
    np.testing.assert_allclose(dwi.data, np.rint(truth.data), atol=1e-3)
    assert not dwi.metadata["warnings"]


def test_mosaic_without_csa_uses_the_cross_product_normal_and_warns(truth, tmp_path):
    write_mosaic_series(truth, tmp_path / "mosaic", csa=False)
    dwi = load_dwi_dicom(tmp_path / "mosaic")
    np.testing.assert_allclose(dwi.ijk_to_ras, truth.ijk_to_ras, atol=1e-4)
    assert any("SliceNormalVector" in w for w in dwi.metadata["warnings"])


def test_csa_parser_and_tile_unpacking():
    parsed = parse_csa_header(csa_blob({"SliceNormalVector": ["0", "0.5", "-1"], "Empty": []}))
    assert parsed == {"SliceNormalVector": ["0", "0.5", "-1"], "Empty": []}
    tiles = unpack_mosaic(np.arange(36).reshape(6, 6), 3)  # grid 2 x 2 of 3 x 3 tiles, 3 used
    assert tiles.shape == (3, 3, 3)
    np.testing.assert_array_equal(tiles[1], np.arange(36).reshape(6, 6)[:3, 3:])


# ---------------------------------------------------------------------------------------- enhanced
def _item(**values) -> Dataset:
    item = Dataset()
    for key, value in values.items():
        setattr(item, key, value)
    return item


def write_enhanced(dwi, path, *, isotropic: bool = True, adc: bool = True, per_frame_orientation: bool = False,
                   seed: int = 0) -> None:
    """Write the DWI as one enhanced MR file: b0 frames, 3 directions per b > 0, a mixed-in isotropic frame
    (deliberately 3x the trace, so using it would show), derived ADC frames; per-frame rescale; shuffled."""
    rng = np.random.default_rng(seed)
    lps, _, row_dir, col_dir, _ = _grid(dwi)
    _, nk, nj, ni = dwi.data.shape
    frames = []  # (b or None, directionality, gradient, frame type, k, signal)
    for s, b in enumerate(dwi.bvalues_s_mm2):
        for k in range(nk):
            if b == 0:
                frames.append((0.0, "NONE", None, "ORIGINAL", k, dwi.data[s, k]))
                continue
            for factor, gradient in zip(DIRECTION_FACTORS, GRADIENTS):
                frames.append((b, "DIRECTIONAL", gradient, "ORIGINAL", k, dwi.data[s, k] * factor))
            if isotropic:
                frames.append((b, "ISOTROPIC", None, "ORIGINAL", k, dwi.data[s, k] * 3))
    if adc:
        frames += [(None, "ISOTROPIC", None, "DERIVED", k, np.full((nj, ni), 1234.0)) for k in range(nk)]
    frames = [frames[i] for i in rng.permutation(len(frames))]
    ds = _base(ENHANCED_MR, generate_uid(), dwi, nj, ni)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "DIFFUSION", "NONE"]
    ds.NumberOfFrames = len(frames)
    orientation = _item(ImageOrientationPatient=[f"{v:.8f}" for v in (*row_dir, *col_dir)])
    measures = _item(PixelSpacing=ds.PixelSpacing, SliceThickness=ds.SliceThickness)
    shared = _item(PixelMeasuresSequence=[measures])
    if not per_frame_orientation:
        shared.PlaneOrientationSequence = [orientation]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame, stored = [], []
    for b, directionality, gradient, frame_type, k, signal in frames:
        slope, intercept = float(rng.uniform(0.05, 0.2)), -10.0
        stored.append(np.clip(np.rint((signal - intercept) / slope), 0, 65535).astype(np.uint16))
        diffusion = _item(DiffusionDirectionality=directionality)
        if b is not None:
            diffusion.DiffusionBValue = float(b)
        if gradient is not None:
            diffusion.DiffusionGradientDirectionSequence = [_item(DiffusionGradientOrientation=list(gradient))]
        kind = "ADC" if frame_type == "DERIVED" else "NONE"
        group = _item(
            PlanePositionSequence=[_item(ImagePositionPatient=[f"{v:.8f}" for v in (lps @ [0, 0, k, 1])[:3]])],
            MRDiffusionSequence=[diffusion],
            PixelValueTransformationSequence=[_item(RescaleSlope=f"{slope:.10g}", RescaleIntercept="-10",
                                                    RescaleType="US")],
            MRImageFrameTypeSequence=[_item(FrameType=[frame_type, "PRIMARY", "DIFFUSION", kind])],
        )
        if per_frame_orientation:
            group.PlaneOrientationSequence = [orientation]
        per_frame.append(group)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    ds.PixelData = np.stack(stored).tobytes()
    _save(ds, path)


@pytest.mark.parametrize("per_frame_orientation", [False, True])
def test_enhanced_file_groups_frames_and_drops_isotropic_and_adc(truth, tmp_path, per_frame_orientation):
    path = tmp_path / "enhanced.dcm"
    write_enhanced(truth, path, per_frame_orientation=per_frame_orientation)
    dwi = load_dwi(path)  # one enhanced file holds the whole series
    assert dwi.metadata["dicom_layout"] == "enhanced"
    np.testing.assert_array_equal(dwi.bvalues_s_mm2, truth.bvalues_s_mm2)
    np.testing.assert_allclose(dwi.ijk_to_ras, truth.ijk_to_ras, atol=1e-4)
    # per-frame rescale applied; quantisation <= slope/2 per direction
    np.testing.assert_allclose(dwi.data, truth.data, rtol=2e-3, atol=0.3)
    notes = " ".join(dwi.metadata["excluded_images"])
    assert "isotropic" in notes and "derived" in notes
    assert dwi.metadata["volumes_per_bvalue"]["400"] == 3


def test_enhanced_trace_only_file_uses_the_isotropic_frames(truth, tmp_path):
    trace = type(truth)(truth.bvalues_s_mm2, truth.data / 3, truth.ijk_to_ras)  # isotropic frames are 3x
    path = tmp_path / "trace.dcm"
    write_enhanced(trace, path, adc=False)
    ds = pydicom.dcmread(path)
    keep = [i for i, g in enumerate(ds.PerFrameFunctionalGroupsSequence)
            if g.MRDiffusionSequence[0].DiffusionDirectionality != "DIRECTIONAL"]
    frames = np.frombuffer(ds.PixelData, np.uint16).reshape(-1, ds.Rows, ds.Columns)[keep]
    ds.PerFrameFunctionalGroupsSequence = [ds.PerFrameFunctionalGroupsSequence[i] for i in keep]
    ds.NumberOfFrames = len(keep)
    ds.PixelData = frames.tobytes()
    ds.save_as(path)
    dwi = load_dwi_dicom(path)
    np.testing.assert_allclose(dwi.data[1:], truth.data[1:], rtol=2e-3, atol=0.5)  # b > 0: the 3x trace frames
    np.testing.assert_allclose(dwi.data[0], trace.data[0], rtol=2e-3, atol=0.5)
    assert dwi.metadata["combination"]["800"] == "scanner trace"


def test_enhanced_adc_only_file_is_refused(truth, tmp_path):
    path = tmp_path / "adc.dcm"
    write_enhanced(truth, path, isotropic=False)
    ds = pydicom.dcmread(path)
    keep = [i for i, g in enumerate(ds.PerFrameFunctionalGroupsSequence)
            if g.MRImageFrameTypeSequence[0].FrameType[0] == "DERIVED"]
    frames = np.frombuffer(ds.PixelData, np.uint16).reshape(-1, ds.Rows, ds.Columns)[keep]
    ds.PerFrameFunctionalGroupsSequence = [ds.PerFrameFunctionalGroupsSequence[i] for i in keep]
    ds.NumberOfFrames = len(keep)
    ds.PixelData = frames.tobytes()
    ds.save_as(path)
    with pytest.raises(DicomDwiError, match="derived"):
        load_dwi_dicom(path)


# ----------------------------------------------------------------------- Philips classic, mixed-in trace
@pytest.mark.parametrize("with_flag", [True, False])  # without (2001,1004): the zero gradient tells it
def test_philips_classic_isotropic_image_mixed_into_directions_is_dropped(truth, tmp_path, with_flag):
    folder = tmp_path / "philips"
    folder.mkdir()
    lps, *_ = _grid(truth)
    series_uid = generate_uid()
    number = 0
    for s, b in enumerate(truth.bvalues_s_mm2):
        images = [("O", (0.0, 0.0, 0.0), 1.0)] if b == 0 else [
            *(("O", g, f) for g, f in zip(GRADIENTS, DIRECTION_FACTORS)), ("I", (0.0, 0.0, 0.0), 3.0)]
        for flag, gradient, factor in images:
            for k in range(truth.shape_kji[0]):
                ds = _base(MR_IMAGE, series_uid, truth, *truth.shape_kji[1:])
                ds.Manufacturer = "Philips Medical Systems"
                ds.ImageType = ["ORIGINAL", "PRIMARY", "M_SE", "M", "SE"]
                ds.ImagePositionPatient = [f"{v:.8f}" for v in (lps @ [0, 0, k, 1])[:3]]
                ds.DiffusionBValue = float(b)
                ds.DiffusionGradientOrientation = list(gradient)
                ds.RescaleSlope, ds.RescaleIntercept = "0.5", "0"
                block = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
                block.add_new(0x03, "FL", float(b))
                if with_flag:
                    block.add_new(0x04, "CS", flag)
                ds.InstanceNumber = number = number + 1
                ds.PixelData = np.rint(truth.data[s, k] * factor / 0.5).astype(np.uint16).tobytes()
                _save(ds, folder / f"IM_{number:04d}")
    dwi = load_dwi_dicom(folder)
    np.testing.assert_array_equal(dwi.bvalues_s_mm2, truth.bvalues_s_mm2)
    np.testing.assert_allclose(dwi.data, truth.data, rtol=2e-3, atol=0.3)
    assert any("isotropic" in note for note in dwi.metadata["excluded_images"])


# ---------------------------------------------------------------------------------------------- NRRD
def write_dwi_nrrd(dwi, path, *, detached: bool = False, space: str = "left-posterior-superior") -> None:
    """Write a Slicer-style DWI NRRD: gradient axis first ('list'), b0 + 3 directions per b > 0."""
    volumes, gradients = [], []
    b_max = float(dwi.bvalues_s_mm2.max())
    for s, b in enumerate(dwi.bvalues_s_mm2):
        if b == 0:
            volumes.append(dwi.data[s])
            gradients.append((0.0, 0.0, 0.0))
            continue
        for factor, g in zip(DIRECTION_FACTORS, GRADIENTS):
            volumes.append(dwi.data[s] * factor)
            gradients.append(tuple(math.sqrt(b / b_max) * np.array(g)))
    stack = np.stack(volumes).astype("<f4")  # [n, k, j, i]
    to_space = LPS_TO_RAS if space.startswith("left") else np.eye(4)
    ijk = to_space @ dwi.ijk_to_ras
    array = np.transpose(stack, (1, 2, 3, 0))  # numpy [k, j, i, n]: NRRD axes n (fastest), i, j, k
    sizes = f"{stack.shape[0]} {stack.shape[3]} {stack.shape[2]} {stack.shape[1]}"

    def vec(v):
        return "(" + ",".join(f"{x:.10g}" for x in v) + ")"

    header = [
        "NRRD0005", "type: float", "dimension: 4", f"space: {space}", f"sizes: {sizes}",
        "space directions: none " + " ".join(vec(ijk[:3, c]) for c in range(3)),
        "kinds: list domain domain domain", "endian: little", "encoding: gzip",
        f"space origin: {vec(ijk[:3, 3])}", "measurement frame: (1,0,0) (0,1,0) (0,0,1)",
        "modality:=DWMRI", f"DWMRI_b-value:={b_max:g}",
        *(f"DWMRI_gradient_{n:04d}:={' '.join(f'{x:.10g}' for x in g)}" for n, g in enumerate(gradients)),
    ]
    blob = gzip.compress(np.ascontiguousarray(array).tobytes())
    if detached:
        data_name = path.with_suffix(".raw.gz").name
        path.write_text("\n".join(header + [f"data file: {data_name}"]) + "\n")
        (path.parent / data_name).write_bytes(blob)
    else:
        path.write_bytes(("\n".join(header) + "\n\n").encode() + blob)


@pytest.mark.parametrize(("name", "space"), [("dwi.nrrd", "left-posterior-superior"),
                                              ("dwi.nhdr", "right-anterior-superior")])
def test_nrrd_dwi_gives_the_truth(truth, tmp_path, name, space):
    path = tmp_path / name
    write_dwi_nrrd(truth, path, detached=name.endswith(".nhdr"), space=space)
    dwi = load_dwi(path)
    assert dwi.metadata["format"] == "nrrd"
    np.testing.assert_allclose(dwi.bvalues_s_mm2, truth.bvalues_s_mm2, atol=1e-6)
    np.testing.assert_allclose(dwi.ijk_to_ras, truth.ijk_to_ras, atol=1e-6)
    np.testing.assert_allclose(dwi.data, truth.data, rtol=1e-5, atol=1e-3)
    assert dwi.metadata["volumes_per_bvalue"]["0"] == 1 and dwi.metadata["volumes_per_bvalue"]["800"] == 3


def test_nrrd_without_diffusion_keys_or_truncated_is_refused(truth, tmp_path):
    path = tmp_path / "dwi.nrrd"
    write_dwi_nrrd(truth, path)
    text = path.read_bytes()
    (tmp_path / "plain.nrrd").write_bytes(text.replace(b"DWMRI_b-value", b"something"))
    with pytest.raises(DwiInputError, match="plain.nrrd: no DWMRI_b-value"):
        load_dwi(tmp_path / "plain.nrrd")
    (tmp_path / "cut.nrrd").write_bytes(text[: len(text) - 200])
    with pytest.raises((DwiInputError, EOFError, OSError)):
        load_dwi(tmp_path / "cut.nrrd")


# ---------------------------------------------------------------------------------------- dispatcher
def test_dispatcher_reads_nifti_with_bval_and_reports_missing_paths(truth, tmp_path):
    from VCFDiagnosisLib.dwi.export import write_dwi_nifti

    nifti, bval = write_dwi_nifti(truth, tmp_path / "dwi.nii.gz")
    dwi = load_dwi(nifti)
    assert dwi.metadata["format"] == "nifti"
    np.testing.assert_array_equal(dwi.bvalues_s_mm2, truth.bvalues_s_mm2)
    np.testing.assert_allclose(dwi.ijk_to_ras, truth.ijk_to_ras, atol=1e-4)
    np.testing.assert_allclose(dwi.data, truth.data, rtol=1e-6)
    bval.unlink()
    with pytest.raises(DwiInputError, match="dwi.nii.gz"):
        load_dwi(nifti)
    with pytest.raises(DwiInputError, match="no such file or folder"):
        load_dwi(tmp_path / "nothing-here")
