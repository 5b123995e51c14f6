"""Water-fat imaging in a case (issue 17): the phantom's 6-echo GRE DICOM and vendor-style PDFF/R2* maps read and
fitted against their truth, the PDFF-to-MRS-FF relation, refusals with reasons, and the whole path through the
Logic, ``vcfdiagnosis pdff``, ``run --fat`` and a manifest's ``fat`` column."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import SimpleITK as sitk

from VCFDiagnosisLib.fat.dicom_series import FatInputError
from VCFDiagnosisLib.fat.fit import NOT_FITTED
from VCFDiagnosisLib.fat.relation import (
    FAT_T2_RANGE_MS,
    PDFF_FLAG,
    WATER_T2_RANGE_MS,
    mrs_ff_from_pdff,
    mrs_ff_sd_from_pdff,
    pdff_from_mrs_ff,
)
from VCFDiagnosisLib.fat.source import load_fat_maps, read_fat_input
from VCFDiagnosisLib.phantom import generate_patient, simulate_patient
from VCFDiagnosisLib.phantom.options import VENDORS
from VCFDiagnosisLib.phantom.tissues import BACKGROUND, LESION, MARROW

PHANTOM = {"matrix": 96, "n_slices": 8, "snr": 60}


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """One phantom per vendor style, with the echoes and the vendor maps, and its in-memory twin (the truth)."""
    out = tmp_path_factory.mktemp("fat-cases")
    written = {v: generate_patient(out, seed=7, group="metastatic", vendor=v, case_id=f"fat-{v}", vendor_fat_maps=True,
                                   **PHANTOM) for v in VENDORS}
    return out, written, simulate_patient(seed=7, group="metastatic", **PHANTOM)


def test_relation_between_pdff_and_the_study_ff():
    """The study's FF (methylene over water at TE 30 ms, T2-weighted) from a PDFF: inverse, monotonic, its SD from
    the marrow T2 ranges. A true PDFF of 40 % reads ~62-67 % at TE 30 ms counting all fat (shared/design/FORMATS.md);
    the study counted the methylene peak only (64 % of the fat), so its FF lies between the PDFF and that."""
    # worked by hand: PDFF 20 % -> LWR = 0.642 x 20/80 x exp(-30/65) / exp(-30/21) = 0.1605 x 0.6303 / 0.2397 = 0.4222
    # -> FF = 42.22 / 1.4222 = 29.69 %
    assert mrs_ff_from_pdff(20.0) == pytest.approx(29.69, abs=0.01)
    pdff = np.linspace(0, 95, 39)
    ff = mrs_ff_from_pdff(pdff)
    assert np.all(np.diff(ff) > 0) and ff[0] == 0.0
    np.testing.assert_allclose(pdff_from_mrs_ff(ff), pdff, atol=1e-9)
    assert 40 < mrs_ff_from_pdff(40) < 62
    # the SD spans the T2 ranges: the shortest water T2 (11 ms) with the longest fat T2 reads highest
    high, low = mrs_ff_from_pdff(20, WATER_T2_RANGE_MS[0], FAT_T2_RANGE_MS[1]), mrs_ff_from_pdff(20, 42.0, 55.0)
    assert low < mrs_ff_from_pdff(20) < high and mrs_ff_sd_from_pdff(20) == pytest.approx((high - low) / 4)
    assert mrs_ff_sd_from_pdff(20, 5.0) > mrs_ff_sd_from_pdff(20)
    assert math.isnan(mrs_ff_from_pdff(math.nan))


@pytest.mark.parametrize("vendor", VENDORS)
def test_echo_series_read_from_each_vendor_style(cases, vendor):
    """Echo times, grid and magnitudes of the GRE DICOM equal the simulated series (uint16 rounding, Philips
    rescale)."""
    _, written, data = cases
    truth = written[vendor].truth["fat"]
    fat_input = read_fat_input(written[vendor].fat_echoes_dir, "fit")
    echoes = fat_input.echoes
    np.testing.assert_allclose(echoes.echo_times_ms, truth["echo_times_ms"])
    assert echoes.shape_kji == data.fat.labels.shape
    np.testing.assert_allclose(echoes.ijk_to_ras, data.fat.geometry.ijk_to_ras, atol=1e-3)
    step = truth["dicom"]["rescale_slope"]
    assert np.abs(echoes.magnitude - np.minimum(data.fat.magnitude, 65535 * step)).max() <= step / 2 + 1e-3
    # the phase, in the vendor's own convention (Siemens +-4096 in a partner series, GE milliradians in the same
    # series, Philips and standard radians), read back in radians to within its storage step
    wrapped = np.angle(np.exp(1j * (echoes.phase - data.fat.phase)))
    phase = truth["dicom"]["phase"]
    assert np.abs(wrapped).max() <= phase["rescale_slope"] / phase["rescaled_units_per_radian"] + 1e-6, vendor
    assert "phase read as" in echoes.metadata["phase"]


def test_fitted_maps_match_the_truth_per_tissue(cases):
    """Fitted from the DICOM echoes: |median PDFF error| <= 1.5 points and |median R2* error| <= 10 % per tissue,
    and no fat-water swap (error > 20 points) in any tissue voxel."""
    _, written, data = cases
    maps = load_fat_maps(written["siemens"].fat_echoes_dir, "fit", processes=1)
    labels = data.fat.labels
    for tissue in data.fat.tissues:
        if tissue.label == BACKGROUND:
            continue
        inside = labels == tissue.label
        assert abs(np.nanmedian(maps.pdff_percent[inside]) - tissue.pdff_percent) <= 1.5, tissue.name
        assert abs(np.nanmedian(maps.r2star_per_s[inside]) / tissue.r2star_per_s - 1) <= 0.10, tissue.name
        proton_density = np.nanmedian(maps.water[inside] + maps.fat[inside])  # the echoes' units at t = 0
        assert proton_density == pytest.approx(tissue.proton_density, rel=0.03), tissue.name
    tissue = labels != BACKGROUND
    assert int((np.abs(maps.pdff_percent[tissue] - data.fat.pdff_percent[tissue]) > 20).sum()) == 0
    assert maps.source == "fit" and "6 echoes (magnitude and phase (mixed fit))" in maps.description
    assert np.nanmedian(np.abs(maps.field_map_hz[tissue] - data.fat.field_map_hz[tissue])) < 3.0  # Hz
    magnitude_only = load_fat_maps(written["siemens"].fat_echoes_dir, "fit", processes=1, phase=False)
    assert magnitude_only.field_map_hz is None and "phase images not used" in magnitude_only.description
    assert abs(np.nanmedian(magnitude_only.pdff_percent[labels == LESION] - maps.pdff_percent[labels == LESION])) < 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_vendor_maps_are_recognised_and_scaled(cases, vendor):
    """Each style's PDFF map (percent, per mille, rescaled) becomes percent and its R2* (or Philips' T2* in ms)
    1/s: within the map's own noise (1 point) and rounding of the truth."""
    _, written, data = cases
    maps = load_fat_maps(written[vendor].fat_maps_dir, "auto")
    assert maps.source == "vendor"
    tissue = data.fat.labels != BACKGROUND
    error = maps.pdff_percent[tissue] - data.fat.pdff_percent[tissue]
    assert abs(np.median(error)) < 0.3 and np.std(error) < 1.3, vendor
    r2 = maps.r2star_per_s[tissue]
    np.testing.assert_allclose(r2, data.fat.r2star_per_s[tissue], rtol=0.02, atol=0.6)
    air = ~tissue  # the scanner's 0 where it fitted nothing: NaN with its status, never a 0 % PDFF
    assert np.all(np.isnan(maps.pdff_percent[air])) and np.all(maps.status[air] == NOT_FITTED)
    how = {"philips": "Philips", "ge": "per mille", "siemens": "percent", "standard": "percent"}[vendor]
    assert how in maps.description, maps.description


