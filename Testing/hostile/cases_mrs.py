"""Hostile inputs for ``vcfdiagnosis mrs``: unusual but valid spectra, corrupt headers and data, water
suppression without a header flag, and plot outputs. Every input is generated here, from the phantom patient's
files or from :func:`VCFDiagnosisLib.mrs.model.synthesize_fid` (no binary blobs).

The writers (:func:`write_rda_fid`, :func:`write_sdat_pair`, :func:`write_nifti_mrs`) and :func:`marrow_fid` are
also used by ``Testing/test_mrs_hostile.py``.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import OUT, VICTIM, HostileCase
from .inputs import copy_patient, unwritable_path

END = b">>> End of header <<<"
N, DWELL_S, F0_MHZ = 1024, 5e-4, 123.2
AREA = "mrs"


# ---- generated inputs -----------------------------------------------------------------------------------

def marrow_fid(ff_percent: float, water_scale: float = 1.0, snr: float = 150.0, seed: int = 0,
               n: int = N, dwell_s: float = DWELL_S, f0_mhz: float = F0_MHZ, residue_phase_deg: float = 0.0,
               **kw) -> np.ndarray:
    """Return a 3 T marrow FID (RDA convention) of true FF ``ff_percent`` whose water is scaled by ``water_scale``.

    ``water_scale = 1/80`` imitates a CHESS-suppressed acquisition (water attenuated 80x, fat untouched), with
    the water residue turned by ``residue_phase_deg``. ``snr``: unsuppressed water peak height / noise SD of
    the real spectrum; ``inf`` for no noise. Widths 25 Hz (water) / 30 Hz (fat), phase 20 deg.
    """
    from VCFDiagnosisLib.mrs.model import lwr_from_fat_fraction_percent, spectrum_from_fid, synthesize_fid

    common = {"n_points": n, "dwell_s": dwell_s, "frequency_mhz": f0_mhz, "water_area": 100.0,
              "water_linewidth_hz": 25.0, "fat_linewidth_hz": 30.0, "phase_deg": 20.0, **kw}
    water = synthesize_fid(**common, lwr=0.0)
    fat = synthesize_fid(**common, lwr=float(lwr_from_fat_fraction_percent(ff_percent))) - water
    fid = water * water_scale * np.exp(1j * np.deg2rad(residue_phase_deg)) + fat
    if np.isfinite(snr):
        sd = float(np.abs(spectrum_from_fid(water)).max()) / snr / np.sqrt(n)
        rng = np.random.default_rng(seed)
        fid = fid + sd * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
    return fid


def rda_parts(path: Path) -> tuple[bytes, bytes]:
    """Return (header through its CRLF, data) of an RDA file written by the phantom."""
    blob = Path(path).read_bytes()
    end = blob.find(END) + len(END) + 2
    assert blob[end - 2 : end] == b"\r\n", "the phantom's RDA header ends with CRLF"
    return blob[:end], blob[end:]


def fid_bytes(fid: np.ndarray) -> bytes:
    """Return an RDA data block: little-endian float64 (re, im) pairs."""
    return np.column_stack([fid.real, fid.imag]).astype("<f8").tobytes()


def write_rda_fid(template: Path, target: Path, fid: np.ndarray, header_edits: dict[bytes, bytes] | None = None,
                  terminator: bytes = b"\r\n") -> Path:
    """Write ``fid`` under the RDA header of ``template`` (edited by ``old -> new`` replacements) to ``target``.

    ``terminator`` replaces the CRLF that ends the header (e.g. ``b"\\n"`` or ``b"\\r\\n\\r\\n"``). VectorSize is
    set to the FID length.
    """
    header, _ = rda_parts(template)
    header = header[:-2] + terminator
    old_size = next(line for line in header.split(b"\r\n") if line.startswith(b"VectorSize:"))
    header = header.replace(old_size, b"VectorSize: %d" % fid.size)
    for old, new in (header_edits or {}).items():
        assert old in header, old
        header = header.replace(old, new)
    Path(target).write_bytes(header + fid_bytes(fid))
    return Path(target)


def fid_with_first_byte(fid: np.ndarray, first_byte: int) -> np.ndarray:
    """Return ``fid`` with the lowest mantissa byte of ``fid[0].real`` set to ``first_byte`` (a change < 1e-13)."""
    out = np.array(fid, dtype=complex)
    bits = np.array([out[0].real]).view("<u8")
    bits[0] = (bits[0] & ~np.uint64(0xFF)) | np.uint64(first_byte)
    out[0] = bits.view("<f8")[0] + 1j * out[0].imag
    assert fid_bytes(out)[0] == first_byte
    return out


def vax_bytes(values: np.ndarray) -> bytes:
    """Return little-endian VAX F-floats of ``values`` (inverse of ``io_philips.vax_float32_to_float``)."""
    bits = (np.asarray(values, dtype=float) * 4.0).astype("<f4").view("<u4")
    words = np.column_stack([(bits >> 16) & 0xFFFF, bits & 0xFFFF]).astype("<u2")
    return words.tobytes()


def write_sdat_pair(folder: Path, stem: str, fid: np.ndarray, spar_edits: dict[str, str] | None = None,
                    dwell_s: float = DWELL_S, f0_mhz: float = F0_MHZ) -> Path:
    """Write a Philips ``stem.SDAT`` (conjugated FID, VAX floats) and ``stem.SPAR``; return the SDAT path."""
    fields = {"samples": str(fid.size), "rows": "1", "sample_frequency": f"{1 / dwell_s:g}",
              "synthesizer_frequency": f"{f0_mhz * 1e6:.0f}", "echo_time": "30", "repetition_time": "2000",
              "averages": "64", "lr_size": "15", "ap_size": "15", "cc_size": "15", "lr_off_center": "0",
              "ap_off_center": "0", "cc_off_center": "0", **(spar_edits or {})}
    folder = Path(folder)
    (folder / f"{stem}.SPAR").write_text("".join(f"{k} : {v}\r\n" for k, v in fields.items()), encoding="latin-1")
    stored = np.conj(fid)
    (folder / f"{stem}.SDAT").write_bytes(vax_bytes(np.column_stack([stored.real, stored.imag]).ravel()))
    return folder / f"{stem}.SDAT"


def write_nifti_mrs(path: Path, fid: np.ndarray, meta: dict | None = None, dwell_s: float = DWELL_S,
                    dim: tuple[int, ...] | None = None) -> Path:
    """Write an uncompressed NIfTI-1 MRS file (complex64, shape 1x1x1xN, JSON extension code 44)."""
    meta = {"SpectrometerFrequency": [F0_MHZ], "ResonantNucleus": ["1H"], "EchoTime": 0.03,
            "RepetitionTime": 2.0, **(meta or {})}
    text = json.dumps(meta).encode()
    esize = (len(text) + 8 + 15) // 16 * 16
    extension = struct.pack("<2i", esize, 44) + text.ljust(esize - 8, b"\0")
    header = bytearray(348)
    dims = dim or (4, 1, 1, 1, fid.size, 1, 1, 1)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, *dims)
    struct.pack_into("<2h", header, 70, 32, 64)
    struct.pack_into("<8f", header, 76, 1.0, 10.0, 10.0, 10.0, dwell_s, 1.0, 1.0, 1.0)
    struct.pack_into("<f", header, 108, 352 + esize)
    struct.pack_into("<2h", header, 252, 0, 1)  # qform 0, sform 1
    struct.pack_into("<12f", header, 280, 10, 0, 0, 0, 0, 10, 0, 0, 0, 0, 10, 0)
    header[344:348] = b"n+1\0"
    data = np.asarray(fid, dtype="<c8").tobytes()
    Path(path).write_bytes(bytes(header) + b"\1\0\0\0" + extension + data)
    return Path(path)


# ---- building blocks for cases --------------------------------------------------------------------------

def _patient_rda(sandbox: Path) -> Path:
    return copy_patient(sandbox) / "mrs" / "lesion.rda"


def _json_out(outcome) -> dict:
    assert outcome.stdout.strip(), "no JSON on stdout"
    return json.loads(outcome.stdout)


def _json_ff(outcome) -> float | None:
    return _json_out(outcome)["FF"]


def _ff_near(expected: float, tolerance: float = 1.0) -> Callable:
    def check(sandbox: Path, outcome) -> None:
        ff = _json_ff(outcome)
        assert ff is not None and abs(ff - expected) <= tolerance, f"FF {ff}, expected {expected} +- {tolerance}"
    return check


def _truth_ff(sandbox: Path) -> float:
    return float(json.loads((sandbox / "patient" / "truth.json").read_text())["lesion"]["FF_percent"])


def _ff_matches_truth(sandbox: Path, outcome) -> None:
    _ff_near(_truth_ff(sandbox))(sandbox, outcome)


def _rda_variant(edit: Callable[[bytes, bytes], bytes], name: str = "variant.rda") -> Callable[[Path], list[str]]:
    """Return a build that writes ``edit(header, data)`` as ``name`` beside the patient's RDA."""
    def build(sandbox: Path) -> list[str]:
        source = _patient_rda(sandbox)
        header, data = rda_parts(source)
        target = source.with_name(name)
        target.write_bytes(edit(header, data))
        return ["mrs", str(target), "--json"]
    return build


