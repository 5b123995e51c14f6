"""``vcfdiagnosis mrs FILE``: read a single-voxel MR spectrum, fit water + fat, print LWR and FF.

Bad input exits with status 2 and one line on stderr naming the file and the problem.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

NAME = "mrs"
HELP = ("Quantify a single-voxel marrow MR spectrum (Siemens .rda/.IMA, DICOM MRS, Philips SDAT/SPAR, "
        "NIfTI-MRS): water and fat areas, LWR, FF (research use only)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``mrs`` options to ``parser``."""
    parser.add_argument("file", help="spectroscopy file (.rda, .IMA/.dcm, .SDAT/.SPAR, .nii/.nii.gz)")
    parser.add_argument("--json", action="store_true", help="print all results as JSON")
    parser.add_argument("--plot", metavar="PNG", help="save a plot of spectrum, fit, residual and components")
    parser.add_argument("--water-t2-ms", type=float, default=None, help="water T2 (ms) for the optional T2-corrected PDFF")
    parser.add_argument("--fat-t2-ms", type=float, default=None, help="fat T2 (ms) for the optional T2-corrected PDFF")


def _fmt(value, spec: str = ".3f") -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else format(value, spec)


def save_fit_plot(result, path: str) -> None:
    """Save the phased real spectrum, the fit, the residual and the components to ``path`` (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fit = result.fit
    keep = (fit.ppm >= fit.window[0]) & (fit.ppm <= fit.window[1])
    ppm = fit.ppm[keep]
    fig, ax = plt.subplots(figsize=(8, 5))
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
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    """Run the command; return the exit code (0 ok, 2 bad input)."""
    from ..mrs import quantify_spectrum, read_spectrum

    try:
        spectrum = read_spectrum(args.file)
        result = quantify_spectrum(spectrum, water_t2_ms=args.water_t2_ms, fat_t2_ms=args.fat_t2_ms)
    except (ValueError, OSError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if args.file not in message:
            message = f"{args.file}: {message}"
        print(f"vcfdiagnosis mrs: error: {message}", file=sys.stderr)
        return 2
    if args.plot:
        try:
            save_fit_plot(result, args.plot)
        except ImportError:
            print("vcfdiagnosis mrs: error: --plot needs matplotlib", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
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
    return 0