def test_ambiguous_or_missing_inputs_are_refused_with_the_reason(cases, tmp_path):
    """A PDFF map whose values fit no known scale is refused naming the series and the way out; stating the unit
    reads it. A DWI folder is no water-fat input (the message lists what it holds); two echo series compete."""
    from VCFDiagnosisLib.phantom.dicom_dwi import PatientInfo
    from VCFDiagnosisLib.phantom.dicom_fat import write_vendor_maps

    _, written, data = cases
    patient = PatientInfo("X", "x", "1.2.3", "1.2.3.4")
    counter = iter(range(10**6))
    scaled = np.clip(data.fat.pdff_percent, 0, 100) * 2.8  # 45 % marrow -> 126: neither percent nor per mille
    write_vendor_maps(tmp_path / "odd", scaled, data.fat.r2star_per_s, data.fat.geometry, "standard", patient,
                      lambda *p: f"1.2.826.0.1.3680043.10.511.{next(counter)}", np.random.default_rng(1))
    with pytest.raises(FatInputError, match=r"series 10 .*cannot tell the unit.*--pdff-map-unit"):
        read_fat_input(tmp_path / "odd")
    stated = load_fat_maps(tmp_path / "odd", pdff_map_unit="permille")
    assert np.nanmax(stated.pdff_percent) == pytest.approx(np.nanmax(scaled) / 10, abs=0.01)
    with pytest.raises(FatInputError, match=r"no multi-echo gradient-echo series.*ep2d_diff"):
        read_fat_input(written["ge"].dwi_dir)
    with pytest.raises(FatInputError, match="no scanner PDFF map"):
        read_fat_input(written["ge"].fat_echoes_dir, "vendor")
    with pytest.raises(FatInputError, match="several multi-echo series"):
        read_fat_input(written["ge"].case_dir.parent, "fit")


