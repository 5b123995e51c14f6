"""Hostile inputs for ``vcfdiagnosis run``: paths from case ids and headers, output folders, exit codes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk

from . import OUT, VICTIM, HostileCase
from .inputs import copy_patient, unwritable_path

FAST = ["--no-report", "--maps", "none"]


def _run_argv(sandbox: Path, *extra: str, roi: str = "roi/lesion_label.nii.gz", out: str = OUT) -> list[str]:
    patient = copy_patient(sandbox)
    return ["run", "--dwi", str(patient / "dwi"), "--roi", str(patient / roi), "--out", str(sandbox / out),
            *FAST, *extra]


def _files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _one_mrb_inside_out(sandbox: Path, outcome) -> None:
    mrbs = list((sandbox / OUT).glob("*.mrb"))
    assert len(mrbs) == 1, f"expected one .mrb directly in out/, found {[str(p) for p in _files_in(sandbox)]}"
    assert (sandbox / OUT / "results.tsv").is_file() and (sandbox / OUT / "case.json").is_file()


def _case_id_kept(case_id: str):
    def check(sandbox: Path, outcome) -> None:
        from VCFDiagnosisLib.analysis.results import read_results_tsv

        _one_mrb_inside_out(sandbox, outcome)
        rows = read_results_tsv(sandbox / OUT / "results.tsv")
        assert [r["case_id"] for r in rows] == [case_id], rows[0]["case_id"]
    return check


def _series_description(text: str):
    def build(sandbox: Path) -> list[str]:
        argv = _run_argv(sandbox)
        for path in (sandbox / "patient" / "dwi").iterdir():
            ds = pydicom.dcmread(path)
            ds.SeriesDescription = text
            ds.save_as(path)
        return argv
    return build


def _existing_user_folder(force: bool):
    def build(sandbox: Path) -> list[str]:
        (sandbox / OUT).mkdir()
        (sandbox / OUT / "thesis.docx").write_text("a user's own file\n")
        return _run_argv(sandbox, *(["--force"] if force else []))
    return build


def _user_file_kept(sandbox: Path, outcome) -> None:
    assert (sandbox / OUT / "thesis.docx").read_text() == "a user's own file\n"
    assert sorted(p.name for p in (sandbox / OUT).iterdir()) == ["thesis.docx"]


def _earlier_case_folder(sandbox: Path) -> list[str]:
    (sandbox / OUT).mkdir()
    (sandbox / OUT / "case.json").write_text('{"case_id": "old"}')
    (sandbox / OUT / "results.tsv").write_text("case_id\nold\n")
    (sandbox / OUT / "maps").mkdir()
    (sandbox / OUT / "maps" / "Dstar.nrrd").write_text("a map of the previous run\n")
    return _run_argv(sandbox, "--force", "--case-id", "new")


def _previous_files_gone(sandbox: Path, outcome) -> None:
    assert not (sandbox / OUT / "maps").exists(), "a file of the previous case was left beside the new one"
    _case_id_kept("new")(sandbox, outcome)


def _label_moved(offset_mm: float, empty: bool = False):
    def build(sandbox: Path) -> list[str]:
        argv = _run_argv(sandbox)
        path = sandbox / "patient" / "roi" / "lesion_label.nii.gz"
        image = sitk.ReadImage(str(path))
        if empty:
            image = sitk.GetImageFromArray(np.zeros_like(sitk.GetArrayFromImage(image)))
            image.CopyInformation(sitk.ReadImage(str(path)))
        image.SetOrigin([o + offset_mm for o in image.GetOrigin()])
        sitk.WriteImage(image, str(path))
        return argv
    return build


def _out_is_a_file(sandbox: Path) -> list[str]:
    argv = _run_argv(sandbox, out="a_file.txt")
    (sandbox / "a_file.txt").write_text("not a folder\n")
    return argv


def _missing(option: str):
    def build(sandbox: Path) -> list[str]:
        argv = _run_argv(sandbox)
        argv[argv.index(option) + 1] = str(sandbox / "nowhere" / "x")
        return argv
    return build


def _roi_truncated(compressed: bool):
    """The ROI label map cut short (a copy interrupted half-way), gzip-compressed or plain NIfTI."""
    def build(sandbox: Path) -> list[str]:
        name = "lesion_label.nii.gz" if compressed else "lesion_label.nii"
        argv = _run_argv(sandbox, roi=f"roi/{name}")
        label = sandbox / "patient" / "roi" / name
        if not compressed:
            sitk.WriteImage(sitk.ReadImage(str(label.parent / "lesion_label.nii.gz")), str(label), useCompression=False)
        data = label.read_bytes()
        label.write_bytes(data[: len(data) // 2 if compressed else len(data) - 4096])
        return argv
    return build


def _no_results(sandbox: Path) -> None:
    assert not (sandbox / OUT / "results.tsv").exists(), "a truncated ROI produced results"


LONG_ID = "L" + "ong-" * 75  # 301 characters: longer than any file name may be

CASES = [
    HostileCase("run-case-id-dotdot", "paths", lambda s: _run_argv(s, "--case-id", "../../x"), 0,
                check=_case_id_kept("../../x")),
    HostileCase("run-case-id-absolute-victim", "paths",
                lambda s: _run_argv(s, "--case-id", str(s / VICTIM)), 0, check=_one_mrb_inside_out),
    HostileCase("run-case-id-absolute-etc", "paths", lambda s: _run_argv(s, "--case-id", "/etc/passwd"), 0,
                check=_case_id_kept("/etc/passwd")),
    HostileCase("run-case-id-300-characters", "paths", lambda s: _run_argv(s, "--case-id", LONG_ID), 0,
                check=_case_id_kept(LONG_ID)),
    HostileCase("run-case-id-windows-device", "paths", lambda s: _run_argv(s, "--case-id", "NUL"), 0,
                check=_case_id_kept("NUL")),
    HostileCase("run-case-id-tab-newline", "paths", lambda s: _run_argv(s, "--case-id", "a\tb\nc"), 0,
                check=_case_id_kept("a\tb\nc")),
    HostileCase("run-case-id-umlaut", "paths", lambda s: _run_argv(s, "--case-id", "Müller"), 0,
                check=_case_id_kept("Müller")),
    HostileCase("run-series-description-traversal", "paths", _series_description("../../../X"), 0,
                check=_one_mrb_inside_out),
    HostileCase("run-series-description-absolute", "paths", _series_description("/tmp/vcfdiag-owned"), 0,
                check=_one_mrb_inside_out),
    HostileCase("run-out-used-by-user", "paths", _existing_user_folder(False), 2,
                ("not a VCFDiagnosis case folder",), check=_user_file_kept),
    HostileCase("run-out-used-by-user-force", "paths", _existing_user_folder(True), 2,
                ("not a VCFDiagnosis case folder",), check=_user_file_kept),
    HostileCase("run-force-replaces-whole-case", "paths", _earlier_case_folder, 0, check=_previous_files_gone),
    HostileCase("run-only-row-is-error", "paths", _label_moved(500.0), 1, ("every row is an error",
                                                                           "no voxel inside the DWI")),
    HostileCase("run-empty-roi", "paths", _label_moved(0.0, empty=True), (1, 2), ("lesion_label.nii.gz",)),
    HostileCase("run-roi-truncated-gz", "paths", _roi_truncated(True), 2, ("lesion_label.nii.gz",),
                check=lambda s, o: _no_results(s)),
    HostileCase("run-roi-truncated-nii", "paths", _roi_truncated(False), 2, ("lesion_label.nii", "truncated"),
                check=lambda s, o: _no_results(s)),
    HostileCase("run-out-is-a-file", "paths", _out_is_a_file, 2, ("a_file.txt", "not a folder")),
    HostileCase("run-out-unwritable", "paths",
                lambda s: _run_argv(s, out=str(unwritable_path(s) / "case")), 2, ("vcfdiag-unwritable",)),
    HostileCase("run-dwi-missing", "paths", _missing("--dwi"), 2, ("{sandbox}/nowhere/x", "no such file")),
    HostileCase("run-roi-missing", "paths", _missing("--roi"), 2, ("{sandbox}/nowhere/x", "no such file")),
    HostileCase("run-unknown-option", "paths", lambda s: _run_argv(s, "--frobnicate"), 2,
                ("unrecognized arguments",)),
]
