"""``vcfdiagnosis fit``: 4D NIfTI + .bval in, NIfTI maps out on the same grid (round trip with nibabel)."""

from __future__ import annotations

import numpy as np
import pytest

nib = pytest.importorskip("nibabel")

from VCFDiagnosisLib.app.cli import main  # noqa: E402 (after importorskip)
from VCFDiagnosisLib.dwi.nifti import NiftiDwiError, read_dwi_nifti  # noqa: E402
from VCFDiagnosisLib.ivim import FitStatus, ivim_signal  # noqa: E402

B_FILE = np.array([0, 800, 50, 100, 150, 200, 400, 600, 800, 0], dtype=float)  # unsorted, duplicated
MAPS = ("S0", "D", "Dstar", "f", "ADC", "R2", "status")


def _oblique_affine():
    c, s = np.cos(0.3), np.sin(0.3)
    aff = np.eye(4)
    aff[:3, :3] = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.diag([1.2, 1.1, 5.0])
    aff[:3, 3] = [-10.0, 20.0, 5.0]
    return aff


@pytest.fixture
def dwi_case(tmp_path):
    rng = np.random.default_rng(0)
    shape = (7, 6, 4)  # i, j, k
    truth = {"D": rng.uniform(0.5e-3, 2e-3, shape), "Dstar": rng.uniform(0.02, 0.08, shape),
             "f": rng.uniform(0.05, 0.3, shape)}
    sig = ivim_signal(B_FILE, 1000.0, truth["D"], truth["Dstar"], truth["f"]).astype(np.float32)
    sig[0, 0, 0] = 0.0  # background voxel
    sig[1, 0, 0, [0, 9]] = -5.0  # invalid voxel: negative b = 0 signal (ITK reads a NaN in a file as 0)
    path = tmp_path / "dwi.nii.gz"
    nib.save(nib.Nifti1Image(sig, _oblique_affine()), path)
    (tmp_path / "dwi.bval").write_text(" ".join(f"{b:g}" for b in B_FILE) + "\n")
    return path, truth


def test_reader_sorts_and_averages_b_values(dwi_case):
    path, _ = dwi_case
    dwi = read_dwi_nifti(path)
    np.testing.assert_array_equal(dwi.bvalues_s_mm2, [0, 50, 100, 150, 200, 400, 600, 800])
    assert dwi.data.shape == (8, 4, 6, 7) and dwi.data.dtype == np.float32
    assert dwi.metadata["volumes_per_b"] == [2, 1, 1, 1, 1, 1, 1, 2]
    np.testing.assert_allclose(dwi.ijk_to_ras, _oblique_affine(), atol=1e-5)


def test_cli_round_trip_writes_maps_on_the_input_grid(dwi_case, tmp_path, capsys):
    path, truth = dwi_case
    out = tmp_path / "maps"
    assert main(["fit", "--dwi", str(path), "--out", str(out), "--method", "nlls"]) == 0
    assert "fitted" in capsys.readouterr().out
    ref = nib.load(path)
    for stem in MAPS:
        img = nib.load(out / f"{stem}.nii.gz")
        assert img.shape == ref.shape[:3], stem
        np.testing.assert_allclose(img.affine, ref.affine, atol=1e-5, err_msg=stem)
        assert img.get_data_dtype() == (np.uint8 if stem == "status" else np.float32), stem
    status = np.asarray(nib.load(out / "status.nii.gz").dataobj)
    d = nib.load(out / "D.nii.gz").get_fdata()
    f = nib.load(out / "f.nii.gz").get_fdata()
    ds = nib.load(out / "Dstar.nii.gz").get_fdata()
    assert status[0, 0, 0] == FitStatus.NOT_FITTED and np.isnan(d[0, 0, 0])
    assert status[1, 0, 0] == FitStatus.INVALID_INPUT and np.isnan(f[1, 0, 0])
    ok = status == FitStatus.OK
    assert ok.sum() == status.size - 2
    np.testing.assert_allclose(d[ok], truth["D"][ok], rtol=1e-5)
    np.testing.assert_allclose(f[ok], truth["f"][ok], rtol=1e-5)
    np.testing.assert_allclose(ds[ok], truth["Dstar"][ok], rtol=1e-5)
    assert not list(out.glob(".*"))  # no temporary files left


