"""From an imaging PDFF to the study's MRS fat fraction: the relation used when no spectrum was acquired.

The study's FF is not a proton-density fat fraction. It is ``FF = LWR / (LWR + 1)`` with ``LWR`` the area of the
methylene peak (1.3 ppm) over the water peak (4.7 ppm) of a PRESS spectrum at TE 30 ms, without T2 correction
(``shared/design/PAPER.md``). A chemical-shift-encoded PDFF counts every fat proton and is free of T2 weighting
(``PDFF = F / (W + F)``). The two are related by::

    LWR_equivalent = a_CH2 * PDFF / (100 - PDFF) * exp(-TE / T2_fat) / exp(-TE / T2_water)
    FF_equivalent  = 100 * LWR_equivalent / (1 + LWR_equivalent)                       (percent)

with ``a_CH2`` the methylene share of the fat signal (0.642, the MRS engine's :data:`HAMILTON_FAT_PEAKS`, one
source of truth), TE 30 ms (the study's) and the T2s of vertebral marrow at 3 T: water ~21 ms (range 11-42 ms)
and fat ~55-90 ms (``shared/design/FORMATS.md``). The central values (:data:`WATER_T2_MS`,
:data:`FAT_T2_MS`) give the estimate; the literature ranges, taken as +-2 SD, give its SD, which the
probability intervals carry (for a PDFF of 20 % the equivalent FF is 29.7 % with an SD of 11.9 points:
an individual patient's marrow T2 is not known). Water T2 dominates that spread.
"""

from __future__ import annotations

import numpy as np

from ..mrs.model import (
    HAMILTON_FAT_PEAKS,
    METHYLENE_PPM,
    fat_fraction_percent_from_lwr,
    lwr_from_fat_fraction_percent,
)

#: The study's spectroscopy echo time (PRESS, TE 30 ms).
STUDY_TE_MS = 30.0
#: Vertebral marrow water T2 at 3 T (ms): central value and the reported range.
WATER_T2_MS, WATER_T2_RANGE_MS = 21.0, (11.0, 42.0)
#: Vertebral marrow fat (methylene) T2 at 3 T (ms): a central value of the reported range, and the range.
FAT_T2_MS, FAT_T2_RANGE_MS = 65.0, (55.0, 90.0)
#: Share of the fat signal in the methylene peak that the study integrated (1.3 ppm).
METHYLENE_SHARE = sum(p.relative_area for p in HAMILTON_FAT_PEAKS if p.ppm == METHYLENE_PPM) / sum(
    p.relative_area for p in HAMILTON_FAT_PEAKS)
#: Flag written on every row whose FF (and P_combined) comes from a PDFF.
PDFF_FLAG = "FF from PDFF (the model was fitted on T2-weighted MRS FF)"


def _weight(te_ms: float, water_t2_ms, fat_t2_ms):
    return np.exp(-te_ms / np.asarray(fat_t2_ms, float)) / np.exp(-te_ms / np.asarray(water_t2_ms, float))


def mrs_ff_from_pdff(pdff_percent, water_t2_ms: float = WATER_T2_MS, fat_t2_ms: float = FAT_T2_MS,
                     te_ms: float = STUDY_TE_MS):
    """Return the study-style FF (percent: methylene only, T2-weighted at ``te_ms``) equivalent to a PDFF (percent).

    Vectorised; NaN in, NaN out; PDFF is clipped to 0..100.
    """
    p = np.clip(np.asarray(pdff_percent, float), 0.0, 100.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lwr = METHYLENE_SHARE * lwr_from_fat_fraction_percent(p) * _weight(te_ms, water_t2_ms, fat_t2_ms)
        ff = np.where(p >= 100.0, 100.0, fat_fraction_percent_from_lwr(lwr))
    return ff if ff.ndim else float(ff)


def pdff_from_mrs_ff(ff_percent, water_t2_ms: float = WATER_T2_MS, fat_t2_ms: float = FAT_T2_MS,
                     te_ms: float = STUDY_TE_MS):
    """Return the PDFF (percent) whose study-style FF is ``ff_percent`` (the inverse of :func:`mrs_ff_from_pdff`)."""
    f = np.clip(np.asarray(ff_percent, float), 0.0, 100.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = lwr_from_fat_fraction_percent(f) / (METHYLENE_SHARE * _weight(te_ms, water_t2_ms, fat_t2_ms))
        pdff = np.where(f >= 100.0, 100.0, fat_fraction_percent_from_lwr(ratio))
    return pdff if pdff.ndim else float(pdff)


def mrs_ff_sd_from_pdff(pdff_percent, pdff_sd_percent: float = 0.0) -> float:
    """Return the SD (percent) of :func:`mrs_ff_from_pdff`: the marrow T2 ranges taken as +-2 SD, combined with the
    PDFF's own SD (``pdff_sd_percent``, e.g. its repeatability) propagated through the relation."""
    corners = [mrs_ff_from_pdff(pdff_percent, w, f) for w in WATER_T2_RANGE_MS for f in FAT_T2_RANGE_MS]
    t2_sd = (max(corners) - min(corners)) / 4.0
    step = 0.5
    slope = (mrs_ff_from_pdff(min(float(pdff_percent) + step, 100.0)) - mrs_ff_from_pdff(
        max(float(pdff_percent) - step, 0.0))) / (2 * step)
    return float(np.hypot(t2_sd, slope * pdff_sd_percent))
