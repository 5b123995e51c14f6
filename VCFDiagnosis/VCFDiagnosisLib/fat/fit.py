"""Voxelwise PDFF and R2* from magnitude echoes: a vectorised, bounded Levenberg-Marquardt fit from two starts.

Magnitude data leave water and fat interchangeable to first order (a fat-water swap): the fit is run from a
water-dominant and a fat-dominant start, giving two candidate solutions per voxel; the multi-peak fat spectrum
makes their residuals differ (magnitude discrimination, as MAGORINO, Triay Bagur et al. 2022). At low SNR a single
voxel's residuals are not enough (about 1 in 9 voxels of marrow-like tissue at SNR 20 picks the wrong one), so
for a volume the choice is made in space (:func:`resolve_swaps`): starting from the lower-residual choice, a
voxel whose other candidate is clearly nearer (:data:`SWAP_MARGIN_PERCENT`) to the mean PDFF of its in-plane
neighbourhood takes it, round after round until nothing changes (fat and water vary
smoothly within a vertebra; a swap is an isolated jump of ~2x(50 - PDFF) percentage points). A voxel whose two
candidates fit equally well and whose neighbourhood cannot decide keeps status ``AMBIGUOUS``; background voxels
are NaN with status ``NOT_FITTED`` (never 0).

Internal units for conditioning: echo times in ms, R2* in 1/ms, signals relative to each voxel's largest echo.
Parameters ``[W, F, R]`` with W, F >= 0 and 0 <= R <= :data:`R2STAR_MAX_PER_S` / 1000.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..ivim.status import FitStatus
from .model import F0_3T_MHZ, fat_phasors

OK, NOT_FITTED = int(FitStatus.OK), int(FitStatus.NOT_FITTED)  # the IVIM codes of the same meaning
AMBIGUOUS = 2  # water-fat's own (code 2 of the IVIM maps is HIT_BOUND)
STATUS = {OK: "ok", AMBIGUOUS: "water/fat ambiguous (both solutions fit)", NOT_FITTED: "not fitted (background)"}
R2STAR_MAX_PER_S = 1000.0
AMBIGUOUS_RATIO = 1.02
ITERATIONS = 20  # measured: 15 give the same maps on marrow-like phantoms; early stop when no voxel descends
#: With phase images the magnitude fit only chooses the branch the complex refinement starts from: 10 iterations
#: give the same final maps (bench_pdff.py's slab at SNR 20 and 40) in about half the time.
MIXED_MAGNITUDE_ITERATIONS = 10
#: In-plane neighbourhood (voxels) of the spatial swap resolution (bench_pdff.py: 7 leaves 13 of 66,560 voxels
#: wrong at SNR 20 where 5 left 34, with rounds until nothing changes).
NEIGHBOURHOOD = 7
#: The spatial resolution repeats until no voxel changes, at most this many rounds (each corrected voxel moves its
#: neighbourhood's mean, so corrections spread inwards from the well-determined voxels).
MAX_SWAP_ROUNDS = 10
#: A voxel's choice is changed only when the other candidate is nearer its neighbourhood by more than this (PDFF
#: points): a swap moves PDFF by 2 |50 - PDFF|, while noise and real tissue edges move it by a few points.
SWAP_MARGIN_PERCENT = 10.0
#: The complex refinement (with phase images) may move a voxel's PDFF this far (points) from the branch the
#: magnitudes chose; a larger move means it left that branch, and the magnitude solution is kept.
COMPLEX_MAX_CHANGE_PERCENT = 10.0


@dataclass
class FatMaps:
    """PDFF (percent), R2* (1/s), water and fat (signal units) and status per voxel (NaN where not fitted); with
    phase images also the field map (off-resonance, Hz; None without phase)."""

    pdff_percent: np.ndarray
    r2star_per_s: np.ndarray
    water: np.ndarray
    fat: np.ndarray
    status: np.ndarray
    field_map_hz: np.ndarray | None = None
    phase_sign: int | None = None  # +1: the phase as stored fits the model; -1: its conjugate did; 0: undecided


def _model_and_jacobian(p: np.ndarray, t_ms: np.ndarray, c: np.ndarray):
    """Return (model (n_e, n), J (3, n_e, n)) for parameters ``p`` (3, n)."""
    w, f, r = p
    z = w[None, :] + f[None, :] * c[:, None]
    m = np.abs(z)
    decay = np.exp(-t_ms[:, None] * r[None, :])
    safe = np.maximum(m, 1e-12)
    model = m * decay
    d_w = decay * z.real / safe
    d_f = decay * (z.real * c.real[:, None] + z.imag * c.imag[:, None]) / safe
    d_r = -t_ms[:, None] * model
    return model, np.stack([d_w, d_f, d_r])


def _solve3(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Solve the (3, 3, n) systems ``a x = g`` (Cramer's rule, vectorised)."""
    def det(m):
        return (m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1]) - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
                + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0]))

    d = det(a)
    d = np.where(np.abs(d) < 1e-30, 1e-30, d)
    out = np.empty_like(g)
    for k in range(3):
        ak = a.copy()
        ak[:, k] = g
        out[k] = det(ak) / d
    return out


