"""IVIM engine: ROI-mean fit and ROI statistics against a direct numpy computation."""

from __future__ import annotations

import numpy as np
import pytest

from VCFDiagnosisLib.ivim import (
    FitStatus,
    IvimMaps,
    fit_ivim,
    fit_roi_mean_signal,
    ivim_signal,
    roi_statistics,
)

B = np.array([0, 50, 100, 150, 200, 400, 600, 800], dtype=float)


def test_roi_statistics_match_numpy():
    rng = np.random.default_rng(3)
    shape = (4, 6, 5)
    y = ivim_signal(B, rng.uniform(800, 1200, shape), rng.uniform(0.5e-3, 2e-3, shape),
                    rng.uniform(0.02, 0.08, shape), rng.uniform(0.05, 0.3, shape))
    y = np.abs(y + rng.normal(0, 15, y.shape))
    y[0, 0, 0] = np.nan  # an invalid voxel inside the ROI
    maps = fit_ivim(B, y, method="nlls")
    mask = np.zeros(shape, bool)
    mask[:2, 1:5, 1:4] = True
    mask[0, 0, 0] = True
    stats = roi_statistics(maps, mask)
    assert stats["n_voxels"] == int(mask.sum())
    assert stats["status_counts"]["INVALID_INPUT"] == 1
    assert sum(stats["status_counts"].values()) == mask.sum()
    for name in ("S0", "D_mm2_s", "Dstar_mm2_s", "f_fraction", "ADC_mm2_s", "R2"):
        v = getattr(maps, name)[mask]
        v = v[np.isfinite(v)]
        s = stats[name]
        assert s["n"] == v.size
        assert s["mean"] == pytest.approx(np.mean(v), rel=1e-12)
        assert s["median"] == pytest.approx(np.median(v), rel=1e-12)
        assert s["sd"] == pytest.approx(np.std(v, ddof=1), rel=1e-12)
        assert s["iqr"] == pytest.approx(np.percentile(v, 75) - np.percentile(v, 25), rel=1e-12)
    ok_only = roi_statistics(maps, mask, ok_only=True)
    ok = mask & (maps.status == FitStatus.OK)
    assert ok_only["D_mm2_s"]["n"] == int(ok.sum())
    assert ok_only["D_mm2_s"]["mean"] == pytest.approx(np.mean(maps.D_mm2_s[ok]), rel=1e-12)


def test_roi_statistics_of_an_empty_or_single_voxel_roi():
    maps = fit_ivim(B, ivim_signal(B, 1000.0, [1e-3, 1.5e-3], 0.03, 0.1), method="nlls")
    one = roi_statistics(maps, np.array([True, False]))
    assert one["D_mm2_s"]["n"] == 1 and one["D_mm2_s"]["mean"] == pytest.approx(1e-3, rel=1e-6)
    assert np.isnan(one["D_mm2_s"]["sd"])
    none = roi_statistics(maps, np.array([False, False]))
    assert none["n_voxels"] == 0 and none["f_fraction"]["n"] == 0 and np.isnan(none["f_fraction"]["mean"])
    with pytest.raises(ValueError, match="mask shape"):
        roi_statistics(maps, np.ones(3, bool))


def test_roi_mean_signal_fit_equals_fit_of_the_averaged_signal():
    rng = np.random.default_rng(5)
    shape = (3, 8, 8)
    y = ivim_signal(B, 1000.0, 1.3e-3, 0.05, 0.12) + rng.normal(0, 30, shape + (B.size,))
    mask = np.zeros(shape, bool)
    mask[1, 2:6, 2:7] = True
    y[1, 2, 2] = np.inf  # left out of the mean
    roi = fit_roi_mean_signal(B, y, mask, method="nlls")
    keep = mask.copy()
    keep[1, 2, 2] = False
    direct = fit_ivim(B, y[keep].mean(axis=0), method="nlls", auto_mask=False)
    assert isinstance(roi, IvimMaps) and roi.D_mm2_s.shape == ()
    for name in ("S0", "D_mm2_s", "Dstar_mm2_s", "f_fraction", "ADC_mm2_s"):
        assert getattr(roi, name) == pytest.approx(getattr(direct, name), rel=1e-12)
    assert roi.D_mm2_s == pytest.approx(1.3e-3, rel=0.05)
    with pytest.raises(ValueError, match="no voxel"):
        fit_roi_mean_signal(B, y, np.zeros(shape, bool))
