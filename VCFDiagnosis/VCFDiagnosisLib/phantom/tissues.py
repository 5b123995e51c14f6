"""Tissue parameters of the digital phantom and the study's lesion distributions.

Conventions (the MITK / Tan et al. 2019 IVIM model)::

    S(b) = S0 * ((1 - f) * exp(-b * D) + f * exp(-b * D*))

with b in s/mm2, D and D* in mm2/s and f a fraction 0..1. ``S0`` is in arbitrary scanner units; the
lesion's S0 (:data:`LESION_S0`) is the reference of the phantom's SNR definition.

Background tissues. These are assumptions chosen inside the ranges reported in the IVIM / DWI
literature for 3 T fat-suppressed single-shot EPI (TR 1600 / TE 72), not values fitted to data; S0 is a
relative brightness chosen to look like a clinical b = 0 image, not a measured quantity:

* normal adult lumbar marrow: fatty, dark with fat suppression; D 0.40e-3 mm2/s, f 0.10, D* 0.03
  (published vertebral-marrow ADC / IVIM D mostly 0.2-0.6e-3 mm2/s, f ~0.05-0.2);
* intervertebral disc (nucleus pulposus): D 1.6e-3 (disc ADC ~1.5-2.0e-3), little perfusion (f 0.03),
  T2-bright (S0 800);
* paraspinal muscle: D 1.45e-3, f 0.08, D* 0.025 (skeletal-muscle IVIM range), short T2 so dark (S0 300);
* CSF: free water at 37 degC, D 3.0e-3, no perfusion (f = 0, so D* is irrelevant; set to 0.01), S0 1200;
* background air: S0 = 0 (noise only).

The lesion (the fractured, oedematous or infiltrated marrow) is drawn per patient from the study's
Table 3 group distributions (see :func:`sample_lesion`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..mrs.model import lwr_from_fat_fraction_percent
from .options import GROUPS

#: Label values of the anatomy map (the lesion ROI file uses 1 for the lesion, see roi_files).
BACKGROUND, MARROW, DISC, MUSCLE, CSF, LESION = 0, 1, 2, 3, 4, 5

#: S0 (b = 0 signal, scanner units) of the lesion: the SNR of a patient is LESION_S0 / sigma.
LESION_S0 = 1000.0

#: Physically valid ranges used to truncate the sampled lesion parameters.
D_RANGE_MM2_S = (0.2e-3, 3.0e-3)
DSTAR_MAX_MM2_S = 0.15
DSTAR_MIN_OVER_D = 3.0
F_RANGE = (0.01, 0.5)
FF_RANGE_PERCENT = (1.0, 70.0)



@dataclass(frozen=True)
class Tissue:
    """IVIM parameters of one tissue class: D, D* in mm2/s, f fraction, S0 in scanner units."""

    name: str
    label: int
    D_mm2_s: float
    Dstar_mm2_s: float
    f_fraction: float
    S0: float

    def signal(self, bvalues_s_mm2: np.ndarray) -> np.ndarray:
        """Return the noiseless IVIM signal at the given b-values (s/mm2), scanner units."""
        return ivim_signal(bvalues_s_mm2, self.S0, self.D_mm2_s, self.Dstar_mm2_s, self.f_fraction)

    def to_json(self) -> dict:
        """Return the parameters as plain JSON types."""
        return {k: (float(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}


#: The fixed background tissues (the lesion is added per patient).
BACKGROUND_TISSUES: tuple[Tissue, ...] = (
    Tissue("background_air", BACKGROUND, 0.0, 0.0, 0.0, 0.0),
    Tissue("normal_marrow", MARROW, 0.40e-3, 0.030, 0.10, 220.0),
    Tissue("intervertebral_disc", DISC, 1.60e-3, 0.012, 0.03, 800.0),
    Tissue("paraspinal_muscle", MUSCLE, 1.45e-3, 0.025, 0.08, 300.0),
    Tissue("csf", CSF, 3.00e-3, 0.010, 0.0, 1200.0),
)


@dataclass(frozen=True)
class GroupDistribution:
    """Mean and SD of the lesion parameters of one study group (Tan et al. 2019, Table 3)."""

    D_mm2_s: tuple[float, float]
    Dstar_mm2_s: tuple[float, float]
    f_fraction: tuple[float, float]
    FF_percent: tuple[float, float]
    LWR_percent_reported: tuple[float, float]


#: Table 3 of the study (mean, SD), converted to mm2/s and fractions.
GROUP_DISTRIBUTIONS: dict[str, GroupDistribution] = {
    "osteoporotic": GroupDistribution(
        (1.67e-3, 0.35e-3), (25.81e-3, 10.02e-3), (0.16, 0.08), (24.73, 7.68), (42.22, 21.20)
    ),
    "metastatic": GroupDistribution(
        (1.04e-3, 0.95e-3), (53.84e-3, 15.61e-3), (0.11, 0.06), (14.95, 7.26), (27.73, 18.45)
    ),
}

TABLE3_NOTE = (
    "Lesion D, D*, f and FF are drawn from normal distributions with the group mean and SD of Tan et al. "
    "2019 Table 3, truncated by rejection to D 0.2e-3..3e-3 mm2/s, 3*D < D* <= 0.15 mm2/s, f 0.01..0.5, "
    "FF 1..70 %. Table 3's LWR and FF columns are not mutually consistent (FF = LWR/(LWR+1) does not hold "
    "for the group means), so FF is drawn and LWR = FF/(100-FF) is derived from it."
)


def ivim_signal(
    bvalues_s_mm2: np.ndarray | float, S0: np.ndarray | float, D: np.ndarray | float,
    Dstar: np.ndarray | float, f: np.ndarray | float,
) -> np.ndarray:
    """Return S0*((1-f)*exp(-b*D) + f*exp(-b*D*)) (b in s/mm2, D and D* in mm2/s), broadcast."""
    b = np.asarray(bvalues_s_mm2, dtype=float)
    return np.asarray(S0, float) * ((1.0 - np.asarray(f, float)) * np.exp(-b * np.asarray(D, float))
                                    + np.asarray(f, float) * np.exp(-b * np.asarray(Dstar, float)))


@dataclass(frozen=True)
class LesionParameters:
    """The fractured lesion's truth: IVIM parameters and marrow fat (FF percent, LWR plain ratio)."""

    D_mm2_s: float
    Dstar_mm2_s: float
    f_fraction: float
    FF_percent: float
    S0: float = LESION_S0

    @property
    def LWR(self) -> float:
        """Return the lipid-water ratio (plain ratio) derived from FF: FF / (100 - FF)."""
        return float(lwr_from_fat_fraction_percent(self.FF_percent))

    def tissue(self) -> Tissue:
        """Return the lesion as a :class:`Tissue` with label :data:`LESION`."""
        return Tissue("lesion", LESION, self.D_mm2_s, self.Dstar_mm2_s, self.f_fraction, self.S0)


