"""Default parameter bounds of the IVIM fits (documented, user-overridable)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IvimBounds:
    """Box constraints of the IVIM parameters.

    Defaults (the OSIPI TF2.4 test bounds, which also cover every value reported for vertebral marrow
    and lesions by Tan et al. 2019):

    * ``D``: 0 .. 5e-3 mm2/s (free water at 37 C is ~3e-3);
    * ``Dstar``: 5e-3 .. 0.2 mm2/s (the lower bound equals the upper bound of D so the two compartments
      cannot swap);
    * ``f``: 0 .. 1;
    * ``S0``: 0.5 .. 2 times the voxel's largest measured signal.
    """

    D_mm2_s: tuple[float, float] = (0.0, 5e-3)
    Dstar_mm2_s: tuple[float, float] = (5e-3, 0.2)
    f_fraction: tuple[float, float] = (0.0, 1.0)
    S0_relative: tuple[float, float] = (0.5, 2.0)

    def validate(self) -> None:
        """Raise ValueError if a bound pair is empty or outside the physical range."""
        for name in ("D_mm2_s", "Dstar_mm2_s", "f_fraction", "S0_relative"):
            lo, hi = getattr(self, name)
            if not (lo < hi) or lo < 0:
                raise ValueError(f"bounds {name} must satisfy 0 <= low < high, got ({lo}, {hi})")
        if self.f_fraction[1] > 1:
            raise ValueError(f"bounds f_fraction upper must be <= 1, got {self.f_fraction[1]}")
        if self.Dstar_mm2_s[0] < self.D_mm2_s[1]:
            raise ValueError("bounds: the lower bound of Dstar must not be below the upper bound of D")
