"""Hostile inputs for water-fat imaging (``vcfdiagnosis pdff``, ``run --fat``): folders without a water-fat series,
echoes that cannot be fitted, damaged files, another patient's series, outputs in the way. Inputs are the shared
phantom patient's 6-echo series (``fat/echoes``), copied and edited here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom

from . import OUT, VICTIM, HostileCase
from .inputs import copy_patient

AREA = "fat"
ECHOES = "{sandbox}/patient/fat/echoes"


def _edited(**changes):
    """Return a build: the patient with every echo file's header changed (keyword: value)."""
    def build(sandbox: Path) -> list[str]:
        echoes = copy_patient(sandbox) / "fat" / "echoes"
        for path in echoes.iterdir():
            ds = pydicom.dcmread(path)
            for keyword, value in changes.items():
                setattr(ds, keyword, value)
            ds.save_as(path)
        return ["pdff", str(echoes), "--out", str(sandbox / OUT)]
    return build


def _two_echoes(sandbox: Path) -> list[str]:
    """Only the files of the first two echo times are left."""
    echoes = copy_patient(sandbox) / "fat" / "echoes"
    for path in echoes.iterdir():
        if float(pydicom.dcmread(path, stop_before_pixels=True).EchoTime) > 2.5:
            path.unlink()
    return ["pdff", str(echoes), "--out", str(sandbox / OUT)]


def _truncated(part: str):
    """Return a build: the patient with one magnitude (``M``) or phase (``P``) echo file cut short."""
    def build(sandbox: Path) -> list[str]:
        echoes = copy_patient(sandbox) / "fat" / "echoes"
        victim = next(p for p in sorted(echoes.iterdir())
                      if part in pydicom.dcmread(p, stop_before_pixels=True).ImageType)
        victim.write_bytes(victim.read_bytes()[:-2000])
        return ["pdff", str(echoes), "--out", str(sandbox / OUT)]
    return build


def _magnitude_maps_written(sandbox: Path, outcome) -> None:
    assert (sandbox / OUT / "PDFF.nii.gz").exists() and not (sandbox / OUT / "field_map.nii.gz").exists(), \
        "the magnitudes were not fitted alone"
    assert "truncated" in outcome.stdout and "magnitudes only" in outcome.stdout, "the phase problem was not reported"


def _dwi_as_fat(sandbox: Path) -> list[str]:
    patient = copy_patient(sandbox)
    return ["pdff", str(patient / "dwi"), "--out", str(sandbox / OUT)]


def _missing(sandbox: Path) -> list[str]:
    return ["pdff", str(sandbox / "nowhere"), "--out", str(sandbox / OUT)]


def _out_is_a_file(sandbox: Path) -> list[str]:
    copy_patient(sandbox)
    return ["pdff", ECHOES.format(sandbox=sandbox), "--out", str(sandbox / VICTIM)]


def _maps_exist(sandbox: Path) -> list[str]:
    copy_patient(sandbox)
    (sandbox / OUT).mkdir()
    (sandbox / OUT / "PDFF.nii.gz").write_bytes(b"earlier results")
    return ["pdff", ECHOES.format(sandbox=sandbox), "--out", str(sandbox / OUT)]


def _earlier_kept(sandbox: Path, outcome) -> None:
    assert (sandbox / OUT / "PDFF.nii.gz").read_bytes() == b"earlier results", "an existing map was replaced"


def _another_patient(sandbox: Path) -> list[str]:
    patient = copy_patient(sandbox)
    other = sandbox / "other"
    shutil.copytree(patient / "fat" / "echoes", other)
    for path in other.iterdir():
        ds = pydicom.dcmread(path)
        ds.PatientID = "ANOTHER-PATIENT-77"
        ds.save_as(path)
    return ["run", "--dwi", str(patient / "dwi"), "--roi", str(patient / "roi" / "lesion_label.nii.gz"), "--fat",
            str(other), "--out", str(sandbox / OUT), "--no-report"]


def _no_id_in_message(sandbox: Path, outcome) -> None:
    assert "ANOTHER-PATIENT-77" not in outcome.stderr + outcome.stdout, "a PatientID was printed"
    assert not (sandbox / OUT).exists() or not any((sandbox / OUT).iterdir()), "a case folder was written"


def _case(name: str, build, expect_exit, *message: str, check=None) -> HostileCase:
    return HostileCase(name=f"fat_{name}", area=AREA, build=build, expect_exit=expect_exit,
                       expect_in_message=tuple(message), check=check)


CASES: list[HostileCase] = [
    _case("missing_folder", _missing, 2, "{sandbox}/nowhere", "no such file or folder"),
    _case("dwi_given_as_water_fat", _dwi_as_fat, 2, "{sandbox}/patient/dwi", "no multi-echo gradient-echo series"),
    _case("two_echoes_only", _two_echoes, 2, "(>= 3 echo times)", "echo times [1.2, 2.4] ms"),
    _case("one_echo_time_everywhere", _edited(EchoTime="2.4"), 2, "(>= 3 echo times)", "echo times [2.4] ms"),
    _case("no_field_strength", _edited(ImagingFrequency="", MagneticFieldStrength=""), 2,
          "no ImagingFrequency or MagneticFieldStrength"),
    _case("truncated_echo_file", _truncated("M"), 2, "{sandbox}/patient/fat/echoes", "truncated"),
    _case("truncated_phase_file", _truncated("P"), 0, check=_magnitude_maps_written),
    _case("out_is_a_file", _out_is_a_file, 2, VICTIM, "not a folder"),
    _case("maps_exist_without_force", _maps_exist, 2, "PDFF.nii.gz", "--force", check=_earlier_kept),
    _case("another_patients_series", _another_patient, 2, "{sandbox}/other", "different PatientIDs",
          check=_no_id_in_message),
]