def validate_lesion(D: float, Dstar: float, f: float, ff_percent: float) -> None:
    """Raise ValueError naming the parameter if a lesion value is outside the physically valid range."""
    if not D_RANGE_MM2_S[0] <= D <= D_RANGE_MM2_S[1]:
        raise ValueError(f"lesion D = {D!r} mm2/s is outside {D_RANGE_MM2_S[0]}..{D_RANGE_MM2_S[1]} mm2/s")
    if not (DSTAR_MIN_OVER_D * D < Dstar <= DSTAR_MAX_MM2_S):
        raise ValueError(
            f"lesion D* = {Dstar!r} mm2/s must be > {DSTAR_MIN_OVER_D} * D (= {DSTAR_MIN_OVER_D * D:.4g}) "
            f"and <= {DSTAR_MAX_MM2_S} mm2/s"
        )
    if not F_RANGE[0] <= f <= F_RANGE[1]:
        raise ValueError(f"lesion f = {f!r} is outside {F_RANGE[0]}..{F_RANGE[1]} (a fraction, not percent)")
    if not FF_RANGE_PERCENT[0] <= ff_percent <= FF_RANGE_PERCENT[1]:
        raise ValueError(
            f"lesion FF = {ff_percent!r} % is outside {FF_RANGE_PERCENT[0]}..{FF_RANGE_PERCENT[1]} percent"
        )


def _truncated_normal(rng: np.random.Generator, mean: float, sd: float, low: float, high: float) -> float:
    """Return one normal draw restricted to [low, high] by rejection (mean clipped if it never lands)."""
    for _ in range(10000):
        x = rng.normal(mean, sd)
        if low <= x <= high:
            return float(x)
    return float(np.clip(mean, low, high))


def sample_lesion(
    group: str,
    rng: np.random.Generator,
    *,
    D: float | None = None,
    Dstar: float | None = None,
    f: float | None = None,
    ff_percent: float | None = None,
) -> LesionParameters:
    """Return lesion parameters drawn from the group's Table 3 distribution; given values override.

    Every parameter is drawn (so the random stream does not depend on the overrides) and then replaced
    by the override when one is given. The result is checked with :func:`validate_lesion`.
    """
    if group not in GROUP_DISTRIBUTIONS:
        raise ValueError(f"unknown group {group!r}: expected one of {', '.join(GROUPS)}")
    dist = GROUP_DISTRIBUTIONS[group]
    d_draw = _truncated_normal(rng, *dist.D_mm2_s, *D_RANGE_MM2_S)
    d_value = d_draw if D is None else float(D)
    ds_low = DSTAR_MIN_OVER_D * d_value * (1.0 + 1e-9)
    ds_draw = _truncated_normal(rng, *dist.Dstar_mm2_s, ds_low, DSTAR_MAX_MM2_S)
    f_draw = _truncated_normal(rng, *dist.f_fraction, *F_RANGE)
    ff_draw = _truncated_normal(rng, *dist.FF_percent, *FF_RANGE_PERCENT)
    lesion = LesionParameters(
        D_mm2_s=d_value,
        Dstar_mm2_s=ds_draw if Dstar is None else float(Dstar),
        f_fraction=f_draw if f is None else float(f),
        FF_percent=ff_draw if ff_percent is None else float(ff_percent),
    )
    validate_lesion(lesion.D_mm2_s, lesion.Dstar_mm2_s, lesion.f_fraction, lesion.FF_percent)
    return lesion


def tissue_table(lesion: LesionParameters) -> tuple[Tissue, ...]:
    """Return all tissues of a patient (background tissues plus the lesion), ordered by label."""
    return tuple(sorted((*BACKGROUND_TISSUES, lesion.tissue()), key=lambda t: t.label))


def signal_by_label(tissues: tuple[Tissue, ...], bvalues_s_mm2: np.ndarray) -> np.ndarray:
    """Return a lookup table ``[label, b]`` of noiseless signals (labels without a tissue give 0)."""
    b = np.asarray(bvalues_s_mm2, dtype=float)
    table = np.zeros((max(t.label for t in tissues) + 1, b.size))
    for t in tissues:
        table[t.label] = t.signal(b)
    return table
