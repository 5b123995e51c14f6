"""MRS readers: header values of every public test file, sign convention, geometry, refusals.

The expected values are those listed in Testing/Data/mrs/README.md (copied from the source headers).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from VCFDiagnosisLib.mrs import read_spectrum
from VCFDiagnosisLib.mrs.io_nifti_mrs import parse_nifti_header, read_nifti_bytes
from VCFDiagnosisLib.mrs.io_philips import vax_float32_to_float

DATA = Path(__file__).resolve().parent / "Data" / "mrs"
RDA = DATA / "suspect" / "SVS_30.rda"
IMA = DATA / "suspect" / "SVS_30.IMA"
DCM = DATA / "suspect" / "IM-0001-0002.dcm"
SDAT_REF = DATA / "osprey" / "sub-01_PRESS_35_ref.sdat"
SDAT_ACT = DATA / "osprey" / "sub-01_PRESS_35_act.sdat"
NIFTI = DATA / "osprey" / "sub-01_ses-01_SVS-ref.nii.gz"

# file: (MHz, points, dwell us, TE ms, TR ms, averages, frames, water_suppressed, centre RAS, size mm)
EXPECTED = {
    RDA: (123.234655, 1024, 833.0, 30.0, 2000.0, 64, 1, None,
          (-41.602906, -21.569007, -4.958838), (20.0, 40.0, 20.0)),
    IMA: (123.234655, 1024, 833.4, 30.0, 2000.0, 64, 1, None,
          (-41.602906, -21.569007, -4.958838), (20.0, 40.0, 20.0)),
    DCM: (63.89575, 1024, 1000.0, 31.9136, 2000.0, 1, 2, True,
          (-6.06960916519165, -15.2077388763427, 3.96309661865234), (25.0, 25.0, 15.0)),
    SDAT_REF: (127.750896, 2048, 500.0, 35.0, 2000.0, 64, 1, None, (0.0, -45.03344727, 37.66220856),
               (30.0, 30.0, 30.0)),
    SDAT_ACT: (127.750896, 2048, 500.0, 35.0, 2000.0, 64, 1, None, (0.0, -45.03344727, 37.66220856),
               (30.0, 30.0, 30.0)),
    NIFTI: (297.219948, 2048, 166.6, 11.0, 5000.0, None, 32, None,
            (-32.90067836, 10.6633755, 21.35589036), (20.0, 20.0, 20.0)),
}


@pytest.mark.parametrize("path", list(EXPECTED), ids=lambda p: p.name)
def test_header_values_match_the_readme(path):
    f0, n, dwell_us, te, tr, averages, frames, ws, centre, size = EXPECTED[path]
    s = read_spectrum(path)
    assert s.frequency_mhz == pytest.approx(f0, abs=1e-6)
    assert s.points == n and s.fid.shape == (n,)
    assert s.dwell_s * 1e6 == pytest.approx(dwell_us, abs=0.05)
    assert s.spectral_width_hz == pytest.approx(1e6 / dwell_us, rel=1e-4)
    assert s.te_ms == pytest.approx(te, abs=1e-3)
    assert s.tr_ms == pytest.approx(tr)
    assert s.averages == averages
    assert s.frames == frames
    assert s.water_suppressed is ws
    np.testing.assert_allclose(s.voxel_center_ras, centre, atol=1e-5)
    np.testing.assert_allclose(s.voxel_size_mm, size, atol=1e-6)
    orient = s.voxel_orientation_ras
    np.testing.assert_allclose(orient.T @ orient, np.eye(3), atol=1e-5)
    assert np.all(np.isfinite(s.fid)) and np.abs(s.fid).max() > 0


def test_sdat_spar_given_either_file_and_vax_decoding():
    a = read_spectrum(SDAT_REF)
    b = read_spectrum(SDAT_REF.with_suffix(".spar"))
    assert np.array_equal(a.fid, b.fid)
    # VAX F-float: 1.0 is stored as words (0x4080, 0x0000); -2.5 as (0xC120, 0x0000)
    raw = np.array([0x4080, 0x0000, 0xC120, 0x0000, 0x0000, 0x0000], dtype="<u2").tobytes()
    np.testing.assert_allclose(vax_float32_to_float(raw), [1.0, -2.5, 0.0])


def test_rda_and_csa_dicom_give_identical_samples_and_geometry():
    a, b = read_spectrum(RDA), read_spectrum(IMA)
    assert np.array_equal(a.fid, b.fid)
    np.testing.assert_allclose(a.voxel_orientation_ras, b.voxel_orientation_ras, atol=1e-6)
    # RDA RowVector (LPS) 0.967711 -0.251409 -0.018134 -> RAS column 0
    np.testing.assert_allclose(a.voxel_orientation_ras[:, 0], [-0.967711, 0.251409, -0.018134], atol=1e-6)
    assert a.apodized is False and a.vendor == "Siemens"


def _peak_ppm(s) -> float:
    return float(s.ppm()[np.argmax(np.abs(s.spectrum()))])


@pytest.mark.parametrize("path", [SDAT_REF, NIFTI], ids=lambda p: p.name)
def test_unsuppressed_water_references_put_water_at_4_7_ppm(path):
    assert _peak_ppm(read_spectrum(path)) == pytest.approx(4.7, abs=0.1)


def test_dicom_mrs_water_reference_frame_is_kept_apart():
    s = read_spectrum(DCM)
    assert s.reference_fid is not None
    ref_peak = s.ppm()[np.argmax(np.abs(np.fft.fftshift(np.fft.fft(s.reference_fid))))]
    assert ref_peak == pytest.approx(4.7, abs=0.1)
    assert np.abs(s.reference_fid[:8]).mean() > 100 * np.abs(s.fid[:8]).mean()
    assert s.center_ppm == pytest.approx(4.68)
    assert any("reference" in w for w in s.warnings)


@pytest.mark.parametrize("path", [SDAT_ACT, RDA, IMA, DCM], ids=lambda p: p.name)
def test_sign_convention_puts_naa_at_2_ppm_not_its_mirror(path):
    """Water-suppressed brain: NAA (2.01 ppm) must be far above its mirror image about 4.7 ppm (7.4 ppm)."""
    s = read_spectrum(path)
    ppm, mag = s.ppm(), np.abs(s.spectrum())
    naa = mag[(ppm > 1.9) & (ppm < 2.1)].max()
    mirror = mag[(ppm > 7.3) & (ppm < 7.5)].max()
    assert naa > 2.0 * mirror


def test_nifti_parser_matches_nibabel_and_nifti1_variant(tmp_path):
    nib = pytest.importorskip("nibabel")
    img = nib.load(str(NIFTI))
    blob = read_nifti_bytes(str(NIFTI))
    header = parse_nifti_header(blob, str(NIFTI))
    assert header["version"] == 2 and header["shape"] == (1, 1, 1, 2048, 32)
    np.testing.assert_allclose(header["affine"], img.affine, atol=1e-6)
    # the same data written as NIfTI-1, uncompressed, single transient (no coil dimension)
    data = np.asarray(img.dataobj)[..., :1].sum(axis=-1)
    ext_json = img.header.extensions[0].get_content()
    n1 = nib.Nifti1Image(data.astype(np.complex64), img.affine)
    n1.header["pixdim"][4] = 166.6e-6
    n1.header.extensions.append(nib.nifti1.Nifti1Extension(44, ext_json.replace(b'"dim_5": "DIM_COIL", ', b"")))
    n1.header.set_intent("none")
    out = tmp_path / "single.nii"
    nib.save(n1, str(out))
    s = read_spectrum(out)
    assert s.points == 2048 and s.frames == 1
    np.testing.assert_allclose(s.fid, data[0, 0, 0], rtol=1e-6)
    assert _peak_ppm(s) == pytest.approx(4.7, abs=0.1)


# ---- refusals -------------------------------------------------------------------------------------------

def _dicom(tmp_path, name, sop, image_type, modality="MR"):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(tmp_path / name), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.ImageType = image_type
    ds.Rows, ds.Columns = 4, 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = bytes(16)
    path = tmp_path / name
    ds.save_as(str(path), enforce_file_format=True)
    return path


@pytest.mark.parametrize("name, sop, image_type, expect", [
    ("screenshot.dcm", "1.2.840.10008.5.1.4.1.1.7", ["DERIVED", "SECONDARY", "SPECTROSCOPY", "SPECTRUM"],
     "screenshot"),
    ("localizer.dcm", "1.2.840.10008.5.1.4.1.1.4", ["ORIGINAL", "PRIMARY", "SPECTROSCOPY", "REFERENCEIMAGE"],
     "localizer"),
    ("image.dcm", "1.2.840.10008.5.1.4.1.1.4", ["ORIGINAL", "PRIMARY", "M", "ND"], "an image"),
])
def test_non_spectroscopy_dicom_is_refused_with_advice(tmp_path, name, sop, image_type, expect):
    path = _dicom(tmp_path, name, sop, image_type)
    with pytest.raises(ValueError) as err:
        read_spectrum(path)
    message = str(err.value)
    assert str(path) in message and expect in message and "export" in message and ".rda" in message


def test_lcmodel_output_and_unknown_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="LCModel output"):
        read_spectrum(DATA / "suspect" / "liver.COORD")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="unrecognised file format"):
        read_spectrum(junk)
    with pytest.raises(FileNotFoundError):
        read_spectrum(tmp_path / "missing.rda")


def test_csi_is_refused(tmp_path):
    text = RDA.read_bytes().replace(b"CSIMatrixSize[0]: 1", b"CSIMatrixSize[0]: 4")
    (tmp_path / "csi.rda").write_bytes(text)
    with pytest.raises(ValueError, match="CSI"):
        read_spectrum(tmp_path / "csi.rda")
    ds = pydicom.dcmread(DCM)
    ds.Rows, ds.Columns = 2, 2
    ds.save_as(str(tmp_path / "csi.dcm"))
    with pytest.raises(ValueError, match="CSI"):
        read_spectrum(tmp_path / "csi.dcm")


def test_copied_data_carry_their_license():
    for folder, license_name in (("suspect", "LICENSE_suspect_MIT.txt"), ("osprey", "LICENSE_osprey_MIT.md")):
        assert "MIT" in (DATA / folder / license_name).read_text(encoding="utf-8")
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert "82993a0e" in readme and "5cbf75cd" in readme and "MIT" in readme


def test_nifti_mrs_transients_are_aligned_and_averaged(tmp_path):
    """8 transients with random phase (+-180 deg) and frequency (+-8 Hz) drifts average back to the FID."""
    nib = pytest.importorskip("nibabel")
    import json

    from VCFDiagnosisLib.mrs import quantify_spectrum
    from VCFDiagnosisLib.mrs.model import synthesize_fid

    rng = np.random.default_rng(2)
    n, dwell, f0 = 2048, 5e-4, 123.2
    t = np.arange(n) * dwell
    clean = synthesize_fid(n_points=n, dwell_s=dwell, frequency_mhz=f0, water_area=1.0, lwr=0.4)
    drift = np.exp(1j * rng.uniform(-np.pi, np.pi, 8))[:, None] * np.exp(2j * np.pi * rng.uniform(-8, 8, 8)[:, None] * t)
    frames = clean[None, :] * drift + 0.002 * (rng.standard_normal((8, n)) + 1j * rng.standard_normal((8, n)))
    img = nib.Nifti2Image(frames.T.reshape(1, 1, 1, n, 8).astype(np.complex64), np.diag([15.0, 15.0, 15.0, 1.0]))
    img.header["pixdim"][4] = dwell
    meta = {"SpectrometerFrequency": [f0], "ResonantNucleus": ["1H"], "dim_5": "DIM_DYN", "EchoTime": 0.03,
            "RepetitionTime": 2.0, "WaterSuppressed": False}
    img.header.extensions.append(nib.nifti1.Nifti1Extension(44, json.dumps(meta).encode()))
    nib.save(img, str(tmp_path / "dyn.nii.gz"))
    s = read_spectrum(tmp_path / "dyn.nii.gz")
    assert s.frames == 8 and s.averages == 8 and s.water_suppressed is False and s.te_ms == pytest.approx(30.0)
    np.testing.assert_allclose(s.voxel_size_mm, [15.0, 15.0, 15.0])
    r = quantify_spectrum(s)
    assert r.lwr == pytest.approx(0.4, rel=0.02)
    # aligned average keeps the full signal (a plain mean of drifting transients would lose most of it)
    assert r.water_area == pytest.approx(1.0, rel=0.05)
