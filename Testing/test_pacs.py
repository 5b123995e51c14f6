"""Cases on an archive, against a real Orthanc (Debian ``orthanc`` + ``orthanc-dicomweb``).

The suite starts Orthanc on free loopback ports (HTTP/DICOMweb and DICOM) with a throw-away storage folder and a
password, and stops it by PID. The synthetic patient is stored, found, run by its DICOMweb and DIMSE locations;
the results are pushed back and read back from Orthanc: the Parametric Map voxels equal the NRRD maps, the SEG
equals the ROI, the SR's numbers equal results.tsv. Skipped, with the reason, when Orthanc is not installed;
``.ci/run`` installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

pytest.importorskip("dicomweb_client", reason="the [dicom] extra is not installed: archive tests SKIPPED")
ORTHANC = shutil.which("Orthanc") or "/usr/sbin/Orthanc"
PLUGINS = Path("/usr/share/orthanc/plugins")
if not (os.access(ORTHANC, os.X_OK) and (PLUGINS / "libOrthancDicomWeb.so").is_file()):
    pytest.skip("Orthanc with its DICOMweb plugin is not installed (apt-get install orthanc orthanc-dicomweb): "
                "archive tests SKIPPED", allow_module_level=True)

from dicom_objects import frames_by_k, numeric_items  # noqa: E402
from servers import stop_by_pid, wait_until_answering  # noqa: E402

from VCFDiagnosisLib.analysis.results import read_results_tsv  # noqa: E402
from VCFDiagnosisLib.app.cli import main  # noqa: E402
from VCFDiagnosisLib.dicomout.objects import MEASUREMENTS  # noqa: E402
from VCFDiagnosisLib.dicomout.seg_in import read_dicom_seg  # noqa: E402
from VCFDiagnosisLib.pacs.credentials import FILE_ENV, HOSTS_ENV, PASSWORD_ENV, USER_ENV  # noqa: E402
from VCFDiagnosisLib.pacs.transfer import find_series, retrieve, store  # noqa: E402
from VCFDiagnosisLib.web.server import free_port  # noqa: E402

PASSWORD = "pw-" + os.urandom(6).hex()


@pytest.fixture(autouse=True)
def _empty_scene_after(slicer_runtime):
    """The in-process commands add nodes to the session's scene: leave it empty for the next test."""
    yield
    slicer_runtime.clear_scene()


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory):
    """Start Orthanc (DICOMweb + DIMSE, password required); yield (dicomweb URL, dimse URL); stop it by PID."""
    folder = tmp_path_factory.mktemp("orthanc")
    http, dicom = free_port(), free_port()
    config = {"Name": "vcf-test", "StorageDirectory": str(folder / "db"), "IndexDirectory": str(folder / "db"),
              "HttpPort": http, "DicomPort": dicom, "DicomAet": "ORTHANC", "RemoteAccessAllowed": False,
              "HttpBindAddress": "127.0.0.1", "DicomBindAddress": "127.0.0.1",  # ignored by older Orthancs
              "AuthenticationEnabled": True, "RegisteredUsers": {"vcf": PASSWORD}, "Plugins": [str(PLUGINS)],
              "DicomWeb": {"Enable": True, "Root": "/dicom-web/"}, "DicomAlwaysAllowGet": True,
              "DicomAlwaysAllowStore": True, "DicomAlwaysAllowFind": True, "DicomCheckCalledAet": False}
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = open(folder / "orthanc.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen([ORTHANC, str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_answering(f"http://127.0.0.1:{http}/app/explorer.html", server, folder / "orthanc.log", 60,
                             "Orthanc")
        yield f"dicomweb://127.0.0.1:{http}/dicom-web", f"dimse://ORTHANC@127.0.0.1:{dicom}"
    finally:
        stop_by_pid(server)
        log.close()


def _http_host(orthanc) -> str:
    return orthanc[0].split("://", 1)[1].split("/", 1)[0]


@pytest.fixture
def credentials(monkeypatch, orthanc):
    monkeypatch.setenv(USER_ENV, "vcf")
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv(HOSTS_ENV, _http_host(orthanc))


