"""One volume per b-value from any stack of volumes with per-volume b-values (NIfTI, NRRD, Slicer nodes).

Volumes whose b-values agree within :data:`~.bvalues.B_TOLERANCE_S_MM2` form one shell: at b > 0 several
(directional) volumes give their geometric mean (the trace), b = 0 repeats their arithmetic mean — the rule
the DICOM loader applies (:func:`.assemble.combine_shell`).
"""

from __future__ import annotations

import numpy as np

from .assemble import combine_shell
from .bvalues import bvalue_problem, group_bvalues
from .volume import DwiVolume


def dwi_from_volumes(bvalues_s_mm2, data_bkji: np.ndarray, ijk_to_ras: np.ndarray, metadata: dict | None = None,
                     trace_only: bool = False) -> DwiVolume:
    """Return a DwiVolume with one volume per distinct b-value (sorted) from ``data_bkji[volume, k, j, i]``."""
    b = np.asarray(bvalues_s_mm2, float).reshape(-1)
    data = np.asarray(data_bkji)
    if data.ndim != 4 or data.shape[0] != b.size:
        raise ValueError(f"{b.size} b-values for data of shape {data.shape} (expected [volume, k, j, i])")
    problems = [bvalue_problem(float(v)) for v in b]
    if any(problems):
        raise ValueError(next(p for p in problems if p) + f" (b-values {b.tolist()})")
    grouped = group_bvalues(b)
    shells = np.unique(grouped)
    combined = np.empty((shells.size, *data.shape[1:]), np.float32)
    how = {}
    for s, shell in enumerate(shells):
        combined[s], how[f"{shell:g}"] = combine_shell(data[grouped == shell], axis=0, bvalue=float(shell),
                                                       trace_only=trace_only)
    return DwiVolume(shells, combined, ijk_to_ras, dict(metadata or {}, combination=how))
