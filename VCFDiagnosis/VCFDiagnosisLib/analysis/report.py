"""The one-page case report (PNG and PDF): images, fits, numbers, and "research use only".

Pure core: numpy + matplotlib (imported when a report is made, never at module import, so the Slicer
module loads without it; inside Slicer matplotlib is installed on the user's request). Uses matplotlib's
object API (``Figure`` + Agg canvas), so no global backend is changed.

A4 portrait, read top-left to bottom-right on a regular grid (sizes in inches, see :func:`_page_layout`):

1. the b = 0 image on the slice where the ROI is largest, with the ROI outline (red) and the MRS voxel
   (yellow), and a key to the image panels beside it (with a water-fat input: the PDFF map on its own grid's
   slice where the ROI is largest, and the key joins the numbers below);
2. the D, D* and f maps on that slice, three image axes of the same size, each with a colour bar of its height;
3. the ROI-mean signal decay with its IVIM fit (log signal axis with plain-number ticks) and the spectrum with
   its fit (ppm axis high to low), the same height;
4. the numbers of every ROI with the study's probabilities, the models, and the research-use note, placed
   right below row 3 (the rows above are sized so the page is filled; only a small margin stays at the bottom).

:func:`build_case_figure` makes the figure (for inspection), :func:`render_case_report` writes it.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import math
import textwrap
from pathlib import Path

import numpy as np

from .. import __version__
from ..outputs.atomic import atomic_output
from . import roi_geometry
from .decay import roi_decay_curves
from .figure_style import TEXT_AS_TYPED, drawn_with
from .study_models import FF_CUTOFF_NOTE, PROVENANCE, PUBLISHED_MODELS, RESEARCH_USE_NOTE

MATPLOTLIB_MISSING = ("the report needs matplotlib: `pip install matplotlib` (a base dependency of the command "
                      "line; inside Slicer, in its Python console: import VCFDiagnosis; "
                      "VCFDiagnosis.installCohortExtras())")


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


#: Page size (A4 portrait, inches) and resolution of the PNG.
PAGE_SIZE_IN = (8.27, 11.69)
REPORT_DPI = 150

#: Matplotlib settings of the whole report (PNG and PDF): text as typed (:data:`.figure_style.TEXT_AS_TYPED`); a
#: plain hyphen for minus (in every font's character set); unhinted glyphs (at :data:`REPORT_DPI` hinting changes
#: nothing visible, and drawing without it is faster).
REPORT_STYLE = {**TEXT_AS_TYPED, "axes.unicode_minus": False, "text.hinting": "no_hinting"}
#: The PDF sets its text in the PDF standard fonts (Helvetica, Courier: nothing embedded, so the file is smaller and
#: drawn faster, and its text is plain searchable text) when every character is in their character set
#: (Windows-1252); a report with any other character (e.g. a Greek or Chinese ROI name) embeds its fonts instead.
PDF_STANDARD_FONTS_ENCODING = "cp1252"

#: The map panels, left to right: IvimMaps attribute, title (unit), display scale, colour range.
MAP_PANELS = (("D_mm2_s", "D [1e-3 mm2/s]", 1e3, 0.0, 3.0),
              ("Dstar_mm2_s", "D* [1e-3 mm2/s]", 1e3, 0.0, 100.0),
              ("f_fraction", "f [fraction]", 1.0, 0.0, 0.5))

# The grid, in inches. Columns: the page between the margins, split in two (rows 1, 3) or three (row 2: map,
# colour bar, room for its tick labels). Rows: header, row 1, gap, row 2, gap, row 3, gap, numbers, bottom.
_LEFT_IN, _RIGHT_IN = 0.75, 0.3          # the left margin holds the decay plot's tick and axis labels
_COLUMN_GAP_IN = 0.45                    # between the two columns of rows 1 and 3
_MAP_GAP_IN = 0.18                       # between the three map cells of row 2
_CBAR_PAD_IN, _CBAR_WIDTH_IN, _CBAR_LABELS_IN = 0.06, 0.12, 0.34
_HEADER_IN = 1.15                        # title and research-use note, down to the top of row 1
_GAPS_IN = (0.62, 0.62, 0.5)             # below rows 1, 2 (slice labels, next titles) and row 3 (tick, axis labels)
_BOTTOM_IN = 0.3
_ROW1_MAX_IN, _ROW2_MAX_IN = 3.0, 2.6    # image heights
_ROW3_MIN_IN, _ROW3_MAX_IN = 2.1, 3.0    # plot heights
_TEXT_FONT = {"family": "monospace", "fontsize": 7.2}
#: Up to this many lines the numbers use _TEXT_FONT's size; a longer block (many ROIs) gets a smaller font, down to
#: _TEXT_MIN_PT, so that it stays on the page.
_TEXT_LINES_AT_FULL_SIZE, _TEXT_MIN_PT = 36, 5.0


def _page_layout(aspect: float, text_height_in: float) -> dict:
    """Return the panels' rectangles (figure fractions: left, bottom, width, height) on the page grid.

    ``aspect`` is the height / width (mm / mm) of the cropped image panels, ``text_height_in`` the height of the
    numbers block. The images take their natural size (up to a maximum), the plots of row 3 the rest of the page
    above the numbers; a long numbers table shrinks the images first, so the rows stay packed from the top.
    """
    width, height = PAGE_SIZE_IN
    content = width - _LEFT_IN - _RIGHT_IN
    column = (content - _COLUMN_GAP_IN) / 2
    column_b = _LEFT_IN + column + _COLUMN_GAP_IN
    cell = (content - 2 * _MAP_GAP_IN) / 3
    map_width_max = cell - _CBAR_PAD_IN - _CBAR_WIDTH_IN - _CBAR_LABELS_IN
    available = height - _HEADER_IN - sum(_GAPS_IN) - _BOTTOM_IN - text_height_in
    h1 = min(_ROW1_MAX_IN, column * aspect)
    h2 = min(_ROW2_MAX_IN, map_width_max * aspect)
    h3 = available - h1 - h2
    if h3 < _ROW3_MIN_IN:
        shrink = max((available - _ROW3_MIN_IN) / (h1 + h2), 0.4)
        h1, h2 = h1 * shrink, h2 * shrink
        h3 = max(available - h1 - h2, 1.2)
    h3 = min(h3, _ROW3_MAX_IN)

    def rect(left: float, top: float, w: float, h: float) -> tuple:
        """Inches from the page's top-left corner -> figure fractions."""
        return (left / width, 1.0 - (top + h) / height, w / width, h / height)

    top1 = _HEADER_IN
    top2 = top1 + h1 + _GAPS_IN[0]
    top3 = top2 + h2 + _GAPS_IN[1]
    top4 = top3 + h3 + _GAPS_IN[2]
    map_width = h2 / aspect
    cells = [_LEFT_IN + n * (cell + _MAP_GAP_IN) for n in range(3)]
    return {"b0": rect(_LEFT_IN, top1, h1 / aspect, h1), "key": rect(column_b, top1, column, h1),
            "maps": [rect(x, top2, map_width, h2) for x in cells],
            "colorbars": [rect(x + map_width + _CBAR_PAD_IN, top2, _CBAR_WIDTH_IN, h2) for x in cells],
            "decay": rect(_LEFT_IN, top3, column, h3), "spectrum": rect(column_b, top3, column, h3),
            "numbers": rect(_LEFT_IN, top4, content, text_height_in)}


