"""One case, one row per ROI: ROI geometry, the IVIM fit of the ROI-mean signal, map statistics, the
spectrum's LWR/FF, the MRS-voxel match, and the study's models. Pure core (no slicer import).

By default the models get D, D* and f from the fit of the ROI-mean signal, which is far less
noise-biased than averaging voxelwise D* maps at clinical SNR; ``model_inputs="map_mean"`` (or
``"map_median"``) feeds the map statistics instead, to mimic the study's map-based ROI reading.

A DWI without b = 0 is fitted with S0 free (see :mod:`..ivim.engine`): the row gets D, D*, f and ADC, status
"warning" and the flag "no b = 0: S0 fitted, D*/f less reliable" (the engine's protocol warnings come first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..dwi.volume import DwiVolume
from ..ivim import BackgroundNoise, FitStatus, IvimMaps, dwi_background_noise, fit_roi_mean_signal, roi_statistics
from . import roi_geometry, study_models, uncertainty
from .results import empty_row
from .settings import CaseSettings
from .site_models import load_site_models

#: Below this perfusion fraction the pseudo-diffusion compartment is too small for D* to be determined on the
#: study's b-values, and the models (which weigh D* heavily) are unreliable: such rows are flagged.
MIN_F_FOR_DSTAR = 0.05


@dataclass
class FatRoi:
    """PDFF (percent) and R2* (1/s) of one ROI on the water-fat grid (NaN where unknown), and how many voxels."""

    pdff_percent: float
    pdff_sd_percent: float
    r2star_per_s: float
    voxels: int
    coverage: float = 1.0  # fraction of the ROI's volume that has a usable PDFF on the water-fat grid
    warnings: tuple = ()  # about the water-fat input (e.g. another study, no R2* map)


#: Below this fraction of the ROI's volume with a usable PDFF, the ROI's PDFF is not used for FF.
MIN_FAT_COVERAGE = 0.8


def fat_rois(fat, fat_masks: dict, masks: dict, dwi_ijk_to_ras: np.ndarray, warnings=()) -> dict:
    """Return ``{roi name: FatRoi}`` of a case: each ROI's values on the water-fat maps ``fat`` (a
    :class:`VCFDiagnosisLib.fat.source.FatVolume`; ``fat_masks`` the ROIs on its grid), its coverage against the ROI
    as drawn (``masks`` on the DWI grid), and the input's ``warnings``."""
    fat_voxel, dwi_voxel = (roi_geometry.voxel_volume_mm3(m) for m in (fat.ijk_to_ras, dwi_ijk_to_ras))
    return {name: fat_roi_values(fat.pdff_percent, fat.r2star_per_s, fat.status, mask, fat_voxel,
                                 np.asarray(masks[name], bool).sum() * dwi_voxel, warnings)
            for name, mask in fat_masks.items()}


def fat_roi_values(pdff_percent: np.ndarray, r2star_per_s: np.ndarray, status: np.ndarray, mask_kji: np.ndarray,
                   voxel_mm3: float = math.nan, roi_mm3: float = math.nan, warnings=()) -> FatRoi:
    """Return the ROI's mean and SD of PDFF and mean R2* over its voxels with a usable PDFF (status 0, finite).

    ``mask_kji`` is the ROI on the water-fat grid (voxels of ``voxel_mm3``); ``roi_mm3`` the ROI's volume where it
    was drawn (the DWI grid), which gives ``coverage``.
    """
    mask = np.asarray(mask_kji, bool) & (np.asarray(status) == 0) & np.isfinite(pdff_percent)
    coverage = float(mask.sum() * voxel_mm3 / roi_mm3) if roi_mm3 > 0 else math.nan
    if not mask.any():
        return FatRoi(math.nan, math.nan, math.nan, 0, 0.0, tuple(warnings))
    pdff = np.asarray(pdff_percent, float)[mask]
    r2 = np.asarray(r2star_per_s, float)[mask]
    r2 = r2[np.isfinite(r2)]
    return FatRoi(float(pdff.mean()), float(pdff.std(ddof=1)) if pdff.size > 1 else math.nan,
                  float(r2.mean()) if r2.size else math.nan, int(mask.sum()), coverage, tuple(warnings))


@dataclass
class MrsVoxel:
    """A spectroscopy voxel: centre (RAS mm), edge lengths (mm) and axes (3x3, columns, RAS)."""

    center_ras: np.ndarray
    size_mm: np.ndarray
    orientation_ras: np.ndarray | None = None


def _finite(value) -> float:
    return float(value) if value is not None and np.isfinite(value) else math.nan