def test_case_with_water_fat_imaging_and_no_spectrum(logic, cases):
    """Through the Logic: PDFF and R2* of the ROI equal the truth averaged over the ROI on the water-fat grid; FF
    comes from PDFF (flagged, with the T2-range SD) and feeds P_combined exactly as the published model computes it;
    maps and the report show PDFF; with a spectrum, FF stays the spectrum's."""
    from VCFDiagnosisLib.analysis.study_models import predict

    _, written, data = cases
    patient = written["philips"]
    case, files = logic.processCaseFiles(str(patient.dwi_dir), str(patient.label_path), None, caseId="fat-case",
                                         outputDir=str(patient.case_dir.parent / "out-fat"), fat=str(
                                             patient.fat_echoes_dir))
    row = case.rows[0]
    mask = case.fat_masks["lesion"]
    assert row["PDFF"] == pytest.approx(np.mean(data.fat.pdff_percent[mask]), abs=1.0)
    assert row["R2star"] == pytest.approx(np.mean(data.fat.r2star_per_s[mask]), rel=0.1)
    assert row["FF_source"] == "pdff" and PDFF_FLAG in row["flags"] and row["status"] == "warning"
    assert row["FF"] == pytest.approx(mrs_ff_from_pdff(row["PDFF"])) and row["FF_sd"] > 3
    expected = predict(row["D"], row["Dstar"], row["f"], FF_percent=row["FF"]).P_combined
    assert row["P_combined"] == pytest.approx(expected)
    assert set(case.fat_nodes) == {"PDFF", "R2star", "water", "fat", "field_map", "fat_status"}
    assert case.fat_nodes["PDFF"].GetAttribute("VCFDiagnosis.FatSource") == "fit"
    image = sitk.ReadImage(files["map_PDFF"])
    assert image.GetSize() == tuple(reversed(data.fat.labels.shape))
    marker = json.loads(open(files["marker"], encoding="utf-8").read())
    assert marker["inputs"]["fat"] == str(patient.fat_echoes_dir) and "fitted from 6" in marker["inputs"]["fat_maps"]
    with_mrs, _ = logic.processCaseFiles(str(patient.dwi_dir), str(patient.label_path), str(patient.mrs_dicom_path),
                                         caseId="fat-mrs", fat=str(patient.fat_maps_dir))
    row = with_mrs.rows[0]
    assert row["FF_source"] == "mrs" and PDFF_FLAG not in row["flags"]
    assert row["FF"] == pytest.approx(with_mrs.spectrum.result.ff_percent)
    assert abs(row["PDFF"] - np.mean(data.fat.pdff_percent[with_mrs.fat_masks["lesion"]])) < 1.0


