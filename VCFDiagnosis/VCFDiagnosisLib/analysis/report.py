"""The one-page case report (PNG and PDF): images, fits, numbers, and "research use only".

Pure core: numpy + matplotlib (imported when a report is made, never at module import, so the Slicer
module loads without it; inside Slicer matplotlib is installed on the user's request). Uses matplotlib's
object API (``Figure`` + Agg canvas), so no global backend is changed.

Panels: the b = 0 image on the slice where the ROI is largest, with the ROI outline (red) and the MRS voxel
(yellow); the D, D* and f maps on that slice; the ROI-mean signal decay with its IVIM fit; the spectrum
with its fit (ppm axis high to low); the numbers of every ROI with the study's probabilities.
"""

from __future__ import annotations

import datetime
import math
import textwrap
from pathlib import Path

import numpy as np

from .. import __version__
from ..ivim.model import ivim_signal
from ..outputs.atomic import atomic_output
from . import roi_geometry
from .study_models import FF_CUTOFF_NOTE, PROVENANCE, RESEARCH_USE_NOTE

MATPLOTLIB_MISSING = ("the report needs matplotlib: `pip install matplotlib` (inside Slicer: "
                      "slicer.util.pip_install('matplotlib'))")


def _direction_letters(ijk_to_ras: np.ndarray, axis: int) -> tuple[str, str]:
    """Return the anatomical letters at the low and high index end of an image axis, e.g. ('A', 'P').

    RAS: +x points to the patient's right, +y anterior, +z superior.
    """
    direction = np.asarray(ijk_to_ras, float)[:3, axis]
    dominant = int(np.argmax(np.abs(direction)))
    towards_positive = (("L", "R"), ("P", "A"), ("I", "S"))[dominant]
    return towards_positive if direction[dominant] > 0 else towards_positive[::-1]


#: Margin (mm) kept around the ROIs when the image panels are cropped.
CROP_MARGIN_MM = 35.0


def _crop_window(mask_ji: np.ndarray, spacing_ijk_mm, margin_mm: float) -> tuple[slice, slice]:
    """Return (row slice, column slice) of the ROI's bounding box plus ``margin_mm`` (whole image if empty)."""
    if not mask_ji.any():
        return slice(None), slice(None)
    rows, cols = np.nonzero(mask_ji)
    pad_j = int(np.ceil(margin_mm / spacing_ijk_mm[1]))
    pad_i = int(np.ceil(margin_mm / spacing_ijk_mm[0]))
    return (slice(max(rows.min() - pad_j, 0), rows.max() + pad_j + 1),
            slice(max(cols.min() - pad_i, 0), cols.max() + pad_i + 1))


def _fmt(value, scale: float = 1.0, digits: int = 3) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value * scale:.{digits}g}"