@pytest.fixture(scope="module")
def stored(orthanc, tmp_path_factory):
    """Store a synthetic patient's DWI in Orthanc (DICOMweb STOW-RS); return (patient, its series location)."""
    from VCFDiagnosisLib.phantom import generate_patient

    patient = generate_patient(tmp_path_factory.mktemp("pacs-phantom"), seed=6, group="metastatic", matrix=64,
                               n_slices=6)
    files = sorted(p for p in patient.dwi_dir.rglob("*") if p.is_file())
    first = pydicom.dcmread(files[0], stop_before_pixels=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(USER_ENV, "vcf")
        patch.setenv(PASSWORD_ENV, PASSWORD)
        patch.setenv(HOSTS_ENV, _http_host(orthanc))
        assert store(orthanc[0], files) == len(files)
    return patient, f"/studies/{first.StudyInstanceUID}/series/{first.SeriesInstanceUID}"


def test_find_lists_the_series_with_the_dwi_flagged(orthanc, stored, credentials, capsys):
    patient, series = stored
    rows = find_series(orthanc[0], patient_id=patient.case_id, modality="MR")
    dwi = [r for r in rows if series.endswith(r["series_uid"])]
    assert len(dwi) == 1 and dwi[0]["kind"] == "DWI (8 b-values)" and dwi[0]["instances"] == "48"
    assert main(["pacs", "find", "--url", orthanc[1], "--patient-id", patient.case_id]) == 0
    printed = capsys.readouterr().out
    assert orthanc[1] + series in printed  # the DIMSE listing names the series by its location


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_run_by_location_push_and_read_back(orthanc, stored, credentials, tmp_path, protocol):
    """Run the case named by its archive location, push the DICOM results, read them back from Orthanc."""
    import SimpleITK as sitk

    from VCFDiagnosisLib.dwi.loader import load_dwi

    patient, series = stored
    url = orthanc[0 if protocol == "dicomweb" else 1]
    out, dicom = tmp_path / "case", tmp_path / "dicom"
    assert main(["run", "--dwi", url + series, "--roi", str(patient.segmentation_path), "--spectrum",
                 str(patient.rda_path), "--out", str(out), "--dicom-out", str(dicom), "--push", url, "--cache",
                 str(tmp_path / "cache"), "--no-report"]) == 0
    row = read_results_tsv(out / "results.tsv")[0]
    local = tmp_path / "local"
    assert main(["run", "--dwi", str(patient.dwi_dir), "--roi", str(patient.segmentation_path), "--spectrum",
                 str(patient.rda_path), "--out", str(local), "--no-report"]) == 0
    reference = read_results_tsv(local / "results.tsv")[0]
    for column in ("roi_voxels", "D", "Dstar", "f", "ADC", "LWR", "FF", "P_IVIM", "P_combined", "prediction"):
        assert row[column] == reference[column], column
    assert json.loads((out / "case.json").read_text())["inputs"]["dwi"] == url + series  # provenance: the location

    written = json.loads((dicom / "dicom-results.json").read_text())["objects"]
    study = series.split("/")[2]

    def back(name: str) -> Path:  # the exact series this run pushed, read back from Orthanc over DICOMweb
        location = f"{orthanc[0]}/studies/{study}/series/{written[name]['series_instance_uid']}"
        return next(retrieve(location, tmp_path / "back").glob("*.dcm"))

    pm = pydicom.dcmread(back("PM_D"))
    assert pm.StudyInstanceUID == study and pm.SOPInstanceUID == written["PM_D"]["sop_instance_uid"]
    expected = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "maps" / "D.nrrd"))).astype(np.float32)
    frames = frames_by_k(pm, load_dwi(str(patient.dwi_dir)).ijk_to_ras)
    assert sorted(frames) == list(range(expected.shape[0]))
    for k, index in frames.items():
        np.testing.assert_array_equal(pm.pixel_array[index].astype(np.float32), expected[k])
    segment = read_dicom_seg(back("SEG"))[0][1]
    assert int(segment.sum()) == row["roi_voxels"]
    numbers = numeric_items(pydicom.dcmread(back("SR")).ContentSequence)
    for column, (code, _, unit, _) in MEASUREMENTS.items():
        assert numbers[code][0] == pytest.approx(row[column], rel=1e-9) and numbers[code][1] == unit, column