def _header_edit(old: bytes, new: bytes) -> Callable[[bytes, bytes], bytes]:
    def edit(header: bytes, data: bytes) -> bytes:
        assert old in header, old
        return header.replace(old, new) + data
    return edit


def _field_value(field: bytes, value: bytes) -> Callable[[bytes, bytes], bytes]:
    """Return an edit that sets the RDA header ``field`` to ``value`` whatever it was."""
    def edit(header: bytes, data: bytes) -> bytes:
        lines = header.split(b"\r\n")
        index = next(i for i, line in enumerate(lines) if line.startswith(field + b":"))
        lines[index] = field + b": " + value
        return b"\r\n".join(lines) + data
    return edit


def _first_byte(byte: int, terminator: bytes = b"\r\n") -> Callable[[bytes, bytes], bytes]:
    def edit(header: bytes, data: bytes) -> bytes:
        fid = np.frombuffer(data, "<f8")
        crafted = fid_with_first_byte(fid[0::2] + 1j * fid[1::2], byte)
        return header[:-2] + terminator + fid_bytes(crafted)
    return edit


def _synthetic_rda(ff: float, water_scale: float = 1.0, name: str = "synthetic.rda", **kw) -> Callable:
    def build(sandbox: Path) -> list[str]:
        source = _patient_rda(sandbox)
        target = write_rda_fid(source, source.with_name(name), marrow_fid(ff, water_scale, **kw))
        return ["mrs", str(target), "--json"]
    return build