def test_cli_refuses_to_overwrite_without_force(dwi_case, tmp_path, capsys):
    path, _ = dwi_case
    out = tmp_path / "maps"
    assert main(["fit", "--dwi", str(path), "--out", str(out), "--method", "segmented"]) == 0
    before = (out / "D.nii.gz").read_bytes()
    capsys.readouterr()
    assert main(["fit", "--dwi", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--force" in err and "S0.nii.gz" in err
    assert (out / "D.nii.gz").read_bytes() == before
    assert main(["fit", "--dwi", str(path), "--out", str(out), "--force", "--method", "nlls"]) == 0
    assert (out / "D.nii.gz").read_bytes() != before


def test_cli_mask_limits_the_fit(dwi_case, tmp_path):
    path, _ = dwi_case
    mask = np.zeros((7, 6, 4), np.uint8)
    mask[2:5, 2:4, 1] = 1
    nib.save(nib.Nifti1Image(mask, _oblique_affine()), tmp_path / "mask.nii.gz")
    out = tmp_path / "masked"
    assert main(["fit", "--dwi", str(path), "--mask", str(tmp_path / "mask.nii.gz"), "--out", str(out)]) == 0
    status = np.asarray(nib.load(out / "status.nii.gz").dataobj)
    assert (status[mask == 0] == FitStatus.NOT_FITTED).all()
    assert (status[mask == 1] == FitStatus.OK).all()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no_bval", "no b-value file"),
        ("bad_bval", "not a number"),
        ("count_mismatch", "lists 3 b-values"),
        ("three_d", "expected a 4D DWI"),
        ("missing", "file not found"),
        ("garbage", "not a readable NIfTI"),
        ("bad_mask", "differs from the DWI grid"),
        ("two_b", "at least 3 distinct"),
    ],
)
def test_cli_bad_inputs_exit_non_zero_with_one_line_naming_the_file(dwi_case, tmp_path, capsys, setup, message):
    path, _ = dwi_case
    args = ["fit", "--dwi", str(path), "--out", str(tmp_path / "o")]
    named = path.name
    if setup == "no_bval":
        (tmp_path / "dwi.bval").unlink()
    elif setup == "bad_bval":
        (tmp_path / "dwi.bval").write_text("0 50 abc\n")
        named = "dwi.bval"
    elif setup == "count_mismatch":
        (tmp_path / "dwi.bval").write_text("0 400 800\n")
    elif setup == "three_d":
        nib.save(nib.Nifti1Image(np.ones((4, 4, 4), np.float32), np.eye(4)), path)
    elif setup == "missing":
        args[2] = str(tmp_path / "absent.nii.gz")
        named = "absent.nii.gz"
    elif setup == "garbage":
        path.write_bytes(b"not a nifti at all")
    elif setup == "bad_mask":
        nib.save(nib.Nifti1Image(np.ones((3, 3, 3), np.uint8), np.eye(4)), tmp_path / "m.nii.gz")
        args += ["--mask", str(tmp_path / "m.nii.gz")]
        named = "m.nii.gz"
    elif setup == "two_b":
        sig = np.ones((3, 3, 3, 2), np.float32) * [1000, 500]
        nib.save(nib.Nifti1Image(sig.astype(np.float32), np.eye(4)), path)
        (tmp_path / "dwi.bval").write_text("0 800\n")
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert message in err and named in err, err
    assert not (tmp_path / "o").exists()


