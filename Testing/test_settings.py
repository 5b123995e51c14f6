"""The one settings model: every front end is derived from CaseSettings, so one new option is one edit.

The acceptance test adds an option in one place (a subclass with one more field, installed as the settings
model) and finds it in every front end: the ``run``, ``batch`` and ``fit`` parsers, the panel's specs (from
which VCFDiagnosis.py builds the parameter node and its widgets, checked statically in test_qt_static.py), the
JSON schema of the browser station, the Logic, and a batch's ``case.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math

import pytest

from VCFDiagnosisLib.analysis import settings as settings_module
from VCFDiagnosisLib.analysis.settings import (
    CaseSettings,
    add_setting_arguments,
    setting,
    setting_specs,
    settings_from_args,
    settings_schema,
)
from VCFDiagnosisLib.app.cli import build_parser
from VCFDiagnosisLib.errors import InputError
from VCFDiagnosisLib.ivim.options import DEFAULT_B_THRESHOLD_S_MM2, DEFAULT_METHOD, METHODS


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


def _flags(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: action for action in parser._actions for flag in action.option_strings}


@pytest.fixture
def extended(monkeypatch):
    """The settings model with one more option, defined in one place."""
    extended = dataclasses.make_dataclass(
        "ExtendedSettings",
        [("smoothing_fwhm_mm", float, setting(0.0, label="Smoothing", unit="mm", minimum=0.0, maximum=10.0,
                                               help="Gaussian smoothing of the DWI before the fit"))],
        bases=(CaseSettings,), frozen=True)
    monkeypatch.setattr(settings_module, "CaseSettings", extended)
    return extended


def test_a_new_option_reaches_every_front_end(extended, tmp_path):
    parser = build_parser()
    run_flags = _flags(_subcommand(parser, "run"))
    batch_flags = _flags(_subcommand(parser, "batch"))
    assert "--smoothing-fwhm-mm" in run_flags and "--smoothing-fwhm-mm" in batch_flags
    assert "(mm)" in run_flags["--smoothing-fwhm-mm"].help and run_flags["--smoothing-fwhm-mm"].default == 0.0
    args = parser.parse_args(["run", "--dwi", "d", "--roi", "r", "--out", "o", "--smoothing-fwhm-mm", "1.5"])
    parsed = settings_from_args(args)
    assert isinstance(parsed, extended) and parsed.smoothing_fwhm_mm == 1.5
    with pytest.raises(InputError, match=r"--smoothing-fwhm-mm: 11 mm is outside 0-10 mm"):
        settings_from_args(parser.parse_args(["batch", "m.tsv", "--out", "o", "--smoothing-fwhm-mm", "11"]))
    panel = {spec.name: spec for spec in setting_specs(panel_only=True)}
    assert panel["smoothing_fwhm_mm"].label == "Smoothing" and panel["smoothing_fwhm_mm"].maximum == 10.0
    schema = {entry["name"]: entry for entry in settings_schema()}
    assert schema["smoothing_fwhm_mm"]["unit"] == "mm" and json.dumps(schema)
    # the Logic and the batch runner carry any settings object: it reaches case.json (see test_batch.py)
    assert extended.from_dict({**CaseSettings().to_dict(), "smoothing_fwhm_mm": 2.0}).smoothing_fwhm_mm == 2.0


def test_front_ends_agree_with_the_model():
    """Every setting is a flag of run and batch with the model's default and choices; fit offers its three."""
    parser = build_parser()
    fields = dataclasses.fields(CaseSettings)
    for command in ("run", "batch"):
        flags = _flags(_subcommand(parser, command))
        for f in fields:
            flag = settings_module.flag_of(f)
            assert flag in flags, (command, flag)
            action = flags[flag]
            assert action.dest == f.name
            if f.type in (bool, "bool"):  # a flag that turns the default over: --no-report, --dicom
                assert action.default is f.default and action.const is (not f.default), flag
            else:
                assert action.default == f.default
                assert list(action.choices or []) == list(settings_module.setting_of(f).choices)
    fit_flags = _flags(_subcommand(parser, "fit"))
    assert {"--method", "--b-threshold", "--background-fraction"} <= set(fit_flags)
    assert "--maps" not in fit_flags and "--no-report" not in fit_flags
    assert fit_flags["--method"].default == DEFAULT_METHOD and list(fit_flags["--method"].choices) == list(METHODS)
    specs = setting_specs(panel_only=True)
    assert [s.name for s in specs if s.name == "report"] == []  # the report concerns written files only
    assert {s.group for s in specs} <= set(settings_module.GROUPS)


def test_defaults_come_from_the_engine_and_values_are_validated():
    defaults = CaseSettings()
    assert defaults.method == DEFAULT_METHOD and defaults.b_threshold_s_mm2 == DEFAULT_B_THRESHOLD_S_MM2
    assert defaults.report is True and defaults.maps == "roi"
    assert CaseSettings(min_roi_voxels=7.0).min_roi_voxels == 7  # a whole float is accepted as an int
    bad = [({"method": "fast"}, r"--method: 'fast' is not one of map, nlls"),
           ({"b_threshold_s_mm2": math.nan}, "--b-threshold: must be a finite number"),
           ({"b_threshold_s_mm2": 5000}, "--b-threshold: 5000 s/mm2 is outside 1-1000 s/mm2"),
           ({"background_fraction": -0.1}, "--background-fraction: -0.1 is outside 0-0.99"),
           ({"min_roi_voxels": 2.5}, "--min-roi-voxels: must be a whole number"),
           ({"water_t2_ms": "abc"}, "--water-t2-ms: must be a number"),
           ({"report": "no"}, "--no-report: must be true or false")]
    for change, message in bad:
        with pytest.raises(InputError, match=message):
            CaseSettings(**change)
    with pytest.raises(InputError, match="unknown setting bthreshold"):
        CaseSettings.from_dict({"bthreshold": 100})
    assert CaseSettings.from_dict(defaults.to_dict()) == defaults


def test_settings_from_an_object_keep_defaults_for_what_it_does_not_hold():
    class ParameterNode:  # the panel's parameter node holds the panel settings, not ``report``
        method = "segmented"
        b_threshold_s_mm2 = 150.0

    settings = CaseSettings.from_object(ParameterNode())
    assert settings.method == "segmented" and settings.b_threshold_s_mm2 == 150.0 and settings.report is True


def test_cli_rejects_a_bad_setting_with_exit_2_naming_the_flag(tmp_path, capsys):
    from VCFDiagnosisLib.app.cli import main

    dwi = tmp_path / "dwi"
    dwi.mkdir()
    code = main(["run", "--dwi", str(dwi), "--roi", str(dwi), "--out", str(tmp_path / "o"),
                 "--b-threshold", "-5"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--b-threshold: -5 s/mm2 is outside 1-1000 s/mm2" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_add_setting_arguments_can_offer_a_subset():
    parser = argparse.ArgumentParser()
    add_setting_arguments(parser, names=("method",))
    assert set(_flags(parser)) == {"-h", "--help", "--method"}
    assert settings_from_args(parser.parse_args(["--method", "adc"])) == CaseSettings(method="adc")


def test_readme_lists_the_settings_as_the_model_defines_them():
    from pathlib import Path

    from VCFDiagnosisLib.analysis.settings import settings_markdown_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert settings_markdown_table() in readme, "README's Settings table is stale: paste settings_markdown_table()"
