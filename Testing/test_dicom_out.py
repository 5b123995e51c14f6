"""DICOM results (``run --dicom-out``): Parametric Maps, SEG, TID 1500 SR and Encapsulated PDF, and a DICOM SEG
read back as the ROI. Each object is checked against the case's own outputs (NRRD maps, ROI, results.tsv,
report.pdf) and validated with dicom3tools' ``dciodvfy`` (skipped, with the reason, when it is not installed;
``.ci/run`` installs it)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pydicom
import pytest

pytest.importorskip("highdicom", reason="the [dicom] extra (highdicom) is not installed: DICOM output tests SKIPPED")

from dicom_objects import content_items, frames_by_k, numeric_items  # noqa: E402

from VCFDiagnosisLib.analysis.results import read_results_tsv  # noqa: E402
from VCFDiagnosisLib.app.cli import main  # noqa: E402
from VCFDiagnosisLib.dicomout.objects import MAPS, MEASUREMENTS  # noqa: E402
from VCFDiagnosisLib.dicomout.seg_in import is_dicom_seg, read_dicom_seg  # noqa: E402

#: dciodvfy's warnings on our objects, as the README lists them (see test_every_object_passes_dciodvfy...).
DCIODVFY_WARNINGS = ("<QUANTITY> for value 4 of attribute <Image Type>", "<QUANTITY> for value 4 of attribute <Frame Type>",
                     "attribute <Laterality>", "<99VCFD> for value 1 of attribute <Coding Scheme Designator>")
OBJECTS = ("PM_D", "PM_Dstar", "PM_f", "PM_ADC", "SEG", "SR", "REPORT")


@pytest.fixture(autouse=True)
def _empty_scene_after(slicer_runtime):
    """The in-process commands add nodes to the session's scene: leave it empty for the next test."""
    yield
    slicer_runtime.clear_scene()


@pytest.fixture(scope="module")
def case(tmp_path_factory, slicer_runtime):
    """Run one synthetic patient with --dicom-out; return (patient, case folder, DICOM folder)."""
    from VCFDiagnosisLib.phantom import generate_patient

    root = tmp_path_factory.mktemp("dicom-out")
    patient = generate_patient(root / "phantoms", seed=4, group="metastatic", matrix=64, n_slices=6)
    out, dicom = root / "case", root / "dicom"
    assert main(["run", "--dwi", str(patient.dwi_dir), "--roi", str(patient.segmentation_path), "--spectrum",
                 str(patient.rda_path), "--out", str(out), "--dicom-out", str(dicom)]) == 0
    return patient, out, dicom


def _source_headers(patient) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(patient.dwi_dir.rglob("*")) if p.is_file()]


def test_parametric_maps_equal_the_nrrd_maps_with_units_in_the_dwi_study(case):
    import SimpleITK as sitk

    patient, out, dicom = case
    sources = _source_headers(patient)
    study, series = sources[0].StudyInstanceUID, sources[0].SeriesInstanceUID
    seen_series = set()
    for stem, (_, unit, _) in MAPS.items():
        ds = pydicom.dcmread(dicom / f"PM_{stem}.dcm")
        assert ds.SOPClassUID == pydicom.uid.ParametricMapStorage
        assert ds.StudyInstanceUID == study and ds.PatientID == sources[0].PatientID
        assert ds.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
        assert ds.SeriesInstanceUID != series and ds.SeriesInstanceUID not in seen_series
        seen_series.add(ds.SeriesInstanceUID)
        mapping = ds.SharedFunctionalGroupsSequence[0].RealWorldValueMappingSequence[0]
        assert mapping.MeasurementUnitsCodeSequence[0].CodeValue == unit
        assert "research use only" in ds.SeriesDescription
        image = sitk.ReadImage(str(out / "maps" / f"{stem}.nrrd"))
        expected = sitk.GetArrayFromImage(image).astype(np.float32)  # [k, j, i]
        from VCFDiagnosisLib.dwi.loader import load_dwi

        grid = load_dwi(str(patient.dwi_dir)).ijk_to_ras
        frames = frames_by_k(ds, grid)
        written = ds.pixel_array.astype(np.float32)
        assert sorted(frames) == list(range(expected.shape[0]))
        for k, index in frames.items():
            np.testing.assert_array_equal(np.isnan(written[index]), np.isnan(expected[k]))  # not fitted stays NaN
            np.testing.assert_array_equal(written[index][~np.isnan(written[index])],
                                          expected[k][~np.isnan(expected[k])])


