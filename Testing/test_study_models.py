"""The study's models against its golden cases (PAPER.md: Fig. 2, Fig. 3, Table 3 group means)."""

from __future__ import annotations

import math

import pytest

from VCFDiagnosisLib.analysis.study_models import (
    P_COMBINED,
    P_IVIM,
    TABLE3,
    predict,
    study_range,
)
from VCFDiagnosisLib.mrs.model import fat_fraction_percent_from_lwr


def test_fig2_osteoporotic_case():
    ff = float(fat_fraction_percent_from_lwr(4900 / 5320))
    assert ff == pytest.approx(47.9, abs=0.05)
    result = predict(D_mm2_s=1.65e-3, Dstar_mm2_s=1.84e-2, f_fraction=0.128, FF_percent=ff)
    assert result.P_combined == pytest.approx(3.94e-4, rel=0.02)
    assert result.prediction == "osteoporotic" and result.prediction_model == "P_combined"
    assert result.mrs_rule == "osteoporotic"


def test_fig3_metastatic_case():
    ff = float(fat_fraction_percent_from_lwr(479 / 9740))
    assert ff == pytest.approx(4.69, abs=0.005)
    result = predict(D_mm2_s=1.17e-3, Dstar_mm2_s=6.44e-2, f_fraction=0.092, FF_percent=ff)
    assert result.P_combined == pytest.approx(0.9987, abs=0.0002)
    assert result.prediction == "metastatic"
    assert result.mrs_rule == "metastatic"


@pytest.mark.parametrize("group, expected", [("osteoporotic", 0.0435), ("metastatic", 0.9605)])
def test_table3_group_means(group, expected):
    means = {k: v[0] for k, v in TABLE3[group].items()}
    result = predict(means["D_mm2_s"], means["Dstar_mm2_s"], means["f_fraction"], means["FF_percent"])
    assert result.P_combined == pytest.approx(expected, abs=0.001)
    assert result.prediction == group
    assert not result.flags


def test_ivim_only_model_and_manual_logit():
    values = {"D_mm2_s": 1.0e-3, "Dstar_mm2_s": 0.05, "f_fraction": 0.1}
    z = -3.068 - 736.188 * 1.0e-3 + 135.729 * 0.05 - 8.449 * 0.1
    assert P_IVIM.probability(values) == pytest.approx(1 / (1 + math.exp(-z)), rel=1e-12)
    result = predict(**values)
    assert result.P_combined is None and result.prediction_model == "P_IVIM"
    assert result.prediction == ("metastatic" if z > 0 else "osteoporotic")


def test_extrapolation_flags_and_missing_inputs():
    result = predict(D_mm2_s=5e-3, Dstar_mm2_s=0.03, f_fraction=0.1, FF_percent=20, ADC_mm2_s=1.2e-3)
    assert any("D_mm2_s" in flag and "extrapolated" in flag for flag in result.flags)
    assert result.adc_rule == "metastatic"
    empty = predict(float("nan"), 0.03, 0.1)
    assert empty.P_IVIM is None and empty.prediction is None
    with pytest.raises(ValueError, match="FF_percent"):
        P_COMBINED.logit({"D_mm2_s": 1e-3, "Dstar_mm2_s": 0.03, "f_fraction": 0.1})
    low, high = study_range("D_mm2_s")
    assert low == 0.0 and high == pytest.approx(1.04e-3 + 2 * 0.95e-3)


def test_probability_is_stable_for_extreme_logits():
    assert P_IVIM.probability({"D_mm2_s": 0, "Dstar_mm2_s": 10, "f_fraction": 0}) == pytest.approx(1.0)
    assert P_IVIM.probability({"D_mm2_s": 10, "Dstar_mm2_s": 0, "f_fraction": 0}) == pytest.approx(0.0, abs=1e-300)
