"""The chemical-shift-encoded signal of water and fat with one R2*, at the echo times of a multi-echo GRE.

``S(t_n) = |W + F c(t_n)| exp(-R2* t_n)`` (magnitude), with ``c(t) = sum_p a_p exp(i 2 pi df_p t)`` the
multi-peak fat spectrum: areas ``a_p`` and shifts ``df_p = (ppm_p - 4.7) * f0`` of
:data:`VCFDiagnosisLib.mrs.model.HAMILTON_FAT_PEAKS` (the spectroscopy engine's fat model, one source of truth;
``c(0) = 1``). Units: echo times in seconds, R2* in 1/s, f0 the proton frequency in MHz (3 T: 127.74), shifts in
Hz. PDFF = F / (W + F), reported in percent. Water and fat share R2* (the single-R2* model of the literature).
"""

from __future__ import annotations

import numpy as np

from ..mrs.model import HAMILTON_FAT_PEAKS, WATER_PPM

#: Proton frequency at 3 T (MHz).
F0_3T_MHZ = 127.74


def fat_phasors(echo_times_s, f0_mhz: float = F0_3T_MHZ, peaks=HAMILTON_FAT_PEAKS) -> np.ndarray:
    """Return ``c(t_n)`` (complex, one per echo) of the multi-peak fat spectrum, relative to water."""
    t = np.asarray(echo_times_s, dtype=float)[:, None]
    areas = np.array([p.relative_area for p in peaks])
    shifts_hz = np.array([(p.ppm - WATER_PPM) * f0_mhz for p in peaks])
    return (areas * np.exp(2j * np.pi * shifts_hz * t)).sum(axis=1) / areas.sum()


def complex_signal(echo_times_s, water, fat, r2star_per_s, f0_mhz: float = F0_3T_MHZ) -> np.ndarray:
    """Return the complex signal ``(n_echoes, ...)`` ``(W + F c(t)) exp(-R2* t)`` (no field map, phase 0 at
    t = 0) for water, fat (same units) and R2* (1/s) arrays."""
    t = np.asarray(echo_times_s, dtype=float)
    c = fat_phasors(t, f0_mhz)
    shape = (len(t),) + (1,) * np.ndim(water)
    return (np.asarray(water) + np.asarray(fat) * c.reshape(shape)) * np.exp(-t.reshape(shape)
                                                                          * np.asarray(r2star_per_s))


def magnitude_signal(echo_times_s, water, fat, r2star_per_s, f0_mhz: float = F0_3T_MHZ) -> np.ndarray:
    """Return the magnitude signal ``(n_echoes, ...)`` for water, fat (same units) and R2* (1/s) arrays."""
    return np.abs(complex_signal(echo_times_s, water, fat, r2star_per_s, f0_mhz))