def test_report_shows_the_pdff_map(cases, tmp_path):
    from VCFDiagnosisLib.analysis.report import build_case_figure
    from VCFDiagnosisLib.fat.source import FatVolume

    _, _, data = cases
    fat = FatVolume(data.fat.pdff_percent, data.fat.r2star_per_s, np.zeros(data.fat.labels.shape, np.uint8),
                    data.fat.geometry.ijk_to_ras, "vendor", "truth")
    rows = [{"roi": "lesion", "roi_voxels": 10, "roi_area_mm2": 1.0, "D": 1e-3, "Dstar": 0.03, "f": 0.1,
             "ADC": 1e-3, "FF": 20.0, "P_IVIM": 0.5, "P_combined": 0.5, "prediction": "", "status": "ok",
             "message": "", "PDFF": 12.0, "PDFF_sd": 1.0, "R2star": 70.0, "FF_source": "pdff"}]
    figure = build_case_figure(case_id="x", dwi=data.dwi, masks={"lesion": data.lesion_mask}, rows=rows,
                               fat=fat, fat_masks={"lesion": data.fat.labels == LESION})
    labels = {ax.get_label() for ax in figure.axes}
    assert {"pdff", "colorbar:pdff"} <= labels and "key" not in labels
    text = figure.axes[0].texts[0].get_text()
    assert "PDFF 12 +- 1 %, R2* 70 1/s; FF from pdff" in text and "Key: Slice" in text


def test_pdff_command_and_run_and_batch_with_a_fat_column(cases, tmp_path, capsys):
    """``vcfdiagnosis pdff`` writes percent and 1/s NIfTI maps on the series' grid and refuses to overwrite;
    ``run --fat`` and a manifest's ``fat`` column (the phantom writes it) add the PDFF columns."""
    from VCFDiagnosisLib.analysis.results import read_results_tsv
    from VCFDiagnosisLib.app.cli import main

    out_dir, written, data = cases
    out = tmp_path / "pdff"
    assert main(["pdff", str(written["ge"].fat_maps_dir), "--out", str(out)]) == 0
    pdff = sitk.ReadImage(str(out / "PDFF.nii.gz"))
    values = sitk.GetArrayFromImage(pdff)
    tissue = data.fat.labels != BACKGROUND
    assert abs(np.median(values[tissue] - data.fat.pdff_percent[tissue])) < 0.3
    direction = np.array(pdff.GetDirection()).reshape(3, 3)
    ras = data.fat.geometry.ijk_to_ras
    np.testing.assert_allclose(np.diag([-1, -1, 1]) @ direction * np.array(pdff.GetSpacing()), ras[:3, :3], atol=1e-3)
    summary = json.loads((out / "pdff.json").read_text())
    assert summary["source"] == "vendor" and summary["units"]["PDFF"] == "percent"
    assert main(["pdff", str(written["ge"].fat_maps_dir), "--out", str(out)]) == 2
    assert "use --force" in capsys.readouterr().err
    marrow = data.fat.labels == MARROW
    assert np.median(values[marrow]) == pytest.approx(45.0, abs=0.3)

    case_out = tmp_path / "run"
    patient = written["standard"]
    assert main(["run", "--dwi", str(patient.dwi_dir), "--roi", str(patient.label_path), "--fat",
                 str(patient.fat_echoes_dir), "--out", str(case_out), "--no-report"]) == 0
    (row,) = read_results_tsv(case_out / "results.tsv")
    reference = sitk.ReadImage(str(out / "PDFF.nii.gz"))  # the water-fat grid; the ROI resampled by SimpleITK
    roi = sitk.GetArrayFromImage(sitk.Resample(sitk.ReadImage(str(patient.label_path)), reference,
                                               sitk.Transform(), sitk.sitkNearestNeighbor)) > 0
    lesion = pdff_from_mrs_ff(data.lesion.FF_percent)  # the ROI's edge voxels take in marrow (45 %): between the two
    assert row["FF_source"] == "pdff" and lesion - 1 < row["PDFF"] < np.mean(data.fat.pdff_percent[roi]) + 1
    assert row["FF"] == pytest.approx(mrs_ff_from_pdff(row["PDFF"])) and row["R2star"] > 0
    manifest = (out_dir / "manifest.tsv").read_text().splitlines()
    assert manifest[0].split("\t")[-1] == "fat" and manifest[1].split("\t")[-1].endswith("/fat/echoes")


