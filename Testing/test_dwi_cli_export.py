"""Phantom series in every vendor style round-trip exactly, through the loader and the 4D NIfTI export, and
the ``vcfdiagnosis dwi`` command prints, exports, refuses and fails the way its help says."""

from __future__ import annotations

import json
import math

import numpy as np
import pydicom
import pytest

from VCFDiagnosisLib.app.cli import main
from VCFDiagnosisLib.dwi.dicom import load_dwi_dicom
from VCFDiagnosisLib.dwi.export import write_dwi_nifti
from VCFDiagnosisLib.dwi.loader import load_dwi
from VCFDiagnosisLib.phantom import generate_patient

nib = pytest.importorskip("nibabel")
VENDORS = ("standard", "siemens", "ge", "philips")


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory) -> dict:
    """Small noiseless oblique sagittal phantoms, one per vendor style (random file names)."""
    root = tmp_path_factory.mktemp("dwi-cli")
    out = {}
    for vendor in VENDORS:
        patient = generate_patient(root, seed=3, vendor=vendor, matrix=40, n_slices=4, snr=math.inf,
                                   case_id=f"cli-{vendor}")
        out[vendor] = (patient.case_dir / "dwi", json.loads(patient.truth_path.read_text()))
    return out


def test_ge_style_really_carries_the_1e9_bias(phantoms):
    folder, _ = phantoms["ge"]
    values = [int(pydicom.dcmread(p, stop_before_pixels=True)[0x0043, 0x1039].value[0]) for p in folder.iterdir()]
    assert min(values) >= 1_000_000_000


@pytest.mark.parametrize("vendor", VENDORS)
def test_vendor_style_round_trips_through_the_nifti_export(phantoms, tmp_path, vendor):
    folder, truth = phantoms[vendor]
    dwi = load_dwi(folder)
    np.testing.assert_array_equal(dwi.bvalues_s_mm2, truth["bvalues_s_mm2"])
    np.testing.assert_allclose(dwi.ijk_to_ras, truth["geometry"]["ijk_to_ras"], atol=1e-6)
    nifti, bval = write_dwi_nifti(dwi, tmp_path / f"{vendor}.nii.gz")
    image = nib.load(nifti)
    np.testing.assert_allclose(image.affine, dwi.ijk_to_ras, atol=1e-4)
    assert image.header.get_sform(coded=True)[1] > 0 and image.header.get_qform(coded=True)[1] > 0
    np.testing.assert_allclose(image.get_fdata(dtype=np.float32), np.transpose(dwi.data, (3, 2, 1, 0)), rtol=1e-6)
    assert [float(b) for b in bval.read_text().split()] == truth["bvalues_s_mm2"]
    assert bval.name == f"{vendor}.bval"


def test_cli_prints_series_bvalues_grid_and_orientation(phantoms, capsys):
    folder, truth = phantoms["siemens"]
    assert main(["dwi", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "b-values     0, 50, 100, 150, 200, 400, 600, 800 s/mm2" in out
    assert "40 x 40 x 4 voxels" in out and "sagittal oblique" in out
    assert main(["dwi", str(folder), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["bvalues_s_mm2"] == truth["bvalues_s_mm2"]
    assert info["shape_ijk"] == [40, 40, 4] and info["vendor"] == "SIEMENS"
    np.testing.assert_allclose(info["ijk_to_ras"], truth["geometry"]["ijk_to_ras"], atol=1e-5)


def test_cli_writes_nifti_atomically_and_refuses_to_overwrite(phantoms, tmp_path, capsys):
    folder, truth = phantoms["ge"]
    out = tmp_path / "dwi.nii.gz"
    assert main(["dwi", str(folder), "--out", str(out)]) == 0
    assert out.is_file() and (tmp_path / "dwi.bval").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dwi.bval", "dwi.nii.gz"]  # no temporary left over
    before = out.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["dwi", str(folder), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "dwi.nii.gz: output exists" in err and "--force" in err
    assert out.stat().st_mtime_ns == before
    assert main(["dwi", str(folder), "--out", str(out), "--force"]) == 0
    np.testing.assert_allclose(nib.load(out).affine, truth["geometry"]["ijk_to_ras"], atol=1e-4)


def test_cli_refused_and_broken_inputs_exit_non_zero_with_one_line(phantoms, tmp_path, capsys):
    derived = tmp_path / "adc"
    derived.mkdir()
    for p in list(phantoms["standard"][0].iterdir())[:4]:
        ds = pydicom.dcmread(p)
        ds.ImageType = ["DERIVED", "PRIMARY", "DIFFUSION", "ADC"]
        ds.save_as(derived / p.name)
    for args, expected in (([str(derived)], "derived"), ([str(tmp_path / "missing")], "no such file"),
                           ([str(phantoms["standard"][0]), "--series", "99"], "no series matches '99'")):
        assert main(["dwi", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expected in err and args[0] in err


def test_cli_lists_series_and_accepts_a_single_b_trace_on_request(phantoms, tmp_path, capsys):
    folder, _ = phantoms["siemens"]
    assert main(["dwi", str(folder), "--list"]) == 0
    assert "b = 0, 50, 100, 150, 200, 400, 600, 800" in capsys.readouterr().out
    single = tmp_path / "b800"
    single.mkdir()
    for p in folder.iterdir():
        if int(pydicom.dcmread(p, stop_before_pixels=True)[0x0019, 0x100C].value) == 800:
            (single / p.name).write_bytes(p.read_bytes())
    assert main(["dwi", str(single)]) == 2
    assert "b-value" in capsys.readouterr().err
    assert main(["dwi", str(single), "--allow-single-b", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["bvalues_s_mm2"] == [800.0] and any("no b = 0" in w for w in info["warnings"])
    assert load_dwi_dicom(single, min_bvalues=1).metadata["combination"]["800"] == "scanner trace"
