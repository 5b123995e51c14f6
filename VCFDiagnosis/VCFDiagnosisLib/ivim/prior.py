"""The log-normal prior on D* of the ``map`` method: one for voxel maps, one for ROI-mean fits.

``map`` minimises ``SSR + (sigma^2 / log_sd^2) (ln D* - ln median)^2`` (see :mod:`.engine`): the maximum a
posteriori estimate under a log-normal prior on D* and flat priors on S0, D and f. The two fits serve different
ends, so they use different priors:

* **voxel maps** (:data:`VOXEL_DSTAR_PRIOR`, median 0.03 mm2/s, log-SD 1): a voxel's D* is barely determined at
  clinical SNR and a map is judged by its error; this weakly informative prior (95 % of its mass in
  0.004-0.21 mm2/s, about the default bounds) gives the lowest pooled RMSE on OSIPI's synthetic protocol.
* **ROI-mean fits** (:data:`ROI_DSTAR_PRIOR`, median 0.037 mm2/s, log-SD 1.5), which feed the study's models
  (D*'s coefficient is about 145 per mm2/s): here a shrinkage towards any fixed value is a bias towards one
  diagnosis. The median is the geometric mean of the study's two group means (25.8e-3 osteoporotic, 53.8e-3
  metastatic; Tan et al. 2019, Table 3), so it favours neither; with log-SD 1.5 the median bias of D* is within
  3 % in both groups for ROIs of 30-150 voxels at voxel SNR 20-80 on the study's b-values, except in the weakest
  cell (metastatic lesion, voxel SNR 20, 30 voxels: -7 %, was -14 % with the voxel prior), where D* is barely
  identifiable (its Cramer-Rao SD is 60 % of D*) (``Testing/Benchmarks/bench_roi_fit_methods.py``). The price is
  spread there: the fit's IQR is larger than a strong prior's, which honest intervals
  (:mod:`VCFDiagnosisLib.analysis.uncertainty`) show.

A prior learned from the ROI's own voxels would not help the ROI-mean fit: for a shared D* the voxels carry no
more information than their mean signal, which the fit already uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class DstarPrior:
    """Log-normal prior on D*: ``median_mm2_s`` (mm2/s) and ``log_sd`` (SD of ln D*, dimensionless)."""

    median_mm2_s: float
    log_sd: float

    def validate(self) -> None:
        """Raise ValueError unless the median and the log-SD are positive finite numbers."""
        for name in ("median_mm2_s", "log_sd"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"D* prior {name} must be a positive number, got {value!r}")


#: voxelwise ``map`` fits (the maps)
VOXEL_DSTAR_PRIOR = DstarPrior(median_mm2_s=0.03, log_sd=1.0)
#: ``map`` fits of an ROI's mean signal (the inputs of the study's models)
ROI_DSTAR_PRIOR = DstarPrior(median_mm2_s=math.sqrt(25.81e-3 * 53.84e-3), log_sd=1.5)
