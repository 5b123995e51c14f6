"""``vcfdiagnosis mrs FILE``: read a single-voxel MR spectrum, fit water + fat, print LWR and FF.

Errors follow the CLI's contract (:mod:`VCFDiagnosisLib.errors`): bad input raises :class:`InputError` (or a
ValueError/OSError whose message starts with the file) and ``cli.main`` prints one line
``vcfdiagnosis mrs: error: <file>: <problem>`` and exits 2. The ``--plot`` file is checked before the fit
(known image format, not an existing file without ``--force``, not a folder, not the input) and written
atomically (:func:`VCFDiagnosisLib.outputs.atomic.atomic_output`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

from ...errors import InputError, one_line

NAME = "mrs"
HELP = ("Quantify a single-voxel marrow MR spectrum (Siemens .rda/.IMA, DICOM MRS, Philips SDAT/SPAR, "
        "NIfTI-MRS): water and fat areas, LWR, FF (research use only)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``mrs`` options to ``parser``."""
    parser.add_argument("file", help="spectroscopy file (.rda, .IMA/.dcm, .SDAT/.SPAR, .nii/.nii.gz)")
    parser.add_argument("--json", action="store_true", help="print all results as JSON")
    parser.add_argument("--plot", metavar="FILE",
                        help="save a plot of spectrum, fit, residual and components (.png, .pdf, .svg, ...)")
    parser.add_argument("--force", action="store_true", help="replace an existing --plot file")
    parser.add_argument("--water-t2-ms", type=float, default=None, help="water T2 (ms) for the optional T2-corrected PDFF")
    parser.add_argument("--fat-t2-ms", type=float, default=None, help="fat T2 (ms) for the optional T2-corrected PDFF")


def _fmt(value, spec: str = ".3f") -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def plot_formats() -> dict[str, str]:
    """Return the file formats matplotlib can save (extension without dot -> description)."""
    from matplotlib.backend_bases import FigureCanvasBase

    return dict(FigureCanvasBase.get_supported_filetypes())


