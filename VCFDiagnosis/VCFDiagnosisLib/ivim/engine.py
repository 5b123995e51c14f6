"""The documented console/CLI entry points of the IVIM engine.

Example (b on the LAST axis, any leading shape)::

    from VCFDiagnosisLib.ivim import fit_ivim, roi_statistics
    maps = fit_ivim([0, 50, 100, 150, 200, 400, 600, 800], signal, method="map", b_threshold_s_mm2=200)
    maps.D_mm2_s, maps.Dstar_mm2_s, maps.f_fraction, maps.S0, maps.ADC_mm2_s, maps.R2, maps.status

Model and units: see :mod:`.model` (D* total, mm2/s). Statuses: :class:`.status.FitStatus`.
Bounds: :class:`.bounds.IvimBounds`. Methods (:data:`METHODS`):

* ``"segmented"``: :mod:`.segmented` (MITK-style three steps, b threshold default 200 s/mm2);
* ``"seg-nlls"``: D from the segmented step, then S0, f, D* by bounded LM (:mod:`.nlls`) with D fixed;
* ``"nlls"``: bounded LM on all four parameters, initialised by the segmented fit;
* ``"map"`` (default): the 4-parameter bounded fit with a prior on D* (:mod:`.prior`; voxel maps: flat on
  0.02-0.05 mm2/s; ROI-mean fits: flat between the study's group means; log-normal tails outside): cost
  ``SSR + (sigma^2 / log_sd^2) d^2``, ``d`` the distance of ln D* from the prior's flat interval (``ln D* - ln
  median`` for a plain log-normal), the maximum a posteriori estimate under flat priors on S0, D, f. sigma^2 is the noise variance: given (``noise_sigma``, e.g.
  from the image background, as :func:`fit_dwi_volume` does), the fit runs once from the segmented start;
  otherwise the ``"nlls"`` fit runs first and each voxel's residual (n_b - 4 degrees of freedom, floored at a
  quarter of the median over the chunk) gives it. On noiseless data sigma = 0 and it equals NLLS exactly. Where
  f is fitted at 0 the data say nothing of D*, and ``map`` reports the prior's median (status HIT_BOUND, so it
  can be excluded) instead of NaN;
* ``"adc"``: mono-exponential ADC only (:mod:`.adc`); every method also returns the ADC map.

Voxels are screened first (:mod:`.masking`): invalid signals -> INVALID_INPUT, background ->
NOT_FITTED. Work is vectorised over cache-sized blocks of voxels spread over a thread pool.

Without a b = 0 image (lowest b above :data:`MAX_REFERENCE_B_S_MM2`) S0 is a free parameter: the segmented
step extrapolates it (D and ``S0 (1 - f)`` from b >= threshold, the perfusion amplitude ``S0 f`` and D* from
the b-values below it, see :mod:`.segmented`) and the NLLS/MAP stages fit it with the other three. D stays
well determined (b >= 200 s/mm2); f and D* rest on fewer points and are less reliable. The maps carry
``s0_fitted=True`` and the warning :data:`NO_B0_WARNING` (the per-voxel statuses are unchanged). At least two
b-values below the threshold are needed; with fewer, IVIM is not fitted (ADC only) and a warning says why.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import ClassVar

import numpy as np

from .adc import adc_range_mask, fit_adc_rows
from .bounds import IvimBounds
from .masking import background_mask, dwi_background_noise, invalid_signal
from .nlls import _model_and_parts, lm_fit
from .options import DEFAULT_B_THRESHOLD_S_MM2, DEFAULT_BACKGROUND_FRACTION, DEFAULT_METHOD, METHODS
from .prior import VOXEL_DSTAR_PRIOR, DstarPrior
from .processes import fork_available, forked_chunk_results
from .segmented import fit_segmented
from .status import FitStatus

#: A lowest b-value up to this (s/mm2) is a measured reference (S0 = its signal); above it S0 is fitted.
MAX_REFERENCE_B_S_MM2 = 20.0
#: The warning of every fit without a b = 0 image (S0 fitted as a free parameter).
NO_B0_WARNING = "no b = 0: S0 fitted, D*/f less reliable"
#: Without b = 0, S0, f and D* need at least this many b-values below the segmented threshold.
MIN_LOW_B_WITHOUT_B0 = 2
#: f at or below this is "no perfusion": D* is then undefined and reported NaN, except by ``map``, whose
#: prior defines it (f above 1 - this: D NaN).
F_UNDEFINED_TOL = 1e-6
_B_SCALE = 1e-3  # s/mm2 -> ms/um2 (internal units)
#: voxels per vectorised block (cache-sized); blocks of one iteration run in parallel threads.
BLOCK_SIZE = 8192


#: Voxels fitted together (one chunk: bounds the memory to ~1 kB per voxel, is the unit of progress reports and
#: of the MAP method's noise floor); each chunk is spread over the threads in cache-sized blocks.
CHUNK_VOXELS = 65536


class FitCancelled(RuntimeError):
    """The progress callback of :func:`fit_ivim` returned False: the fit stopped, nothing was returned."""


@dataclass
class IvimMaps:
    """Per-voxel fit results, each array of the signal's leading shape.

    ``S0`` in signal units; ``D_mm2_s``, ``Dstar_mm2_s`` (total pseudo-diffusion) and ``ADC_mm2_s`` in
    mm2/s; ``f_fraction`` in [0, 1]; ``R2`` the coefficient of determination of the fitted model (IVIM
    model, or the mono-exponential for ``method="adc"``); ``status`` uint8 :class:`FitStatus` codes.
    Voxels that were not fitted or could not be fitted are NaN in every float map.
    """

    S0: np.ndarray
    D_mm2_s: np.ndarray
    Dstar_mm2_s: np.ndarray
    f_fraction: np.ndarray
    ADC_mm2_s: np.ndarray
    R2: np.ndarray
    status: np.ndarray
    method: str = DEFAULT_METHOD
    bvalues_s_mm2: np.ndarray = field(default_factory=lambda: np.zeros(0))
    b_threshold_s_mm2: float = DEFAULT_B_THRESHOLD_S_MM2
    #: True when there was no b = 0 image and S0 was fitted (f and D* less reliable)
    s0_fitted: bool = False
    #: protocol-level warnings (e.g. :data:`NO_B0_WARNING`), the same for every voxel
    warnings: list = field(default_factory=list)

    #: file stem of each map (as written by ``vcfdiagnosis fit``) -> attribute name
    MAP_NAMES: ClassVar[dict[str, str]] = {
        "S0": "S0",
        "D": "D_mm2_s",
        "Dstar": "Dstar_mm2_s",
        "f": "f_fraction",
        "ADC": "ADC_mm2_s",
        "R2": "R2",
        "status": "status",
    }

    def as_dict(self) -> dict[str, np.ndarray]:
        """Return ``{file stem: array}`` for S0, D, Dstar, f, ADC, R2 and status."""
        return {stem: getattr(self, attr) for stem, attr in self.MAP_NAMES.items()}

    def status_counts(self) -> dict[str, int]:
        """Return the number of voxels per status name."""
        return {s.name: int(np.count_nonzero(self.status == s)) for s in FitStatus}


def prepare_bvalues(bvalues_s_mm2, signal) -> tuple[np.ndarray, np.ndarray]:
    """Validate, sort and de-duplicate b-values; return ``(b_unique, signal)``.

    Duplicated b-values are averaged (signal mean over the repeats). Raises ValueError for a b-value
    array that is not 1D, not finite, negative, or does not match the signal's last axis. A floating
    signal with sorted, distinct b-values is returned without a copy (float32 stays float32; the fit
    converts each chunk to float64); anything else comes back as float64.
    """
    b = np.asarray(bvalues_s_mm2, dtype=float)
    y = np.asarray(signal)
    if not np.issubdtype(y.dtype, np.floating):
        y = y.astype(float)
    if b.ndim != 1 or b.size == 0:
        raise ValueError(f"bvalues must be a non-empty 1D array, got shape {b.shape}")
    if not np.isfinite(b).all():
        raise ValueError("bvalues must be finite")
    if (b < 0).any():
        raise ValueError(f"bvalues must be >= 0 s/mm2, got {b[b < 0].tolist()}")
    if y.ndim == 0 or y.shape[-1] != b.size:
        raise ValueError(
            f"signal's last axis must hold one value per b-value: {b.size} b-values, signal shape {y.shape}"
        )
    if b.size > 1 and (np.diff(b) > 0).all():
        return b, y
    order = np.argsort(b, kind="stable")
    b, y = b[order], y[..., order].astype(float)
    uniq, start, counts = np.unique(b, return_index=True, return_counts=True)
    if uniq.size != b.size:
        y = np.add.reduceat(y, start, axis=-1) / counts
    return uniq, y


def _check_protocol(b: np.ndarray, method: str, threshold: float, adc_sel: np.ndarray) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    if np.count_nonzero(adc_sel) < 2:
        raise ValueError(f"ADC needs at least 2 distinct b-values in its range, got {b[adc_sel].tolist()}")
    if method == "adc":
        return
    if b.size < 3:
        raise ValueError(f"IVIM needs at least 3 distinct b-values, got {b.tolist()}")
    if not np.isfinite(threshold) or threshold <= 0:
        raise ValueError(f"b_threshold_s_mm2 must be a positive number, got {threshold}")
    if np.count_nonzero(b >= threshold) < 2:
        raise ValueError(f"IVIM needs at least 2 b-values >= the threshold {threshold:g} s/mm2, got {b.tolist()}")
    if np.count_nonzero(b < threshold) < 1:
        raise ValueError(f"IVIM needs at least 1 b-value below the threshold {threshold:g} s/mm2")


def reference_mode(b: np.ndarray, method: str, threshold: float) -> tuple[bool, bool, list[str]]:
    """Return (IVIM possible, S0 fitted, warnings) for sorted distinct b-values (s/mm2).

    A lowest b up to :data:`MAX_REFERENCE_B_S_MM2` is a measured S0. Without it S0 is fitted when at least
    :data:`MIN_LOW_B_WITHOUT_B0` b-values lie below ``threshold``; otherwise IVIM is not possible (ADC only).
    """
    if method == "adc" or b[0] <= MAX_REFERENCE_B_S_MM2:
        return method != "adc", False, []
    if np.count_nonzero(b < threshold) >= MIN_LOW_B_WITHOUT_B0:
        return True, True, [f"{NO_B0_WARNING} (lowest b = {b[0]:g} s/mm2)"]
    return False, True, [f"no b = 0 and fewer than {MIN_LOW_B_WITHOUT_B0} b-values below {threshold:g} s/mm2: "
                         "S0 cannot be fitted, IVIM not fitted (ADC only)"]


def _r2(y: np.ndarray, model: np.ndarray) -> np.ndarray:
    ss_res = np.einsum("ij,ij->i", y - model, y - model)
    dev = y - y.mean(axis=1, keepdims=True)
    ss_tot = np.einsum("ij,ij->i", dev, dev)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / ss_tot, np.nan)


_FREE_NO_D = np.array([True, False, True, True])


def _ivim_model(bk: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Return the model (n, n_b) of rows of parameters ``p`` (n, 4) (internal units; the LM's model)."""
    return _model_and_parts(bk, p.T)[0].T


