"""Water-fat fit on synthetic marrow spectra (mrs.model.synthesize_fid): known LWR/FF come back.

Also: CRLB calibration, labelling with the receiver on fat and any phase, T2-corrected PDFF, the
conjugated formats end to end (a synthetic marrow FID written into a DICOM MRS file), and speed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from VCFDiagnosisLib.mrs import Spectrum, fit_water_fat, quantify_spectrum, read_spectrum
from VCFDiagnosisLib.mrs.model import (
    HAMILTON_FAT_PEAKS,
    fat_fraction_percent_from_lwr,
    lwr_from_fat_fraction_percent,
    spectrum_from_fid,
    synthesize_fid,
)
from VCFDiagnosisLib.mrs.result import t2_corrected_pdff_percent

DATA = Path(__file__).resolve().parent / "Data" / "mrs"
N, DWELL, F0 = 2048, 5e-4, 123.2


def marrow(ff, snr=None, seed=0, **kw):
    """Return a synthetic marrow FID with FF (percent) and SNR (tallest real peak / real noise SD)."""
    base = {"n_points": N, "dwell_s": DWELL, "frequency_mhz": F0, "water_area": 100.0,
            "lwr": float(lwr_from_fat_fraction_percent(ff))}
    base.update(kw)
    clean = synthesize_fid(**base)
    if snr is None:
        return clean
    height = spectrum_from_fid(clean * np.exp(-1j * np.deg2rad(base.get("phase_deg", 0.0)))).real.max()
    sd = height / snr / np.sqrt(N)
    rng = np.random.default_rng(seed)
    return clean + sd * (rng.standard_normal(N) + 1j * rng.standard_normal(N))


@pytest.mark.parametrize("ff, phase, shift, center", [
    (2.0, 0.0, 0.0, 4.7), (24.73, 90.0, -12.0, 4.7), (47.9, -179.0, 20.0, 4.7), (70.0, 45.0, 5.0, 4.7),
    (14.95, 180.0, -20.0, 1.3), (60.0, -100.0, 8.0, 1.3),
])
def test_noiseless_round_trip(ff, phase, shift, center):
    fid = marrow(ff, phase_deg=phase, shift_hz=shift, center_ppm=center, water_linewidth_hz=22.0,
                 fat_linewidth_hz=33.0)
    r = quantify_spectrum(Spectrum(fid=fid, dwell_s=DWELL, frequency_mhz=F0))
    assert r.ff_percent == pytest.approx(ff, abs=0.02)
    assert r.lwr == pytest.approx(lwr_from_fat_fraction_percent(ff), rel=1e-3)
    assert r.water_area == pytest.approx(100.0, rel=1e-3)
    assert r.water_ppm == pytest.approx(4.7, abs=0.01)
    assert np.rad2deg(np.angle(np.exp(1j * np.deg2rad(r.phase_deg - phase)))) == pytest.approx(0.0, abs=0.5)
    assert r.water_fwhm_hz == pytest.approx(22.0, abs=0.5) and r.fat_fwhm_hz == pytest.approx(33.0, abs=0.5)
    assert r.reliable and r.residual_ratio < 1.5


@pytest.mark.parametrize("ff, snr, tol", [(5.0, 300, 0.5), (25.0, 300, 0.5), (60.0, 300, 0.5), (25.0, 50, 1.5)])
def test_noisy_round_trip(ff, snr, tol):
    fid = marrow(ff, snr=snr, seed=int(ff), phase_deg=-60.0, shift_hz=9.0, water_linewidth_hz=30.0,
                 fat_linewidth_hz=35.0)
    r = quantify_spectrum(Spectrum(fid=fid, dwell_s=DWELL, frequency_mhz=F0))
    assert abs(r.ff_percent - ff) <= tol
    assert abs(r.ff_percent - ff) <= 4 * r.ff_sd + 0.05
    assert r.snr == pytest.approx(snr, rel=0.25)


def test_crlb_matches_the_scatter_of_repeated_fits():
    errors, sds = [], []
    for seed in range(16):
        fid = marrow(30.0, snr=60, seed=seed, water_linewidth_hz=25.0, fat_linewidth_hz=30.0)
        r = quantify_spectrum(Spectrum(fid=fid, dwell_s=DWELL, frequency_mhz=F0))
        errors.append(r.ff_percent - 30.0)
        sds.append(r.ff_sd)
    ratio = np.std(errors) / np.mean(sds)
    assert 0.5 < ratio < 1.6, (np.std(errors), np.mean(sds))
    assert abs(np.mean(errors)) < 3 * np.mean(sds) / np.sqrt(len(errors)) + 0.1


def test_model_mismatch_voigt_and_other_profile_stay_within_3_points():
    profile = tuple(type(p)(p.name, p.ppm, p.relative_area * (1.8 if p.name == "olefinic" else 1.0))
                    for p in HAMILTON_FAT_PEAKS)
    for ff in (10.0, 40.0):
        for kw in ({"gaussian_fraction": 0.6}, {"fat_peaks": profile}):
            fid = marrow(ff, snr=200, seed=3, water_linewidth_hz=28.0, fat_linewidth_hz=32.0, **kw)
            r = quantify_spectrum(Spectrum(fid=fid, dwell_s=DWELL, frequency_mhz=F0))
            assert abs(r.ff_percent - ff) < 3.0, (ff, kw.keys(), r.ff_percent)


def test_fit_arrays_for_plotting_are_consistent():
    fid = marrow(30.0, snr=400, water_linewidth_hz=25.0, fat_linewidth_hz=30.0)
    fit = fit_water_fat(fid, DWELL, F0)
    assert fit.ppm.shape == fit.real_spectrum.shape == fit.fit_spectrum.shape == fit.residual.shape == (N,)
    np.testing.assert_allclose(fit.real_spectrum - fit.fit_spectrum, fit.residual, atol=1e-9 * fit.real_spectrum.max())
    total = sum(fit.components.values())
    np.testing.assert_allclose(total, fit.fit_spectrum, atol=1e-9 * fit.fit_spectrum.max())
    assert fit.ppm[np.argmax(fit.components["water"])] == pytest.approx(4.7, abs=0.02)
    assert fit.ppm[np.argmax(fit.components["methylene"])] == pytest.approx(1.3, abs=0.02)
    assert set(fit.components) == {"water"} | {p.name for p in HAMILTON_FAT_PEAKS}


def test_t2_corrected_pdff_is_labelled_and_correct():
    te, t2w, t2f = 30.0, 21.0, 70.0
    # a true PDFF of 40 % seen at TE 30 ms: water and fat decay with their own T2
    w0, f0 = 60.0, 40.0
    lwr_obs = f0 * np.exp(-te / t2f) * 0.642 / (w0 * np.exp(-te / t2w))
    fid = synthesize_fid(n_points=N, dwell_s=DWELL, frequency_mhz=F0, water_area=w0 * np.exp(-te / t2w), lwr=lwr_obs)
    s = Spectrum(fid=fid, dwell_s=DWELL, frequency_mhz=F0, te_ms=te)
    r = quantify_spectrum(s, water_t2_ms=t2w, fat_t2_ms=t2f)
    assert r.pdff_t2_corrected_percent == pytest.approx(40.0, abs=0.1)
    assert "model-dependent" in r.pdff_definition
    assert r.ff_percent == pytest.approx(float(fat_fraction_percent_from_lwr(lwr_obs)), abs=0.02)
    assert t2_corrected_pdff_percent(1.0, 0.0, 30.0, 20.0, 60.0) == 0.0
    with pytest.raises(ValueError):
        quantify_spectrum(s, water_t2_ms=21.0)


def test_synthetic_marrow_through_the_dicom_mrs_reader(tmp_path):
    """Conjugated storage end to end: a marrow FID stored as DICOM MRS (conjugate) comes back right."""
    ds = pydicom.dcmread(DATA / "suspect" / "IM-0001-0002.dcm")
    f0, n, sw = float(ds.TransmitterFrequency), int(ds.DataPointColumns), float(ds.SpectralWidth)
    fid = synthesize_fid(n_points=n, dwell_s=1 / sw, frequency_mhz=f0, water_area=1.0, lwr=0.5,
                         water_linewidth_hz=12.0, fat_linewidth_hz=15.0, center_ppm=4.68)
    stored = np.conj(fid).astype(np.complex64).view(np.float32)
    ds[0x5600, 0x0020].value = stored.tobytes()
    ds.NumberOfFrames = 1
    ds.SpectrallySelectedSuppression = "NONE"
    ds.save_as(str(tmp_path / "marrow.dcm"))
    s = read_spectrum(tmp_path / "marrow.dcm")
    assert s.water_suppressed is False and s.reference_fid is None
    r = quantify_spectrum(s)
    assert r.lwr == pytest.approx(0.5, rel=2e-3) and r.ff_percent == pytest.approx(100 / 3, abs=0.05)


def test_synthetic_marrow_through_the_rda_reader(tmp_path):
    blob = (DATA / "suspect" / "SVS_30.rda").read_bytes()
    end = blob.find(b">>> End of header <<<") + len(b">>> End of header <<<\r\n")
    fid = synthesize_fid(n_points=1024, dwell_s=833e-6, frequency_mhz=123.234655, water_area=1e4,
                         lwr=float(lwr_from_fat_fraction_percent(24.73)), phase_deg=150.0)
    (tmp_path / "marrow.rda").write_bytes(blob[:end] + np.stack([fid.real, fid.imag], 1).astype("<f8").tobytes())
    r = quantify_spectrum(read_spectrum(tmp_path / "marrow.rda"))
    assert r.ff_percent == pytest.approx(24.73, abs=0.02)