def _lm(y: np.ndarray, p: np.ndarray, t_ms: np.ndarray, c: np.ndarray, r_max: float,
        iterations: int = ITERATIONS) -> tuple[np.ndarray, np.ndarray]:
    """Return (parameters, residual sum of squares) of the bounded LM fit of every voxel (columns of ``y``)."""
    lam = np.full(y.shape[1], 1e-2)
    model, jac = _model_and_jacobian(p, t_ms, c)
    cost = ((y - model) ** 2).sum(axis=0)
    upper = np.array([np.inf, np.inf, r_max])[:, None]
    for _ in range(iterations):
        resid = y - model
        jtj = np.einsum("aen,ben->abn", jac, jac)
        g = np.einsum("aen,en->an", jac, resid)
        damped = jtj.copy()
        for k in range(3):
            damped[k, k] *= 1.0 + lam
            damped[k, k] += 1e-12
        trial = np.clip(p + _solve3(damped, g), 0.0, upper)
        t_model, t_jac = _model_and_jacobian(trial, t_ms, c)
        t_cost = ((y - t_model) ** 2).sum(axis=0)
        better = t_cost < cost
        p = np.where(better, trial, p)
        model = np.where(better, t_model, model)
        jac = np.where(better[None, None, :], t_jac, jac)
        cost = np.where(better, t_cost, cost)
        lam = np.where(better, lam / 3.0, lam * 8.0)
        if np.all(lam > 1e8):  # no voxel finds a descent step any more
            break
    return p, cost


def _candidates(rows: np.ndarray, t_ms: np.ndarray, c: np.ndarray, iterations: int = ITERATIONS) -> dict:
    """Return both candidate fits of ``rows`` (voxels, echoes): ``parameters`` (2, 3, n) [W, F, R in 1/ms] and
    ``costs`` (2, n) (a module-level function, so forked workers can run it)."""
    y = np.ascontiguousarray(rows.T)
    n = y.shape[1]
    parameters, costs = np.empty((2, 3, n)), np.empty((2, n))
    for which, w0 in enumerate((0.9, 0.1)):  # water-dominant and fat-dominant starts
        p0 = np.vstack([np.full(n, w0), np.full(n, 1.0 - w0), np.full(n, 0.05)])
        parameters[which], costs[which] = _lm(y, p0, t_ms, c, R2STAR_MAX_PER_S / 1e3, iterations)
    return {"parameters": parameters, "costs": costs}