def _plain_number(value: float) -> str:
    """Return a tick label without exponent or multiplier for the usual signal range (e.g. 300, 1000, 0.5)."""
    if abs(value) >= 1 and abs(value - round(value)) < 1e-6 * abs(value):
        return f"{round(value):d}"
    return f"{value:.3g}"


def _plain_log_ticks(axis, low: float, high: float) -> None:
    """Give a log ``axis`` spanning ``low``..``high`` (> 0) at least two plain-number major ticks.

    Major ticks are the 1, 1-2-5, 1-2-3-5 or 1..9 multiples of powers of ten, the first series with three ticks in
    range (evenly spaced round numbers when even 1..9 gives fewer, a narrow range); minor ticks are the other 1..9
    multiples, unlabelled. No "x10^n" label, offset or multiplier text.
    """
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullFormatter

    decades = range(math.floor(math.log10(low)), math.floor(math.log10(high)) + 1)

    def series(mantissas) -> list[float]:
        return [m * 10.0 ** e for e in decades for m in mantissas if low <= m * 10.0 ** e <= high]

    for mantissas in ((1,), (1, 2, 5), (1, 2, 3, 5), range(1, 10)):
        major = series(mantissas)
        if len(major) >= 3:
            break
    if len(major) < 3:
        linear = [t for t in MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high) if low <= t <= high]
        major = linear if len(linear) > len(major) else major
    minor = [t for t in series(range(1, 10)) if not np.isclose(t, major, rtol=1e-9).any()]
    axis.set_major_locator(FixedLocator(major))
    axis.set_major_formatter(FuncFormatter(lambda value, _position: _plain_number(value)))
    axis.set_minor_locator(FixedLocator(minor))
    axis.set_minor_formatter(NullFormatter())


