"""Per-voxel fit status codes shared by every IVIM/ADC method and written as the ``status`` map.

The codes are stable (they are stored as uint8 in NIfTI files); never renumber them.
"""

from __future__ import annotations

from enum import IntEnum


class FitStatus(IntEnum):
    """Outcome of the fit of one voxel.

    * ``OK`` (0): converged, every parameter strictly inside its bounds.
    * ``NOT_FITTED`` (1): background (automatic noise-level mask) or outside the user mask; all maps NaN.
    * ``HIT_BOUND`` (2): converged with at least one parameter on a bound (e.g. f = 0, D* = upper bound).
      Values are kept; a parameter that is undefined at the bound is NaN (D* when f = 0, D when f = 1).
    * ``NOT_CONVERGED`` (3): the iteration limit was reached; values are the last iterate (whose cost is
      below that of the initial guess) and should be treated with caution.
    * ``INVALID_INPUT`` (4): the voxel's signal cannot be fitted (NaN/inf, a negative value, no positive
      signal, a constant signal, too few usable b-values, no low b-value); all maps NaN.
    """

    OK = 0
    NOT_FITTED = 1
    HIT_BOUND = 2
    NOT_CONVERGED = 3
    INVALID_INPUT = 4


#: Human-readable description of each status code (for legends and reports).
STATUS_DESCRIPTIONS: dict[int, str] = {
    FitStatus.OK: "ok",
    FitStatus.NOT_FITTED: "not fitted (background or outside mask)",
    FitStatus.HIT_BOUND: "converged on a parameter bound",
    FitStatus.NOT_CONVERGED: "did not converge (iteration limit)",
    FitStatus.INVALID_INPUT: "invalid input signal",
}