def test_a_manifest_of_an_earlier_version_gains_the_fat_column(tmp_path):
    """A phantom manifest written before the ``fat`` column existed keeps its rows (fat empty) and gains it."""
    from VCFDiagnosisLib.batch.manifest import read_manifest

    (tmp_path / "manifest.tsv").write_text("case_id\tdwi\troi\tspectrum\tlabel\treader\n"
                                           "old\told/dwi\told/roi.nii.gz\t\tmetastatic\tr1\n")
    generate_patient(tmp_path, seed=2, group="osteoporotic", matrix=48, n_slices=4)
    rows = {row.case_id: row for row in read_manifest(tmp_path / "manifest.tsv")}
    assert rows["old"].fat is None and rows["old"].reader == "r1"
    assert rows["phantom-osteoporotic-2"].fat == str(tmp_path / "phantom-osteoporotic-2" / "fat" / "echoes")


def _copy_series(source, target, only_series: str | None = None, **changes):
    """Copy a DICOM folder into ``target`` with header ``changes`` (keyword: value, None deletes) in every file (of
    SeriesNumber ``only_series`` when given)."""
    import pydicom

    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        ds = pydicom.dcmread(path)
        for keyword, value in changes.items() if only_series in (None, str(ds.SeriesNumber)) else ():
            if value is None:
                delattr(ds, keyword) if keyword in ds else None
            else:
                setattr(ds, keyword, value)
        ds.save_as(target / path.name)
    return target


def test_series_as_scanners_write_them(cases, tmp_path):
    """Real-world series shapes: Philips' FF and T2* maps in one series; a multi-echo series described "t2star";
    DERIVED magnitude echoes (e.g. distortion-corrected); a series without ImagingFrequency (the field strength
    gives it; neither: refused)."""
    _, written, data = cases
    maps_dir = written["philips"].fat_maps_dir
    uid = next(iter({__import__("pydicom").dcmread(p).SeriesInstanceUID for p in maps_dir.iterdir()}))
    one = _copy_series(maps_dir, tmp_path / "one-series", SeriesInstanceUID=uid, SeriesNumber="10")
    volume = load_fat_maps(one)
    tissue = data.fat.labels != BACKGROUND
    assert abs(np.median(volume.pdff_percent[tissue] - data.fat.pdff_percent[tissue])) < 0.3
    np.testing.assert_allclose(volume.r2star_per_s[tissue], data.fat.r2star_per_s[tissue], rtol=0.02, atol=0.6)

    echoes = written["siemens"].fat_echoes_dir  # magnitude series 8, its phase in series 9
    reference = load_fat_maps(echoes, "fit", processes=1)
    named = _copy_series(echoes, tmp_path / "t2star", "8", SeriesDescription="t2star_me_gre_6echo")
    derived = _copy_series(echoes, tmp_path / "derived", "8", ImageType=["DERIVED", "PRIMARY", "M", "ND"])
    for folder in (named, derived):
        again = load_fat_maps(folder, "auto", processes=1)
        assert again.source == "fit"
        np.testing.assert_array_equal(again.pdff_percent, reference.pdff_percent)
    no_frequency = _copy_series(echoes, tmp_path / "no-f0", ImagingFrequency=None, MagneticFieldStrength="1.5")
    assert read_fat_input(no_frequency, "fit").echoes.metadata["f0_mhz"] == pytest.approx(63.866, abs=1e-3)
    nothing = _copy_series(no_frequency, tmp_path / "no-field", MagneticFieldStrength=None)
    with pytest.raises(FatInputError, match="no ImagingFrequency or MagneticFieldStrength"):
        read_fat_input(nothing, "fit")