def _numbers_lines(rows: list[dict]) -> list[str]:
    """Return the monospace numbers block: one line per ROI (and its message), the models, the version."""
    lines = [f"{'ROI':<12}{'voxels':>7}{'area mm2':>9}{'D':>7}{'D*':>7}{'f':>6}{'ADC':>7}{'FF %':>7}"
             f"{'P_IVIM':>8}{'P_comb':>8}  prediction", "  (D, D*, ADC in 1e-3 mm2/s; f fraction)"]
    for row in rows:
        lines.append(f"{row['roi'][:11]:<12}{row['roi_voxels']:>7}{_fmt(row['roi_area_mm2'], digits=4):>9}"
                     f"{_fmt(row['D'], 1e3):>7}{_fmt(row['Dstar'], 1e3):>7}{_fmt(row['f'], digits=2):>6}"
                     f"{_fmt(row['ADC'], 1e3):>7}{_fmt(row['FF']):>7}{_fmt(row['P_IVIM']):>8}"
                     f"{_fmt(row['P_combined']):>8}  {row['prediction'] or '-'} ({row['status']})")
        intervals = [f"{key} {_fmt(row.get(f'{key}_lo'))}-{_fmt(row.get(f'{key}_hi'))}" for key in ("P_IVIM", "P_combined")
                     if math.isfinite(row.get(f"{key}_lo", math.nan))]
        if intervals:
            lines.append("   95 % intervals: " + ", ".join(intervals) + " (inputs resampled; model fixed)")
        if math.isfinite(row.get("PDFF", math.nan)):
            lines.append(f"   PDFF {_fmt(row['PDFF'])} +- {_fmt(row['PDFF_sd'], digits=2)} %, R2* "
                         f"{_fmt(row['R2star'])} 1/s; FF from {row.get('FF_source') or '-'}")
        if row["message"]:
            lines += textwrap.wrap(row["message"], 105, initial_indent="   ", subsequent_indent="   ")
    models = next((row["model"] for row in rows if row.get("model")), "")
    provenance = PROVENANCE if not models or models == PUBLISHED_MODELS.label else models
    return lines + ["", *textwrap.wrap(f"Models: {provenance}.", 108),
                    f"P > 0.5 = metastatic. MRS rule: {FF_CUTOFF_NOTE}.",
                    f"VCFDiagnosis {__version__}, {datetime.date.today().isoformat()}; case ID only (no patient name)."]


