"""Site models: a cohort's refitted models exported (``cohort --export-model``), read back, refused when malformed,
and used by ``run``/``batch``/the Logic through the ``model`` setting (``--model``)."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from test_cohort_stats import synthetic_rows

from VCFDiagnosisLib.analysis.results import read_results_tsv, write_results_tsv
from VCFDiagnosisLib.analysis.site_models import load_site_models, models_from_document, site_model_document
from VCFDiagnosisLib.analysis.study_models import PUBLISHED_MODELS, predict
from VCFDiagnosisLib.app.cli import main
from VCFDiagnosisLib.cohort import analyze_cohort, select_cases
from VCFDiagnosisLib.errors import InputError

pytest.importorskip("statsmodels")


@pytest.fixture(scope="module")
def cohort():
    rows = synthetic_rows(seed=11)
    stats = analyze_cohort(rows, source="site.tsv", n_boot=20, seed=0)
    return rows, stats, site_model_document(stats, select_cases(rows, "site.tsv").values, "hospital X")


def test_exported_models_predict_as_the_refit_does(cohort):
    """The file's P_IVIM and P_combined give the probabilities of a statsmodels Logit fitted here directly."""
    import statsmodels.api as sm

    rows, _, document = cohort
    models = models_from_document(json.loads(json.dumps(document)), "site.json")
    table = select_cases(rows, "site.tsv")
    x = np.column_stack([table.values["D"] * 1e3, table.values["Dstar"] * 1e3, table.values["f"]])
    direct = sm.Logit(table.y, sm.add_constant(x)).fit(disp=0).predict(sm.add_constant(x))
    for i in range(len(table.y)):
        case = {"D_mm2_s": table.values["D"][i], "Dstar_mm2_s": table.values["Dstar"][i],
                "f_fraction": table.values["f"][i]}
        assert models.p_ivim.probability(case) == pytest.approx(direct[i], abs=1e-7)
    assert document["cohort"]["n_cases"] == 70 and document["models"]["P_IVIM"]["n_metastatic"] == 32
    assert document["predictors"]["FF_percent"]["training_range"] == [float(np.nanmin(table.values["FF"])),
                                                                       float(np.nanmax(table.values["FF"]))]
    assert document["models"]["P_combined"]["validation"]["bootstrap"]["n_boot"] == 20
    assert models.label == "site model 'hospital X'" and "(n = 70)" in models.note and "not a diagnosis" in models.note


def test_predictions_name_the_site_model_and_flag_its_training_range(cohort):
    _, _, document = cohort
    models = models_from_document(document, "site.json")
    low, high = models.range_of("D_mm2_s")
    inside = predict(0.5 * (low + high), 0.04, 0.15, 20.0, models=models)
    assert inside.model == "site model 'hospital X'" and inside.prediction_model == "P_combined"
    assert not [f for f in inside.flags if "D_mm2_s" in f]
    outside = predict(high * 1.5, 0.04, 0.15, 20.0, models=models)
    assert any(f.startswith("extrapolated: D_mm2_s") and "site model 'hospital X'" in f for f in outside.flags)
    assert predict(1e-3, 0.04, 0.15, 20.0).model == "Tan et al. 2019, published"
    assert load_site_models("") is PUBLISHED_MODELS


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(format="other"), "not a site model file"),
    (lambda d: d.update(format_version=2), "format version 2"),
    (lambda d: d["predictors"].update(ADC={"unit": "mm2/s", "training_range": [0, 1]}), "unknown predictor 'ADC'"),
    (lambda d: d["predictors"]["D_mm2_s"].update(unit="um2/ms"), "predictor 'D_mm2_s' has unit 'um2/ms'"),
    (lambda d: d["models"]["P_IVIM"]["coefficients"]["Dstar_mm2_s"].update(unit="per s/mm2"),
     "the coefficient's unit must be 'per mm2/s'"),
    (lambda d: d["models"]["P_IVIM"]["coefficients"]["f_fraction"].update(value=float("nan")), "must be a finite"),
    (lambda d: d["models"]["P_IVIM"]["coefficients"].pop("f_fraction"), "needs coefficients for exactly"),
    (lambda d: d["models"].pop("P_IVIM"), "with a \"P_IVIM\" model"),
    (lambda d: d["models"].update(P_ADC=d["models"]["P_IVIM"]), "unknown model 'P_ADC'"),
    (lambda d: d["predictors"]["f_fraction"].update(training_range=[0.5, 0.1]), "training_range is empty"),
    (lambda d: d["predictors"]["f_fraction"].update(training_range=[0.1]), r"must be \[low, high\]"),
])
def test_malformed_site_models_are_refused_naming_the_problem(cohort, tmp_path, change, message):
    document = copy.deepcopy(cohort[2])
    change(document)
    path = tmp_path / "site.json"
    path.write_text(json.dumps(document))
    with pytest.raises(InputError, match=message) as raised:
        load_site_models(path)
    assert str(path) in str(raised.value)