def test_another_patients_series_is_refused_and_another_study_flagged(logic, cases, tmp_path):
    """A water-fat folder of another PatientID is refused before anything is computed (the message does not print
    the IDs); one of another study of the same patient is used with a warning."""
    _, written, _ = cases
    patient = written["siemens"]
    other = _copy_series(patient.fat_echoes_dir, tmp_path / "other", PatientID="someone-else")
    with pytest.raises(FatInputError, match="different PatientIDs") as refused:
        logic.processCaseFiles(str(patient.dwi_dir), str(patient.label_path), fat=str(other))
    assert "someone-else" not in str(refused.value)
    later = _copy_series(patient.fat_echoes_dir, tmp_path / "later", StudyInstanceUID="1.2.826.0.1.3680043.10.511.9")
    case, _ = logic.processCaseFiles(str(patient.dwi_dir), str(patient.label_path), fat=str(later))
    assert "water-fat: the water-fat series is from another study" in case.rows[0]["flags"]


def test_pdff_refuses_a_partly_existing_output_before_writing(cases, tmp_path, capsys):
    from VCFDiagnosisLib.app.cli import main

    _, written, _ = cases
    out = tmp_path / "out"
    out.mkdir()
    (out / "pdff.json").write_text("{}")
    assert main(["pdff", str(written["ge"].fat_maps_dir), "--out", str(out)]) == 2
    assert "pdff.json" in capsys.readouterr().err and sorted(p.name for p in out.iterdir()) == ["pdff.json"]
    assert main(["pdff", str(written["ge"].fat_echoes_dir), "--out", str(out), "--force"]) == 0
    assert {"water.nii.gz", "fat.nii.gz"} <= {p.name for p in out.iterdir()}
    assert main(["pdff", str(written["ge"].fat_maps_dir), "--out", str(out), "--force"]) == 0  # no stale maps
    assert sorted(p.name for p in out.iterdir()) == ["PDFF.nii.gz", "R2star.nii.gz", "fat_status.nii.gz", "pdff.json"]
    assert sitk.ReadImage(str(out / "fat_status.nii.gz")).GetPixelID() == sitk.sitkUInt8


def test_pdff_written_into_its_own_input_or_over_a_planted_link(cases, tmp_path, capsys):
    """Hostile outputs: --out inside the DICOM folder (the rerun must not read its own NIfTI maps as input) and a
    symbolic link planted where a map goes (replaced, never written through)."""
    from VCFDiagnosisLib.app.cli import main

    _, written, _ = cases
    source = tmp_path / "echoes"
    shutil.copytree(written["siemens"].fat_maps_dir, source)
    inside = source / "maps"
    assert main(["pdff", str(source), "--out", str(inside)]) == 0
    first = sitk.GetArrayFromImage(sitk.ReadImage(str(inside / "PDFF.nii.gz")))
    assert main(["pdff", str(source), "--out", str(inside)]) == 2  # the maps exist: refused, kept
    assert "PDFF.nii.gz: output exists" in capsys.readouterr().err
    assert main(["pdff", str(source), "--out", str(inside), "--force"]) == 0  # its own maps are not an input
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(inside / "PDFF.nii.gz"))), first)
    victim, out = tmp_path / "victim.txt", tmp_path / "out"
    victim.write_text("not yours")
    out.mkdir()
    (out / "PDFF.nii.gz").symlink_to(victim)
    assert main(["pdff", str(source), "--out", str(out), "--force"]) == 0
    assert victim.read_text() == "not yours" and not (out / "PDFF.nii.gz").is_symlink()