def _note(rows: list[dict]) -> str:
    """Return the research-use note of the models the rows used (the published models' by default)."""
    return next((row["note"] for row in rows if row.get("note")), RESEARCH_USE_NOTE)


def _decay_panel(ax, decay) -> None:
    """Plot the ROI-mean signal (mean +- SD; open markers: without the noise floor, what the fit fitted) and the
    IVIM fit curves on a log signal axis with plain ticks."""
    ax.set_yscale("log")
    values, handles, labels = [], [], []
    for index, roi in enumerate(decay.rois):
        color = f"C{index % 10}"
        points = ax.errorbar(decay.bvalues_s_mm2, roi.mean, yerr=roi.sd, fmt="o", ms=3, color=color, capsize=2)
        values += [roi.mean, roi.mean - roi.sd, roi.mean + roi.sd]
        handles.append(points)
        labels.append(f"{roi.roi} mean +- SD")
        if roi.floor_free is not None:  # what the fit fitted: the mean without the noise floor
            free = ax.plot(decay.bvalues_s_mm2, roi.floor_free, "o", ms=4, mfc="none", color=color)[0]
            values.append(roi.floor_free)
            handles.append(free)
            labels.append(f"{roi.roi} mean without noise floor (fitted)")
        if roi.fit is not None:
            (line,) = ax.plot(decay.curve_b_s_mm2, roi.fit, color=color, lw=1)
            values.append(roi.fit)
            entry = -2 if roi.floor_free is not None else -1
            handles[entry] = (points, line)  # one legend entry per ROI: its points on its fit line
            labels[entry] += ", IVIM fit"
    finite = np.concatenate([np.ravel(np.asarray(v, float)) for v in values]) if values else np.zeros(0)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size:
        low, high = finite.min() / 1.08, finite.max() * 1.08
        ax.set_ylim(low, high)
        _plain_log_ticks(ax.yaxis, low, high)
        ax.legend(handles, labels, fontsize=6.5 if len(labels) <= 4 else 5.5, loc="upper right",
                  ncols=math.ceil(len(labels) / 6))
    else:
        ax.text(0.5, 0.5, "no ROI signal", ha="center", va="center", fontsize=9, transform=ax.transAxes)
        ax.set_yticks([])
        ax.set_yticks([], minor=True)
    b_max = float(np.max(decay.bvalues_s_mm2)) if np.size(decay.bvalues_s_mm2) else 1.0
    ax.set_xlim(-0.03 * b_max, 1.03 * b_max)
    ax.set_xlabel("b [s/mm2]", fontsize=8)
    ax.set_ylabel("signal [a.u.]", fontsize=8)
    ax.set_title("ROI signal decay and IVIM fit", fontsize=9)
    ax.tick_params(which="both", labelsize=7)