def _fat_columns(row: dict, fat: FatRoi, min_voxels: int) -> list[str]:
    """Fill PDFF, PDFF_sd, R2star (and FF from PDFF when the spectrum gave none); return the warnings."""
    from ..fat.relation import PDFF_FLAG, mrs_ff_from_pdff, mrs_ff_sd_from_pdff

    row.update(PDFF=fat.pdff_percent, PDFF_sd=fat.pdff_sd_percent, R2star=fat.r2star_per_s)
    warnings = [f"water-fat: {w}" for w in fat.warnings]
    if fat.voxels == 0:
        return [*warnings, "water-fat: the ROI has no voxel with a PDFF on the water-fat series' grid"]
    too_little = []  # why the ROI's PDFF cannot stand for its FF
    if np.isfinite(fat.coverage) and fat.coverage < MIN_FAT_COVERAGE:
        too_little.append(f"water-fat: only {100 * fat.coverage:.0f} % of the ROI has a PDFF (outside the water-fat "
                          "series or not fitted): PDFF not used for FF")
    if fat.voxels < min_voxels:
        too_little.append(f"water-fat: the ROI has {fat.voxels} voxels with a PDFF; at least {min_voxels} are "
                          "needed to use it for FF")
    warnings += too_little
    if row["FF_source"] == "mrs" or too_little:
        return warnings
    row.update(FF=float(mrs_ff_from_pdff(fat.pdff_percent)), FF_sd=mrs_ff_sd_from_pdff(fat.pdff_percent),
               FF_source="pdff")
    return [*warnings, f"{PDFF_FLAG}: FF {row['FF']:.1f} +- {row['FF_sd']:.1f} % from PDFF {fat.pdff_percent:.1f} %"]


def _intervals(dwi: DwiVolume, mask: np.ndarray, maps: IvimMaps | None, settings: CaseSettings, row: dict,
               models, noise: BackgroundNoise | None) -> dict:
    """Return the SDs of D, D*, f and the 95 % intervals of the probabilities (see :mod:`.uncertainty`)."""
    voxel_maps = None
    if settings.model_inputs != "roi_mean_fit" and maps is not None:
        voxel_maps = {name: np.asarray(getattr(maps, name))[mask] for name in ("D_mm2_s", "Dstar_mm2_s", "f_fraction")}
    samples = uncertainty.resampled_inputs(dwi.bvalues_s_mm2, dwi.signal_last()[mask], settings, voxel_maps,
                                           noise=noise)
    ff = row["FF"] if np.isfinite(row["FF"]) else None
    return uncertainty.probability_intervals(samples, ff, row.get("FF_sd"), models)


