"""Scanner-computed water-fat maps in DICOM: recognise a PDFF (fat fraction) or R2*/T2* series, turn it into percent
and 1/s, or refuse it with the reason.

Recognition, first that answers (facts as collected in the README, "Marrow fat from water-fat imaging"):

* ImageType / FrameType tokens: ``FF``, ``FAT_FRACTION``, ``PDFF`` (Philips mDIXON Quant writes ``\\FF\\FF``,
  its enhanced frames ``FAT_FRACTION``); ``R2_STAR``/``R2STAR``; ``T2_STAR``/``T2STAR``;
* Philips' private MR image type (2005,1011): ``FF``, ``T2_STAR``, ``R2_STAR``;
* SeriesDescription: "fat fraction", "PDFF", a trailing ``_FF`` (GE IDEAL-IQ prefixes its derived series
  ``FAT FRACTION:``, ``R2*:``; Siemens q-Dixon suffixes ``_FF``, ``_R2STAR``, ``_T2STAR``).

Scaling. Stored values are rescaled (RescaleSlope/Intercept, per frame for enhanced files) first. A PDFF map is
then percent (Philips), or its unit is read from the values: the 99th percentile of the non-zero voxels up to
1.05 is a fraction (x 100), up to 110 percent, from 150 to 1100 per mille (GE and Siemens write 0-1000; / 10);
between 110 and 150 or above 1100 the map is refused as ambiguous, naming the value, unless the user states the
unit (the ``pdff_map_unit`` setting). R2* is taken in 1/s (refused above 3000 1/s); a T2* map in ms becomes
R2* = 1000 / T2* (T2* <= 0 is NaN).
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from ..dwi.dicom import DicomSeriesInfo
from ..dwi.pixels import read_dataset
from .dicom_series import MAP_KIND_TOKENS as _TOKENS
from .dicom_series import MIN_ECHOES, FatInputError, echo_times_of, series_name, volume_on_grid

PDFF, R2STAR, T2STAR = "pdff", "r2star", "t2star"  # the kinds of dicom_series.MAP_KIND_TOKENS
#: What each map kind is called in messages.
KIND_NAMES = {PDFF: "PDFF (fat fraction) map", R2STAR: "R2* map", T2STAR: "T2* map"}
_DESCRIPTIONS = ((PDFF, re.compile(r"fat[ _-]?fraction|pdff|(^|[_ ])ff($|[_ :])", re.I)),
                 (R2STAR, re.compile(r"r2\*|r2[ _-]?star", re.I)),
                 (T2STAR, re.compile(r"t2\*|t2[ _-]?star", re.I)))
PHILIPS_IMAGE_TYPE_TAG = (0x2005, 0x1011)
#: Units a user may state for a PDFF map (the ``pdff_map_unit`` setting, :data:`.options.PDFF_MAP_UNITS`), as
#: factors to percent.
PDFF_UNITS = {"percent": 1.0, "permille": 0.1, "fraction": 100.0}
MAX_R2STAR_PER_S = 3000.0


def _philips_type_of_file(path: str) -> str:
    """Return Philips' private MR image type (2005,1011) of one file ('' if none)."""
    ds = read_dataset(path, stop_before_pixels=True)
    element = ds.get(PHILIPS_IMAGE_TYPE_TAG)
    value = element.value if element is not None else ""
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="ignore")
    return str(value).strip().upper()


def _frame_kind(frame) -> str | None:
    """Return the map kind an image's own ImageType/FrameType names (None: none, or several)."""
    kinds = {_TOKENS[t] for t in frame.image_type if t in _TOKENS}
    return kinds.pop() if len(kinds) == 1 else None


def _part(info: DicomSeriesInfo, frames: list) -> DicomSeriesInfo:
    """Return the series restricted to ``frames`` (one map of a series that holds several)."""
    return dataclasses.replace(info, headers=list(frames), files={f.path for f in frames})