def fit_pdff(echo_times_s, magnitudes: np.ndarray, mask: np.ndarray | None = None, f0_mhz: float = F0_3T_MHZ,
             background_fraction: float = 0.05, chunk: int = 32768, spatial: bool = True,
             processes: int | None = None, phases_rad: np.ndarray | None = None) -> FatMaps:
    """Fit ``magnitudes`` (n_echoes, ...) at ``echo_times_s`` (s); return :class:`FatMaps` on the voxel grid.

    Voxels whose largest echo is below ``background_fraction`` of the 99th percentile (of the whole grid) are
    background; ``mask`` (the grid's shape) limits the fit further. Echo times must be distinct and > 0. With a
    grid of 2 or more dimensions (the last two in-plane) and ``spatial``, swaps are resolved in space
    (:func:`resolve_swaps`); otherwise each voxel keeps its lower-residual candidate. ``processes``: forked
    worker processes for the fits (default: the usable cores). ``phases_rad`` (the magnitudes' shape, radians): the
    echoes' phase; each voxel's chosen solution is then refined on the complex echoes (:mod:`.complex_fit`, the
    mixed magnitude/complex fit), which also gives the field map.
    """
    t_s = np.asarray(echo_times_s, dtype=float)
    data = np.asarray(magnitudes, dtype=float)
    if t_s.ndim != 1 or data.shape[0] != t_s.size or t_s.size < 3:
        raise ValueError(f"need one magnitude image per echo and at least 3 echoes, got {t_s.size} echo times "
                         f"for data of shape {data.shape}")
    if np.any(t_s <= 0) or np.unique(t_s).size != t_s.size:
        raise ValueError(f"echo times must be distinct and positive, got {t_s.tolist()} s")
    shape = data.shape[1:]
    flat = data.reshape(t_s.size, -1)
    peak = flat.max(axis=0)
    finite = peak[np.isfinite(peak)]
    limit = background_fraction * (np.percentile(finite, 99) if finite.size else 0.0)
    todo = np.isfinite(flat).all(axis=0) & (peak > limit)
    if mask is not None:
        todo &= np.asarray(mask, bool).reshape(-1)
    t_ms, c = t_s * 1e3, fat_phasors(t_s, f0_mhz)
    n = flat.shape[1]
    candidates = np.full((2, 3, n), np.nan)  # [water start, fat start] x [W, F, R2* 1/s]
    costs = np.full((2, n), np.inf)
    index = np.flatnonzero(todo)
    scale = peak[index]
    rows = np.ascontiguousarray((flat[:, index] / scale).T)  # (voxels, echoes), relative to the largest echo
    chunks = [np.arange(a, min(a + chunk, index.size)) for a in range(0, index.size, chunk)]
    job = functools.partial(_candidates, t_ms=t_ms, c=c,
                            iterations=ITERATIONS if phases_rad is None else MIXED_MAGNITUDE_ITERATIONS)
    from ..ivim.processes import fork_available, forked_chunk_results, usable_cores

    workers = min(usable_cores() if processes is None else int(processes), len(chunks))

    def run(function, table):
        return (forked_chunk_results(function, table, chunks, workers) if workers > 1 and fork_available()
                else (function(table[sel]) for sel in chunks))

    results = run(job, rows)
    for sel, result in zip(chunks, results):
        cols = index[sel]
        candidates[:, :, cols] = result["parameters"] * np.array([scale[sel], scale[sel], np.full(sel.size, 1e3)])
        costs[:, cols] = result["costs"]
    pdff = 100.0 * candidates[:, 1] / np.maximum(candidates[:, 0] + candidates[:, 1], 1e-30)  # (2, n)
    choice = np.where(costs[1] < costs[0], 1, 0)
    if len(shape) >= 2 and spatial:
        choice = resolve_swaps(pdff.reshape((2,) + shape), choice.reshape(shape), todo.reshape(shape)).reshape(-1)
    pick = np.arange(n)
    water, fat, r2 = candidates[choice, 0, pick], candidates[choice, 1, pick], candidates[choice, 2, pick]
    low, high = np.minimum(costs[0], costs[1]), np.maximum(costs[0], costs[1])
    ambiguous = (high <= AMBIGUOUS_RATIO * low + 1e-12) & (np.abs(pdff[0] - pdff[1]) > 5.0)
    if len(shape) >= 2 and spatial:
        ambiguous &= ~_decided(pdff.reshape((2,) + shape), choice.reshape(shape), todo.reshape(shape)).reshape(-1)
    status = np.where(todo, np.where(ambiguous, AMBIGUOUS, OK), NOT_FITTED).astype(np.uint8)
    result = pdff[choice, pick]
    field, sign = None, None
    if phases_rad is not None:
        water, fat, r2, result, field, sign = _refine_with_phase(
            phases_rad, flat, index, scale, (water, fat, r2, result), t_ms, c, chunks, run, shape, todo, spatial)
    result[~todo] = np.nan
    return FatMaps(result.reshape(shape), r2.reshape(shape), water.reshape(shape), fat.reshape(shape),
                   status.reshape(shape), field, sign)


#: Voxels on which the phase convention is decided: the brightest with a magnitude PDFF of 10-90 % (pure water or
#: pure fat cannot tell the two signs apart).
PHASE_SIGN_SAMPLE = 2000
#: The other sign's median residual must be this many times the chosen one's, else the phase is not used.
PHASE_SIGN_RATIO = 1.5


