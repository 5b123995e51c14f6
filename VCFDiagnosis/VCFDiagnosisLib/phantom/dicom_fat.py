"""Write the phantom's water-fat series as classic MR Image Storage DICOM: the echoes, and optionally vendor maps.

Echoes (``write_echo_series``): one file per slice per echo, magnitude images (ImageType
``ORIGINAL\\PRIMARY\\M\\...``; for the ``ge`` style without M/P in ImageType and GE's private image type
(0043,102F) = 0 instead, as GE writes), EchoTime and EchoNumbers per file, uint16 (Philips style: rescaled).
With ``phase`` also the phase images, as the vendors store them: Siemens a separate series (ImageType ``P``,
0..4095 with RescaleSlope 2 / RescaleIntercept -4096 for -pi..pi), GE in the same series ((0043,102F) = 1,
milliradians), Philips and the standard style a separate series in radians (rescaled).

Vendor maps (``write_vendor_maps``): a PDFF series and an R2* (or T2*) series as the vendors' products label them,
modelled on the descriptions collected in the README (no real vendor file was available to copy):

* ``philips`` (mDIXON Quant): ImageType ``DERIVED\\PRIMARY\\FF\\FF``, private MR image type (2005,1011) ``FF``;
  percent with RescaleSlope 0.07326 / RescaleIntercept -100; the T2* map (``T2_STAR``) in ms;
* ``ge`` (IDEAL-IQ): SeriesDescription ``FAT FRACTION: ...`` stored per mille (0-1000); ``R2* (1/s): ...`` in 1/s;
* ``siemens`` (q-Dixon): SeriesDescription ``..._FF`` and ImageType ``DERIVED\\PRIMARY\\DIXON\\FAT_FRACTION`` in
  percent; ``..._R2STAR`` (ImageType ``...\\R2_STAR``) in 1/s;
* ``standard``: ImageType ``DERIVED\\PRIMARY\\PDFF`` in percent and ``...\\R2_STAR`` in 1/s.

Background (air) is 0 in every map, as scanners write it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from .dicom_dwi import (
    PatientInfo,
    ds_string,
    mr_series_dataset,
    pixel_scaling,
    quantise,
    random_file_names,
    write_volume_slices,
)
from .geometry import SlabGeometry

GRE_TR_MS = 9.0
#: Per vendor style: (PDFF description, ImageType, Philips type, map units per percent (10: per mille), rescale
#: (slope, intercept) from stored values to map units) and (R2*/T2* description, ImageType, Philips type,
#: quantity 'r2star' (1/s) or 't2star' (ms)).
_MAP_STYLES = {
    "philips": (("mDIXON-Quant_BH (synthetic)", ["DERIVED", "PRIMARY", "FF", "FF"], "FF", 1.0, (0.07326, -100.0)),
                ("mDIXON-Quant_BH (synthetic)", ["DERIVED", "PRIMARY", "T2_STAR", "T2_STAR"], "T2_STAR", "t2star")),
    "ge": (("FAT FRACTION: Sag IDEAL IQ (synthetic)", ["DERIVED", "PRIMARY", "IDEAL"], "", 10.0, (1.0, 0.0)),
           ("R2* (1/s): Sag IDEAL IQ (synthetic)", ["DERIVED", "PRIMARY", "IDEAL"], "", "r2star")),
    "siemens": (("vibe_q-dixon_sag_bh_FF (synthetic)", ["DERIVED", "PRIMARY", "DIXON", "FAT_FRACTION"], "", 1.0,
                 (0.1, 0.0)),
                ("vibe_q-dixon_sag_bh_R2STAR (synthetic)", ["DERIVED", "PRIMARY", "DIXON", "R2_STAR"], "", "r2star")),
    "standard": (("PDFF (synthetic)", ["DERIVED", "PRIMARY", "PDFF"], "", 1.0, (0.1, 0.0)),
                 ("R2STAR (synthetic)", ["DERIVED", "PRIMARY", "R2_STAR"], "", "r2star")),
}


def _gre_dataset(geometry: SlabGeometry, vendor: str, patient: PatientInfo, series_uid: str, description: str,
                 series_number: int, echo_time_ms: float):
    ds = mr_series_dataset(geometry, vendor, patient, series_uid, description=description,
                           protocol="gre_6echo_water_fat_sag", series_number=series_number,
                           repetition_time_ms=GRE_TR_MS, echo_time_ms=echo_time_ms)
    ds.ScanningSequence = "GR"
    ds.SequenceVariant = ["SP", "SS"]
    ds.MRAcquisitionType = "3D"
    ds.FlipAngle = "3"
    return ds


#: Per vendor style: how phase (rad) is stored: (rescale slope, intercept) to the rescaled unit, rescaled units per
#: radian, whether the images go into the magnitude series.
_PHASE_STYLES = {"siemens": ((2.0, -4096.0), 4096.0 / np.pi, False), "ge": ((1.0, -3142.0), 1000.0, True),
                 "philips": ((2 * np.pi / 4095, -np.pi), 1.0, False), "standard": ((2 * np.pi / 4095, -np.pi), 1.0, False)}


def write_echo_series(out_dir: Path, magnitude: np.ndarray, echo_times_ms, geometry: SlabGeometry, vendor: str,
                      patient: PatientInfo, make_uid: Callable[..., str], rng: np.random.Generator,
                      phase: np.ndarray | None = None) -> dict:
    """Write the magnitude echoes ``(echo, k, j, i)`` as one series, and ``phase`` (radians, same shape) as the
    vendor stores it; return what was written (plain JSON types)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    n_echo, nk = magnitude.shape[0], magnitude.shape[1]
    slope, intercept = pixel_scaling(vendor, float(np.max(magnitude)))
    series_uid, impl_uid = make_uid("gre-series"), make_uid("implementation")
    names = random_file_names(rng, n_echo * nk)
    ds = _gre_dataset(geometry, vendor, patient, series_uid, "gre_6echo_water_fat_sag (synthetic)", 8,
                      echo_times_ms[0])
    if vendor == "ge":
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
        ds.private_block(0x0043, "GEMS_PARM_01", create=True).add_new(0x2F, "SS", 0)
    elif vendor == "philips":
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M_FFE", "M", "FFE"]
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = ds_string(intercept), ds_string(slope), "US"
    else:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    stored = quantise(magnitude, slope, intercept)
    for e, te in enumerate(echo_times_ms):
        ds.EchoTime, ds.EchoNumbers = ds_string(te), str(e + 1)
        uids = [make_uid("gre-image", str(e), str(k)) for k in range(nk)]
        write_volume_slices(out_dir, ds, stored[e], geometry, uids, names[e * nk:(e + 1) * nk], e * nk + 1, impl_uid)
    written = {"files": names, "series_instance_uid": str(series_uid),
               "echo_times_ms": [float(t) for t in echo_times_ms], "rescale_slope": float(slope),
               "rescale_intercept": float(intercept)}
    if phase is not None:
        written["phase"] = _write_phase(out_dir, ds, phase, echo_times_ms, geometry, vendor, make_uid, rng, impl_uid)
        written["files"] = names + written["phase"].pop("files")
    return written