def test_segmentation_equals_the_roi_and_reads_back_as_the_roi(case, tmp_path):
    """SEG.dcm holds one segment per ROI with the ROI's voxel count; given as --roi it reproduces the case's results
    to the last digit (so the same voxels, on the same grid)."""
    patient, out, dicom = case
    rows = read_results_tsv(out / "results.tsv")
    segments = read_dicom_seg(dicom / "SEG.dcm")
    assert [label for label, _, _ in segments] == [row["roi"] for row in rows]
    assert int(segments[0][1].sum()) == rows[0]["roi_voxels"]
    again = tmp_path / "again"
    assert main(["run", "--dwi", str(patient.dwi_dir), "--roi", str(dicom / "SEG.dcm"), "--spectrum",
                 str(patient.rda_path), "--out", str(again), "--no-report"]) == 0
    redo = read_results_tsv(again / "results.tsv")[0]
    for name in ("roi_voxels", "D", "Dstar", "f", "ADC", "FF", "P_IVIM", "P_combined"):
        assert redo[name] == rows[0][name], name


def test_structured_report_numbers_equal_results_tsv(case):
    patient, out, dicom = case
    row = read_results_tsv(out / "results.tsv")[0]
    sr = pydicom.dcmread(dicom / "SR.dcm")
    assert sr.SOPClassUID == pydicom.uid.Comprehensive3DSRStorage
    assert sr.StudyInstanceUID == _source_headers(patient)[0].StudyInstanceUID
    numbers = numeric_items(sr.ContentSequence)
    for column, (code, _, unit, _) in MEASUREMENTS.items():
        value, written_unit = numbers[code]
        assert value == pytest.approx(row[column], rel=1e-9), column
        assert written_unit == unit, column
    text = str(sr)
    assert "research use only, not a diagnosis" in text and str(row["prediction"]) in text
    seg_uid = pydicom.dcmread(dicom / "SEG.dcm", stop_before_pixels=True).SOPInstanceUID
    assert seg_uid in text  # the measurements are tied to the SEG segment
    points = [(np.asarray(item.GraphicData, float), str(item.ReferencedFrameOfReferenceUID))
              for item in content_items(sr.ContentSequence, "SCOORD3D")]  # the MRS voxel's centre, in the DWI's frame of reference (LPS mm)
    assert len(points) == 1 and points[0][1] == _source_headers(patient)[0].FrameOfReferenceUID
    from VCFDiagnosisLib.mrs import read_spectrum

    centre_lps = np.asarray(read_spectrum(str(patient.rda_path)).voxel_center_ras) * [-1, -1, 1]
    np.testing.assert_allclose(points[0][0], centre_lps, atol=1e-3)


def test_report_pdf_is_encapsulated_unchanged(case):
    _, out, dicom = case
    ds = pydicom.dcmread(dicom / "REPORT.dcm")
    pdf = (out / "report.pdf").read_bytes()
    assert ds.SOPClassUID == pydicom.uid.EncapsulatedPDFStorage and ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert ds.EncapsulatedDocument[:int(ds.EncapsulatedDocumentLength)] == pdf


@pytest.mark.skipif(shutil.which("dciodvfy") is None,
                    reason="dciodvfy (Debian dicom3tools) is not installed: DICOM validation SKIPPED")
def test_every_object_passes_dciodvfy_without_errors(case):
    """No error in any object; the warnings are only the ones the README lists (printed here for the record)."""
    _, _, dicom = case
    for name in OBJECTS:
        result = subprocess.run(["dciodvfy", str(dicom / f"{name}.dcm")], capture_output=True, text=True, timeout=120)
        lines = (result.stdout + result.stderr).splitlines()
        errors = [line for line in lines if line.startswith("Error")]
        assert not errors, f"{name}: {errors}"
        warnings = {line for line in lines if line.startswith("Warning")}
        print(name, sorted(warnings))
        unlisted = [w for w in warnings if not any(known in w for known in DCIODVFY_WARNINGS)]
        assert not unlisted, f"{name}: warnings the README does not list: {unlisted}"


