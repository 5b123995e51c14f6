"""The ``vcfdiagnosis`` console script: headless access to everything the Slicer module does.

Every module in :mod:`VCFDiagnosisLib.commands` that defines ``NAME``, ``HELP``, ``add_arguments`` and
``run`` is a subcommand. Results are research outputs, never a diagnosis.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands

DESCRIPTION = (
    "VCFDiagnosis: IVIM diffusion and MR spectroscopy quantification for vertebral compression "
    "fractures (Tan et al. 2019). Research use only, not a diagnosis."
)


def command_modules() -> list:
    """Return the subcommand modules of :mod:`VCFDiagnosisLib.commands`, sorted by name."""
    found = []
    for info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if all(hasattr(module, attr) for attr in ("NAME", "HELP", "add_arguments", "run")):
            found.append(module)
    return sorted(found, key=lambda m: m.NAME)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with one subparser per command module."""
    parser = argparse.ArgumentParser(prog="vcfdiagnosis", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"vcfdiagnosis {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in command_modules():
        sp = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(sp)
        sp.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the console script; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