def phase_sign(magnitudes: np.ndarray, phase: np.ndarray, start: np.ndarray, t_ms: np.ndarray, c: np.ndarray,
               brightness: np.ndarray) -> int:
    """Return +1 or -1, the sign of the phase images that fits the model, or 0 when it cannot be decided (then the
    phase is not used). Scanners differ in their phase convention, and a conjugated phase turns the fat term the
    wrong way. Both signs are refined on a sample of voxels with both water and fat (:data:`PHASE_SIGN_SAMPLE`);
    the sign whose median residual is :data:`PHASE_SIGN_RATIO` times lower wins. ``magnitudes`` are relative to each
    voxel's ``brightness`` (its largest echo), which chooses the sample."""
    from .complex_fit import refine

    fraction = start[1] / np.maximum(start[0] + start[1], 1e-30)
    mixed = np.flatnonzero((fraction >= 0.1) & (fraction <= 0.9))
    if mixed.size < 20:
        return 0
    sample = mixed[np.argsort(brightness[mixed])[-PHASE_SIGN_SAMPLE:]]
    costs = {}
    for sign in (1, -1):
        y = magnitudes[:, sample] * np.exp(1j * sign * phase[:, sample])
        rows = np.ascontiguousarray(np.vstack([y.real, y.imag, start[:, sample]]).T)
        costs[sign] = float(np.median(refine(rows, t_ms, c, R2STAR_MAX_PER_S / 1e3)["costs"]))
    best, other = (1, -1) if costs[1] <= costs[-1] else (-1, 1)
    return best if costs[other] >= PHASE_SIGN_RATIO * costs[best] else 0


def _refine_with_phase(phases_rad, flat, index, scale, magnitude_solution, t_ms, c, chunks, run, shape, todo,
                       spatial: bool):
    """Return (water, fat, R2*, PDFF, field map Hz, phase sign) after the complex refinement of the chosen magnitude
    solutions (the phase's sign convention decided by :func:`phase_sign`; 0: undecided, the phase is not used and
    the field map is None).

    A refined voxel that moved more than :data:`COMPLEX_MAX_CHANGE_PERCENT` left the magnitudes' branch and keeps the
    magnitude solution (field map NaN); then, in space, a refined voxel whose magnitude solution is nearer its
    neighbourhood's mean PDFF by more than half that (:func:`resolve_swaps` between the two) takes it back.
    """
    from .complex_fit import refine

    water, fat, r2, result = (np.array(a, copy=True) for a in magnitude_solution)
    n = water.size
    phase = np.asarray(phases_rad, dtype=float).reshape(t_ms.size, -1)[:, index]
    if phase.shape[1] and not np.isfinite(phase).all():
        raise ValueError("the phase images hold non-finite values where the magnitudes are fitted")
    start = np.vstack([water[index] / scale, fat[index] / scale, r2[index] / 1e3])
    sign = phase_sign(flat[:, index] / scale, phase, start, t_ms, c, scale)
    if sign == 0:  # the phase's convention cannot be told: the magnitude solution, fully converged
        water, fat, r2 = _converge_magnitude(flat, index, scale, (water, fat, r2), np.ones(index.size, bool), t_ms, c)
        return water, fat, r2, 100.0 * fat / np.maximum(water + fat, 1e-30), None, 0
    y = flat[:, index] / scale * np.exp(1j * sign * phase)
    table = np.ascontiguousarray(np.vstack([y.real, y.imag, start]).T)
    refined = np.full((4, n), np.nan)  # W, F, R2* (1/s), field (Hz)
    refine_job = functools.partial(refine, t_ms=t_ms, c=c, r_max=R2STAR_MAX_PER_S / 1e3)
    for sel, out in zip(chunks, run(refine_job, table)):
        p = out["parameters"]
        refined[:, index[sel]] = p[0] * scale[sel], p[1] * scale[sel], p[2] * 1e3, p[4] * 1e3
    refined_pdff = 100.0 * refined[1] / np.maximum(refined[0] + refined[1], 1e-30)
    take = todo & (np.abs(refined_pdff - result) <= COMPLEX_MAX_CHANGE_PERCENT)
    if len(shape) >= 2 and spatial:
        candidates = np.stack([refined_pdff, result]).reshape((2,) + shape)
        back = resolve_swaps(candidates, np.zeros(shape, int), take.reshape(shape),
                             margin=COMPLEX_MAX_CHANGE_PERCENT / 2).reshape(-1) == 1
        take &= ~back
    water, fat, r2 = (np.where(take, refined[i], old) for i, old in enumerate((water, fat, r2)))
    # the voxels that keep the magnitude solution had the shortened magnitude fit: finish it
    water, fat, r2 = _converge_magnitude(flat, index, scale, (water, fat, r2), ~take[index], t_ms, c)
    result = np.where(take, refined_pdff, 100.0 * fat / np.maximum(water + fat, 1e-30))
    field = np.where(take, sign * refined[3], np.nan)  # in the images' own phase convention
    return water, fat, r2, result, field.reshape(shape), sign


