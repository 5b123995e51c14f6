"""Interactive plots of the reading station as plotly figure dicts (pure core: numpy only, no plotly import).

The same curves as the Slicer panel's plot charts and the PDF report: the ROI-mean signal decay (mean +- SD per
b-value, the mean without the noise floor where the fit removed it, and the IVIM fit curve; log signal axis) and
the spectrum with its fit and residual (chemical shift high to low, as spectroscopists read it). Missing values
become ``None`` (plotly leaves a gap), never 0.
"""

from __future__ import annotations

import numpy as np

#: Colours of the ROIs' curves, in order (colour-blind safe, Okabe-Ito).
ROI_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")
_LAYOUT = {"margin": {"l": 60, "r": 10, "t": 30, "b": 45}, "height": 260, "legend": {"font": {"size": 10}},
           "template": "plotly_white"}


def _values(array) -> list:
    """Return a JSON list of ``array`` with non-finite values as None."""
    values = np.asarray(array, dtype=float)
    return [float(v) if np.isfinite(v) else None for v in values]


def decay_figure(curves) -> dict:
    """Return the figure of :class:`~VCFDiagnosisLib.analysis.decay.DecayCurves` (b in s/mm2, signal a.u.)."""
    data = []
    for number, roi in enumerate(curves.rois):
        colour = ROI_COLOURS[number % len(ROI_COLOURS)]
        data.append({"type": "scatter", "mode": "markers", "name": f"{roi.roi} mean ± SD",
                     "x": _values(curves.bvalues_s_mm2), "y": _values(roi.mean),
                     "error_y": {"type": "data", "array": _values(roi.sd), "visible": True},
                     "marker": {"color": colour, "size": 7}})
        if roi.floor_free is not None:
            data.append({"type": "scatter", "mode": "markers", "name": f"{roi.roi} without noise floor (fitted)",
                         "x": _values(curves.bvalues_s_mm2), "y": _values(roi.floor_free),
                         "marker": {"color": colour, "size": 7, "symbol": "circle-open"}})
        if roi.fit is not None:
            data.append({"type": "scatter", "mode": "lines", "name": f"{roi.roi} IVIM fit",
                         "x": _values(curves.curve_b_s_mm2), "y": _values(roi.fit), "line": {"color": colour}})
    layout = {**_LAYOUT, "title": {"text": "ROI signal decay and IVIM fit", "font": {"size": 13}},
              "xaxis": {"title": {"text": "b [s/mm2]"}},
              "yaxis": {"title": {"text": "signal [a.u.]"}, "type": "log"}}
    return {"data": data, "layout": layout}


def spectrum_figure(fit, ppm_range: tuple[float, float] = (0.0, 6.5)) -> dict:
    """Return the figure of an MRS fit (``ppm``, ``real_spectrum``, ``fit_spectrum``, ``residual`` arrays)."""
    ppm = np.asarray(fit.ppm, dtype=float)
    keep = (ppm >= ppm_range[0]) & (ppm <= ppm_range[1])
    spectrum = np.asarray(fit.real_spectrum, dtype=float)[keep]
    offset = 0.1 * float(np.nanmax(np.abs(spectrum))) if spectrum.size else 0.0
    data = [
        {"type": "scatter", "mode": "lines", "name": "spectrum", "x": _values(ppm[keep]), "y": _values(spectrum),
         "line": {"color": "black", "width": 1}},
        {"type": "scatter", "mode": "lines", "name": "fit", "x": _values(ppm[keep]),
         "y": _values(np.asarray(fit.fit_spectrum, dtype=float)[keep]), "line": {"color": "#D55E00", "width": 1.5}},
        {"type": "scatter", "mode": "lines", "name": "residual (offset)", "x": _values(ppm[keep]),
         "y": _values(np.asarray(fit.residual, dtype=float)[keep] - offset), "line": {"color": "gray", "width": 0.8}},
    ]
    layout = {**_LAYOUT, "title": {"text": "Spectrum and fit (water 4.7 ppm, lipid 1.3 ppm)", "font": {"size": 13}},
              "xaxis": {"title": {"text": "chemical shift [ppm]"}, "range": [ppm_range[1], ppm_range[0]]},
              "yaxis": {"title": {"text": "signal [a.u.]"}}}
    return {"data": data, "layout": layout}