def test_unreadable_site_model_files_are_refused(tmp_path):
    for name, content in (("text.json", "not json"), ("big.json", "{" + " " * (2 << 20) + "}")):
        (tmp_path / name).write_text(content)
        with pytest.raises(InputError, match=str(tmp_path / name)):
            load_site_models(tmp_path / name)
    with pytest.raises(InputError, match="not a file"):
        load_site_models(tmp_path)
    with pytest.raises(InputError, match="cannot read"):
        load_site_models(tmp_path / "missing.json")


def test_cohort_export_and_run_with_the_site_model(cohort, tmp_path, capsys, patient_case):
    rows = cohort[0]
    table = tmp_path / "cohort.tsv"
    write_results_tsv(table, rows)
    site = tmp_path / "site.json"
    assert main(["cohort", str(table), "--out", str(tmp_path / "stats"), "--bootstrap", "10",
                 "--export-model", str(site), "--model-name", "hospital X"]) == 0
    assert "site model" in capsys.readouterr().out
    assert main(["cohort", str(table), "--out", str(tmp_path / "stats2"), "--export-model", str(site)]) == 2
    assert "exists; use --force" in capsys.readouterr().err and not (tmp_path / "stats2").exists()
    # as a hostile user: the model exported over the cohort's own stats.json, or into a folder, even with --force
    stats_json = tmp_path / "stats" / "stats.json"
    before = stats_json.read_bytes()
    for target in (stats_json, tmp_path / "stats" / ".." / "stats" / "stats.json", tmp_path / "stats"):
        assert main(["cohort", str(table), "--out", str(tmp_path / "stats"), "--force",
                     "--export-model", str(target)]) == 2
        assert "--export-model" in capsys.readouterr().err
    assert stats_json.read_bytes() == before
    out = tmp_path / "case"
    assert main(["run", "--dwi", str(patient_case.dwi_dir), "--roi", str(patient_case.label_path), "--out", str(out),
                 "--maps", "none", "--no-report", "--model", str(site)]) == 0
    printed = capsys.readouterr().out
    assert "site model 'hospital X'" in printed and "Site model 'hospital X' (n = 70)" in printed
    row = read_results_tsv(out / "results.tsv")[0]
    assert row["model"] == "site model 'hospital X'"
    written = json.loads(site.read_text())["models"]["P_IVIM"]  # by hand from the file, not the reader's model
    logit = written["intercept"] + sum(c["value"] * row[column] for column, c in
                                       zip(("D", "Dstar", "f"), (written["coefficients"][p] for p in
                                                                 ("D_mm2_s", "Dstar_mm2_s", "f_fraction"))))
    expected = 1.0 / (1.0 + math.exp(-logit))
    assert row["P_IVIM"] == pytest.approx(expected, rel=1e-9) and math.isnan(row["P_combined"])
    assert json.loads((out / "case.json").read_text())["settings"]["model"] == str(site.resolve())
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["run", "--dwi", str(patient_case.dwi_dir), "--roi", str(patient_case.label_path), "--out",
                 str(tmp_path / "never"), "--model", str(bad)]) == 2
    assert f"{bad}: not a site model file" in capsys.readouterr().err and not (tmp_path / "never").exists()


def test_separated_cohort_cannot_export_a_model(tmp_path, capsys):
    rows = synthetic_rows(seed=1, n_osteo=10, n_meta=10, readers=("R1",))
    for row in rows:  # D alone separates the groups: no finite maximum-likelihood coefficients
        row["D"] = 0.5e-3 if row["label"] == "metastatic" else 2.0e-3
    table = tmp_path / "separated.tsv"
    write_results_tsv(table, rows)
    assert main(["cohort", str(table), "--out", str(tmp_path / "stats"), "--bootstrap", "5",
                 "--export-model", str(tmp_path / "site.json")]) == 2
    assert "--export-model: the refitted IVIM model has no coefficients" in capsys.readouterr().err
    assert not (tmp_path / "site.json").exists() and not (tmp_path / "stats").exists()


@pytest.fixture(scope="module")
def patient_case(tmp_path_factory):
    from VCFDiagnosisLib.phantom import generate_patient

    return generate_patient(tmp_path_factory.mktemp("site-case"), seed=3, group="metastatic", matrix=48,
                            n_slices=5, snr=math.inf)
