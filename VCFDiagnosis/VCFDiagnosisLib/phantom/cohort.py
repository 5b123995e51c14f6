"""A cohort of synthetic patients with a manifest, drawn from the study's group distributions.

Groups are split as in the study (38 osteoporotic : 32 metastatic, rounded for other sizes), vendor styles
rotate through Siemens, GE, Philips and standard, and patient ``i`` uses seed ``seed + i``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .options import VENDORS
from .patient import PhantomPatient, generate_patient

STUDY_SPLIT = {"osteoporotic": 38, "metastatic": 32}


def cohort_groups(n: int) -> list[str]:
    """Return the group of each of ``n`` patients, in the study's proportion (38:32), interleaved."""
    if n < 1:
        raise ValueError(f"a cohort needs at least 1 patient, got {n}")
    n_metastatic = round(n * STUDY_SPLIT["metastatic"] / sum(STUDY_SPLIT.values()))
    # interleave so that any prefix of the cohort has both groups
    return ["metastatic" if (i * n_metastatic) // n != ((i + 1) * n_metastatic) // n else "osteoporotic"
            for i in range(n)]


def generate_cohort(out_dir: str | os.PathLike, n: int, *, seed: int = 0, force: bool = False,
                    **options) -> list[PhantomPatient]:
    """Write ``n`` phantom patients to ``out_dir`` with ``out_dir/manifest.tsv``; return them.

    ``options`` go to :func:`.patient.generate_patient` (snr, matrix, n_slices, ...).
    """
    out = Path(out_dir)
    patients = []
    for i, group in enumerate(cohort_groups(n)):
        patients.append(generate_patient(out, seed=seed + i, group=group, vendor=VENDORS[i % len(VENDORS)],
                                         case_id=f"cohort-{i + 1:03d}", force=force, **options))
    return patients
