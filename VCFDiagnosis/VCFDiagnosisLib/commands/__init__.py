"""Subcommands of the ``vcfdiagnosis`` console script.

Each module here defines ``NAME`` (the subcommand), ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int`` (the exit code). :mod:`VCFDiagnosisLib.cli` lists them in ``COMMAND_MODULES``.
A command reports bad input as one line on stderr naming the file and the problem, and exits non-zero.
"""