def _residual_variance(bk: np.ndarray, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Per-row noise variance estimate ``SSR / (n_b - 4)`` of a fit (undefined D* -> no perfusion)."""
    q = p.copy()
    q[:, 3] = np.where(np.isfinite(q[:, 3]), q[:, 3], 1.0)
    r = y - _ivim_model(bk, q)
    return np.einsum("ij,ij->i", r, r) / max(bk.size - 4, 1)


def _blockwise(func, n: int, block: int, pool) -> list:
    """Apply ``func(slice)`` to consecutive blocks of ``range(n)`` (in the pool if given)."""
    slices = [slice(i, min(i + block, n)) for i in range(0, n, block)]
    if pool is not None and len(slices) > 1:
        return list(pool.map(func, slices))
    return [func(sl) for sl in slices]


def _refine(bk, y, p, status, lower, upper, free, max_iterations, kappa=None, pool=None,
            prior_mu: float | tuple[float, float] = 0.0) -> None:
    """Run the bounded LM from ``p`` on rows not INVALID; update ``p`` and ``status`` in place."""
    go = status != FitStatus.INVALID_INPUT
    if not go.any():
        return
    p0 = p[go].copy()
    p0[:, 2] = np.clip(p0[:, 2], max(lower[2], 0.02), min(upper[2], 0.98))
    p0[:, 3] = np.where(np.isfinite(p0[:, 3]), p0[:, 3], np.sqrt(lower[3] * upper[3]))
    pf, _, conv = lm_fit(bk, y[go], p0, lower, upper, free=free, max_iterations=max_iterations,
                         prior_kappa=None if kappa is None else kappa[go],
                         prior_mu=prior_mu, pool=pool,
                         block_size=BLOCK_SIZE)
    width = upper - lower
    fit_mask = np.ones(4, bool) if free is None else np.asarray(free, bool)
    on_bound = (pf <= lower + 1e-9 * width) | (pf >= upper - 1e-9 * width)
    at_bound = (on_bound & fit_mask).any(axis=1)
    if free is not None:  # fixed parameters keep the bound flag of the previous stage
        at_bound |= (status[go] == FitStatus.HIT_BOUND) & (on_bound & ~fit_mask).any(axis=1)
    st = np.where(conv, np.where(at_bound, FitStatus.HIT_BOUND, FitStatus.OK), FitStatus.NOT_CONVERGED)
    p[go] = pf
    status[go] = st.astype(np.uint8)


def _fit_rows(
    bk: np.ndarray,
    y: np.ndarray,
    method: str,
    threshold_k: float,
    lower: np.ndarray,
    upper: np.ndarray,
    adc_sel: np.ndarray,
    ivim_possible: bool,
    max_iterations: int,
    pool=None,
    s0_free: bool = False,
    dstar_prior: DstarPrior = VOXEL_DSTAR_PRIOR,
    noise_var: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Fit rows of valid, normalised signals (internal units). Returns internal-unit arrays.

    ``noise_var`` (n,): each row's known noise variance (normalised units) for the ``map`` prior's weight; None:
    estimated from the residual of an unregularised fit first.

    ``s0_free``: no b = 0 image, the segmented step extrapolates S0 (it is free in every later stage anyway).
    ``dstar_prior``: the ``map`` method's prior on D*.
    """
    n = y.shape[0]
    out = {"p": np.full((n, 4), np.nan), "status": np.full(n, FitStatus.INVALID_INPUT, np.uint8)}
    parts = _blockwise(lambda sl: fit_adc_rows(bk[adc_sel], y[sl][:, adc_sel]), n, BLOCK_SIZE, pool)
    adc_k, adc_s0, adc_status = (np.concatenate([q[i] for q in parts]) for i in range(3))
    out["adc"] = adc_k
    if method == "adc":
        out["status"] = adc_status
        out["p"][:, 0] = adc_s0
        model = adc_s0[:, None] * np.exp(-bk[adc_sel] * adc_k[:, None])
        out["r2"] = _r2(y[:, adc_sel], model)
        return out
    if not ivim_possible:
        out["r2"] = np.full(n, np.nan)
        return out
    ref_ok = y[:, 0] > 0
    polish = method == "segmented"  # the LM methods refine the start themselves
    parts = _blockwise(lambda sl: fit_segmented(bk, y[sl], threshold_k, lower, upper, s0_free, polish), n,
                       BLOCK_SIZE, pool)
    p = np.concatenate([q[0] for q in parts])
    status = np.concatenate([q[1] for q in parts])
    status[~ref_ok] = FitStatus.INVALID_INPUT
    p[~ref_ok] = np.nan
    if method == "seg-nlls":
        _refine(bk, y, p, status, lower, upper, _FREE_NO_D, max_iterations, pool=pool)
    elif method == "nlls":
        _refine(bk, y, p, status, lower, upper, None, max_iterations, pool=pool)
    elif method == "map":
        if noise_var is None:
            # unregularised 4-parameter fit first: its residual gives the noise level (n_b - 4 dof)
            _refine(bk, y, p, status, lower, upper, None, max_iterations, pool=pool)
            go = status != FitStatus.INVALID_INPUT
            sig2 = _residual_variance(bk, y[go], p[go])
            if sig2.size:
                sig2 = np.maximum(sig2, 0.25 * np.median(sig2))
            kappa = np.zeros(y.shape[0])
            kappa[go] = sig2 / dstar_prior.log_sd**2
        else:  # the noise is known (image background): one fit from the segmented start
            kappa = noise_var / dstar_prior.log_sd**2
        _refine(bk, y, p, status, lower, upper, None, max_iterations, kappa=kappa, pool=pool,
                prior_mu=dstar_prior.log_interval(_B_SCALE))
    bad = status == FitStatus.INVALID_INPUT
    p[bad] = np.nan
    q = p.copy()
    q[:, 3] = np.where(np.isfinite(q[:, 3]), q[:, 3], 1.0)
    model = _ivim_model(bk, q)
    out["p"], out["status"], out["r2"] = p, status, _r2(y, model)
    return out


def _fit_chunk(rows: np.ndarray, *, bk, method, threshold_k, lower, upper, adc_sel, ivim_possible, max_iterations,
               s0_free, dstar_prior, noise_var_signal, pool=None) -> dict[str, np.ndarray]:
    """Fit one chunk of valid rows (signal units, any float type); return its maps in mm2/s and fractions.

    ``noise_var_signal``: the known noise variance (signal units squared) or None.
    """
    yr = rows.astype(np.float64)
    ref = yr.max(axis=1)
    noise_var = None if noise_var_signal is None else noise_var_signal / (ref * ref)
    res = _fit_rows(bk, yr / ref[:, None], method, threshold_k, lower, upper, adc_sel, ivim_possible, max_iterations,
                    pool, s0_free, dstar_prior, noise_var)
    p = res["p"]
    return {"S0": p[:, 0] * ref, "D": p[:, 1] * _B_SCALE, "f": p[:, 2], "Dstar": p[:, 3] * _B_SCALE,
            "ADC": res["adc"] * _B_SCALE, "R2": res["r2"], "status": res["status"]}


def fit_ivim(
    bvalues_s_mm2,
    signal,
    method: str = DEFAULT_METHOD,
    b_threshold_s_mm2: float = DEFAULT_B_THRESHOLD_S_MM2,
    mask=None,
    *,
    bounds: IvimBounds | None = None,
    auto_mask: bool = True,
    background_fraction: float = DEFAULT_BACKGROUND_FRACTION,
    adc_b_range_s_mm2: tuple[float, float] | None = None,
    max_iterations: int = 100,
    chunk_size: int | None = None,
    n_threads: int | None = None,
    processes: int = 1,
    progress: Callable[[float, str], bool] | None = None,
    dstar_prior: DstarPrior | None = None,
    noise_sigma=None,
) -> IvimMaps:
    """Fit the IVIM model (and the mono-exponential ADC) voxel-wise; return :class:`IvimMaps`.

    Parameters
    ----------
    bvalues_s_mm2: b-values in s/mm2, one per entry of the signal's last axis; any order, duplicates
        are averaged.
    signal: array ``(..., n_b)`` of magnitude signals (b on the LAST axis, any leading shape).
    method: one of :data:`METHODS` (default ``"nlls"``).
    b_threshold_s_mm2: segmented split; D is fitted on ``b >= threshold`` (default 200).
    mask: optional boolean array of the leading shape; voxels outside are NOT_FITTED.
    bounds: :class:`IvimBounds` (defaults documented there).
    auto_mask: skip background voxels automatically (rule in :mod:`.masking`).
    background_fraction: the automatic background threshold relative to the bright foreground.
    adc_b_range_s_mm2: closed b range of the ADC fit (default: all b-values).
    max_iterations: Levenberg-Marquardt iteration limit (voxels beyond it: NOT_CONVERGED).
    chunk_size: voxels fitted together (default :data:`CHUNK_VOXELS`; bounds the memory: ~1 kB per voxel);
        each chunk is processed in cache-sized blocks spread over ``n_threads`` worker threads (default: all
        CPUs). The MAP method's noise floor (a quarter of the median residual variance) is the chunk's.
    processes: with more than 1 (and more than one chunk, on POSIX), the chunks are fitted by that many forked
        worker processes instead (:mod:`.processes`: 1.3-1.7x the speed of threads on 2 cores, for headless
        use; the results are the same).
    progress: optional ``progress(fraction_done, message) -> bool``, called in this thread before each
        chunk and once at the end. Returning False stops the fit and raises :class:`FitCancelled` (a panel's
        Cancel button). Reporting progress changes nothing else: the chunks are the same with or without it.
    dstar_prior: the ``map`` method's log-normal prior on D* (default :data:`.prior.VOXEL_DSTAR_PRIOR`; ROI-mean
        fits use :data:`.prior.ROI_DSTAR_PRIOR`, see :mod:`.roi`).
    noise_sigma: the images' noise SD (signal units; a scalar or one per b-value, e.g.
        :attr:`.masking.BackgroundNoise.image_sd`), or None (unknown). When known, ``map`` weighs its prior by
        it (the mean variance over the b-values) and fits once from the segmented start (1.6x as fast);
        unknown, each voxel's noise variance comes from the residual of an unregularised fit first.

    Raises ValueError for invalid calls: mismatched shapes, negative or non-finite b-values, fewer than
    3 distinct b-values (IVIM) or 2 (ADC), a threshold leaving < 2 b-values above or none below it,
    an unknown method or a mask of the wrong shape. Bad *voxels* never raise: they get NaN and a status.
    """
    b, y = prepare_bvalues(bvalues_s_mm2, signal)
    bounds = bounds or IvimBounds()
    bounds.validate()
    dstar_prior = dstar_prior or VOXEL_DSTAR_PRIOR
    dstar_prior.validate()
    adc_sel = adc_range_mask(b, adc_b_range_s_mm2)
    threshold = float(b_threshold_s_mm2)
    _check_protocol(b, method, threshold, adc_sel)
    lead = y.shape[:-1]
    rows = y.reshape(-1, b.size)
    n = rows.shape[0]
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != lead:
            raise ValueError(f"mask shape {m.shape} does not match the signal's voxel shape {lead}")
        inside = m.reshape(-1).astype(bool)
    else:
        inside = np.ones(n, dtype=bool)

    status = np.full(n, FitStatus.NOT_FITTED, dtype=np.uint8)
    invalid = invalid_signal(rows)
    fitted = inside.copy()
    if auto_mask:
        fitted &= ~background_mask(rows, background_fraction, inside)
        # invalid voxels (NaN/inf, negative reference, constant...) are reported as invalid, not as
        # background; only an all-zero voxel (padding outside the field of view) counts as background
        fitted |= inside & invalid & ~(rows == 0).all(axis=1)
    status[fitted & invalid] = FitStatus.INVALID_INPUT
    todo = np.flatnonzero(fitted & ~invalid)
    screened_out = np.ones(n, dtype=bool)
    screened_out[todo] = False

    s0 = np.full(n, np.nan)
    d = np.full(n, np.nan)
    ds = np.full(n, np.nan)
    f = np.full(n, np.nan)
    adc = np.full(n, np.nan)
    r2 = np.full(n, np.nan)
    bk = b * _B_SCALE
    lower = np.array([bounds.S0_relative[0], bounds.D_mm2_s[0] / _B_SCALE, bounds.f_fraction[0],
                      bounds.Dstar_mm2_s[0] / _B_SCALE])
    upper = np.array([bounds.S0_relative[1], bounds.D_mm2_s[1] / _B_SCALE, bounds.f_fraction[1],
                      bounds.Dstar_mm2_s[1] / _B_SCALE])
    ivim_possible, s0_free, protocol_warnings = reference_mode(b, method, threshold)

    noise_var_signal = None
    if noise_sigma is not None:  # one value, or one per b-value as given (before sorting): only the mean is used
        sigma = np.asarray(noise_sigma, dtype=float).ravel()
        if sigma.size and np.all(np.isfinite(sigma)) and np.all(sigma > 0):
            noise_var_signal = float(np.mean(sigma * sigma))
    fit_chunk = partial(_fit_chunk, bk=bk, method=method, threshold_k=threshold * _B_SCALE, lower=lower, upper=upper,
                        adc_sel=adc_sel, ivim_possible=ivim_possible, max_iterations=max_iterations, s0_free=s0_free,
                        dstar_prior=dstar_prior, noise_var_signal=noise_var_signal)

    def store(sel: np.ndarray, res: dict) -> None:
        s0[sel], d[sel], f[sel], ds[sel] = res["S0"], res["D"], res["f"], res["Dstar"]
        adc[sel], r2[sel], status[sel] = res["ADC"], res["R2"], res["status"]

    step = max(int(CHUNK_VOXELS if chunk_size is None else chunk_size), 1)
    chunks = [todo[i:i + step] for i in range(0, todo.size, step)]
    workers = n_threads or os.cpu_count() or 1

    def reported(results) -> None:
        done = 0
        for c in chunks:
            if progress is not None and not progress(done / todo.size, f"IVIM fit: {done} of {todo.size} voxels"):
                raise FitCancelled("the IVIM fit was cancelled")
            store(c, next(results))
            done += c.size

    if processes > 1 and len(chunks) > 1 and fork_available():
        results = forked_chunk_results(fit_chunk, rows, chunks, min(processes, len(chunks)))
        try:
            reported(results)
        finally:
            results.close()
    elif workers > 1 and todo.size > BLOCK_SIZE:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            reported(fit_chunk(rows[c], pool=pool) for c in chunks)
    else:
        reported(fit_chunk(rows[c]) for c in chunks)
    if progress is not None:
        progress(1.0, f"IVIM fit: {todo.size} of {todo.size} voxels")

    no_values = (status == FitStatus.NOT_FITTED) | (status == FitStatus.INVALID_INPUT)
    no_perfusion = (f <= F_UNDEFINED_TOL) & ~no_values
    if method not in ("adc", "map"):
        ds[no_perfusion] = np.nan
    elif method == "map":  # no perfusion: the data say nothing of D*, its posterior mode is the prior's median
        ds[no_perfusion] = np.clip(dstar_prior.median_mm2_s, *bounds.Dstar_mm2_s)
        status[no_perfusion & (status == FitStatus.OK)] = FitStatus.HIT_BOUND
    if method != "adc":
        d[f >= 1.0 - F_UNDEFINED_TOL] = np.nan
    for arr in (s0, d, ds, f, r2):
        arr[no_values] = np.nan
    adc[screened_out | ~np.isfinite(adc)] = np.nan  # the ADC survives an IVIM failure (e.g. no b = 0)

    def shaped(a: np.ndarray) -> np.ndarray:
        return a.reshape(lead)

    return IvimMaps(
        S0=shaped(s0),
        D_mm2_s=shaped(d),
        Dstar_mm2_s=shaped(ds),
        f_fraction=shaped(f),
        ADC_mm2_s=shaped(adc),
        R2=shaped(r2),
        status=shaped(status),
        method=method,
        bvalues_s_mm2=b,
        b_threshold_s_mm2=threshold,
        s0_fitted=s0_free,
        warnings=protocol_warnings,
    )


def fit_dwi_volume(dwi, noise_sigma="background", **kwargs) -> IvimMaps:
    """Fit a :class:`VCFDiagnosisLib.dwi.volume.DwiVolume`; the maps are indexed ``[k, j, i]``.

    ``noise_sigma``: ``"background"`` (default) takes the images' noise SD from the image background
    (:func:`.masking.dwi_background_noise`; unknown when there is no noise class); an array or None is passed
    on to :func:`fit_ivim` as given. Other ``kwargs`` go to :func:`fit_ivim`.
    """
    if isinstance(noise_sigma, str):
        noise = dwi_background_noise(dwi)
        noise_sigma = None if noise is None else noise.image_sd
    return fit_ivim(dwi.bvalues_s_mm2, dwi.signal_last(), noise_sigma=noise_sigma, **kwargs)