def check_plot_path(plot: str, input_file: str, force: bool) -> str:
    """Return the plot format (extension) after checking ``plot`` can be written; InputError naming it if not.

    Checked before any fitting: the extension is a matplotlib format, the path is not a folder nor the input
    file, an existing file is only replaced with ``--force``, and the nearest existing parent is a writable
    folder.
    """
    path = Path(plot)
    fmt = path.suffix.lower().lstrip(".")
    formats = plot_formats()
    if fmt not in formats:
        known = ", ".join(f".{k}" for k in sorted(formats))
        problem = "has no file extension" if not fmt else f"has an unknown image format '.{fmt}'"
        raise InputError(plot, f"plot file {problem}; use one of {known}")
    if path.is_dir():
        raise InputError(plot, "plot file is an existing folder")
    if path.exists() and Path(input_file).exists() and path.resolve() == Path(input_file).resolve():
        raise InputError(plot, "plot file is the input spectrum itself")
    if path.exists() and not force:
        raise InputError(plot, "plot file exists; pass --force to replace it")
    parent = path.resolve().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(plot, f"cannot create the plot: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(plot, f"cannot write the plot: folder {parent} is not writable")
    return fmt


def save_fit_plot(result, path: str | os.PathLike, fmt: str | None = None) -> None:
    """Save the phased real spectrum, the fit, the residual and the components to ``path`` (matplotlib).

    ``fmt`` is the matplotlib format (default: from the extension). The caller makes ``path`` atomic.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fit = result.fit
    keep = (fit.ppm >= fit.window[0]) & (fit.ppm <= fit.window[1])
    ppm = fit.ppm[keep]
    fig, ax = plt.subplots(figsize=(8, 5))
    try:
        ax.plot(ppm, fit.real_spectrum[keep], color="0.3", lw=1, label="data (phased, real)")
        ax.plot(ppm, fit.fit_spectrum[keep], color="C3", lw=1.2, label="fit")
        offset = 0.15 * float(max(fit.real_spectrum[keep].max(), 1e-30))
        ax.plot(ppm, fit.residual[keep] - offset, color="0.6", lw=0.8, label="residual (offset)")
        for name, comp in fit.components.items():
            if name in ("water", "methylene"):
                ax.plot(ppm, comp[keep], lw=1, ls="--", label=name)
        ax.set_xlim(ppm.max(), ppm.min())
        ax.set_xlabel("chemical shift (ppm)")
        ax.set_yticks([])
        ax.set_title(f"LWR {_fmt(result.lwr)}  FF {_fmt(result.ff_percent, '.1f')} % (T2-weighted, methylene only)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(path, dpi=120, format=fmt)
    finally:
        plt.close(fig)


def write_plot(result, plot: str, fmt: str, force: bool) -> None:
    """Write the fit plot to ``plot`` atomically (never a half-written file); InputError naming it on failure."""
    from ...outputs.atomic import atomic_output

    try:
        with atomic_output(plot, overwrite=force) as temporary:
            save_fit_plot(result, temporary, fmt)
    except FileExistsError:
        raise InputError(plot, "plot file exists; pass --force to replace it") from None
    except OSError as exc:
        raise InputError(plot, f"cannot write the plot: {exc.strerror or one_line(str(exc))}") from exc
    except ValueError as exc:  # matplotlib: format not supported after all
        raise InputError(plot, f"cannot write the plot: {one_line(str(exc))}") from exc


def _check_t2_options(args: argparse.Namespace) -> None:
    """Raise InputError unless both or neither T2 option is given, each finite and > 0 (ms)."""
    given = {name: value for name, value in (("--water-t2-ms", args.water_t2_ms), ("--fat-t2-ms", args.fat_t2_ms))
             if value is not None}
    if not given:
        return
    if len(given) == 1:
        missing = "--fat-t2-ms" if "--water-t2-ms" in given else "--water-t2-ms"
        raise InputError(missing, "the T2-corrected PDFF needs both --water-t2-ms and --fat-t2-ms")
    for name, value in given.items():
        if not (math.isfinite(value) and value > 0):
            raise InputError(name, f"must be a positive number of ms, not {value!r}")


def analyse(file: str, water_t2_ms: float | None, fat_t2_ms: float | None):
    """Return the :class:`MRSResult` of ``file``; errors are InputError/OSError naming the file."""
    from ...mrs import quantify_spectrum, read_spectrum

    try:
        spectrum = read_spectrum(file)
        return quantify_spectrum(spectrum, water_t2_ms=water_t2_ms, fat_t2_ms=fat_t2_ms)
    except ValueError as exc:
        message = one_line(str(exc)) or type(exc).__name__
        if _names_file(message, file):
            raise
        raise InputError(file, message) from exc


def _names_file(message: str, file: str) -> bool:
    """Return True if ``message`` starts with ``file`` or its SDAT/SPAR partner (same path but the extension)."""
    head = message.split(": ", 1)[0]
    return head == file or os.path.splitext(head)[0] == os.path.splitext(file)[0]


def _print_result(result) -> None:
    """Print the human-readable summary of ``result``."""
    print(f"file            {result.source_path} ({result.source_format}, {result.vendor or 'unknown vendor'})")
    print(f"acquisition     {result.frequency_mhz:.6f} MHz, {result.spectral_width_hz:.1f} Hz, {result.points} points, "
          f"TE {_fmt(result.te_ms, 'g')} ms, TR {_fmt(result.tr_ms, 'g')} ms, averages {_fmt(result.averages, 'd')}")
    print(f"water / lipid   {result.water_area:.6g} / {result.lipid_area:.6g} (1.3 ppm methylene)")
    print(f"LWR             {_fmt(result.lwr, '.4f')} +- {_fmt(result.lwr_sd, '.4f')}")
    print(f"FF              {_fmt(result.ff_percent, '.2f')} +- {_fmt(result.ff_sd, '.2f')} % "
          "(T2-weighted, methylene only)")
    if result.pdff_t2_corrected_percent is not None:
        print(f"PDFF (T2-corr.) {_fmt(result.pdff_t2_corrected_percent, '.2f')} % ({result.pdff_definition})")
    print(f"SNR             {_fmt(result.snr, '.1f')}; linewidths water {result.water_fwhm_hz:.1f} Hz, "
          f"fat {result.fat_fwhm_hz:.1f} Hz")
    for warning in result.warnings:
        print(f"warning         {warning}")
    print("Research use only: not a diagnosis.")


def run(args: argparse.Namespace) -> int:
    """Run the command; return 0 (errors are raised for ``cli.main``: see the module docstring)."""
    _check_t2_options(args)
    fmt = check_plot_path(args.plot, args.file, args.force) if args.plot else None
    result = analyse(args.file, args.water_t2_ms, args.fat_t2_ms)
    if args.plot:
        write_plot(result, args.plot, fmt, args.force)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        _print_result(result)
    return 0
