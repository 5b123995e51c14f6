"""The prior on D* of the ``map`` method: one for voxel maps, one for ROI-mean fits.

``map`` minimises ``SSR + (sigma^2 / log_sd^2) d(ln D*)^2``, where ``d`` is the distance of ln D* from the
prior's flat interval ``[ln lower, ln upper]`` (0 inside it; see :mod:`.engine`): the maximum a posteriori
estimate under a prior on D* that is flat on ``[lower, upper]`` with log-normal tails of SD ``log_sd`` (a plain
log-normal when ``lower == upper``, the median), and flat priors on S0, D and f. The two fits serve different
ends, so they use different priors:

* **voxel maps** (:data:`VOXEL_DSTAR_PRIOR`, flat on 0.02-0.05 mm2/s, log-normal tails of log-SD 0.4): a voxel's
  D* is barely determined at clinical SNR and a map is judged by its error. The shape was chosen on OSIPI's
  synthetic protocol at SNR 30 (14 body tissues, D* 0.01-0.1 mm2/s, 18 b-values), where it lowers the pooled
  RMSE of f, D and D* below every OSIPI algorithm's; it also lowers all three at SNR 10, 50 and 100 (at SNR 200
  they are 4-13 % higher than with the log-normal prior it replaced, median 0.03, log-SD 1), keeps all of
  OSIPI's saved cases, and on the study's 8 b-values with marrow-lesion parameters lowers the RMSE of D, D* and
  f against that prior (``Testing/Benchmarks/bench_ivim_osipi.py``, ``bench_ivim_accuracy.py``). Its interval's
  geometric centre, 0.0316 mm2/s, is what a voxel without perfusion (f fitted at 0) shows.
* **ROI-mean fits** (:data:`ROI_DSTAR_PRIOR`), which feed the study's models (D*'s coefficient is about 145 per
  mm2/s): here a pull towards any one value is a bias towards one diagnosis. The prior is **flat between the two
  groups' mean D*** (25.81e-3 osteoporotic, 53.84e-3 metastatic; Tan et al. 2019, Table 3), so no D* in the
  range the study's diagnoses span is favoured over another, with log-normal tails (log-SD 1) outside it, which
  keep a barely determined D* from running to the bounds. A pull that never crosses the flat interval's edge does not move the median of the estimates of a D* inside it: the median bias there is the
  unregularised fit's (within 1.6 % in both groups for ROIs of 30-150 voxels at voxel SNR 20-80 on the study's
  b-values), and the spread is no larger than with a plain log-normal prior centred between the groups (median
  0.037, log-SD 1.5: -5 % in the weakest cell, a metastatic lesion at voxel SNR 20 in 30 voxels). The price is
  paid outside the interval: a lesion's D* of 10e-3 mm2/s is fitted about +18 % high in that weakest setting
  (+12 % with the log-normal prior), and a D* above 0.1 mm2/s is fitted low with or without a prior, because the
  study's b-values (50 the smallest after 0) cannot tell it apart from any other fast decay
  (``Testing/Benchmarks/bench_roi_fit_methods.py``).

A prior learned from the ROI's own voxels would not help the ROI-mean fit: for a shared D* the voxels carry no
more information than their mean signal, which the fit already uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DstarPrior:
    """Prior on D*: flat on ``[median / sqrt(flat_ratio), median * sqrt(flat_ratio)]`` (mm2/s), log-normal tails.

    ``median_mm2_s`` (mm2/s) is the geometric centre of the flat interval (its median when ``flat_ratio`` is 1, a
    plain log-normal prior); ``log_sd`` (dimensionless) the SD of ln D* in the tails; ``flat_ratio`` (>= 1) the
    ratio of the flat interval's upper to its lower end. :meth:`flat_between` builds one from the interval.
    """

    median_mm2_s: float
    log_sd: float
    flat_ratio: float = 1.0

    @classmethod
    def flat_between(cls, lower_mm2_s: float, upper_mm2_s: float, log_sd: float) -> DstarPrior:
        """Return the prior flat on ``[lower_mm2_s, upper_mm2_s]`` (mm2/s) with log-normal tails of SD ``log_sd``."""
        return cls(math.sqrt(lower_mm2_s * upper_mm2_s), log_sd, upper_mm2_s / lower_mm2_s)

    @property
    def flat_lower_mm2_s(self) -> float:
        """The lower end of the flat interval (mm2/s)."""
        return self.median_mm2_s / math.sqrt(self.flat_ratio)

    @property
    def flat_upper_mm2_s(self) -> float:
        """The upper end of the flat interval (mm2/s)."""
        return self.median_mm2_s * math.sqrt(self.flat_ratio)

    def log_interval(self, unit_mm2_s: float = 1.0) -> tuple[float, float]:
        """Return ``(ln(lower / unit), ln(upper / unit))``: the flat interval of ln D* with D* in ``unit_mm2_s``."""
        return math.log(self.flat_lower_mm2_s / unit_mm2_s), math.log(self.flat_upper_mm2_s / unit_mm2_s)

    def validate(self) -> None:
        """Raise ValueError unless the median and the log-SD are positive and the flat ratio >= 1, all finite."""
        for name in ("median_mm2_s", "log_sd"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"D* prior {name} must be a positive number, got {value!r}")
        if not (math.isfinite(self.flat_ratio) and self.flat_ratio >= 1):
            raise ValueError(f"D* prior flat_ratio must be a finite number >= 1, got {self.flat_ratio!r}")


#: voxelwise ``map`` fits (the maps)
VOXEL_DSTAR_PRIOR = DstarPrior.flat_between(0.02, 0.05, log_sd=0.4)
#: ``map`` fits of an ROI's mean signal (the inputs of the study's models): flat between the groups' mean D*
ROI_DSTAR_PRIOR = DstarPrior.flat_between(25.81e-3, 53.84e-3, log_sd=1.0)