def render_case_report(path_png: str, path_pdf: str | None, *, case_id: str, dwi, masks: dict, rows: list[dict],
                       maps=None, mrs=None, mrs_voxel=None, overwrite: bool = False) -> list[str]:
    """Write the report as PNG (and PDF if ``path_pdf``); return the paths written.

    ``dwi`` is a DwiVolume, ``masks`` ``{roi name: [k, j, i] mask}``, ``rows`` the results rows,
    ``maps`` optional IvimMaps on the DWI grid, ``mrs`` an MRSResult (with ``fit``), ``mrs_voxel`` a
    :class:`VCFDiagnosisLib.analysis.case_analysis.MrsVoxel`.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(MATPLOTLIB_MISSING) from error

    figure = Figure(figsize=(8.27, 11.69), dpi=110)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(4, 4, height_ratios=[1.0, 1.0, 0.9, 1.1], hspace=0.45, wspace=0.3,
                               left=0.06, right=0.97, top=0.90, bottom=0.04)
    figure.suptitle(f"VCFDiagnosis case report: {case_id}", fontsize=13, fontweight="bold")
    figure.text(0.5, 0.945, RESEARCH_USE_NOTE, ha="center", fontsize=8.5, color="darkred")

    union = np.any([m for m in masks.values()], axis=0) if masks else np.zeros(dwi.shape_kji, bool)
    _, k = roi_geometry.largest_slice_area_mm2(union, dwi.ijk_to_ras)
    k = k if k >= 0 else dwi.shape_kji[0] // 2
    voxel_mask = None
    if mrs_voxel is not None:
        voxel_mask = roi_geometry.box_mask_on_grid(dwi.shape_kji, dwi.ijk_to_ras, mrs_voxel.center_ras,
                                                   mrs_voxel.size_mm, mrs_voxel.orientation_ras)[k]
    rows_, cols_ = _crop_window(union[k], dwi.spacing_mm, CROP_MARGIN_MM)
    left, right = _direction_letters(dwi.ijk_to_ras, 0)
    top, _bottom = _direction_letters(dwi.ijk_to_ras, 1)

    def show(ax, image, title, vmin=None, vmax=None, cmap="gray", colorbar_label=None):
        shown = ax.imshow(image[rows_, cols_], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        for mask in masks.values():
            if mask[k][rows_, cols_].any():
                ax.contour(mask[k][rows_, cols_].astype(float), levels=[0.5], colors="red", linewidths=0.8)
        if voxel_mask is not None and voxel_mask[rows_, cols_].any():
            ax.contour(voxel_mask[rows_, cols_].astype(float), levels=[0.5], colors="yellow", linewidths=0.8)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{left} <-> {right}   (slice {k + 1}/{dwi.shape_kji[0]}; {top} at top)", fontsize=6.5)
        if colorbar_label:
            figure.colorbar(shown, ax=ax, fraction=0.046, pad=0.02).set_label(colorbar_label, fontsize=7)

    b0 = dwi.data[int(np.argmin(dwi.bvalues_s_mm2)), k]
    show(figure.add_subplot(grid[0, 0:2]), b0, f"b = {dwi.bvalues_s_mm2.min():g} s/mm2: ROI (red), MRS voxel (yellow)",
         vmax=np.percentile(b0, 99.5))
    map_specs = (("D_mm2_s", "D [1e-3 mm2/s]", 1e3, 0, 3), ("Dstar_mm2_s", "D* [1e-3 mm2/s]", 1e3, 0, 100),
                 ("f_fraction", "f [fraction]", 1.0, 0, 0.5))
    positions = (grid[0, 2:4], grid[1, 0:2], grid[1, 2:4])
    for (attribute, label, scale, low, high), position in zip(map_specs, positions):
        ax = figure.add_subplot(position)
        if maps is None:
            ax.text(0.5, 0.5, "map not computed", ha="center", va="center", fontsize=9)
            ax.set_axis_off()
            continue
        show(ax, np.asarray(getattr(maps, attribute))[k] * scale, label, low, high, "viridis", label)

    ax = figure.add_subplot(grid[2, 0:2])
    b = dwi.bvalues_s_mm2
    curve_b = np.linspace(0, b.max(), 200)
    for index, (name, mask) in enumerate(masks.items()):
        if not mask.any():
            continue
        signal = dwi.data[:, mask]
        mean, sd = signal.mean(axis=1), signal.std(axis=1)
        color = f"C{index}"
        ax.errorbar(b, mean, yerr=sd, fmt="o", ms=3, color=color, capsize=2, label=f"{name} mean +- SD")
        row = next((r for r in rows if r["roi"] == name), None)
        if row is not None and all(np.isfinite([row["S0"], row["D"], row["Dstar"], row["f"]])):
            ax.plot(curve_b, ivim_signal(curve_b, row["S0"], row["D"], row["Dstar"], row["f"]), color=color, lw=1,
                    label=f"{name} IVIM fit")
    ax.set_yscale("log")
    ax.set_xlabel("b [s/mm2]", fontsize=8)
    ax.set_ylabel("signal [a.u.]", fontsize=8)
    ax.set_title("ROI signal decay and IVIM fit", fontsize=9)
    ax.legend(fontsize=6.5)
    ax.tick_params(labelsize=7)

    ax = figure.add_subplot(grid[2, 2:4])
    fit = getattr(mrs, "fit", None)
    if fit is None:
        ax.text(0.5, 0.5, "no spectrum", ha="center", va="center", fontsize=9)
        ax.set_axis_off()
    else:
        keep = (fit.ppm >= 0) & (fit.ppm <= 6.5)
        ax.plot(fit.ppm[keep], fit.real_spectrum[keep], color="black", lw=0.8, label="spectrum")
        ax.plot(fit.ppm[keep], fit.fit_spectrum[keep], color="red", lw=1.0, label="fit")
        ax.plot(fit.ppm[keep], fit.residual[keep] - 0.1 * np.abs(fit.real_spectrum[keep]).max(), color="gray", lw=0.6,
                label="residual (offset)")
        ax.set_xlim(6.5, 0.0)
        ax.set_xlabel("chemical shift [ppm]", fontsize=8)
        ax.set_title(f"MRS: LWR {_fmt(mrs.lwr)}, FF {_fmt(mrs.ff_percent, digits=3)} +- {_fmt(mrs.ff_sd, digits=2)} %",
                     fontsize=9)
        ax.legend(fontsize=6.5)
        ax.tick_params(labelsize=7)
        ax.set_yticks([])

    ax = figure.add_subplot(grid[3, :])
    ax.set_axis_off()
    lines = [f"{'ROI':<12}{'voxels':>7}{'area mm2':>9}{'D':>7}{'D*':>7}{'f':>6}{'ADC':>7}{'FF %':>7}"
             f"{'P_IVIM':>8}{'P_comb':>8}  prediction", "  (D, D*, ADC in 1e-3 mm2/s; f fraction)"]
    for row in rows:
        lines.append(f"{row['roi'][:11]:<12}{row['roi_voxels']:>7}{_fmt(row['roi_area_mm2'], digits=4):>9}"
                     f"{_fmt(row['D'], 1e3):>7}{_fmt(row['Dstar'], 1e3):>7}{_fmt(row['f'], digits=2):>6}"
                     f"{_fmt(row['ADC'], 1e3):>7}{_fmt(row['FF']):>7}{_fmt(row['P_IVIM']):>8}"
                     f"{_fmt(row['P_combined']):>8}  {row['prediction'] or '-'} ({row['status']})")
        if row["message"]:
            lines += textwrap.wrap(row["message"], 105, initial_indent="   ", subsequent_indent="   ")
    lines += ["", *textwrap.wrap(f"Models: {PROVENANCE}.", 108),
              f"P > 0.5 = metastatic. MRS rule: {FF_CUTOFF_NOTE}.", RESEARCH_USE_NOTE,
              f"VCFDiagnosis {__version__}, {datetime.date.today().isoformat()}; case ID only (no patient name)."]
    ax.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", family="monospace", fontsize=7.2, wrap=True)

    written = []
    for path, fmt in ((path_png, "png"), (path_pdf, "pdf")):
        if path is None:
            continue
        with atomic_output(path, overwrite) as temporary:
            figure.savefig(temporary, format=fmt)
        written.append(str(Path(path).resolve()))
    return written
