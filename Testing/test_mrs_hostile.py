"""Data safety of the spectroscopy path (each test fails on the code before the fix).

* RDA data are located exactly: a first data byte 0x0A / 0x0D is data, not a line break;
* ``inf`` / ``nan`` in text headers (RDA, SPAR) are a ValueError naming the file and the field;
* water suppression is recognised from the spectrum (RDA, CSA DICOM and SDAT have no header flag): no LWR/FF,
  so no P_combined downstream; genuine high-fat marrow (FF 80-90 %) keeps its FF;
* an all-zero or non-finite FID is an error, not "SNR 10";
* ``vcfdiagnosis mrs``: errors are raised for ``cli.main`` (exit 2, one line), the ``--plot`` file is checked
  before the fit, never replaced without ``--force`` and written atomically;
* a fuzz of every reader: a hostile variant of a file gives a Spectrum or a one-line ValueError naming the file.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pytest
from hostile.cases_mrs import (
    fid_with_first_byte,
    marrow_fid,
    rda_parts,
    write_nifti_mrs,
    write_rda_fid,
    write_sdat_pair,
)

from VCFDiagnosisLib.analysis import study_models
from VCFDiagnosisLib.app import cli
from VCFDiagnosisLib.app.commands import mrs as mrs_command
from VCFDiagnosisLib.errors import InputError
from VCFDiagnosisLib.mrs import Spectrum, quantify_spectrum, read_spectrum
from VCFDiagnosisLib.mrs.model import frequency_axis_hz, lwr_from_fat_fraction_percent, spectrum_from_fid
from VCFDiagnosisLib.mrs.suppression import MIN_MARROW_WATER_TO_FAT, check_water_suppression

DATA = Path(__file__).resolve().parent / "Data" / "mrs"
DCM = DATA / "suspect" / "IM-0001-0002.dcm"
DWELL, F0 = 5e-4, 123.2
IVIM = {"D_mm2_s": 1.0e-3, "Dstar_mm2_s": 0.05, "f_fraction": 0.15}


@pytest.fixture(scope="module")
def phantom_rda(tmp_path_factory) -> tuple[Path, object]:
    """Return (an RDA written by the phantom's writer, its acquisition) for a lesion with FF 26.3 %."""
    from VCFDiagnosisLib.phantom.dicom_dwi import PatientInfo
    from VCFDiagnosisLib.phantom.mrs_files import MrsVoxel, simulate_spectrum, write_rda

    acq = simulate_spectrum(float(lwr_from_fat_fraction_percent(26.3)), np.random.default_rng(3), snr=150.0)
    voxel = MrsVoxel(np.array([0.0, 10.0, -130.0]), (15.0, 15.0, 15.0), np.array([1.0, 0, 0]), np.array([0, 0, -1.0]))
    patient = PatientInfo("Phantom^Hostile", "H1", "1.2.3", "1.2.4")
    path = tmp_path_factory.mktemp("rda") / "lesion.rda"
    write_rda(path, acq, voxel, patient, "svs_se_30 marrow")
    return path, acq


def _ff(spectrum: Spectrum) -> float:
    return quantify_spectrum(spectrum).ff_percent


# ---- 1. RDA data located exactly --------------------------------------------------------------------------

@pytest.mark.parametrize("first_byte", [0x0A, 0x0D])
@pytest.mark.parametrize("terminator", [b"\r\n", b"\n"], ids=["crlf", "lf"])
def test_rda_first_data_byte_line_break_reads_identically(tmp_path, phantom_rda, first_byte, terminator):
    template, acq = phantom_rda
    crafted = fid_with_first_byte(acq.fid, first_byte)
    path = write_rda_fid(template, tmp_path / "crafted.rda", crafted, terminator=terminator)
    blob = path.read_bytes()
    assert blob[blob.find(b">>> End of header <<<") + 21 : blob.find(b">>> End of header <<<") + 21 + len(terminator)
                + 1] == terminator + bytes([first_byte])
    s = read_spectrum(path)
    assert np.array_equal(s.fid, crafted) and not s.warnings
    assert _ff(s) == pytest.approx(_ff(read_spectrum(template)), abs=1e-6)
    assert _ff(s) == pytest.approx(26.3, abs=1.0)


def test_rda_extra_line_breaks_after_the_header_are_skipped(tmp_path, phantom_rda):
    template, acq = phantom_rda
    header, data = rda_parts(template)
    path = tmp_path / "blank_lines.rda"
    path.write_bytes(header + b"\r\n\r\n" + data)
    s = read_spectrum(path)
    assert np.array_equal(s.fid, acq.fid)
    assert any("extra line-break" in w for w in s.warnings)


def test_rda_data_size_is_cross_checked(tmp_path, phantom_rda):
    template, acq = phantom_rda
    header, data = rda_parts(template)
    (tmp_path / "cut.rda").write_bytes(header + data[:-1])
    with pytest.raises(ValueError, match=r"cut\.rda: RDA data block truncated"):
        read_spectrum(tmp_path / "cut.rda")
    (tmp_path / "tail.rda").write_bytes(header + data + b"\0\0\0")
    s = read_spectrum(tmp_path / "tail.rda")
    assert np.array_equal(s.fid, acq.fid) and any("trailing" in w for w in s.warnings)


# ---- 2. non-finite header numbers ---------------------------------------------------------------------------

def rda_with_field(template, path, field: str, value: str):
    """Write ``template`` to ``path`` with the header line ``field: value`` replaced; return ``path``."""
    header, data = rda_parts(template)
    lines = header.split(b"\r\n")
    index = next(i for i, line in enumerate(lines) if line.startswith(field.encode() + b":"))
    lines[index] = f"{field}: {value}".encode()
    path.write_bytes(b"\r\n".join(lines) + data)
    return path


@pytest.mark.parametrize("field, value", [("MRFrequency", "inf"), ("DwellTime", "nan"), ("VectorSize", "inf"),
                                          ("TE", "-inf"), ("VOIPositionSag", "NaN"), ("NumberOfAverages", "inf")])
def test_rda_non_finite_header_field_is_named(tmp_path, phantom_rda, field, value):
    path = rda_with_field(phantom_rda[0], tmp_path / "x.rda", field, value)
    with pytest.raises(ValueError) as err:
        read_spectrum(path)
    assert str(err.value) == f"{path}: RDA header field '{field}' is not a finite number ('{value}')"


@pytest.mark.parametrize("field, value", [("synthesizer_frequency", "inf"), ("sample_frequency", "nan"),
                                          ("samples", "inf"), ("echo_time", "nan"), ("lr_size", "-inf")])
def test_spar_non_finite_header_field_is_named(tmp_path, field, value):
    sdat = write_sdat_pair(tmp_path, "x", marrow_fid(30.0), {field: value})
    with pytest.raises(ValueError) as err:
        read_spectrum(sdat)
    assert str(err.value) == f"{sdat.with_suffix('.SPAR')}: SPAR field '{field}' is not a finite number ('{value}')"


@pytest.mark.parametrize("field, value, words", [("VectorSize", "0", "'VectorSize'"),
                                                 ("VectorSize", "-1024", "'VectorSize'"),
                                                 ("VectorSize", "1024.5", "whole number"),
                                                 ("CSIMatrixSize[1]", "-2", "'CSIMatrixSize[1]'"),
                                                 ("MRFrequency", "0.0001", "frequency"),
                                                 ("DwellTime", "1e9", "dwell time")])
def test_rda_implausible_sizes_are_named(tmp_path, phantom_rda, field, value, words):
    path = rda_with_field(phantom_rda[0], tmp_path / "size.rda", field, value)
    with pytest.raises(ValueError, match=str(path)) as err:
        read_spectrum(path)
    assert words in str(err.value) and "\n" not in str(err.value)


# ---- 3. water suppression recognised from the spectrum ------------------------------------------------------

def _band_stop(fid: np.ndarray, attenuation: float, band_hz: float = 100.0) -> np.ndarray:
    """Return ``fid`` after a flat-top band stop of ``band_hz`` around water (CHESS-like: Lorentz wings remain)."""
    x = frequency_axis_hz(fid.size, DWELL) / (band_hz / 2)
    stop = 1 - (1 - 1 / attenuation) * np.exp(-np.log(2) * x**8)
    return np.fft.ifft(np.fft.ifftshift(spectrum_from_fid(fid) * stop))


@pytest.mark.parametrize("attenuation, residue_phase_deg, snr", [(50, 0.0, 150), (80, 0.0, 150), (100, 0.0, 300),
                                                                 (50, 90.0, 150), (100, 180.0, 150)])
def test_water_suppressed_marrow_gives_no_ff(attenuation, residue_phase_deg, snr):
    """True FF 26.3 % with water attenuated 50-100x (today: FF 95-99 %, fed to the model) gives no FF."""
    fid = marrow_fid(26.3, 1 / attenuation, snr=snr, seed=attenuation, residue_phase_deg=residue_phase_deg)
    r = quantify_spectrum(Spectrum(fid=fid, dwell_s=DWELL, frequency_mhz=F0))
    assert math.isnan(r.ff_percent) and math.isnan(r.lwr) and not r.reliable
    assert any(w.startswith("water appears suppressed") and w.endswith("no LWR/FF (the study used no water "
                                                                        "suppression; the header does not say)")
               for w in r.warnings) or any("fitted water area is zero" in w for w in r.warnings), r.warnings
    assert r.to_dict()["FF"] is None
    assert study_models.predict(**IVIM, FF_percent=r.ff_percent).P_combined is None


def test_water_suppression_detected_by_ratio_and_by_residue_shape():
    scaled = marrow_fid(26.3, 1 / 80, snr=150)
    r = quantify_spectrum(Spectrum(fid=scaled, dwell_s=DWELL, frequency_mhz=F0))
    assert r.water_suppression_detected and "% of the fat" in " ".join(r.warnings)
    check = check_water_suppression(r.fit)
    assert check.water_to_fat < 0.05 and check.water_to_fat + 2 * check.water_to_fat_sd < MIN_MARROW_WATER_TO_FAT
    # a band stop leaves the Lorentzian wings of water (today: FF ~43 % for a true 26.3 %)
    banded = _band_stop(marrow_fid(26.3, snr=np.inf), 100) + (marrow_fid(26.3, snr=150) - marrow_fid(26.3, snr=np.inf))
    r = quantify_spectrum(Spectrum(fid=banded, dwell_s=DWELL, frequency_mhz=F0))
    assert r.water_suppression_detected and "suppression-shaped residue" in " ".join(r.warnings), r.warnings
    assert math.isnan(r.ff_percent)


@pytest.mark.parametrize("ff", [0.5, 5.0, 26.3, 50.0, 70.0, 80.0, 85.0, 88.0, 90.0])
def test_genuine_marrow_is_not_flagged(ff):
    """Phantom spectra (SNR 150 and 30, three draws each) across FF 0-90 % keep their FF."""
    from VCFDiagnosisLib.phantom.mrs_files import simulate_spectrum

    for snr, tolerance in ((150.0, 1.0), (30.0, 3.0)):
        for seed in range(3):
            acq = simulate_spectrum(float(lwr_from_fat_fraction_percent(ff)), np.random.default_rng(seed), snr=snr)
            r = quantify_spectrum(Spectrum(fid=acq.fid, dwell_s=acq.dwell_s, frequency_mhz=acq.frequency_mhz))
            assert not r.water_suppression_detected and r.reliable, (ff, snr, seed, r.warnings)
            assert not any("suppress" in w for w in r.warnings), r.warnings
            assert r.ff_percent == pytest.approx(ff, abs=tolerance)
            assert study_models.predict(**IVIM, FF_percent=r.ff_percent).P_combined is not None


def test_header_flagged_suppression_gives_no_ff_either():
    r = quantify_spectrum(read_spectrum(DCM))
    assert r.water_suppressed is True and not r.water_suppression_detected
    assert math.isnan(r.ff_percent) and any("water-suppressed acquisition" in w for w in r.warnings)


def test_suppressed_water_in_an_rda_file(tmp_path, phantom_rda):
    template, _ = phantom_rda
    path = write_rda_fid(template, tmp_path / "ws.rda", marrow_fid(26.3, 1 / 80))
    r = quantify_spectrum(read_spectrum(path))
    assert r.water_suppressed is None and r.water_suppression_detected and math.isnan(r.ff_percent)


# ---- 4. all-zero and non-finite FIDs ----------------------------------------------------------------------

def test_all_zero_fid_is_an_error(tmp_path, phantom_rda):
    template, _ = phantom_rda
    path = write_rda_fid(template, tmp_path / "zero.rda", np.zeros(1024, complex))
    with pytest.raises(ValueError, match=rf"^{path}: the FID is all zeros"):
        read_spectrum(path)
    with pytest.raises(ValueError, match="the FID is all zeros"):
        quantify_spectrum(Spectrum(fid=np.zeros(1024, complex), dwell_s=DWELL, frequency_mhz=F0,
                                   source_path="zero.nii"))


@pytest.mark.parametrize("bad", [np.inf, np.nan, -np.inf])
def test_non_finite_fid_is_an_error(tmp_path, phantom_rda, bad):
    template, acq = phantom_rda
    fid = acq.fid.copy()
    fid[100] = bad
    path = write_rda_fid(template, tmp_path / "bad.rda", fid)
    with pytest.raises(ValueError, match=rf"^{path}: .*NaN or infinite"):
        read_spectrum(path)
    with pytest.raises(ValueError, match="NaN or infinite"):
        quantify_spectrum(Spectrum(fid=fid, dwell_s=DWELL, frequency_mhz=F0, source_path="bad"))


# ---- 5./6. the command: error contract and --plot ----------------------------------------------------------

def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    mrs_command.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_command_raises_and_cli_prints_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.rda"
    bad.write_bytes(b">>> Begin of header <<<\r\nMRFrequency: inf\r\n>>> End of header <<<\r\n")
    with pytest.raises(ValueError, match=rf"^{bad}: "):
        mrs_command.run(_args(str(bad)))
    assert cli.main(["mrs", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"vcfdiagnosis mrs: error: {bad}: ") and "Traceback" not in err


@pytest.mark.parametrize("name, words", [("fit.xyz", "an unknown image format"), ("fit", "no file extension")])
def test_plot_format_checked_before_fitting(tmp_path, phantom_rda, monkeypatch, name, words):
    import VCFDiagnosisLib.mrs as mrs_package

    template, _ = phantom_rda
    monkeypatch.setattr(mrs_package, "quantify_spectrum", lambda *a, **k: pytest.fail("fitted before the check"))
    plot = tmp_path / name
    with pytest.raises(InputError, match=rf"^{plot}: plot file has {words}"):
        mrs_command.run(_args(str(template), "--plot", str(plot)))
    assert not plot.exists() and list(tmp_path.iterdir()) == []


def test_plot_is_not_replaced_without_force_and_is_atomic(tmp_path, phantom_rda, monkeypatch, capsys):
    template, _ = phantom_rda
    plot = tmp_path / "fit.png"
    plot.write_bytes(b"earlier plot")
    with pytest.raises(InputError, match="--force"):
        mrs_command.run(_args(str(template), "--plot", str(plot)))
    assert plot.read_bytes() == b"earlier plot"

    def broken(result, path, fmt=None):
        Path(path).write_bytes(b"half a PNG")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(mrs_command, "save_fit_plot", broken)
    with pytest.raises(InputError, match=rf"^{plot}: cannot write the plot: No space left on device"):
        mrs_command.run(_args(str(template), "--plot", str(plot), "--force"))
    assert plot.read_bytes() == b"earlier plot" and sorted(p.name for p in tmp_path.iterdir()) == ["fit.png"]
    monkeypatch.undo()
    assert mrs_command.run(_args(str(template), "--plot", str(plot), "--force")) == 0
    assert plot.read_bytes()[:4] == b"\x89PNG" and sorted(p.name for p in tmp_path.iterdir()) == ["fit.png"]
    assert "FF" in capsys.readouterr().out


def test_plot_into_a_file_or_folder_is_refused(tmp_path, phantom_rda):
    template, _ = phantom_rda
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        mrs_command.run(_args(str(template), "--plot", str(blocker / "fit.png")))
    (tmp_path / "fit.png").mkdir()
    with pytest.raises(InputError, match="existing folder"):
        mrs_command.run(_args(str(template), "--plot", str(tmp_path / "fit.png"), "--force"))


@pytest.mark.parametrize("argv, words", [(("--water-t2-ms", "21"), "--fat-t2-ms"),
                                         (("--water-t2-ms", "21", "--fat-t2-ms", "-5"), "--fat-t2-ms"),
                                         (("--water-t2-ms", "inf", "--fat-t2-ms", "70"), "--water-t2-ms")])
def test_t2_options_are_checked(phantom_rda, argv, words):
    template, _ = phantom_rda
    with pytest.raises(InputError, match=f"^{words}: "):
        mrs_command.run(_args(str(template), *argv))


def test_a_folder_is_refused_by_name(tmp_path):
    folder = tmp_path / "spectrum.rda"
    folder.mkdir()
    with pytest.raises(ValueError, match=rf"^{folder}: is a folder"):
        read_spectrum(folder)


# ---- 7. fuzz: every reader gives a Spectrum or a one-line ValueError naming the file -----------------------

def _variants(blob: bytes, seed: int, header_end: int) -> list[bytes]:
    """Return truncations, random byte overwrites (mostly in the header) and bit-level garbage of ``blob``."""
    rng = np.random.default_rng(seed)
    out = [blob[: int(len(blob) * f)] for f in (0.0, 0.002, 0.05, 0.3, 0.5, 0.9, 0.999)]
    for _ in range(24):
        mutated = bytearray(blob)
        positions = rng.integers(0, max(header_end, 16), 6)
        mutated_values = rng.integers(0, 256, 6)
        for pos, value in zip(positions, mutated_values):
            mutated[int(pos)] = int(value)
        out.append(bytes(mutated))
    out.append(rng.integers(0, 256, len(blob), dtype=np.uint8).tobytes())
    out.append(blob + blob)
    return out


def _text_variants(text: bytes, keys: list[bytes]) -> list[bytes]:
    """Return ``text`` with the value of each ``key`` line replaced by hostile strings (line ending kept)."""
    out = []
    for key in keys:
        found = [text.find(b"\n" + key + sep) for sep in (b":", b" :")]
        start = max(found) + 1
        line_end = text.index(b"\n", start)
        cr = b"\r" if text[line_end - 1 : line_end] == b"\r" else b""
        for value in (b"inf", b"nan", b"-1", b"0", b"1e308", b"abc", b"", b"99999999999999999999", b"1,5"):
            out.append(text[:start] + key + b": " + value + cr + text[line_end:])
    return out


def _assert_safe(path: Path) -> None:
    """Reading and quantifying ``path`` gives a result or a one-line ValueError that starts with a file name."""
    try:
        spectrum = read_spectrum(path)
        result = quantify_spectrum(spectrum)
    except FileNotFoundError:
        return
    except ValueError as error:
        message = str(error)
        stem = str(path.with_suffix(""))
        assert message.startswith((str(path), stem)) and "\n" not in message, message
        return
    assert np.isnan(result.ff_percent) or 0.0 <= result.ff_percent <= 100.0


def test_fuzz_rda(tmp_path, phantom_rda):
    template, _ = phantom_rda
    blob = template.read_bytes()
    header_end = blob.find(b">>> End of header <<<") + 24
    variants = _variants(blob, 1, header_end)
    header, data = rda_parts(template)
    keys = [b"VectorSize", b"DwellTime", b"MRFrequency", b"CSIMatrixSize[0]", b"TE", b"VOIThickness",
            b"RowVector[0]", b"NumberOfAverages"]
    variants += [v + data for v in _text_variants(header, keys)]
    for k, variant in enumerate(variants):
        path = tmp_path / f"v{k}.rda"
        path.write_bytes(variant)
        _assert_safe(path)


def test_fuzz_sdat_spar(tmp_path):
    folder = tmp_path / "base"
    folder.mkdir()
    sdat = write_sdat_pair(folder, "m", marrow_fid(30.0))
    spar = sdat.with_suffix(".SPAR").read_bytes()
    keys = [b"samples", b"rows", b"sample_frequency", b"synthesizer_frequency", b"echo_time", b"lr_size"]
    for k, variant in enumerate(_text_variants(spar, keys) + _variants(spar, 2, len(spar))):
        (tmp_path / f"v{k}.SPAR").write_bytes(variant)
        (tmp_path / f"v{k}.SDAT").write_bytes(sdat.read_bytes())
        _assert_safe(tmp_path / f"v{k}.SDAT")
    for k, variant in enumerate(_variants(sdat.read_bytes(), 3, 64)):
        (tmp_path / f"d{k}.SPAR").write_bytes(spar)
        (tmp_path / f"d{k}.SDAT").write_bytes(variant)
        _assert_safe(tmp_path / f"d{k}.SDAT")


def test_fuzz_nifti_mrs(tmp_path):
    base = write_nifti_mrs(tmp_path / "base.nii", marrow_fid(30.0)).read_bytes()
    for k, variant in enumerate(_variants(base, 4, 600)):
        path = tmp_path / f"v{k}.nii"
        path.write_bytes(variant)
        _assert_safe(path)
    for k, meta in enumerate([{"SpectrometerFrequency": "x"}, {"SpectrometerFrequency": []},
                              {"SpectrometerFrequency": [float("inf")]}, {"EchoTime": "30"},
                              {"NumberOfAverages": 1e300}, {"dim_5": 5}]):
        path = write_nifti_mrs(tmp_path / f"m{k}.nii", marrow_fid(30.0), meta)
        _assert_safe(path)


def test_fuzz_dicom_mrs(tmp_path):
    import pydicom

    blob = DCM.read_bytes()
    for k, variant in enumerate(_variants(blob, 5, 1500)):
        path = tmp_path / f"v{k}.dcm"
        path.write_bytes(variant)
        _assert_safe(path)
    for k, (key, value) in enumerate([("DataPointColumns", 0), ("SpectralWidth", 1e12), ("SpectralWidth", -1.0),
                                      ("TransmitterFrequency", -63.9), ("Rows", 0), ("DataPointRows", 5000),
                                      ("NumberOfFrames", 99), ("ImagePositionPatient", ["1", "2"])]):
        ds = pydicom.dcmread(DCM)
        setattr(ds, key, value)
        ds.save_as(tmp_path / f"a{k}.dcm")
        _assert_safe(tmp_path / f"a{k}.dcm")
    # a NumberOfFrames that is not a number (pydicom refuses to write one: edit the bytes)
    blob = (tmp_path / "a6.dcm").read_bytes()
    at = blob.find(b"99", blob.find(b"\x28\x00\x08\x00"))
    (tmp_path / "frames.dcm").write_bytes(blob[:at] + b"ab" + blob[at + 2 :])
    _assert_safe(tmp_path / "frames.dcm")