def test_reader_error_type_is_a_value_error():
    assert issubclass(NiftiDwiError, ValueError)


def test_fit_command_loads_neither_the_phantom_nor_matplotlib_nor_slicer(dwi_case, tmp_path):
    """Start-up: commands import their engines when they run; ``fit`` needs numpy, scipy and the readers only."""
    import subprocess
    import sys

    path, _ = dwi_case
    script = ("import sys\n"
              "from VCFDiagnosisLib.app.cli import main\n"
              f"code = main(['fit', '--dwi', {str(path)!r}, '--out', {str(tmp_path / 'maps')!r}])\n"
              "heavy = sorted(set(sys.modules) & {'matplotlib', 'slicer', 'vtk', 'VCFDiagnosisLib.phantom.patient',\n"
              "                                     'VCFDiagnosisLib.mrml.headless', 'VCFDiagnosisLib.cohort'})\n"
              "print(code, heavy)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip().splitlines()[-1] == "0 []", result.stdout + result.stderr
    assert (tmp_path / "maps" / "D.nii.gz").is_file()


def test_help_builds_every_parser_without_importing_an_engine():
    import subprocess
    import sys

    script = ("import sys\nfrom VCFDiagnosisLib.app.cli import build_parser\nbuild_parser()\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numpy', 'scipy', 'pydicom', 'SimpleITK', 'dask',\n"
              "                                                            'matplotlib', 'slicer', 'vtk')))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_cli_jobs_must_be_positive_and_one_job_gives_the_same_maps(dwi_case, tmp_path, capsys):
    path, _ = dwi_case
    assert main(["fit", "--dwi", str(path), "--out", str(tmp_path / "x"), "--jobs", "0"]) == 2
    assert "--jobs: must be at least 1" in capsys.readouterr().err
    assert main(["fit", "--dwi", str(path), "--out", str(tmp_path / "one"), "--jobs", "1"]) == 0
    assert main(["fit", "--dwi", str(path), "--out", str(tmp_path / "two"), "--jobs", "2"]) == 0
    for stem in MAPS:
        one = nib.load(str(tmp_path / "one" / f"{stem}.nii.gz")).get_fdata()
        two = nib.load(str(tmp_path / "two" / f"{stem}.nii.gz")).get_fdata()
        np.testing.assert_array_equal(one, two)


def test_ctrl_c_during_a_forked_fit_exits_130_and_leaves_no_worker(tmp_path):
    """The workers ignore SIGINT; the command stops them and exits 130 with nothing written."""
    import os
    import signal
    import subprocess
    import sys
    import time

    rng = np.random.default_rng(1)
    shape = (96, 96, 40)
    sig = ivim_signal(np.array([0, 50, 100, 150, 200, 400, 600, 800.0]), 1000.0, rng.uniform(0.5e-3, 2e-3, shape),
                      0.03, 0.12)
    sig = np.abs(sig + rng.normal(0, 30, sig.shape)).astype(np.float32)
    path = tmp_path / "big.nii"
    nib.save(nib.Nifti1Image(sig, np.eye(4)), path)
    (tmp_path / "big.bval").write_text("0 50 100 150 200 400 600 800\n")
    out = tmp_path / "interrupted-maps"
    command = [sys.executable, "-m", "VCFDiagnosisLib.app.cli", "fit", "--dwi", str(path), "--out", str(out),
               "--jobs", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # wait until the workers exist (children of the command)
        children = subprocess.run(["ps", "--ppid", str(process.pid), "-o", "pid="], capture_output=True,
                                  text=True).stdout.split()
        if len(children) >= 2:
            break
        time.sleep(0.05)
    assert len(children) >= 2, "the fit never started its worker processes"
    os.kill(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert not out.exists() or not any(out.iterdir())
    time.sleep(0.2)
    for child in children:
        assert not os.path.exists(f"/proc/{child}") or "zombie" in open(f"/proc/{child}/status").read().lower()