def map_candidates(info: DicomSeriesInfo) -> list[tuple[DicomSeriesInfo, str, str]]:
    """Return the scanner maps one indexed series holds, as (the series restricted to the map's images, kind
    ``pdff``/``r2star``/``t2star``, the evidence). A series may hold several maps (Philips often exports FF and T2*
    in one series): its images are grouped by their own ImageType/FrameType, else by their own Philips type. A
    series of echoes (3 or more echo times among its magnitude images) is no map, whatever its description says
    (e.g. ``t2star_me_gre``)."""
    by_kind: dict[str, list] = {}
    for frame in info.headers:
        kind = _frame_kind(frame)
        if kind is not None:
            by_kind.setdefault(kind, []).append(frame)
    if by_kind:
        return [(_part(info, frames), kind, f"ImageType {'/'.join(sorted(t for t in frames[0].image_type if _TOKENS.get(t) == kind))}")
                for kind, frames in by_kind.items()]
    if len(echo_times_of(info)) >= MIN_ECHOES:
        return []
    if "philips" in info.manufacturer.lower():
        by_file = {path: _philips_type_of_file(path) for path in sorted({f.path for f in info.headers})}
        for frame in info.headers:
            if by_file[frame.path] in _TOKENS:
                by_kind.setdefault(_TOKENS[by_file[frame.path]], []).append(frame)
        if by_kind:
            return [(_part(info, frames), kind, f"Philips MR image type (2005,1011) {by_file[frames[0].path]}")
                    for kind, frames in by_kind.items()]
    for kind, pattern in _DESCRIPTIONS:
        if pattern.search(info.description or ""):
            return [(info, kind, f"SeriesDescription '{info.description}'")]
    return []


def pdff_unit(values: np.ndarray, info: DicomSeriesInfo, stated: str = "auto") -> tuple[float, str]:
    """Return (factor to percent, how it was decided) for a rescaled PDFF map; FatInputError when ambiguous."""
    if stated != "auto":
        return PDFF_UNITS[stated], f"{stated} (stated by the user)"
    tissue = np.abs(values[np.isfinite(values) & (values != 0)])
    if tissue.size == 0:
        raise FatInputError(f"{series_name(info)}: the PDFF map is empty (every voxel 0)")
    high = float(np.percentile(tissue, 99))
    if "philips" in info.manufacturer.lower():  # percent after the rescale; its air may hold -100..200 of noise
        if high <= 110.0:
            return 1.0, "percent (Philips mDIXON Quant maps are percent after the rescale)"
        raise FatInputError(f"{series_name(info)}: a Philips PDFF map with values up to {high:.4g} (99th "
                            "percentile) is not percent as expected; state its unit with --pdff-map-unit")
    if high <= 1.05:
        return 100.0, f"fraction (99th percentile of the map {high:.3g} <= 1.05)"
    if high <= 110.0:
        return 1.0, f"percent (99th percentile of the map {high:.4g} <= 110)"
    if 150.0 <= high <= 1100.0:
        return 0.1, f"per mille (99th percentile of the map {high:.4g} in 150-1100)"
    raise FatInputError(
        f"{series_name(info)}: cannot tell the unit of this PDFF map (99th percentile of its values {high:.4g}: "
        "neither 0-1, 0-100 nor 0-1000); state it with --pdff-map-unit percent|permille|fraction")


def read_fat_map(info: DicomSeriesInfo, kind: str, stated_unit: str = "auto") -> tuple[np.ndarray, np.ndarray, str]:
    """Return (map [k, j, i] in percent (PDFF) or 1/s (R2*, also from a T2* map), ijk_to_ras, how it was scaled)."""
    frames = [f for f in info.headers if f.complex_part in ("", "magnitude")]
    spacing = info.metadata.get("spacing_between_slices_mm") or info.metadata.get("slice_thickness_mm")
    values, grid = volume_on_grid(frames, f"{series_name(info)} ({KIND_NAMES[kind]})", spacing)
    values = values.astype(np.float64)
    if kind == PDFF:
        factor, how = pdff_unit(values, info, stated_unit)
        return values * factor, grid, how
    if kind == T2STAR:
        positive = values > 0
        high = float(np.percentile(values[positive], 99)) if positive.any() else 0.0
        if high and high < 1.0:
            raise FatInputError(f"{series_name(info)}: T2* values up to {high:.3g}: seconds, not ms? refused")
        return np.where(positive, 1000.0 / np.where(positive, values, 1.0), np.nan), grid, "R2* = 1000 / T2* (ms)"
    finite = values[np.isfinite(values) & (values > 0)]
    if finite.size and np.percentile(finite, 99) > MAX_R2STAR_PER_S:
        raise FatInputError(f"{series_name(info)}: R2* values up to {np.percentile(finite, 99):.4g}, above "
                            f"{MAX_R2STAR_PER_S:g} 1/s: a scaled map? refused")
    return values, grid, "1/s as stored"