def _spectrum_panel(ax, mrs) -> None:
    """Plot the phased real spectrum, its fit and the residual (offset below), ppm 6.5 to 0."""
    fit = getattr(mrs, "fit", None)
    if fit is None:
        ax.text(0.5, 0.5, "no spectrum", ha="center", va="center", fontsize=9, transform=ax.transAxes)
        ax.set_title("MRS", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    keep = (fit.ppm >= 0) & (fit.ppm <= 6.5)
    ax.plot(fit.ppm[keep], fit.real_spectrum[keep], color="black", lw=0.8, label="spectrum")
    ax.plot(fit.ppm[keep], fit.fit_spectrum[keep], color="red", lw=1.0, label="fit")
    ax.plot(fit.ppm[keep], fit.residual[keep] - 0.1 * np.abs(fit.real_spectrum[keep]).max(), color="gray", lw=0.6,
            label="residual (offset)")
    ax.set_xlim(6.5, 0.0)
    ax.set_xlabel("chemical shift [ppm]", fontsize=8)
    ax.set_title(f"MRS: LWR {_fmt(mrs.lwr)}, FF {_fmt(mrs.ff_percent, digits=3)} +- {_fmt(mrs.ff_sd, digits=2)} %",
                 fontsize=9)
    ax.legend(fontsize=6.5, loc="upper right")
    ax.tick_params(labelsize=7)
    ax.set_yticks([])


def _pdff_panel(figure, rect: tuple, fat, fat_masks: dict, rows: list[dict]) -> None:
    """Draw the PDFF map (percent, NaN grey) on the water-fat slice where the ROI is largest, cropped to the ROI,
    with the ROI outline (cyan) and a colour bar."""
    union = np.any(list(fat_masks.values()), axis=0) if fat_masks else np.zeros(fat.shape_kji, bool)
    _, k = roi_geometry.largest_slice_area_mm2(union, fat.ijk_to_ras)
    k = k if k >= 0 else fat.shape_kji[0] // 2
    spacing = np.linalg.norm(np.asarray(fat.ijk_to_ras)[:3, :3], axis=0)
    rows_, cols_ = _crop_window(union[k], spacing, CROP_MARGIN_MM)
    image = np.asarray(fat.pdff_percent[k], float)[rows_, cols_]
    n_rows, n_cols = image.shape
    extent = (0.0, n_cols * spacing[0], n_rows * spacing[1], 0.0)
    left, bottom, width, height = rect
    aspect = (n_rows * spacing[1]) / (n_cols * spacing[0])
    page_w, page_h = figure.get_size_inches()
    map_h = height
    map_w = min(width * 0.8, map_h * page_h / aspect / page_w)
    ax = figure.add_axes((left, bottom, map_w, map_h), label="pdff")
    ax.set_facecolor("0.6")
    shown = ax.imshow(np.ma.masked_invalid(image), cmap="magma", vmin=0.0, vmax=100.0, interpolation="nearest",
                      extent=extent, aspect="auto")
    for mask in fat_masks.values():
        part = mask[k][rows_, cols_]
        if part.any():
            ax.contour((np.arange(n_cols) + 0.5) * spacing[0], (np.arange(n_rows) + 0.5) * spacing[1],
                       part.astype(float), levels=[0.5], colors="cyan", linewidths=0.8)
    means = ", ".join(f"{row['roi'][:10]} {_fmt(row.get('PDFF'), digits=3)}" for row in rows)
    ax.set_title(f"PDFF [%] ({'fitted' if fat.source == 'fit' else 'scanner map'}): {means}", fontsize=8.5,
                 loc="left")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(f"water-fat slice {k + 1}/{fat.shape_kji[0]}; ROI cyan; grey: no value", fontsize=6.5)
    cax = figure.add_axes((left + map_w + _CBAR_PAD_IN / page_w, bottom, _CBAR_WIDTH_IN / page_w, map_h),
                          label="colorbar:pdff")
    figure.colorbar(shown, cax=cax)
    cax.tick_params(labelsize=6.5)


@drawn_with(REPORT_STYLE)
def build_case_figure(*, case_id: str, dwi, masks: dict, rows: list[dict], maps=None, mrs=None, mrs_voxel=None,
                      decay=None, fat=None, fat_masks: dict | None = None):
    """Return the report as a matplotlib ``Figure`` (A4 portrait, Agg canvas attached); arguments as
    :func:`render_case_report`.

    The axes carry labels for inspection: ``b0``, ``key`` (or ``pdff`` and ``colorbar:pdff`` with ``fat``, a
    :class:`VCFDiagnosisLib.fat.source.FatVolume` and ``fat_masks`` the ROIs on its grid), ``map:<attribute>`` and
    ``colorbar:<attribute>`` (attributes of :data:`MAP_PANELS`; a placeholder map has no colour bar), ``decay``,
    ``spectrum``, ``numbers``.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import ScalarFormatter
    except ImportError as error:
        raise ImportError(MATPLOTLIB_MISSING) from error

    figure = Figure(figsize=PAGE_SIZE_IN, dpi=REPORT_DPI)
    canvas = FigureCanvasAgg(figure)
    height_in = PAGE_SIZE_IN[1]
    figure.suptitle(f"VCFDiagnosis case report: {case_id}", fontsize=13, fontweight="bold", y=1 - 0.34 / height_in)
    figure.text(0.5, 1 - 0.68 / height_in, _note(rows), ha="center", fontsize=8.5, color="darkred")

    # the slice, crop window and orientation shared by the image panels
    union = np.any([m for m in masks.values()], axis=0) if masks else np.zeros(dwi.shape_kji, bool)
    _, k = roi_geometry.largest_slice_area_mm2(union, dwi.ijk_to_ras)
    k = k if k >= 0 else dwi.shape_kji[0] // 2
    voxel_mask = None
    if mrs_voxel is not None:
        voxel_mask = roi_geometry.box_mask_on_grid(dwi.shape_kji, dwi.ijk_to_ras, mrs_voxel.center_ras,
                                                   mrs_voxel.size_mm, mrs_voxel.orientation_ras)[k]
    rows_, cols_ = _crop_window(union[k], dwi.spacing_mm, CROP_MARGIN_MM)
    n_rows, n_cols = union[k][rows_, cols_].shape
    dx_mm, dy_mm = float(dwi.spacing_mm[0]), float(dwi.spacing_mm[1])
    extent_mm = (0.0, n_cols * dx_mm, n_rows * dy_mm, 0.0)
    x_mm, y_mm = (np.arange(n_cols) + 0.5) * dx_mm, (np.arange(n_rows) + 0.5) * dy_mm
    left, right = _direction_letters(dwi.ijk_to_ras, 0)
    top, _bottom = _direction_letters(dwi.ijk_to_ras, 1)
    slice_label = f"{left} <-> {right}   (slice {k + 1}/{dwi.shape_kji[0]}; {top} at top)"

    voxel_text = ("MRS voxel " + " x ".join(f"{s:g}" for s in np.asarray(mrs_voxel.size_mm, float)) + " mm"
                  if mrs_voxel is not None else "no MRS voxel")
    b_min = int(np.argmin(dwi.bvalues_s_mm2))
    key_lines = [f"Slice {k + 1} of {dwi.shape_kji[0]}: the slice where the ROI is largest.",
                 f"{left} at left, {right} at right, {top} at top; cropped to the ROI +- {CROP_MARGIN_MM:g} mm.",
                 f"Red outline: ROI ({', '.join(masks) or 'none'}).", f"Yellow outline: {voxel_text}.",
                 "b-values: " + ", ".join(f"{b:g}" for b in dwi.bvalues_s_mm2) + " s/mm2.",
                 f"Maps below: IVIM fit (method '{maps.method}') on this slice, in colour over the b = "
                 f"{dwi.bvalues_s_mm2[b_min]:g} image; grey where the map has no value."
                 if maps is not None else "Maps below: not computed for this case."]
    if fat is not None:
        key_lines.append(f"PDFF: {fat.description}.")

    # the numbers block first: its height sets the room left for the panels
    numbers = figure.add_axes((0.0, 0.0, 1.0, 0.1), label="numbers")
    numbers.set_axis_off()
    lines = _numbers_lines(rows)
    if fat is not None:  # the PDFF map takes the key's place: the key joins the numbers
        lines += ["", *textwrap.wrap("Key: " + " ".join(key_lines), 108)]
    font = {**_TEXT_FONT, "fontsize": max(_TEXT_MIN_PT, _TEXT_FONT["fontsize"]
                                          * min(1.0, _TEXT_LINES_AT_FULL_SIZE / max(len(lines), 1)))}
    block = numbers.text(0.0, 1.0, "\n".join(lines), va="top", ha="left", transform=numbers.transAxes, **font)
    note = numbers.annotate(_note(rows), xy=(0.0, 0.0), xycoords=block, xytext=(0.0, -2.0),
                            textcoords="offset points", va="top", ha="left", color="darkred", **font)
    renderer = canvas.get_renderer()
    text_height_in = (block.get_window_extent(renderer).height + note.get_window_extent(renderer).height
                      + 2.0 * figure.dpi / 72.0) / figure.dpi
    layout = _page_layout(n_rows * dy_mm / (n_cols * dx_mm), text_height_in)
    numbers.set_position(layout["numbers"])

    b0 = dwi.data[b_min, k]
    b0_range = {"vmin": None, "vmax": np.percentile(b0, 99.5)}

    def show(ax, image, title, vmin=None, vmax=None, cmap="gray"):
        """Draw the cropped slice with the ROI (red) and MRS voxel (yellow) outlines, in mm (pixels to scale).

        A map (colour) is drawn over the b = 0 image (grey), which shows where the map has no value (NaN).
        """
        if cmap != "gray":
            ax.imshow(b0[rows_, cols_], cmap="gray", interpolation="nearest", extent=extent_mm, aspect="auto",
                      **b0_range)
        shown = ax.imshow(image[rows_, cols_], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
                          extent=extent_mm, aspect="auto")
        for mask in masks.values():
            part = mask[k][rows_, cols_]
            if part.any():
                ax.contour(x_mm, y_mm, part.astype(float), levels=[0.5], colors="red", linewidths=0.8)
        if voxel_mask is not None and voxel_mask[rows_, cols_].any():
            ax.contour(x_mm, y_mm, voxel_mask[rows_, cols_].astype(float), levels=[0.5], colors="yellow",
                       linewidths=0.8)
        ax.set_xlim(extent_mm[0], extent_mm[1])
        ax.set_ylim(extent_mm[2], extent_mm[3])
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(slice_label, fontsize=6.5)
        return shown

    # row 1: the b = 0 image and the key to the image panels
    b0_axes = figure.add_axes(layout["b0"], label="b0")
    show(b0_axes, b0, "", **b0_range)
    b0_axes.set_title(f"b = {dwi.bvalues_s_mm2[b_min]:g} s/mm2: ROI (red), MRS voxel (yellow)", fontsize=9, loc="left")
    if fat is not None:
        _pdff_panel(figure, layout["key"], fat, fat_masks or {}, rows)
    else:
        key = figure.add_axes(layout["key"], label="key")
        key.set_axis_off()
        key.text(0.0, 1.0, "\n".join(line for entry in key_lines for line in textwrap.wrap(entry, 62)), va="top",
                 ha="left", fontsize=7.5, linespacing=1.6, transform=key.transAxes)

    # row 2: D, D*, f, the same size, each with a colour bar of its height
    for (attribute, title, scale, low, high), rect, bar in zip(MAP_PANELS, layout["maps"], layout["colorbars"]):
        ax = figure.add_axes(rect, label=f"map:{attribute}")
        if maps is None:
            ax.set_facecolor("0.93")
            ax.text(0.5, 0.5, "map not computed", ha="center", va="center", fontsize=9, transform=ax.transAxes)
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            continue
        shown = show(ax, np.asarray(getattr(maps, attribute))[k] * scale, title, low, high, "viridis")
        cax = figure.add_axes(bar, label=f"colorbar:{attribute}")
        figure.colorbar(shown, cax=cax)
        cax.tick_params(labelsize=6.5)

    # row 3: the decay and the spectrum
    _decay_panel(figure.add_axes(layout["decay"], label="decay"),
                 decay if decay is not None else roi_decay_curves(dwi, masks, rows))
    _spectrum_panel(figure.add_axes(layout["spectrum"], label="spectrum"), mrs)

    # plain tick numbers everywhere: no offset or "x10^n" multiplier on any linear axis either
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            formatter = axis.get_major_formatter()
            if isinstance(formatter, ScalarFormatter):
                formatter.set_useOffset(False)
                formatter.set_scientific(False)
    return figure


def render_case_report(path_png: str | None, path_pdf: str | None, *, case_id: str, dwi, masks: dict,
                       rows: list[dict], maps=None, mrs=None, mrs_voxel=None, decay=None, overwrite: bool = False,
                       fat=None, fat_masks: dict | None = None) -> list[str]:
    """Write the report as PNG (if ``path_png``) and PDF (if ``path_pdf``); return the paths written.

    ``dwi`` is a DwiVolume, ``masks`` ``{roi name: [k, j, i] mask}``, ``rows`` the results rows,
    ``maps`` optional IvimMaps on the DWI grid, ``mrs`` an MRSResult (with ``fit``), ``mrs_voxel`` a
    :class:`VCFDiagnosisLib.analysis.case_analysis.MrsVoxel`, ``decay`` the
    :class:`~VCFDiagnosisLib.analysis.decay.DecayCurves` of the case (computed here if None), ``fat`` the
    water-fat maps (:class:`VCFDiagnosisLib.fat.source.FatVolume`) and ``fat_masks`` the ROIs on their grid.
    The page is :data:`PAGE_SIZE_IN` (A4 portrait); the PNG has :data:`REPORT_DPI` dots per inch.
    """
    figure = build_case_figure(case_id=case_id, dwi=dwi, masks=masks, rows=rows, maps=maps, mrs=mrs,
                               mrs_voxel=mrs_voxel, decay=decay, fat=fat, fat_masks=fat_masks)
    import matplotlib

    written = []
    for path, fmt in ((path_png, "png"), (path_pdf, "pdf")):
        if path is None:
            continue
        style = {**REPORT_STYLE, **(_pdf_fonts(figure) if fmt == "pdf" else {})}
        with atomic_output(path, overwrite) as temporary, matplotlib.rc_context(style), _font_weight_notices_dropped():
            # PNG: zlib's fastest level (half the time, +9 % size)
            figure.savefig(temporary, format=fmt, **({"pil_kwargs": {"compress_level": 1}} if fmt == "png" else {}))
        written.append(str(Path(path).resolve()))
    return written


def _pdf_fonts(figure) -> dict:
    """Return the PDF's font settings: the standard fonts when every text of ``figure`` is in their character set
    (:data:`PDF_STANDARD_FONTS_ENCODING`), else none (the fonts are embedded)."""
    from matplotlib.text import Text

    try:
        "".join(text.get_text() for text in figure.findobj(Text)).encode(PDF_STANDARD_FONTS_ENCODING)
    except UnicodeEncodeError:
        return {}
    return {"pdf.use14corefonts": True}


def _not_a_font_weight_notice(record: logging.LogRecord) -> bool:
    """A logging filter: False for matplotlib's notice that a standard font's regular weight is named 'Medium' (the
    font is the right one; the notice would reach the user's terminal once per process)."""
    return not str(record.msg).startswith("findfont: Failed to find font weight")


@contextlib.contextmanager
def _font_weight_notices_dropped():
    """Drop :func:`_not_a_font_weight_notice` notices of matplotlib's font manager inside the block."""
    logger = logging.getLogger("matplotlib.font_manager")
    logger.addFilter(_not_a_font_weight_notice)
    try:
        yield
    finally:
        logger.removeFilter(_not_a_font_weight_notice)


class DrawnReport:
    """A report drawn at once, in this process: the pending-report protocol of the Logic's ``reportRenderer``
    (``result()`` returns [png path, pdf path]; ``cancel()`` has nothing to stop)."""

    def __init__(self, **arguments) -> None:
        """Draw it now: the keyword arguments of :func:`render_case_report`."""
        self.paths = render_case_report(**arguments)

    def result(self) -> list[str]:
        return self.paths

    def cancel(self) -> None:
        pass