def _write_phase(out_dir: Path, ds, phase: np.ndarray, echo_times_ms, geometry: SlabGeometry, vendor: str,
                 make_uid: Callable[..., str], rng: np.random.Generator, impl_uid: str) -> dict:
    """Write the phase images (radians in) in the vendor's way; return what was written."""
    (slope, intercept), per_radian, same_series = _PHASE_STYLES[vendor]
    nk = phase.shape[1]
    if same_series:  # GE: the magnitude series, its private image type 1 (phase)
        ds.private_block(0x0043, "GEMS_PARM_01", create=True).add_new(0x2F, "SS", 1)
        uid = ds.SeriesInstanceUID
    else:
        uid = make_uid("gre-phase-series")
        ds.SeriesInstanceUID, ds.SeriesNumber = uid, "9"
        ds.SeriesDescription = "gre_6echo_water_fat_sag_phase (synthetic)"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "P", "ND"]
    ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = ds_string(slope), ds_string(intercept), "US"
    slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)  # as the files state them
    stored = quantise(np.asarray(phase, float) * per_radian, slope, intercept)
    names = random_file_names(rng, phase.shape[0] * nk)
    for e, te in enumerate(echo_times_ms):
        ds.EchoTime, ds.EchoNumbers = ds_string(te), str(e + 1)
        uids = [make_uid("gre-phase-image", str(e), str(k)) for k in range(nk)]
        write_volume_slices(out_dir, ds, stored[e], geometry, uids, names[e * nk:(e + 1) * nk], 1000 + e * nk + 1,
                            impl_uid)
    return {"files": names, "series_instance_uid": str(uid), "rescale_slope": slope, "rescale_intercept": intercept,
            "rescaled_units_per_radian": per_radian}


def write_vendor_maps(out_dir: Path, pdff_percent: np.ndarray, r2star_per_s: np.ndarray, geometry: SlabGeometry,
                      vendor: str, patient: PatientInfo, make_uid: Callable[..., str],
                      rng: np.random.Generator) -> dict:
    """Write a PDFF map and an R2* (Philips: T2*) map series in the ``vendor`` style; return what was written.

    ``pdff_percent`` and ``r2star_per_s`` are (k, j, i) maps, NaN in air (written as 0).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    nk = pdff_percent.shape[0]
    (ff_desc, ff_type, ff_philips, per_percent, (ff_slope, ff_intercept)), (r_desc, r_type, r_philips, quantity) = \
        _MAP_STYLES[vendor]
    impl_uid = make_uid("implementation")
    air = ~np.isfinite(pdff_percent)
    written = {"files": [], "style": vendor}
    r2 = np.where(air, 0.0, r2star_per_s)
    second = np.where(air | (r2 <= 0), 0.0, 1000.0 / np.maximum(r2, 1e-9)) if quantity == "t2star" else r2
    series = (("pdff", ff_desc, ff_type, ff_philips, np.where(air, 0.0, pdff_percent), (ff_slope, ff_intercept), 10),
              (quantity, r_desc, r_type, r_philips, second, (0.01 if quantity == "t2star" else 1.0, 0.0), 11))
    for what, description, image_type, philips_type, values, (slope, intercept), number in series:
        uid = make_uid(f"{what}-series")
        ds = _gre_dataset(geometry, vendor, patient, uid, description, number, 1.2)
        ds.ImageType = image_type
        if philips_type:
            ds.private_block(0x2005, "Philips MR Imaging DD 001", create=True).add_new(0x11, "CS", philips_type)
        if (slope, intercept) != (1.0, 0.0):
            ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = ds_string(intercept), ds_string(slope), "US"
        stored = quantise(values * (per_percent if what == "pdff" else 1.0), slope, intercept)
        names = random_file_names(rng, nk)
        uids = [make_uid(f"{what}-image", str(k)) for k in range(nk)]
        write_volume_slices(out_dir, ds, stored, geometry, uids, names, 1, impl_uid)
        written["files"] += names
        written[f"{what}_series_instance_uid"] = str(uid)
        written[f"{what}_description"] = description
    return written
