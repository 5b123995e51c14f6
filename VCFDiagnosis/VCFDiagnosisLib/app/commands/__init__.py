"""Subcommands of the ``vcfdiagnosis`` console script.

Each module here defines ``NAME`` (the subcommand), ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int`` (the exit code). :func:`VCFDiagnosisLib.app.cli.command_modules` finds them.
A command module imports only argparse-level things at import time; its engines are imported in ``run``.
A command reports bad input as one line on stderr naming the file and the problem, and exits non-zero.
"""