def _fid_rda(fid: np.ndarray, name: str = "variant.rda") -> Callable:
    def build(sandbox: Path) -> list[str]:
        source = _patient_rda(sandbox)
        return ["mrs", str(write_rda_fid(source, source.with_name(name), fid))]
    return build


def _suppressed_no_ff(sandbox: Path, outcome) -> None:
    out = _json_out(outcome)
    assert out["FF"] is None and out["LWR"] is None, (out["FF"], out["LWR"])
    assert any("water appears suppressed" in w for w in out["warnings"]), out["warnings"]
    assert out["water_suppression_detected"] is True


def _sdat(edits: dict[str, str] | None = None, fid: np.ndarray | None = None, give: str = "SDAT",
          drop: str | None = None) -> Callable:
    def build(sandbox: Path) -> list[str]:
        folder = sandbox / "philips"
        folder.mkdir()
        sdat = write_sdat_pair(folder, "marrow", marrow_fid(30.0) if fid is None else fid, edits)
        if drop:
            (folder / f"marrow.{drop}").unlink()
        return ["mrs", str(sdat.with_suffix(f".{give}")), "--json"]
    return build


def _nifti(meta: dict | None = None, fid: np.ndarray | None = None, dwell_s: float = DWELL_S,
           dim: tuple[int, ...] | None = None) -> Callable:
    def build(sandbox: Path) -> list[str]:
        path = write_nifti_mrs(sandbox / "marrow.nii", marrow_fid(30.0) if fid is None else fid, meta, dwell_s, dim)
        return ["mrs", str(path), "--json"]
    return build


def _plot(target: str, *extra: str, prepare: Callable[[Path], None] | None = None) -> Callable:
    def build(sandbox: Path) -> list[str]:
        rda = _patient_rda(sandbox)
        if prepare:
            prepare(sandbox)
        return ["mrs", str(rda), "--plot", target.format(sandbox=sandbox), *extra]
    return build


def _old_plot(sandbox: Path) -> None:
    (sandbox / OUT).mkdir()
    (sandbox / OUT / "fit.png").write_bytes(b"an earlier plot\n")


