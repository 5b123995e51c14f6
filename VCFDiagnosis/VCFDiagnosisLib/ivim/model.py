"""The IVIM signal model, its convention, and conversion to the other common D* convention.

Convention (MITK Diffusion, used by Tan et al. 2019 and by OSIPI TF2.4; D* is the *total*
pseudo-diffusion coefficient of the perfusion compartment)::

    S(b) = S0 * ((1 - f) * exp(-b * D) + f * exp(-b * Dstar))

* ``b`` in s/mm2; ``D`` and ``Dstar`` in mm2/s; ``f`` a fraction in [0, 1]; ``S0`` in signal units.

Some papers and tools (e.g. Le Bihan's original form, some dipy/ivimfit variants) write the perfusion
term as ``exp(-b * (D + D*p))`` where ``D*p`` is the pseudo-diffusion *excess* over D. The two are
related by ``Dstar_total = D + Dstar_pseudo``; use :func:`dstar_total_from_pseudo` and
:func:`dstar_pseudo_from_total` to convert. Every map this package produces uses the total convention.
"""

from __future__ import annotations

import numpy as np


def ivim_signal(
    bvalues_s_mm2: np.ndarray,
    S0: np.ndarray | float,
    D_mm2_s: np.ndarray | float,
    Dstar_mm2_s: np.ndarray | float,
    f_fraction: np.ndarray | float,
) -> np.ndarray:
    """Return the bi-exponential IVIM signal with b on the LAST axis.

    The parameters broadcast against each other; the result has shape ``param_shape + (n_b,)``.
    """
    b = np.asarray(bvalues_s_mm2, dtype=float)
    s0 = np.asarray(S0, dtype=float)[..., None]
    d = np.asarray(D_mm2_s, dtype=float)[..., None]
    ds = np.asarray(Dstar_mm2_s, dtype=float)[..., None]
    f = np.asarray(f_fraction, dtype=float)[..., None]
    return s0 * ((1.0 - f) * np.exp(-b * d) + f * np.exp(-b * ds))


def monoexp_signal(
    bvalues_s_mm2: np.ndarray, S0: np.ndarray | float, ADC_mm2_s: np.ndarray | float
) -> np.ndarray:
    """Return ``S0 * exp(-b * ADC)`` with b on the LAST axis (shape ``param_shape + (n_b,)``)."""
    b = np.asarray(bvalues_s_mm2, dtype=float)
    return np.asarray(S0, dtype=float)[..., None] * np.exp(-b * np.asarray(ADC_mm2_s, dtype=float)[..., None])


def dstar_total_from_pseudo(dstar_pseudo_mm2_s: np.ndarray | float, D_mm2_s: np.ndarray | float) -> np.ndarray:
    """Convert D* of the ``exp(-b (D + D*))`` convention to this package's total D* (mm2/s)."""
    return np.asarray(dstar_pseudo_mm2_s, dtype=float) + np.asarray(D_mm2_s, dtype=float)


def dstar_pseudo_from_total(dstar_total_mm2_s: np.ndarray | float, D_mm2_s: np.ndarray | float) -> np.ndarray:
    """Convert this package's total D* to the ``exp(-b (D + D*))`` convention's D* (mm2/s)."""
    return np.asarray(dstar_total_mm2_s, dtype=float) - np.asarray(D_mm2_s, dtype=float)
