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

from servers import stop_by_pid, wait_until_answering  # noqa: E402

from VCFDiagnosisLib.analysis.results import read_results_tsv  # noqa: E402
from VCFDiagnosisLib.app.cli import main  # noqa: E402
from VCFDiagnosisLib.dicomout.objects import MEASUREMENTS  # noqa: E402
from VCFDiagnosisLib.dicomout.seg_in import read_dicom_seg  # noqa: E402
from VCFDiagnosisLib.pacs.credentials import PASSWORD_ENV, USER_ENV  # noqa: E402
from VCFDiagnosisLib.pacs.transfer import find_series, retrieve, store  # noqa: E402
from VCFDiagnosisLib.web.server import free_port  # noqa: E402

PASSWORD = "pw-" + os.urandom(6).hex()


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


@pytest.fixture
def credentials(monkeypatch):
    monkeypatch.setenv(USER_ENV, "vcf")
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


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


def _frames_by_k(ds, ijk_to_ras):
    to_ijk = np.linalg.inv(ijk_to_ras)
    return {int(round((to_ijk @ np.r_[np.asarray(g.PlanePositionSequence[0].ImagePositionPatient, float)
                                      * [-1, -1, 1], 1.0])[2])): index
            for index, g in enumerate(ds.PerFrameFunctionalGroupsSequence)}


@pytest.mark.parametrize("protocol", ["dicomweb", "dimse"])
def test_run_by_location_push_and_read_back(orthanc, stored, credentials, tmp_path, protocol):
    """Run the case named by its archive location, push the DICOM results, read them back from Orthanc."""
    import SimpleITK as sitk

    from VCFDiagnosisLib.dwi.loader import load_dwi

    patient, series = stored
    url = orthanc[0 if protocol == "dicomweb" else 1]
    out = tmp_path / "case"
    assert main(["run", "--dwi", url + series, "--roi", str(patient.segmentation_path), "--spectrum",
                 str(patient.rda_path), "--out", str(out), "--push", url, "--cache", str(tmp_path / "cache"),
                 "--no-report"]) == 0
    row = read_results_tsv(out / "results.tsv")[0]
    local = tmp_path / "local"
    assert main(["run", "--dwi", str(patient.dwi_dir), "--roi", str(patient.segmentation_path), "--spectrum",
                 str(patient.rda_path), "--out", str(local), "--no-report"]) == 0
    assert row["P_combined"] == read_results_tsv(local / "results.tsv")[0]["P_combined"]

    pushed = {r["description"]: r for r in find_series(orthanc[0], patient_id=patient.case_id)
              if r["description"].startswith("VCFDiagnosis")}
    latest = {}
    for name in ("D map", "ROIs", "measurements"):
        matches = [r for d, r in pushed.items() if name in d]
        assert matches, f"no pushed series for {name}: {sorted(pushed)}"
        latest[name] = matches[0]
    study = latest["D map"]["study_uid"]
    assert series.split("/")[2] == study  # the results belong to the DWI's study

    def back(name: str) -> Path:
        folder = retrieve(f"{orthanc[0]}/studies/{study}/series/{latest[name]['series_uid']}", tmp_path / "back")
        return next(folder.glob("*.dcm"))

    pm = pydicom.dcmread(back("D map"))
    expected = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "maps" / "D.nrrd"))).astype(np.float32)
    for k, index in _frames_by_k(pm, load_dwi(str(patient.dwi_dir)).ijk_to_ras).items():
        np.testing.assert_array_equal(pm.pixel_array[index].astype(np.float32), expected[k])
    assert int(read_dicom_seg(back("ROIs"))[0][1].sum()) == row["roi_voxels"]
    sr = str(pydicom.dcmread(back("measurements")))
    for column in ("D", "Dstar", "f", "P_combined"):
        assert MEASUREMENTS[column][1] in sr and f"{row[column]:.6g}"[:6] in sr, column


def test_credentials_never_in_arguments_or_messages(orthanc, stored, tmp_path, monkeypatch, capsys):
    patient, series = stored
    host = orthanc[0].split("://", 1)[1]
    with_password = f"dicomweb://vcf:{PASSWORD}@{host}{series}"
    assert main(["run", "--dwi", with_password, "--roi", str(patient.segmentation_path), "--out",
                 str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "credentials are never part of a location" in err and PASSWORD not in err
    monkeypatch.setenv(USER_ENV, "vcf")
    monkeypatch.setenv(PASSWORD_ENV, "wrong-" + PASSWORD)
    assert main(["run", "--dwi", orthanc[0] + series, "--roi", str(patient.segmentation_path), "--out",
                 str(tmp_path / "b")]) == 1
    err = capsys.readouterr().err
    assert orthanc[0] + series in err and "HTTP 401" in err and PASSWORD not in err
    assert not (tmp_path / "b").exists()  # a failed transfer is never a half case


def test_a_failed_transfer_in_a_batch_is_an_error_row_and_the_batch_goes_on(orthanc, stored, credentials,
                                                                          tmp_path):
    patient, series = stored
    missing = series.rsplit("/", 1)[0] + "/1.2.3.4.5"
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text("case_id\tdwi\troi\tlabel\n"
                        f"by-url\t{orthanc[0]}{series}\t{patient.segmentation_path}\tmetastatic\n"
                        f"gone\t{orthanc[0]}{missing}\t{patient.segmentation_path}\tmetastatic\n")
    assert main(["batch", str(manifest), "--out", str(tmp_path / "out"), "--jobs", "1", "--no-report"]) == 0
    rows = {r["case_id"]: r for r in read_results_tsv(tmp_path / "out" / "results.tsv")}
    assert rows["by-url"]["status"] in ("ok", "warning") and rows["by-url"]["roi_voxels"] > 0
    assert rows["gone"]["status"] == "error" and f"{orthanc[0]}{missing}" in rows["gone"]["message"]
    assert PASSWORD not in (tmp_path / "out" / "results.tsv").read_text()