def _converge_magnitude(flat, index, scale, solution, which, t_ms, c):
    """Return (water, fat, R2*) with the magnitude fits of ``index[which]`` continued for :data:`ITERATIONS` more
    iterations from where the shortened magnitude fit of the mixed fit stopped."""
    water, fat, r2 = (np.array(a, copy=True) for a in solution)
    cols = index[which]
    if cols.size:
        rows = flat[:, cols] / scale[which]
        p0 = np.vstack([water[cols] / scale[which], fat[cols] / scale[which], r2[cols] / 1e3])
        p, _ = _lm(np.ascontiguousarray(rows), p0, t_ms, c, R2STAR_MAX_PER_S / 1e3, ITERATIONS)
        water[cols], fat[cols], r2[cols] = p[0] * scale[which], p[1] * scale[which], p[2] * 1e3
    return water, fat, r2


def _neighbourhood_mean(pdff: np.ndarray, valid: np.ndarray, size: int = NEIGHBOURHOOD) -> np.ndarray:
    """Return each voxel's in-plane ``size`` x ``size`` neighbourhood mean PDFF over valid voxels (NaN where none).

    A mean, not a median, so it is one vectorised filter (scipy.ndimage.uniform_filter of values and counts);
    swapped neighbours pull it less than the distance between the two candidates, and the second round sees them
    corrected.
    """
    from scipy.ndimage import uniform_filter

    size_per_axis = (1,) * (pdff.ndim - 2) + (size, size)
    ok = valid & np.isfinite(pdff)
    total = uniform_filter(np.where(ok, pdff, 0.0), size=size_per_axis, mode="constant")
    count = uniform_filter(ok.astype(float), size=size_per_axis, mode="constant")
    return np.where(count > 0.5 / np.prod(size_per_axis), total / np.maximum(count, 1e-12), np.nan)


def _margin(pdff_candidates: np.ndarray, choice: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Return, per voxel, how much nearer (PDFF points) the chosen candidate is to its neighbourhood's mean than the
    other one (negative: the other is nearer; NaN: no neighbourhood)."""
    current = np.take_along_axis(pdff_candidates, choice[None], axis=0)[0]
    distance = np.abs(pdff_candidates - _neighbourhood_mean(current, valid)[None])
    return (np.take_along_axis(distance, (1 - choice)[None], axis=0)[0]
            - np.take_along_axis(distance, choice[None], axis=0)[0])


def resolve_swaps(pdff_candidates: np.ndarray, choice: np.ndarray, valid: np.ndarray,
                  rounds: int = MAX_SWAP_ROUNDS, margin: float = SWAP_MARGIN_PERCENT) -> np.ndarray:
    """Return the per-voxel choice (0 water start, 1 fat start) after correcting, in space, the voxels whose other
    candidate is nearer the neighbourhood's mean PDFF by more than ``margin`` points (``pdff_candidates``: (2, *grid),
    percent); rounds repeat until no voxel changes (at most ``rounds``)."""
    for _ in range(rounds):
        swapped = valid & (_margin(pdff_candidates, choice, valid) < -margin)  # a clear jump only
        if not swapped.any():
            break
        choice = np.where(swapped, 1 - choice, choice)
    return choice


def _decided(pdff_candidates: np.ndarray, choice: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Return True where the neighbourhood clearly prefers the chosen candidate (by :data:`SWAP_MARGIN_PERCENT`)."""
    return _margin(pdff_candidates, choice, valid) > SWAP_MARGIN_PERCENT
