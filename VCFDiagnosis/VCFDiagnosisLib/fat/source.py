"""A case's water-fat input: a DICOM folder (or file) holding multi-echo GRE images and/or scanner PDFF/R2* maps,
read into maps on their own grid (:class:`FatVolume`), PDFF in percent and R2* in 1/s.

``source`` chooses: ``fit`` fits the echoes (:func:`VCFDiagnosisLib.fat.fit.fit_pdff`), ``vendor`` uses the
scanner's maps (:mod:`.vendor_maps`), ``auto`` the scanner's PDFF map when the folder has one, else the fit.
Reading (:func:`read_fat_input`, file I/O) and fitting (:func:`fat_volume`, numbers only) are separate steps so a
front end can read on its main thread and fit on a worker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..dwi.dicom import DicomSeriesInfo, index_dicom_files, index_dicom_folder
from .dicom_series import (
    MIN_ECHOES,
    EchoSeries,
    FatInputError,
    echo_times_of,
    load_echo_series,
    phase_partner,
    series_name,
)
from .fit import NOT_FITTED, OK, STATUS, fit_pdff
from .options import FAT_SOURCES
from .vendor_maps import KIND_NAMES, PDFF, R2STAR, T2STAR, map_candidates, read_fat_map


@dataclass
class FatVolume:
    """PDFF (percent), R2* (1/s, NaN if unknown) and status maps on one grid (``[k, j, i]``, ``ijk_to_ras``), and
    from a fit the water and fat signals (the echoes' units at t = 0; None for a scanner's maps).

    ``source`` is ``fit`` or ``vendor``; ``description`` says what was read and how it was scaled or fitted.
    """

    pdff_percent: np.ndarray
    r2star_per_s: np.ndarray
    status: np.ndarray
    ijk_to_ras: np.ndarray
    source: str
    description: str
    metadata: dict = field(default_factory=dict)
    water: np.ndarray | None = None
    fat: np.ndarray | None = None
    field_map_hz: np.ndarray | None = None  # from a fit with phase: the off-resonance (Hz)

    @property
    def shape_kji(self) -> tuple[int, int, int]:
        """Return the grid shape (k, j, i)."""
        return tuple(int(n) for n in self.pdff_percent.shape)

    def as_dict(self) -> dict:
        """Return the maps by file stem: ``PDFF`` (percent), ``R2star`` (1/s), from a fit ``water`` and ``fat``
        (signal units), with phase ``field_map`` (Hz), and ``fat_status`` (codes of
        :data:`VCFDiagnosisLib.fat.fit.STATUS`)."""
        maps = {"PDFF": self.pdff_percent.astype(np.float32), "R2star": self.r2star_per_s.astype(np.float32)}
        if self.water is not None and self.fat is not None:
            maps.update(water=self.water.astype(np.float32), fat=self.fat.astype(np.float32))
        if self.field_map_hz is not None:
            maps["field_map"] = self.field_map_hz.astype(np.float32)
        return {**maps, "fat_status": self.status.astype(np.uint8)}


@dataclass
class FatInput:
    """What :func:`read_fat_input` found: echoes to fit, or a scanner map read already (``volume``)."""

    path: str
    echoes: EchoSeries | None = None
    volume: FatVolume | None = None
    warnings: list = field(default_factory=list)
    identity: dict = field(default_factory=dict)  # patient_id, study_uid of the series read (DICOM)

    @property
    def grid(self) -> tuple[np.ndarray, tuple]:
        """Return (ijk_to_ras, shape_kji) of the water-fat grid (the echoes' or the scanner maps')."""
        source = self.echoes if self.echoes is not None else self.volume
        return source.ijk_to_ras, source.shape_kji


def _classify(series: list[DicomSeriesInfo]) -> tuple[dict, list]:
    maps: dict[str, list] = {PDFF: [], R2STAR: [], T2STAR: []}
    echoes = []
    for info in series:
        found = map_candidates(info)
        for part, kind, evidence in found:
            maps[kind].append((part, evidence))
        if len(echo_times_of(info)) >= MIN_ECHOES:  # echoes beside maps in one series count too
            echoes.append(info)
    return maps, echoes


def _one(candidates: list, what: str, path) -> object:
    if len(candidates) > 1:
        labels = "; ".join(series_name(c[0] if isinstance(c, tuple) else c) for c in candidates)
        raise FatInputError(f"{path}: several {what} series ({labels}); give the folder of one")
    return candidates[0] if candidates else None


def read_fat_input(path: str | os.PathLike, source: str = "auto", pdff_map_unit: str = "auto",
                   phase: bool = True) -> FatInput:
    """Return the water-fat input found below ``path`` (a DICOM folder, searched recursively, or one file).

    Raises :class:`FatInputError` naming the path when nothing usable is found (listing what was), when several
    candidates compete, or when a scanner map's unit is ambiguous (``pdff_map_unit`` states it). With ``phase``,
    the echoes' phase images (in their series or a partner series) are read for the mixed magnitude/complex fit.
    """
    if source not in FAT_SOURCES:
        raise ValueError(f"unknown fat source {source!r}: expected one of {', '.join(FAT_SOURCES)}")
    path = Path(path)
    if not path.exists():
        raise FatInputError(f"{path}: no such file or folder (water-fat input)")
    found, skipped = index_dicom_folder(path) if path.is_dir() else index_dicom_files([path])
    maps, echoes = _classify(found)
    result = FatInput(str(path))
    pdff = _one(maps[PDFF], KIND_NAMES[PDFF], path) if source != "fit" else None
    if source == "vendor" or (source == "auto" and pdff is not None):
        if pdff is None:
            raise FatInputError(f"{path}: no scanner PDFF map found ({_listing(found)})")
        result.volume = _vendor_volume(pdff, maps, path, pdff_map_unit, result.warnings)
        result.identity = {k: pdff[0].metadata.get(k) for k in IDENTITY_KEYS}
        return result
    chosen = _one(echoes, "multi-echo", path)
    if chosen is None:
        hint = f"; {skipped[0]}" if skipped and not found else ""
        raise FatInputError(f"{path}: no multi-echo gradient-echo series (>= {MIN_ECHOES} echo times) and no PDFF "
                            f"map found ({_listing(found)}{hint})")
    partner = phase_partner(chosen, found)
    result.echoes = load_echo_series(chosen, partner if phase else None)
    if partner is not None and not phase:
        result.echoes.metadata["phase"] = "phase images not used (magnitude only, as asked)"
    if result.echoes.metadata["phase_problem"]:
        result.warnings.append(result.echoes.metadata["phase_problem"])
    result.identity = {k: chosen.metadata.get(k) for k in IDENTITY_KEYS}
    return result


#: What says whose images a series holds (DICOM PatientID, StudyInstanceUID; as the DWI's metadata names them).
IDENTITY_KEYS = ("patient_id", "study_uid")


def check_same_patient(dwi_metadata: dict, fat_input: FatInput) -> None:
    """Refuse a water-fat input whose PatientID differs from the DWI's (both known); note another study.

    Raises :class:`FatInputError` naming the folder (not the IDs: they identify patients). A different study of
    the same patient is allowed with a warning (the geometry may not match: check the ROI on the maps).
    """
    mine, theirs = fat_input.identity, dwi_metadata
    if mine.get("patient_id") and theirs.get("patient_id") and mine["patient_id"] != theirs["patient_id"]:
        raise FatInputError(f"{fat_input.path}: the water-fat series and the DWI have different PatientIDs: "
                            "refused (two patients' images are never combined)")
    note = "the water-fat series is from another study than the DWI (check that the ROI lies on the same anatomy)"
    if mine.get("study_uid") and theirs.get("study_uid") and mine["study_uid"] != theirs["study_uid"] \
            and note not in fat_input.warnings:  # an input read once may be checked again (another Apply)
        fat_input.warnings.append(note)


#: A scanner PDFF value outside this range (percent) is no measurement (background noise): NaN, "not fitted".
PDFF_PLAUSIBLE_PERCENT = (-20.0, 120.0)


def _listing(found: list[DicomSeriesInfo]) -> str:
    return "; ".join(f"{series_name(s)}, echo times {echo_times_of(s) or 'none'} ms" for s in found) or "no DICOM images"


def _vendor_volume(pdff, maps: dict, path, unit: str, warnings: list) -> FatVolume:
    info, evidence = pdff
    values, grid, how = read_fat_map(info, PDFF, unit)
    description = f"scanner PDFF map {series_name(info)} ({evidence}; {how})"
    r2 = np.full(values.shape, np.nan)
    second = _one(maps[R2STAR], KIND_NAMES[R2STAR], path) or _one(maps[T2STAR], KIND_NAMES[T2STAR], path)
    if second is not None:
        r2_info, r2_evidence = second
        kind = R2STAR if maps[R2STAR] else T2STAR
        r2_values, r2_grid, r2_how = read_fat_map(r2_info, kind)
        if r2_values.shape == values.shape and np.allclose(r2_grid, grid, atol=1e-3):
            r2 = r2_values
            description += f"; R2* from {series_name(r2_info)} ({r2_evidence}; {r2_how})"
        else:
            warnings.append(f"{series_name(r2_info)}: not on the PDFF map's grid, R2* not used")
    else:
        warnings.append(f"{path}: no scanner R2*/T2* map, R2* not reported")
    # a scanner writes 0 (PDFF and R2*) where it fitted nothing; values no tissue has are not a measurement either
    background = (~np.isfinite(values) | (values < PDFF_PLAUSIBLE_PERCENT[0]) | (values > PDFF_PLAUSIBLE_PERCENT[1])
                  | ((np.abs(values) < 1e-3) & bool(np.isfinite(r2).any()) & ~(np.isfinite(r2) & (r2 > 0))))
    values, r2 = np.where(background, np.nan, values), np.where(background, np.nan, r2)
    status = np.where(background, NOT_FITTED, OK).astype(np.uint8)
    return FatVolume(values, r2, status, grid, "vendor", description,
                     {"manufacturer": info.manufacturer, "series_uid": info.series_uid, "status_codes": STATUS})


#: Around the ROIs, the fit of a case covers this margin (mm, in-plane) and one slice more on each side: enough
#: neighbourhood for the spatial swap resolution and the report's PDFF panel (cropped to the ROI +- 35 mm).
ROI_REGION_MARGIN_MM = 35.0


def roi_region(masks, ijk_to_ras: np.ndarray, margin_mm: float = ROI_REGION_MARGIN_MM) -> np.ndarray | None:
    """Return the box around the union of ``masks`` ([k, j, i] on one grid) widened by ``margin_mm`` in-plane and
    one slice through-plane, as a mask (None when the masks are empty)."""
    union = np.any([np.asarray(m, bool) for m in masks], axis=0) if len(masks) else None
    if union is None or not union.any():
        return None
    spacing = np.linalg.norm(np.asarray(ijk_to_ras, float)[:3, :3], axis=0)  # i, j, k
    pad = (1, int(np.ceil(margin_mm / spacing[1])), int(np.ceil(margin_mm / spacing[0])))
    region = np.zeros(union.shape, bool)
    box = tuple(slice(max(int(ix.min()) - p, 0), int(ix.max()) + p + 1) for ix, p in zip(np.nonzero(union), pad))
    region[box] = True
    return region


def fat_volume(fat_input: FatInput, processes: int | None = None, mask: np.ndarray | None = None) -> FatVolume:
    """Return the maps of a read input: the scanner's, or the fit of its echoes (which may take seconds); ``mask``
    limits the fit (e.g. :func:`roi_region`; NaN with status "not fitted" elsewhere)."""
    if fat_input.volume is not None:
        return fat_input.volume
    echoes = fat_input.echoes
    maps = fit_pdff(echoes.echo_times_ms * 1e-3, echoes.magnitude, mask=mask, f0_mhz=echoes.metadata["f0_mhz"],
                    processes=processes, phases_rad=echoes.phase)
    how = "magnitude and phase (mixed fit)" if echoes.phase is not None else "magnitude"
    if maps.phase_sign == -1:
        how += ", the phase conjugated (the images' sign convention; chosen by the residuals)"
    elif maps.phase_sign == 0:
        how = "magnitude; the phase was not used: its sign convention could not be told from the residuals"
        fat_input.warnings.append("the phase images' sign convention could not be decided: magnitudes fitted")
    times = ", ".join(f"{t:g}" for t in echoes.echo_times_ms)
    series = f"series {echoes.metadata.get('series_number')} '{echoes.metadata.get('series_description', '')}'"
    return FatVolume(maps.pdff_percent, maps.r2star_per_s, maps.status, echoes.ijk_to_ras, "fit",
                     f"fitted from {len(echoes.echo_times_ms)} echoes ({how}) of {series} (TE {times} ms; "
                     f"{echoes.metadata['f0_mhz']:.2f} MHz; multi-peak fat, one R2*, swaps resolved in space; "
                     f"{echoes.metadata['phase']})",
                     {"echo_times_ms": echoes.echo_times_ms.tolist(), "status_codes": STATUS, **{
                         k: echoes.metadata.get(k) for k in ("series_uid", "manufacturer", "study_uid", "f0_mhz")}},
                     water=np.where(maps.status == NOT_FITTED, np.nan, maps.water),
                     fat=np.where(maps.status == NOT_FITTED, np.nan, maps.fat), field_map_hz=maps.field_map_hz)


def load_fat_maps(path: str | os.PathLike, source: str = "auto", pdff_map_unit: str = "auto",
                  processes: int | None = None, phase: bool = True) -> FatVolume:
    """Return the PDFF/R2* maps of a water-fat input (read, then fitted when they come from echoes)."""
    return fat_volume(read_fat_input(path, source, pdff_map_unit, phase), processes)