def test_a_failed_push_keeps_the_objects_and_pacs_push_retries(orthanc, stored, credentials, tmp_path, capsys):
    patient, series = stored
    dicom = tmp_path / "dicom"
    dead = f"dimse://ORTHANC@127.0.0.1:{free_port()}"  # nothing listens there
    assert main(["run", "--dwi", str(patient.dwi_dir), "--roi", str(patient.segmentation_path), "--out",
                 str(tmp_path / "case"), "--dicom-out", str(dicom), "--push", dead, "--no-report"]) == 1
    err = capsys.readouterr().err
    assert dead in err and "pacs push" in err
    assert len(list(dicom.glob("*.dcm"))) == 6  # maps, SEG, SR kept for the retry
    assert main(["pacs", "push", "--url", orthanc[0], str(dicom)]) == 0
    assert "6 objects stored" in capsys.readouterr().out
    assert main(["run", "--dwi", str(patient.dwi_dir), "--roi", str(patient.segmentation_path), "--out",
                 str(tmp_path / "case2"), "--push", orthanc[0]]) == 2  # --push without --dicom-out: refused first
    assert "needs --dicom-out" in capsys.readouterr().err and not (tmp_path / "case2").exists()


def test_credentials_never_in_arguments_or_messages_and_only_for_named_archives(orthanc, stored, tmp_path,
                                                                                 monkeypatch, capsys):
    patient, series = stored
    host = _http_host(orthanc)
    with_password = f"dicomweb://vcf:{PASSWORD}@{host}/dicom-web{series}"
    assert main(["run", "--dwi", with_password, "--roi", str(patient.segmentation_path), "--out",
                 str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "credentials are never part of a location" in err and PASSWORD not in err
    monkeypatch.setenv(USER_ENV, "vcf")
    monkeypatch.setenv(PASSWORD_ENV, "wrong-" + PASSWORD)
    monkeypatch.setenv(HOSTS_ENV, host)
    assert main(["run", "--dwi", orthanc[0] + series, "--roi", str(patient.segmentation_path), "--out",
                 str(tmp_path / "b"), "--cache", str(tmp_path / "empty-cache")]) == 1
    err = capsys.readouterr().err
    assert orthanc[0] + series in err and "HTTP 401" in err and PASSWORD not in err
    assert not (tmp_path / "b").exists()  # a failed transfer is never a half case
    monkeypatch.setenv(HOSTS_ENV, "127.0.0.1:1")  # configured for another archive: nothing is sent here
    assert main(["pacs", "find", "--url", orthanc[0]]) == 2
    assert "is not an archive they may be sent to" in capsys.readouterr().err
    monkeypatch.delenv(USER_ENV)
    monkeypatch.delenv(PASSWORD_ENV)
    monkeypatch.delenv(HOSTS_ENV)
    secrets_file = tmp_path / "pacs.json"
    secrets_file.write_text(json.dumps({"user": "vcf", "password": PASSWORD, "hosts": [host]}))
    secrets_file.chmod(0o644)
    monkeypatch.setenv(FILE_ENV, str(secrets_file))
    assert main(["pacs", "find", "--url", orthanc[0]]) == 2
    assert "readable by its owner only" in capsys.readouterr().err
    secrets_file.chmod(0o600)
    assert main(["pacs", "find", "--url", orthanc[0], "--json"]) == 0
    assert series.rsplit("/", 1)[1] in capsys.readouterr().out


def test_a_failed_transfer_in_a_batch_is_an_error_row_and_the_batch_goes_on(orthanc, stored, credentials,
                                                                          tmp_path):
    """A missing series and a row naming another archive (which must not get the credentials) are error rows."""
    patient, series = stored
    missing = series.rsplit("/", 1)[0] + "/1.2.3.4.5"
    elsewhere = f"dicomweb://127.0.0.1:{free_port()}/dicom-web{series}"
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text("case_id\tdwi\troi\tlabel\n"
                        f"by-url\t{orthanc[0]}{series}\t{patient.segmentation_path}\tmetastatic\n"
                        f"gone\t{orthanc[0]}{missing}\t{patient.segmentation_path}\tmetastatic\n"
                        f"elsewhere\t{elsewhere}\t{patient.segmentation_path}\tmetastatic\n")
    assert main(["batch", str(manifest), "--out", str(tmp_path / "out"), "--jobs", "1", "--no-report"]) == 0
    rows = {r["case_id"]: r for r in read_results_tsv(tmp_path / "out" / "results.tsv")}
    assert rows["by-url"]["status"] in ("ok", "warning") and rows["by-url"]["roi_voxels"] > 0
    assert rows["gone"]["status"] == "error" and f"{orthanc[0]}{missing}" in rows["gone"]["message"]
    assert rows["elsewhere"]["status"] == "error" and "not an archive they may be sent to" in \
        rows["elsewhere"]["message"]
