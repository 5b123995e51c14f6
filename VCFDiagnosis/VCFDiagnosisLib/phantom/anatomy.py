"""Sagittal lumbar-spine anatomy of the phantom as a label map on the slab grid.

Built in the slab's local coordinates (mm from the slab centre; ``u`` anterior -> posterior, ``v`` head
-> foot, ``w`` left -> right, see :mod:`.geometry`), all vectorised with numpy broadcasting:

* seven vertebral bodies T12..S1 (rounded boxes: superellipsoids, exponent 4 in-plane), ~34 mm deep,
  ~26 mm high, ~44 mm wide, on a gentle lumbar lordosis; intervertebral discs ~9 mm between them;
* one fractured body among L1..L5: collapsed as an anterior wedge (anterior height 45-75 %, posterior
  70-95 % of normal, endplates depressed symmetrically about its centre); the space left by the
  collapse reads as disc / fluid;
* the lesion: an ellipsoid (~20-26 mm AP, ~22-30 mm LR, up to ~18 mm high) inside the fractured body,
  clipped to it;
* the spinal canal (CSF tube ~16 mm AP x 20 mm LR) behind the bodies, spinous processes (marrow) in
  the midline and paraspinal muscle posterior; everything else is air (noise only).

Labels are assigned from the voxel centre (no partial-volume mixing), so every voxel has exactly one
tissue's signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import SlabGeometry
from .tissues import CSF, DISC, LESION, MARROW, MUSCLE

VERTEBRA_NAMES = ("T12", "L1", "L2", "L3", "L4", "L5", "S1")
FRACTURE_LEVELS = ("L1", "L2", "L3", "L4", "L5")

BODY_HALF_DEPTH_MM = 17.0
BODY_HALF_HEIGHT_MM = 13.0
BODY_HALF_WIDTH_MM = 22.0
DISC_HEIGHT_MM = 9.0
BODY_CENTRE_U_MM = -18.0


@dataclass(frozen=True)
class AnatomyParameters:
    """The drawn anatomy of one patient (mm, local slab coordinates)."""

    fracture_level: str
    anterior_height_ratio: float
    posterior_height_ratio: float
    lesion_centre_uvw_mm: tuple[float, float, float]
    lesion_semi_axes_uvw_mm: tuple[float, float, float]
    lordosis_mm: float

    def to_json(self) -> dict:
        """Return the parameters as plain JSON types."""
        return {
            "vertebrae": list(VERTEBRA_NAMES),
            "fracture_level": self.fracture_level,
            "fracture_anterior_height_ratio": float(self.anterior_height_ratio),
            "fracture_posterior_height_ratio": float(self.posterior_height_ratio),
            "lesion_centre_local_uvw_mm": [float(x) for x in self.lesion_centre_uvw_mm],
            "lesion_semi_axes_local_uvw_mm": [float(x) for x in self.lesion_semi_axes_uvw_mm],
            "lordosis_mm": float(self.lordosis_mm),
            "normal_body_size_mm": {
                "depth_ap": 2 * BODY_HALF_DEPTH_MM,
                "height_si": 2 * BODY_HALF_HEIGHT_MM,
                "width_lr": 2 * BODY_HALF_WIDTH_MM,
                "disc_height": DISC_HEIGHT_MM,
            },
            "coordinates": "local slab mm from the slab centre: u along row (A->P), v along column (H->F), "
            "w along slice normal (L->R)",
        }


def body_centre_v_mm(index: int) -> float:
    """Return the local v (mm, head -> foot) of the centre of vertebral body ``index`` (0 = T12)."""
    pitch = 2 * BODY_HALF_HEIGHT_MM + DISC_HEIGHT_MM
    return (index - (len(VERTEBRA_NAMES) - 1) / 2.0) * pitch


def draw_anatomy(
    group: str, rng: np.random.Generator, fracture_level: str | None = None
) -> AnatomyParameters:
    """Return randomly drawn anatomy (fracture level, collapse, lesion ellipsoid) for a patient."""
    level = FRACTURE_LEVELS[int(rng.integers(len(FRACTURE_LEVELS)))]
    if fracture_level is not None:
        if fracture_level not in FRACTURE_LEVELS:
            raise ValueError(f"fracture level {fracture_level!r} must be one of {', '.join(FRACTURE_LEVELS)}")
        level = fracture_level
    if group == "osteoporotic":  # classic anterior wedge
        ant, post = rng.uniform(0.45, 0.65), rng.uniform(0.85, 0.95)
    else:  # more uniform (crush) collapse of an infiltrated body
        ant, post = rng.uniform(0.55, 0.75), rng.uniform(0.70, 0.85)
    centre = (rng.uniform(-3.0, 3.0), rng.uniform(-1.5, 1.5), rng.uniform(-5.0, 5.0))
    min_half_height = BODY_HALF_HEIGHT_MM * ant
    semi = (rng.uniform(10.0, 13.0), min(rng.uniform(7.0, 9.0), BODY_HALF_HEIGHT_MM * post),
            rng.uniform(11.0, 15.0))
    semi = (semi[0], max(semi[1], min_half_height), semi[2])
    return AnatomyParameters(level, float(ant), float(post), tuple(float(c) for c in centre),
                             tuple(float(s) for s in semi), float(rng.uniform(5.0, 10.0)))


def _superellipsoid(du: np.ndarray, dv: np.ndarray, dw: np.ndarray, a: float, b, c: float) -> np.ndarray:
    """Return the mask |du/a|^4 + |dv/b|^4 + |dw/c|^2 <= 1 (b may be an array broadcast with du)."""
    return (np.abs(du / a) ** 4 + np.abs(dv / b) ** 4 + (dw / c) ** 2) <= 1.0


def build_label_map(geometry: SlabGeometry, anatomy: AnatomyParameters) -> np.ndarray:
    """Return the tissue label map (uint8, [k, j, i]) of the phantom on ``geometry``'s grid."""
    u, v, w = geometry.local_axes_mm()
    # lordosis: the mid-lumbar spine sits further anterior (u smaller) than T12 and S1
    span = abs(body_centre_v_mm(0)) + BODY_HALF_HEIGHT_MM
    u = u + anatomy.lordosis_mm * (1.0 - np.clip(v / span, -1.0, 1.0) ** 2)
    labels = np.zeros(geometry.shape_kji, dtype=np.uint8)

    # paraspinal muscle, then spinous processes (posterior-element marrow) in the midline
    muscle = (np.abs((u - 48.0) / 30.0) ** 4 + (w / 70.0) ** 2 <= 1.0) & (np.abs(v) <= span + 20.0)
    labels[np.broadcast_to(muscle, labels.shape)] = MUSCLE
    for n in range(len(VERTEBRA_NAMES)):
        spinous = (np.abs(w) <= 3.5) & (np.abs(v - body_centre_v_mm(n) - 6.0) <= 9.0) & (u >= 20.0) & (u <= 55.0)
        labels[np.broadcast_to(spinous, labels.shape)] = MARROW
    canal = ((u - 9.0) / 8.0) ** 2 + (w / 10.0) ** 2 <= 1.0
    labels[np.broadcast_to(canal & (np.abs(v) <= span + 20.0), labels.shape)] = CSF

    du = u - BODY_CENTRE_U_MM
    for n in range(len(VERTEBRA_NAMES) - 1):
        mid = 0.5 * (body_centre_v_mm(n) + body_centre_v_mm(n + 1))
        disc = _superellipsoid(du, v - mid, w, BODY_HALF_DEPTH_MM - 1.0, BODY_HALF_HEIGHT_MM + DISC_HEIGHT_MM / 2,
                               BODY_HALF_WIDTH_MM - 1.0)
        labels[np.broadcast_to(disc, labels.shape)] = DISC
    fractured = VERTEBRA_NAMES.index(anatomy.fracture_level)
    body_fractured = None
    for n in range(len(VERTEBRA_NAMES)):
        dv = v - body_centre_v_mm(n)
        half_height = BODY_HALF_HEIGHT_MM
        if n == fractured:  # height falls linearly from the posterior to the anterior wall
            t = np.clip((du + BODY_HALF_DEPTH_MM) / (2 * BODY_HALF_DEPTH_MM), 0.0, 1.0)
            ratio = anatomy.anterior_height_ratio + (anatomy.posterior_height_ratio
                                                     - anatomy.anterior_height_ratio) * t
            half_height = BODY_HALF_HEIGHT_MM * ratio
        body = _superellipsoid(du, dv, w, BODY_HALF_DEPTH_MM, half_height, BODY_HALF_WIDTH_MM)
        body = np.broadcast_to(body, labels.shape)
        labels[body] = MARROW
        if n == fractured:
            body_fractured = body
    cu, cv, cw = anatomy.lesion_centre_uvw_mm
    au, av, aw = anatomy.lesion_semi_axes_uvw_mm
    lesion = ((du - cu) / au) ** 2 + ((v - body_centre_v_mm(fractured) - cv) / av) ** 2 + ((w - cw) / aw) ** 2
    lesion = np.broadcast_to(lesion <= 1.0, labels.shape) & body_fractured
    labels[lesion] = LESION
    return labels