def test_phase_images_of_an_unknown_scaling_are_not_used(cases, tmp_path):
    """Phase images whose values match no phase convention are left out with a warning: the magnitudes are fitted."""
    import pydicom

    _, written, _ = cases
    folder = tmp_path / "odd-phase"
    shutil.copytree(written["siemens"].fat_echoes_dir, folder)
    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        if "P" in ds.ImageType:
            ds.RescaleSlope, ds.RescaleIntercept = "0.25", "-512"  # -512..512: no known convention
            ds.save_as(path)
    fat_input = read_fat_input(folder, "fit")
    assert fat_input.echoes.phase is None
    assert any("match no known phase scaling" in w and "series 9" in w for w in fat_input.warnings)


def _edit_phase_files(folder, edit):
    """Apply ``edit(dataset)`` to every phase image (ImageType P) of a copied echo folder."""
    import pydicom

    for path in folder.iterdir():
        ds = pydicom.dcmread(path)
        if "P" in ds.ImageType:
            edit(ds)
            ds.save_as(path)


def test_phase_as_scanners_and_converters_leave_it(cases, tmp_path):
    """The opposite phase sign convention is recognised (same maps, field map negated); Siemens phase whose rescale
    a converter dropped (0..4095) is read from its span; a damaged phase file leaves the magnitudes fitted with a
    warning, never the case refused."""
    import pydicom

    _, written, data = cases
    source = written["siemens"].fat_echoes_dir
    reference = load_fat_maps(source, "fit", processes=1)
    tissue = data.fat.labels != BACKGROUND

    def negate(ds):
        stored = ds.pixel_array.astype(int)
        ds.PixelData = np.clip(4096 - stored, 0, 4095).astype("<u2").tobytes()

    conjugated = tmp_path / "conjugated"
    shutil.copytree(source, conjugated)
    _edit_phase_files(conjugated, negate)
    again = load_fat_maps(conjugated, "fit", processes=1)
    assert "the phase conjugated" in again.description
    assert np.nanmedian(np.abs(again.pdff_percent[tissue] - reference.pdff_percent[tissue])) < 0.05
    assert np.nanmedian(np.abs(again.field_map_hz[tissue] + reference.field_map_hz[tissue])) < 0.5

    unscaled = tmp_path / "unscaled"
    shutil.copytree(source, unscaled)
    _edit_phase_files(unscaled, lambda ds: [delattr(ds, k) for k in ("RescaleSlope", "RescaleIntercept", "RescaleType")])
    echoes = read_fat_input(unscaled, "fit").echoes
    assert "from 0 (centred)" in echoes.metadata["phase"]
    wrapped = np.angle(np.exp(1j * (echoes.phase - data.fat.phase)))
    assert np.median(np.abs(wrapped)) < 0.01

    damaged = tmp_path / "damaged"
    shutil.copytree(source, damaged)
    victim = next(p for p in sorted(damaged.iterdir()) if "P" in pydicom.dcmread(p, stop_before_pixels=True).ImageType)
    victim.write_bytes(victim.read_bytes()[:-3000])
    fat_input = read_fat_input(damaged, "fit")
    assert fat_input.echoes.phase is None and fat_input.echoes.magnitude.shape == data.fat.magnitude.shape
    assert any(str(victim) in w and "magnitudes only" in w for w in fat_input.warnings)
