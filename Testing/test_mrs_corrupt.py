"""Bad MRS input: corrupt variants generated from the good files, water suppression, pure noise, the CLI.

Every case must end in a ValueError naming the file and the problem, or in a flagged result (warnings,
``reliable`` False or NaN), never in a crash or a silently wrong number.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest

from VCFDiagnosisLib.app.commands import mrs as mrs_command
from VCFDiagnosisLib.mrs import Spectrum, quantify_spectrum, read_spectrum
from VCFDiagnosisLib.mrs.model import synthesize_fid

DATA = Path(__file__).resolve().parent / "Data" / "mrs"
RDA = DATA / "suspect" / "SVS_30.rda"
IMA = DATA / "suspect" / "SVS_30.IMA"
DCM = DATA / "suspect" / "IM-0001-0002.dcm"
SDAT = DATA / "osprey" / "sub-01_PRESS_35_ref.sdat"
NIFTI = DATA / "osprey" / "sub-01_ses-01_SVS-ref.nii.gz"


def _write(tmp_path, name, blob: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(blob)
    return path


def _expect_error(path, *words):
    with pytest.raises(ValueError) as err:
        read_spectrum(path)
    message = str(err.value)
    assert str(path) in message, message
    for word in words:
        assert word in message, message
    return message


def test_truncated_rda(tmp_path):
    _expect_error(_write(tmp_path, "cut.rda", RDA.read_bytes()[:-1000]), "truncated")


@pytest.mark.parametrize("size, words", [(b"2048", ("truncated",)), (b"512", ("spectra",)),
                                         (b"1000", ("trailing",))])
def test_wrong_vector_size_in_rda_header(tmp_path, size, words):
    blob = RDA.read_bytes().replace(b"VectorSize: 1024", b"VectorSize: " + size)
    path = _write(tmp_path, "size.rda", blob)
    if words == ("trailing",):
        s = read_spectrum(path)  # 1000 of 1024 points: 384 extra bytes are not a whole spectrum
        assert s.points == 1000 and any("trailing" in w for w in s.warnings)
    else:
        _expect_error(path, *words)


def test_rda_header_in_latin1_reads_with_a_warning(tmp_path):
    blob = RDA.read_bytes().replace(b"PatientName: 445", "PatientName: Müller Jörg".encode("latin-1"))
    s = read_spectrum(_write(tmp_path, "latin1.rda", blob))
    assert np.array_equal(s.fid, read_spectrum(RDA).fid)
    assert any("latin-1" in w for w in s.warnings)


def test_rda_with_comma_decimals(tmp_path):
    blob = RDA.read_bytes()
    for key in (b"MRFrequency: 123.234655", b"TE: 30.000000", b"TR: 2000.000000", b"VOIPositionSag: 41.602906"):
        blob = blob.replace(key, key.replace(b".", b","))
    s = read_spectrum(_write(tmp_path, "comma.rda", blob))
    assert s.frequency_mhz == pytest.approx(123.234655) and s.te_ms == 30.0 and s.tr_ms == 2000.0
    assert s.voxel_center_ras[0] == pytest.approx(-41.602906)
    assert any("comma" in w for w in s.warnings)


def test_rda_with_garbage_number_and_missing_field(tmp_path):
    _expect_error(_write(tmp_path, "bad.rda", RDA.read_bytes().replace(b"MRFrequency: 123.234655",
                                                                       b"MRFrequency: abc")), "MRFrequency")
    _expect_error(_write(tmp_path, "nodwell.rda", RDA.read_bytes().replace(b"DwellTime: 833", b"Dwell: 833")),
                  "DwellTime")


def test_truncated_and_resized_csa_dicom(tmp_path):
    ds = pydicom.dcmread(IMA)
    ds[0x7FE1, 0x1010].value = bytes(ds[0x7FE1, 0x1010].value)[:4000]
    ds.save_as(str(tmp_path / "cut.IMA"))
    _expect_error(tmp_path / "cut.IMA", "truncated")
    ds = pydicom.dcmread(IMA)
    ds[0x0029, 0x1110].value = bytes(ds[0x0029, 0x1110].value)[:3000]
    ds.save_as(str(tmp_path / "csa.IMA"))
    _expect_error(tmp_path / "csa.IMA", "CSA")


def test_truncated_dicom_mrs_and_wrong_frame_count(tmp_path):
    ds = pydicom.dcmread(DCM)
    ds[0x5600, 0x0020].value = bytes(ds[0x5600, 0x0020].value)[:5000]
    ds.save_as(str(tmp_path / "cut.dcm"))
    _expect_error(tmp_path / "cut.dcm", "truncated")
    ds = pydicom.dcmread(DCM)
    ds.NumberOfFrames = 1
    ds.save_as(str(tmp_path / "frames.dcm"))
    _expect_error(tmp_path / "frames.dcm", "header says")


def test_truncated_sdat_missing_spar_and_nifti(tmp_path):
    _write(tmp_path, "cut.spar", SDAT.with_suffix(".spar").read_bytes())
    _expect_error(_write(tmp_path, "cut.sdat", SDAT.read_bytes()[:10000]), "truncated")
    _expect_error(_write(tmp_path, "alone.sdat", SDAT.read_bytes()), "SPAR", "missing")
    import gzip

    raw = gzip.decompress(NIFTI.read_bytes())
    _expect_error(_write(tmp_path, "cut.nii", raw[: len(raw) // 2]), "truncated")
    _expect_error(_write(tmp_path, "cutgz.nii.gz", NIFTI.read_bytes()[:20000]), "gzip")
    _expect_error(_write(tmp_path, "empty.rda", b""), "RDA")


def test_nan_data_are_refused(tmp_path):
    blob = bytearray(RDA.read_bytes())
    start = blob.find(b">>> End of header <<<") + len(b">>> End of header <<<\r\n")
    blob[start + 16: start + 24] = np.array([np.nan]).tobytes()
    _expect_error(_write(tmp_path, "nan.rda", bytes(blob)), "NaN")


def test_water_suppressed_spectrum_is_flagged():
    result = quantify_spectrum(read_spectrum(DCM))
    assert result.water_suppressed is True
    assert result.reliable is False
    assert any("water-suppressed" in w for w in result.warnings)


def test_pure_noise_gives_no_number():
    rng = np.random.default_rng(5)
    fid = rng.standard_normal(2048) + 1j * rng.standard_normal(2048)
    result = quantify_spectrum(Spectrum(fid=fid, dwell_s=5e-4, frequency_mhz=123.2))
    assert np.isnan(result.lwr) and np.isnan(result.ff_percent) and not result.reliable
    assert any("neither water nor fat" in w for w in result.warnings)


def test_apodised_rda_is_flagged(tmp_path):
    blob = RDA.read_bytes().replace(b"HammingFilter: Off", b"HammingFilter: On")
    result = quantify_spectrum(read_spectrum(_write(tmp_path, "hamming.rda", blob)))
    assert any("apodised" in w for w in result.warnings)


def test_low_snr_marrow_is_flagged():
    fid = synthesize_fid(n_points=2048, dwell_s=5e-4, frequency_mhz=123.2, water_area=1.0, lwr=0.3,
                         noise_sd=0.02 / np.sqrt(2048) * 80, rng=np.random.default_rng(1))
    result = quantify_spectrum(Spectrum(fid=fid, dwell_s=5e-4, frequency_mhz=123.2))
    assert result.snr < 20
    assert any("low SNR" in w for w in result.warnings)
    assert result.ff_sd > 1.0  # an honest uncertainty at this SNR


# ---- CLI ------------------------------------------------------------------------------------------------

def _cli(*argv):
    return subprocess.run([sys.executable, "-m", "VCFDiagnosisLib.app.cli", "mrs", *map(str, argv)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_bad_input_is_one_line_naming_the_file(tmp_path):
    """The command raises (the CLI's error contract); ``cli.main`` prints one line and exits 2."""
    bad = _write(tmp_path, "cut.rda", RDA.read_bytes()[:-1000])
    parser = argparse.ArgumentParser()
    mrs_command.add_arguments(parser)
    args = parser.parse_args([str(bad)])
    with pytest.raises(ValueError, match="truncated") as err:
        mrs_command.run(args)
    assert str(err.value).startswith(f"{bad}: ")
    proc = _cli(bad)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "truncated" in lines[0]
    assert "Traceback" not in proc.stderr


def test_cli_json_fields(tmp_path):
    proc = _cli(RDA, "--json", "--water-t2-ms", "21", "--fat-t2-ms", "70", "--plot", tmp_path / "fit.png")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    for key in ("frequency_mhz", "spectral_width_hz", "points", "te_ms", "tr_ms", "averages", "water_suppressed",
                "voxel_center_ras", "voxel_size_mm", "water_area", "lipid_area", "LWR", "FF", "FF_sd", "snr",
                "warnings", "PDFF_T2_corrected"):
        assert key in out
    assert out["points"] == 1024 and out["te_ms"] == 30.0 and out["averages"] == 64
    assert out["frequency_mhz"] == pytest.approx(123.234655)
    assert out["voxel_center_ras"] == pytest.approx([-41.602906, -21.569007, -4.958838])
    assert (tmp_path / "fit.png").stat().st_size > 10_000