def test_dicom_out_needs_a_dicom_dwi_and_a_folder_of_its_own(case, tmp_path, capsys):
    patient, out, dicom = case
    nifti = tmp_path / "dwi.nii.gz"
    assert main(["dwi", str(patient.dwi_dir), "--out", str(nifti)]) == 0
    capsys.readouterr()
    assert main(["run", "--dwi", str(nifti), "--roi", str(patient.segmentation_path), "--out", str(tmp_path / "c"),
                 "--dicom-out", str(tmp_path / "d"), "--no-report"]) == 2
    assert "DICOM results need a DWI read from DICOM" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
    assert main(["run", "--dwi", str(patient.dwi_dir), "--roi", str(patient.segmentation_path), "--out",
                 str(tmp_path / "c2"), "--dicom-out", str(tmp_path / "c2" / "dicom")]) == 2
    assert "must be a folder of its own" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("not ours")
    assert main(["run", "--dwi", str(patient.dwi_dir), "--roi", str(patient.segmentation_path), "--out",
                 str(tmp_path / "c3"), "--dicom-out", str(foreign), "--force", "--no-report"]) == 2
    assert (foreign / "keep.txt").read_text() == "not ours"


def test_batch_dicom_setting_writes_each_case_folders_dicom(case, tmp_path):
    """``--dicom`` (a setting, so ``run`` and ``batch`` both have it): the case folder holds its DICOM results."""
    patient, out, dicom = case
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text(f"case_id\tdwi\troi\tspectrum\tlabel\nP1\t{patient.dwi_dir}\t{patient.segmentation_path}\t"
                        f"{patient.rda_path}\tmetastatic\n")
    assert main(["batch", str(manifest), "--out", str(tmp_path / "out"), "--jobs", "1", "--dicom"]) == 0
    folder = tmp_path / "out" / "P1" / "dicom"
    assert {p.name for p in folder.glob("*.dcm")} == {f"{name}.dcm" for name in OBJECTS}
    seg = read_dicom_seg(folder / "SEG.dcm")
    assert int(seg[0][1].sum()) == read_results_tsv(out / "results.tsv")[0]["roi_voxels"]


def test_only_a_dicom_seg_is_taken_for_one(case, tmp_path):
    """The ROI file's kind: a SEG by its SOP class; an MR image, a .seg.nrrd, a NIfTI, a folder or a file that
    merely starts like DICOM are not (those are answered from the first 132 bytes, without pydicom)."""
    patient, out, dicom = case
    assert is_dicom_seg(dicom / "SEG.dcm")
    assert not is_dicom_seg(dicom / "SR.dcm")
    assert not is_dicom_seg(next(p for p in patient.dwi_dir.rglob("*") if p.is_file()))
    assert not is_dicom_seg(patient.segmentation_path) and not is_dicom_seg(out / "roi.seg.nrrd")
    assert not is_dicom_seg(patient.dwi_dir) and not is_dicom_seg(tmp_path / "missing.dcm")
    fake = tmp_path / "fake.dcm"
    fake.write_bytes(b"\0" * 128 + b"DICM" + b"garbage")
    assert not is_dicom_seg(fake)


def test_a_damaged_dicom_seg_is_refused_naming_the_file(case, tmp_path, capsys):
    """A SEG cut in half (a hostile or broken upload) is refused with the file's name, exit 2, no case folder."""
    patient, _, dicom = case
    broken = tmp_path / "broken-seg.dcm"
    data = (dicom / "SEG.dcm").read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    assert main(["run", "--dwi", str(patient.dwi_dir), "--roi", str(broken), "--out", str(tmp_path / "c"),
                 "--no-report"]) == 2
    assert str(broken) in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_a_dicom_seg_announcing_huge_frames_is_refused_before_reading_them(case, tmp_path, capsys):
    """A SEG whose header announces more voxels than the image-size cap is refused from its header."""
    patient, _, dicom = case
    ds = pydicom.dcmread(dicom / "SEG.dcm")
    ds.NumberOfFrames = 10**6
    ds.Rows = ds.Columns = 4096
    huge = tmp_path / "huge-seg.dcm"
    ds.save_as(huge)
    assert main(["run", "--dwi", str(patient.dwi_dir), "--roi", str(huge), "--out", str(tmp_path / "c"),
                 "--no-report"]) == 2
    err = capsys.readouterr().err
    assert str(huge) in err and "above the limit" in err
    assert not (tmp_path / "c").exists()