def _old_plot_kept(sandbox: Path, outcome) -> None:
    assert (sandbox / OUT / "fit.png").read_bytes() == b"an earlier plot\n", "the existing plot was overwritten"
    assert sorted(p.name for p in (sandbox / OUT).iterdir()) == ["fit.png"], "a partial file was left"


def _new_plot(sandbox: Path, outcome) -> None:
    plots = [p for p in (sandbox / OUT).rglob("*") if p.is_file()]
    assert len(plots) == 1, f"expected one plot, found {plots}"
    assert plots[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"


def _nothing_in_out(sandbox: Path, outcome) -> None:
    files = [p for p in (sandbox / OUT).rglob("*") if p.is_file()] if (sandbox / OUT).exists() else []
    assert not files, f"files were written: {files}"


def _unwritable_plot(sandbox: Path) -> list[str]:
    return ["mrs", str(_patient_rda(sandbox)), "--plot", str(unwritable_path(sandbox) / "fit.png")]


def _folder_as_file(sandbox: Path) -> list[str]:
    folder = copy_patient(sandbox) / "mrs" / "spectrum.rda"
    folder.mkdir()
    return ["mrs", str(folder)]


def _empty(name: str) -> Callable:
    def build(sandbox: Path) -> list[str]:
        (sandbox / name).write_bytes(b"")
        return ["mrs", str(sandbox / name)]
    return build


def _garbage(name: str, size: int = 40000) -> Callable:
    def build(sandbox: Path) -> list[str]:
        (sandbox / name).write_bytes(np.random.default_rng(7).integers(0, 256, size, dtype=np.uint8).tobytes())
        return ["mrs", str(sandbox / name)]
    return build


def _renamed(source: str, name: str) -> Callable:
    def build(sandbox: Path) -> list[str]:
        patient = copy_patient(sandbox)
        target = patient / "mrs" / name
        os.replace(patient / "mrs" / source, target)
        return ["mrs", str(target), "--json"]
    return build


def _zero_dicom(sandbox: Path) -> list[str]:
    import pydicom

    path = copy_patient(sandbox) / "mrs" / "lesion_mrs.dcm"
    ds = pydicom.dcmread(path)
    ds.SpectroscopyData = bytes(len(ds.SpectroscopyData))
    target = path.with_name("zero_mrs.dcm")
    ds.save_as(target)
    return ["mrs", str(target)]


def _dicom_edit(**attributes) -> Callable:
    def build(sandbox: Path) -> list[str]:
        import pydicom

        path = copy_patient(sandbox) / "mrs" / "lesion_mrs.dcm"
        ds = pydicom.dcmread(path)
        for key, value in attributes.items():
            setattr(ds, key, value)
        target = path.with_name("edited_mrs.dcm")
        ds.save_as(target)
        return ["mrs", str(target), "--json"]
    return build


RDA = "{sandbox}/patient/mrs/variant.rda"
ZEROS = np.zeros(N, complex)


def _case(name: str, build: Callable, expect_exit: int | tuple[int, ...], *message: str, check=None,
          process: bool = False) -> HostileCase:
    return HostileCase(name=f"mrs_{name}", area=AREA, build=build, expect_exit=expect_exit,
                       expect_in_message=tuple(message), check=check, process=process)


CASES: list[HostileCase] = [
    # -- valid but unusual: must read and give the right FF ------------------------------------------------
    _case("rda_first_data_byte_lf", _rda_variant(_first_byte(0x0A)), 0, check=_ff_matches_truth),
    _case("rda_first_data_byte_cr", _rda_variant(_first_byte(0x0D)), 0, check=_ff_matches_truth),
    _case("rda_lf_header_first_byte_cr", _rda_variant(_first_byte(0x0D, b"\n")), 0, check=_ff_matches_truth),
    _case("rda_blank_lines_after_header", _rda_variant(lambda h, d: h + b"\r\n\r\n" + d), 0,
          check=_ff_matches_truth),
    _case("rda_comma_decimals", _rda_variant(_field_value(b"MRFrequency", b"123,200000")), 0,
          check=_ff_matches_truth),
    _case("rda_latin1_patient_name", _rda_variant(_field_value(b"PatientName", "Jörg^Müller".encode("latin-1"))),
          0, check=_ff_matches_truth),
    _case("rda_named_dcm", _renamed("lesion.rda", "spectrum.dcm"), 0, check=_ff_matches_truth),
    _case("rda_high_fat_marrow_88", _synthetic_rda(88.0), 0, check=_ff_near(88.0)),
    _case("nifti_mrs_generated", _nifti(), 0, check=_ff_near(30.0)),
    _case("sdat_given_as_spar", _sdat(give="SPAR"), 0, check=_ff_near(30.0)),
    # -- water suppression with no header flag ---------------------------------------------------------------
    _case("rda_water_suppressed_80x", _synthetic_rda(26.3, 1 / 80), 0, check=_suppressed_no_ff),
    _case("rda_water_suppressed_dispersive", _synthetic_rda(26.3, 1 / 50, residue_phase_deg=90.0), 0,
          check=_suppressed_no_ff),
    _case("sdat_water_suppressed_100x", _sdat(fid=marrow_fid(26.3, 1 / 100)), 0, check=_suppressed_no_ff),
    # -- header numbers --------------------------------------------------------------------------------------
    _case("rda_mrfrequency_inf", _rda_variant(_field_value(b"MRFrequency", b"inf")), 2, RDA, "'MRFrequency'",
          "not a finite number"),
    _case("rda_dwelltime_nan", _rda_variant(_field_value(b"DwellTime", b"nan")), 2, RDA, "'DwellTime'"),
    _case("rda_te_minus_inf", _rda_variant(_field_value(b"TE", b"-inf")), 2, RDA, "'TE'"),
    _case("rda_vectorsize_inf", _rda_variant(_field_value(b"VectorSize", b"inf")), 2, RDA, "'VectorSize'"),
    _case("rda_vectorsize_zero", _rda_variant(_field_value(b"VectorSize", b"0")), 2, RDA, "'VectorSize'"),
    _case("rda_vectorsize_negative", _rda_variant(_field_value(b"VectorSize", b"-1024")), 2, RDA, "'VectorSize'"),
    _case("rda_vectorsize_fraction", _rda_variant(_field_value(b"VectorSize", b"1024.5")), 2, RDA, "whole number"),
    _case("rda_more_points_than_data", _rda_variant(_field_value(b"VectorSize", b"4096")), 2, RDA, "truncated"),
    _case("rda_two_spectra_of_vectorsize", _rda_variant(_field_value(b"VectorSize", b"512")), 2, RDA, "spectra"),
    _case("rda_csi_matrix_negative", _rda_variant(_field_value(b"CSIMatrixSize[0]", b"-4")), 2, RDA,
          "'CSIMatrixSize[0]'"),
    _case("rda_frequency_absurd", _rda_variant(_field_value(b"MRFrequency", b"1e300")), 2, RDA, "frequency"),
    _case("spar_frequency_inf", _sdat({"synthesizer_frequency": "inf"}), 2, "{sandbox}/philips/marrow.SPAR",
          "'synthesizer_frequency'", "not a finite number"),
    _case("spar_samples_nan", _sdat({"samples": "nan"}), 2, "{sandbox}/philips/marrow.SPAR", "'samples'"),
    _case("nifti_frequency_string", _nifti({"SpectrometerFrequency": ["abc"]}), 2, "{sandbox}/marrow.nii",
          "SpectrometerFrequency"),
    _case("nifti_dwell_nan", _nifti(dwell_s=float("nan")), 2, "{sandbox}/marrow.nii", "dwell"),
    _case("nifti_negative_dimension", _nifti(dim=(4, 1, 1, 1, -1024, 1, 1, 1)), 2, "{sandbox}/marrow.nii",
          "dimension"),
    _case("dicom_spectral_width_nan", _dicom_edit(SpectralWidth=float("nan")), 2, "{sandbox}/patient/mrs/edited_mrs.dcm"),
    _case("dicom_frequency_zero", _dicom_edit(TransmitterFrequency=0.0), 2, "{sandbox}/patient/mrs/edited_mrs.dcm"),
    # -- data ------------------------------------------------------------------------------------------------
    _case("rda_all_zero_fid", _fid_rda(ZEROS), 2, RDA, "all zeros"),
    _case("rda_infinite_sample", _rda_variant(lambda h, d: h + np.array([np.inf]).tobytes() + d[8:]), 2, RDA,
          "NaN or infinite"),
    _case("rda_huge_samples", _rda_variant(lambda h, d: h + np.full(len(d) // 8, 1e200).tobytes()), 2, RDA,
          "implausible"),
    _case("rda_truncated", _rda_variant(lambda h, d: h + d[: len(d) // 2]), 2, RDA, "truncated"),
    _case("rda_header_only", _rda_variant(lambda h, d: h), 2, RDA, "truncated"),
    _case("rda_no_end_marker", _rda_variant(lambda h, d: h.replace(END, b"") + d), 2, RDA, "not a Siemens RDA"),
    _case("sdat_truncated", _sdat(fid=marrow_fid(30.0)[: N // 2], edits={"samples": str(N)}), 2,
          "{sandbox}/philips/marrow.SDAT", "truncated"),
    _case("sdat_all_zero", _sdat(fid=ZEROS), 2, "{sandbox}/philips/marrow.SDAT", "all zeros"),
    _case("sdat_without_spar", _sdat(drop="SPAR"), 2, "{sandbox}/philips/marrow.SDAT", "SPAR"),
    _case("dicom_all_zero", _zero_dicom, 2, "{sandbox}/patient/mrs/zero_mrs.dcm", "all zeros"),
    _case("nifti_all_zero", _nifti(fid=ZEROS), 2, "{sandbox}/marrow.nii", "all zeros"),
    # -- not a spectrum at all -------------------------------------------------------------------------------
    _case("empty_rda", _empty("empty.rda"), 2, "{sandbox}/empty.rda"),
    _case("empty_dcm", _empty("empty.dcm"), 2, "{sandbox}/empty.dcm", "empty"),
    _case("empty_sdat_and_spar", _sdat(fid=np.zeros(0, complex)), 2, "{sandbox}/philips/marrow.SPAR"),
    _case("garbage_rda", _garbage("noise.rda"), 2, "{sandbox}/noise.rda", "not a Siemens RDA"),
    _case("garbage_dcm", _garbage("noise.dcm"), 2, "{sandbox}/noise.dcm"),
    _case("garbage_nii", _garbage("noise.nii"), 2, "{sandbox}/noise.nii"),
    _case("dicom_named_rda", _renamed("lesion_mrs.dcm", "spectrum.rda"), 2,
          "{sandbox}/patient/mrs/spectrum.rda", "not a Siemens RDA"),
    _case("folder_given_as_file", _folder_as_file, 2, "{sandbox}/patient/mrs/spectrum.rda", "folder",
          process=True),
    _case("missing_file", lambda s: ["mrs", str(s / "nowhere.rda")], 2, "{sandbox}/nowhere.rda", "no such file"),
    # -- options and the plot --------------------------------------------------------------------------------
    _case("t2_without_fat_t2", lambda s: ["mrs", str(_patient_rda(s)), "--water-t2-ms", "21"], 2, "--fat-t2-ms"),
    _case("plot_png_in_new_folder", _plot("{sandbox}/out/plots/fit.png"), 0, check=_new_plot),
    _case("plot_unknown_extension", _plot("{sandbox}/out/fit.xyz"), 2, "{sandbox}/out/fit.xyz", "format",
          check=_nothing_in_out),
    _case("plot_without_extension", _plot("{sandbox}/out/fit"), 2, "{sandbox}/out/fit", "extension",
          check=_nothing_in_out),
    _case("plot_exists_without_force", _plot("{sandbox}/out/fit.png", prepare=_old_plot), 2,
          "{sandbox}/out/fit.png", "--force", check=_old_plot_kept),
    _case("plot_exists_with_force", _plot("{sandbox}/out/fit.png", "--force", prepare=_old_plot), 0,
          check=_new_plot),
    _case("plot_into_unwritable_folder", _unwritable_plot, 2, "fit.png", "plot", process=True),
    _case("plot_under_a_file", _plot("{sandbox}/" + VICTIM + "/fit.png"), 2, "{sandbox}/" + VICTIM + "/fit.png",
          "not a folder"),
    _case("plot_is_a_folder", _plot("{sandbox}/out/fit.png", prepare=lambda s: (s / OUT / "fit.png").mkdir(
        parents=True)), 2, "{sandbox}/out/fit.png", "folder"),
]