def analyze_roi(dwi: DwiVolume, mask_kji: np.ndarray, roi_name: str, case_id: str, *,
                maps: IvimMaps | None = None, mrs=None, mrs_voxel: MrsVoxel | None = None,
                settings: CaseSettings | None = None, noise: BackgroundNoise | None | str = "background",
                fat: FatRoi | None = None) -> dict:
    """Return the results row of one ROI (see :mod:`.results` for columns and units).

    ``mask_kji`` is the ROI on the DWI grid; ``maps`` optional voxelwise maps on that grid; ``mrs`` an
    :class:`~VCFDiagnosisLib.mrs.result.MRSResult` (or None) and ``mrs_voxel`` its voxel; ``fat`` the ROI's PDFF and
    R2* from water-fat imaging (:func:`fat_roi_values`), which give FF when the spectrum does not
    (:mod:`VCFDiagnosisLib.fat.relation`, flagged). ``noise``: the DWI's
    :class:`~VCFDiagnosisLib.ivim.masking.BackgroundNoise`, whose floor is removed from the ROI-mean signal
    when the images' making is known; ``"background"`` (default) estimates it
    (:func:`~VCFDiagnosisLib.ivim.masking.dwi_background_noise`; a caller with several ROIs passes it once),
    None applies no correction. Problems with the ROI make an ``error`` row with a message; problems with the
    data make a ``warning`` row.
    """
    options = settings or CaseSettings()
    row = empty_row(case_id, roi_name)
    row["note"] = study_models.RESEARCH_USE_NOTE
    mask = np.asarray(mask_kji, bool)
    if mask.shape != dwi.shape_kji:
        raise ValueError(f"ROI '{roi_name}' mask shape {mask.shape} is not the DWI grid {dwi.shape_kji}")
    row["roi_voxels"] = int(mask.sum())
    if row["roi_voxels"] == 0:
        row.update(status="error", message=f"ROI '{roi_name}' has no voxel inside the DWI grid")
        return row
    if row["roi_voxels"] < options.min_roi_voxels:
        row.update(status="error", message=f"ROI '{roi_name}' has {row['roi_voxels']} voxels on the DWI grid; "
                                           f"at least {options.min_roi_voxels} are needed")
        return row
    row["roi_area_mm2"], _ = roi_geometry.largest_slice_area_mm2(mask, dwi.ijk_to_ras)
    warnings: list[str] = []

    if isinstance(noise, str):
        noise = dwi_background_noise(dwi)
    if noise is not None and not noise.correctable:
        noise = None  # how the images were made is unknown (e.g. NIfTI): no floor correction
    row["noise_sd"] = float(np.median(noise.sigma)) if noise is not None else math.nan
    fit = fit_roi_mean_signal(dwi.bvalues_s_mm2, dwi.signal_last(), mask, method=options.method,
                              b_threshold_s_mm2=options.b_threshold_s_mm2,
                              noise_sigma=None if noise is None else noise.sigma,
                              images=1 if noise is None else noise.images)
    for column, attribute in (("D", "D_mm2_s"), ("Dstar", "Dstar_mm2_s"), ("f", "f_fraction"),
                              ("ADC", "ADC_mm2_s"), ("S0", "S0"), ("R2", "R2")):
        row[column] = _finite(getattr(fit, attribute))
    status = FitStatus(int(fit.status))
    row["fit_status"] = status.name.lower()
    warnings += list(fit.warnings)  # e.g. no b = 0: S0 fitted, D*/f less reliable (first: it qualifies every value)
    if status not in (FitStatus.OK, FitStatus.HIT_BOUND):
        warnings.append(f"the ROI-mean IVIM fit ended with status {status.name.lower()}")
    elif status == FitStatus.HIT_BOUND:
        warnings.append("the ROI-mean IVIM fit converged on a parameter bound")

    if maps is not None:
        stats = roi_statistics(maps, mask)
        for prefix, attribute in (("D", "D_mm2_s"), ("Dstar", "Dstar_mm2_s"), ("f", "f_fraction"),
                                  ("ADC", "ADC_mm2_s")):
            for stat in ("mean", "median", "sd", "iqr"):
                row[f"{prefix}_map_{stat}"] = _finite(stats[attribute][stat])

    if mrs is not None:
        row.update(LWR=_finite(mrs.lwr), FF=_finite(mrs.ff_percent), LWR_sd=_finite(mrs.lwr_sd),
                   FF_sd=_finite(mrs.ff_sd), mrs_snr=_finite(mrs.snr))
        warnings += [f"MRS: {w}" for w in mrs.warnings]
        if not mrs.reliable:
            row.update(LWR=math.nan, FF=math.nan)
    if np.isfinite(row["FF"]):
        row["FF_source"] = "mrs"
    if fat is not None:
        warnings += _fat_columns(row, fat, options.min_roi_voxels)
    if mrs_voxel is not None:
        centroid = roi_geometry.centroid_ras(mask, dwi.ijk_to_ras)
        row["mrs_roi_distance_mm"] = float(np.linalg.norm(centroid - np.asarray(mrs_voxel.center_ras, float)))
        row["roi_fraction_in_mrs_voxel"] = roi_geometry.fraction_inside_box(
            mask, dwi.ijk_to_ras, mrs_voxel.center_ras, mrs_voxel.size_mm, mrs_voxel.orientation_ras)
        if (row["mrs_roi_distance_mm"] > options.mrs_max_distance_mm
                or row["roi_fraction_in_mrs_voxel"] < options.mrs_min_roi_fraction):
            warnings.append(f"MRS voxel and ROI do not match (centre {row['mrs_roi_distance_mm']:.1f} mm from the "
                            f"ROI centroid, {100 * row['roi_fraction_in_mrs_voxel']:.0f} % of the ROI inside it); "
                            "the study placed them together")

    inputs = {"D": row["D"], "Dstar": row["Dstar"], "f": row["f"]}
    if options.model_inputs != "roi_mean_fit":
        if maps is None:
            raise ValueError(f"model_inputs={options.model_inputs!r} needs voxelwise maps")
        stat = options.model_inputs.split("_")[1]
        inputs = {p: row[f"{p}_map_{stat}"] for p in inputs}
    row["model_inputs"] = options.model_inputs
    prediction_models = load_site_models(options.model)
    prediction = study_models.predict(inputs["D"], inputs["Dstar"], inputs["f"],
                                      FF_percent=row["FF"] if np.isfinite(row["FF"]) else None,
                                      ADC_mm2_s=row["ADC"], models=prediction_models)
    row.update(model=prediction.model, note=prediction.note)
    row.update(P_IVIM=_finite(prediction.P_IVIM), P_combined=_finite(prediction.P_combined),
               prediction=prediction.prediction or "", prediction_model=prediction.prediction_model or "",
               mrs_rule=prediction.mrs_rule or "", adc_rule=prediction.adc_rule or "")
    if prediction.prediction is not None:
        row.update(_intervals(dwi, mask, maps, options, row, prediction_models, noise))
        low, high = uncertainty.decided_interval(row)
        if low <= 0.5 <= high:
            row["prediction"] = uncertainty.INDETERMINATE
            warnings.append(f"indeterminate: the 95 % interval of {row['prediction_model']} "
                            f"({low:.2f}-{high:.2f}) contains 0.5")
    if np.isfinite(inputs["f"]) and inputs["f"] < MIN_F_FOR_DSTAR:
        warnings.append(f"D* poorly determined (f = {inputs['f']:.3f} < {MIN_F_FOR_DSTAR}): P_IVIM and P_combined "
                        "are unreliable for this ROI")
    flags = prediction.flags + warnings
    row["flags"] = "; ".join(flags)
    if warnings:
        row.update(status="warning", message=warnings[0])
    if prediction.prediction is None:
        row.update(status="warning", message="no prediction: the IVIM fit gave no finite D, D*, f")
    return row
