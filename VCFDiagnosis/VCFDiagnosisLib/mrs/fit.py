"""Line-shape fit of water plus a multi-peak fat model (prior knowledge) to a single-voxel spectrum.

Model (time domain, the convention of :mod:`.model`; ``c = pi^2 / (4 ln 2)``)::

    fid(t) = exp(i phi) * [ A_w exp(2 pi i (f_w + s + d_w) t - pi L_w t - c g_w t^2)
                          + A_m sum_k r_k exp(2 pi i (f_k + s) t - pi L_f t - c g_f t^2) ]

with ``f_k = (center_ppm - ppm_k) f0`` for the fat peaks of the prior (Hamilton et al. 2011 positions),
``s`` a shift shared by all peaks, ``d_w`` a small bounded water-fat offset (temperature), ``L`` Lorentzian
FWHM (Hz), ``g = G^2`` the squared Gaussian FWHM (Hz^2; Voigt line shape) for water and for fat. The
methylene (1.3 ppm) amplitude ``A_m`` is free; the other fat peaks are tied to it as
``r_k = base_k * factor``: glycerol 4.2 ppm fixed to the prior, olefinic 5.3 (and diallylic 2.75) ppm,
the 2.0-2.25 ppm group, 0.9 ppm and 1.59 ppm with bounded factors (0.5 - 2 x the prior), because
vertebral marrow is more unsaturated than liver. Areas are FID amplitudes at t = 0.

The model is fitted to the real and imaginary parts of ``fftshift(fft(fid))`` in a ppm window with
a bounded Levenberg-Marquardt (analytic Jacobian computed in the time domain and transformed
with one batched FFT; the 13 x 13 normal equations avoid threaded decompositions of the tall
Jacobian). Standard deviations come from the covariance
``sigma^2 (J^T J)^-1`` with sigma the spectral noise SD (Cramer-Rao lower bounds).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import model, processing

GAUSS_C = np.pi**2 / (4.0 * np.log(2.0))
PARAM_NAMES = ("phase_rad", "shift_hz", "water_offset_hz", "water_lorentz_hz", "water_gauss2_hz2",
               "fat_lorentz_hz", "fat_gauss2_hz2", "water_amplitude", "methylene_amplitude",
               "factor_methyl", "factor_beta_carboxyl", "factor_allylic", "factor_olefinic")
#: Which ratio factor (index into the factor parameters, None = fixed to the prior) scales each fat peak.
FACTOR_OF_PEAK = {"methyl": 0, "methylene": None, "beta_carboxyl": 1, "alpha_olefinic": 2,
                  "alpha_carboxyl": 2, "diacyl": 3, "glycerol": None, "olefinic": 3}
FACTOR_BOUNDS = (0.5, 2.0)
N_FACTORS = 4
FIRST_FACTOR = PARAM_NAMES.index("factor_methyl")


@dataclass
class FitOptions:
    """Fit settings: ppm window (after referencing), water-fat offset bound (ppm), width bounds (Hz)."""

    window_ppm: tuple[float, float] = (-1.0, 7.5)
    water_offset_bound_ppm: float = 0.15
    shift_bound_ppm: float = 0.3
    max_lorentz_hz: float = 150.0
    max_gauss_hz: float = 120.0
    fat_peaks: tuple[model.FatPeak, ...] = model.HAMILTON_FAT_PEAKS


@dataclass
class SpectralFit:
    """Outcome of :func:`fit_water_fat`: parameters, their SDs, areas and the arrays for plotting.

    Amplitudes/areas are in the units of the input FID (amplitude at t = 0). ``ppm`` is the referenced
    chemical-shift axis (fat peaks at their prior positions); ``real_spectrum``, ``fit_spectrum``,
    ``residual`` and each entry of ``components`` are real parts of the spectra phased by ``-phase``.
    """

    params: dict[str, float]
    sd: dict[str, float]
    covariance: np.ndarray
    water_area: float
    methylene_area: float
    lwr_sd: float
    peak_areas: dict[str, float]
    water_ppm: float
    water_fwhm_hz: float
    fat_fwhm_hz: float
    noise_sd: float
    residual_ratio: float
    snr: float
    ppm: np.ndarray
    real_spectrum: np.ndarray
    fit_spectrum: np.ndarray
    residual: np.ndarray
    components: dict[str, np.ndarray]
    window: tuple[float, float]
    success: bool
    nfev: int
    assignment: processing.WaterFatAssignment | None = None
    notes: list[str] = field(default_factory=list)


def voigt_fwhm_hz(lorentz_hz: float, gauss_hz: float) -> float:
    """Return the FWHM (Hz) of a Voigt line from its Lorentzian and Gaussian FWHMs (Olivero 1977)."""
    return float(0.5346 * lorentz_hz + np.sqrt(0.2166 * lorentz_hz**2 + gauss_hz**2))


class _Model:
    """Vectorised evaluation of the model spectrum and its Jacobian on the fit window."""

    def __init__(self, n: int, dwell_s: float, f0: float, center_ppm: float, fat_peaks, window_idx):
        self.t = model.time_axis_s(n, dwell_s)
        self.t2 = self.t**2
        methylene = next(p for p in fat_peaks if abs(p.ppm - model.METHYLENE_PPM) < 0.05)
        self.names = [p.name for p in fat_peaks]
        self.fat_f = np.array([(center_ppm - p.ppm) * f0 for p in fat_peaks])
        self.base = np.array([p.relative_area / methylene.relative_area for p in fat_peaks])
        self.factor_matrix = np.zeros((len(fat_peaks), N_FACTORS))
        for k, p in enumerate(fat_peaks):
            g = FACTOR_OF_PEAK.get(p.name)
            if g is not None and abs(p.ppm - model.METHYLENE_PPM) >= 0.05:
                self.factor_matrix[k, g] = 1.0
        self.water_f = (center_ppm - model.WATER_PPM) * f0
        self.idx = np.fft.fftshift(np.arange(n))[window_idx]  # unshifted FFT indices of the window

    def parts(self, p):
        """Return (water FID, per-peak unit-amplitude fat FIDs, fat ratios) without phase."""
        _, s, dw, lw, gw, lf, gf = p[:7]
        t, t2 = self.t, self.t2
        water = np.exp((2j * np.pi * (self.water_f + s + dw) - np.pi * lw) * t - GAUSS_C * gw * t2)
        env = np.exp(-np.pi * lf * t - GAUSS_C * gf * t2)
        fat = np.exp(2j * np.pi * (self.fat_f + s)[:, None] * t[None, :]) * env
        factors = p[FIRST_FACTOR:FIRST_FACTOR + N_FACTORS]
        ratios = self.base * (1.0 + self.factor_matrix @ (factors - 1.0))
        return water, fat, ratios

    def fid(self, p):
        water, fat, ratios = self.parts(p)
        return np.exp(1j * p[0]) * (p[7] * water + p[8] * np.einsum("k,kt->t", ratios, fat))

    def residual_and_jacobian(self, p, data_win, want_jac=True):
        water, fat, ratios = self.parts(p)
        rot = np.exp(1j * p[0])
        w = rot * p[7] * water
        fat_unit = np.einsum("k,kt->t", ratios, fat)
        f_sum = rot * p[8] * fat_unit
        m = w + f_sum
        spec = np.fft.fft(m)[self.idx]
        r = spec - data_win
        res = np.concatenate([r.real, r.imag])
        if not want_jac:
            return res, None
        t, t2 = self.t, self.t2
        cols = np.empty((len(p), t.size), dtype=complex)
        cols[0] = 1j * m
        cols[1] = 2j * np.pi * t * m
        cols[2] = 2j * np.pi * t * w
        cols[3] = -np.pi * t * w
        cols[4] = -GAUSS_C * t2 * w
        cols[5] = -np.pi * t * f_sum
        cols[6] = -GAUSS_C * t2 * f_sum
        cols[7] = rot * water
        cols[8] = rot * fat_unit
        cols[FIRST_FACTOR:] = rot * p[8] * np.einsum("kg,kt->gt", self.base[:, None] * self.factor_matrix, fat)
        jc = np.fft.fft(cols, axis=1)[:, self.idx]
        return res, np.concatenate([jc.real, jc.imag], axis=1).T


def _initial_amplitudes(mdl: _Model, p, data_win):
    """Return (|A_w|, |A_m|, phase) from a linear least-squares fit of complex water and fat amplitudes."""
    water, fat, ratios = mdl.parts(p)
    basis = np.fft.fft(np.stack([water, ratios @ fat]), axis=1)[:, mdl.idx].T
    coef, *_ = np.linalg.lstsq(basis, data_win, rcond=None)
    strong = int(np.argmax(np.abs(coef)))
    return abs(coef[0]), abs(coef[1]), float(np.angle(coef[strong]))


def _bounded_levenberg_marquardt(fun, p0: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                                 max_iter: int = 60, tol: float = 1e-9) -> tuple[np.ndarray, int, bool]:
    """Return (parameters, evaluations, converged) minimising ``|fun(p)|^2`` within box bounds.

    Levenberg-Marquardt with Marquardt's diagonal scaling on the normal equations (13 x 13, solved
    directly, no threaded BLAS decomposition of the tall Jacobian), parameters held at a bound while the
    gradient pushes them outwards, other steps projected onto the box.
    ``fun(p, want_jac)`` returns ``(residual, jacobian or None)``.
    """
    p = np.clip(np.asarray(p0, dtype=float), lower, upper)
    r, jmat = fun(p)
    cost = float(r @ r)
    width = np.where(np.isfinite(upper - lower), upper - lower, 0.0)
    span = 1e-10 * (width + 1.0)
    lam = 1e-3
    nfev = 1
    converged = False
    stalls = 0
    for _ in range(max_iter):
        a = np.einsum("ij,ik->jk", jmat, jmat)  # einsum: no threaded BLAS on shared cores
        g = np.einsum("ij,i->j", jmat, r)
        d = np.diag(a).copy()
        d[d <= 0] = 1e-12
        blocked = ((p <= lower + span) & (g > 0)) | ((p >= upper - span) & (g < 0))
        free = np.flatnonzero(~blocked)
        improved = False
        while lam < 1e12 and free.size:
            step = np.zeros_like(p)
            try:
                sub = a[np.ix_(free, free)] + lam * np.diag(d[free])
                step[free] = np.linalg.solve(sub, -g[free])
            except np.linalg.LinAlgError:
                lam *= 10.0
                continue
            trial = np.clip(p + step, lower, upper)
            r_trial, _ = fun(trial, False)
            nfev += 1
            cost_trial = float(r_trial @ r_trial)
            if cost_trial < cost:
                rel = (cost - cost_trial) / max(cost, 1e-300)
                small_step = np.all(np.abs(trial - p) <= 1e-9 * (np.abs(p) + 1e-6))
                # statistically irrelevant progress (< 1e-3 of the per-residual variance) 3 times in a row
                stalls = stalls + 1 if cost - cost_trial < 1e-3 * cost_trial / r.size else 0
                p, cost = trial, cost_trial
                lam = max(lam / 5.0, 1e-9)
                improved = True
                if rel < tol or small_step or stalls >= 3:
                    converged = True
                break
            lam *= 4.0
        if not improved:
            converged = True  # no descent direction left: at a (bounded) minimum
            break
        r, jmat = fun(p)
        nfev += 1
        if converged:
            break
    return p, nfev, converged


def fit_water_fat(fid: np.ndarray, dwell_s: float, frequency_mhz: float, center_ppm: float = model.WATER_PPM,
                  options: FitOptions | None = None) -> SpectralFit:
    """Return the :class:`SpectralFit` of water + multi-peak fat to a FID (RDA / NIfTI-MRS convention).

    Water and methylene are first located by :func:`processing.assign_water_and_fat` (any phase,
    receiver on water or on fat); the fit then refines phase, shift, widths and amplitudes.
    """
    opts = options or FitOptions()
    fid = np.asarray(fid, dtype=complex)
    n = fid.size
    f0 = float(frequency_mhz)
    freq = model.frequency_axis_hz(n, dwell_s)
    assign = processing.assign_water_and_fat(fid, dwell_s, f0, center_ppm)
    scale = float(np.max(np.abs(fid[: max(4, n // 64)]))) or 1.0
    data = model.spectrum_from_fid(fid / scale)
    shift0 = assign.shift_hz

    def window_for(shift):
        ppm_ref = center_ppm - (freq - shift) / f0
        return np.flatnonzero((ppm_ref >= opts.window_ppm[0]) & (ppm_ref <= opts.window_ppm[1]))

    win = window_for(shift0)
    if win.size < 16:
        raise ValueError("spectral window too narrow for a water-fat fit (spectral width or frequency wrong?)")
    mdl = _Model(n, dwell_s, f0, center_ppm, opts.fat_peaks, win)
    data_win = data[win]
    factors0 = np.ones(N_FACTORS)
    p0 = np.array([0.0, shift0, 0.0, 15.0, 100.0, 15.0, 100.0, 0.0, 0.0, *factors0])
    aw, am, phi = _initial_amplitudes(mdl, p0, data_win)
    p0[0], p0[7], p0[8] = phi, max(aw, 1e-6), max(am, 1e-6)
    # without a water-fat pair the water-fat offset is undetermined: keep water on the shared shift
    dw_max = opts.water_offset_bound_ppm * f0 if assign.paired else 0.0
    sh_max = opts.shift_bound_ppm * f0
    lower = np.array([phi - 2 * np.pi, shift0 - sh_max, -dw_max, 0.5, 0.0, 0.5, 0.0, 0.0, 0.0]
                     + [FACTOR_BOUNDS[0]] * N_FACTORS)
    upper = np.array([phi + 2 * np.pi, shift0 + sh_max, dw_max, opts.max_lorentz_hz, opts.max_gauss_hz**2,
                      opts.max_lorentz_hz, opts.max_gauss_hz**2, np.inf, np.inf] + [FACTOR_BOUNDS[1]] * N_FACTORS)
    p, nfev, success = _bounded_levenberg_marquardt(
        lambda q, want_jac=True: mdl.residual_and_jacobian(q, data_win, want_jac), p0, lower, upper)
    # wrap the phase into (-pi, pi]
    p[0] = float(np.angle(np.exp(1j * p[0])))
    res, jmat = mdl.residual_and_jacobian(p, data_win)

    full_model = model.spectrum_from_fid(mdl.fid(p))
    resid_full = data - full_model
    pooled = np.concatenate([resid_full.real, resid_full.imag])
    noise_sd = float(np.median(np.abs(pooled)) / 0.6745)
    noise_sd = max(noise_sd, 1e-12 * float(np.max(np.abs(data))))
    residual_ratio = float(np.sqrt(np.mean(res**2)) / noise_sd)

    jtj = jmat.T @ jmat
    try:
        cov = np.linalg.pinv(jtj) * noise_sd**2
    except np.linalg.LinAlgError:
        cov = np.full((p.size, p.size), np.nan)
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    aw, am = p[7], p[8]
    if aw > 0 and am > 0:
        lwr = am / aw
        lwr_var = lwr**2 * (cov[8, 8] / am**2 + cov[7, 7] / aw**2 - 2 * cov[7, 8] / (am * aw))
        lwr_sd = float(np.sqrt(max(lwr_var, 0.0)))
    elif aw > 0:
        lwr_sd = float(sd[8] / aw)
    else:
        lwr_sd = float("nan")

    water, fat, ratios = mdl.parts(p)
    rot = np.exp(1j * p[0])
    unphase = np.conj(rot)
    comps = {"water": (model.spectrum_from_fid(rot * aw * water) * unphase).real}
    for k, name in enumerate(mdl.names):
        comps[name] = (model.spectrum_from_fid(rot * am * ratios[k] * fat[k]) * unphase).real
    fit_real = (full_model * unphase).real
    height = float(np.max(fit_real))
    snr = height / noise_sd
    ppm_ref = center_ppm - (freq - p[1]) / f0
    peak_areas = {"water": float(aw * scale)}
    peak_areas.update({name: float(am * ratios[k] * scale) for k, name in enumerate(mdl.names)})
    params = dict(zip(PARAM_NAMES, map(float, p)))
    sds = dict(zip(PARAM_NAMES, map(float, sd)))
    for key in ("water_amplitude", "methylene_amplitude"):
        params[key] *= scale
        sds[key] *= scale
    return SpectralFit(
        params=params, sd=sds, covariance=cov, water_area=float(aw * scale), methylene_area=float(am * scale),
        lwr_sd=lwr_sd, peak_areas=peak_areas, water_ppm=float(model.WATER_PPM - p[2] / f0),
        water_fwhm_hz=voigt_fwhm_hz(p[3], np.sqrt(p[4])), fat_fwhm_hz=voigt_fwhm_hz(p[5], np.sqrt(p[6])),
        noise_sd=noise_sd * scale, residual_ratio=residual_ratio, snr=float(snr), ppm=ppm_ref,
        real_spectrum=(data * unphase).real * scale, fit_spectrum=fit_real * scale,
        residual=(resid_full * unphase).real * scale, components={k: v * scale for k, v in comps.items()},
        window=(float(opts.window_ppm[0]), float(opts.window_ppm[1])), success=success,
        nfev=nfev, assignment=assign)
