"""The ``vcfdiagnosis`` console script: headless access to everything the Slicer module does.

Every module in :mod:`VCFDiagnosisLib.app.commands` that defines ``NAME``, ``HELP``, ``add_arguments`` and
``run`` is a subcommand. Results are research outputs, never a diagnosis.

The error contract (:mod:`VCFDiagnosisLib.errors`) is applied here, once for every command: bad input exits 2,
a failed run 1, an interrupt 130, each with one line ``vcfdiagnosis <command>: error: <file>: <problem>`` on
stderr and no traceback (set ``VCFDIAGNOSIS_DEBUG=1`` to see it).
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import pkgutil
import signal
import sys
import threading
import traceback
import warnings

from .. import __version__
from ..errors import DEBUG_ENV, EXIT_INTERRUPTED, describe_error, exit_code_for
from . import commands

DESCRIPTION = (
    "VCFDiagnosis: IVIM diffusion and MR spectroscopy quantification for vertebral compression "
    "fractures (Tan et al. 2019). Research use only, not a diagnosis."
)

EPILOG = ("exit codes: 0 done, 1 the run failed, 2 bad input (the message names the file and the problem), "
          "130 interrupted")


def command_modules() -> list:
    """Return the subcommand modules of :mod:`VCFDiagnosisLib.app.commands`, sorted by name."""
    found = []
    for info in pkgutil.iter_modules(commands.__path__):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        if all(hasattr(module, attr) for attr in ("NAME", "HELP", "add_arguments", "run")):
            found.append(module)
    return sorted(found, key=lambda m: m.NAME)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with one subparser per command module."""
    parser = argparse.ArgumentParser(prog="vcfdiagnosis", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"vcfdiagnosis {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in command_modules():
        sp = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP, epilog=EPILOG)
        module.add_arguments(sp)
        sp.set_defaults(_run=module.run)
    return parser


_INTERRUPTED: list[int] = []  # the signals received while a command ran


def _interrupt(signum, frame) -> None:
    """SIGINT/SIGTERM handler: remember the signal, then stop the command as Ctrl-C does."""
    _INTERRUPTED.append(signum)
    raise KeyboardInterrupt


def _quiet_native_warnings() -> None:
    """Keep numpy/VTK warnings off the terminal: the commands report problems as statuses and messages."""
    warnings.simplefilter("ignore")
    os.environ.setdefault("VCFDIAGNOSIS_QUIET_VTK", "1")  # read by headless.initialize (and worker processes)


def report_error(command: str, error: BaseException) -> int:
    """Print the one-line message of the contract for ``error``; return its exit code."""
    # a library may turn the KeyboardInterrupt into another error (an import, a C++ callback): the signal decides
    code = EXIT_INTERRUPTED if _INTERRUPTED else exit_code_for(error)
    if code == EXIT_INTERRUPTED:
        print(f"vcfdiagnosis {command}: interrupted; finished outputs are kept, a rerun resumes", file=sys.stderr)
    else:
        print(f"vcfdiagnosis {command}: error: {describe_error(error)}", file=sys.stderr)
    if os.environ.get(DEBUG_ENV):
        traceback.print_exception(error, file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the console script; return the process exit code (see :mod:`VCFDiagnosisLib.errors`)."""
    command = "command"
    _INTERRUPTED.clear()
    main_thread = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        command = args.command or command
        if not getattr(args, "_run", None):
            parser.print_help()
            return 0
        return _run_command(args)
    except KeyboardInterrupt as error:  # Ctrl-C while starting up
        return report_error(command, error)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run_command(args: argparse.Namespace) -> int:
    """Run the chosen command under the error contract (SIGTERM is treated as Ctrl-C)."""
    try:
        with warnings.catch_warnings():
            if not os.environ.get(DEBUG_ENV):
                _quiet_native_warnings()
            return int(args._run(args) or 0)
    except (Exception, KeyboardInterrupt) as error:  # noqa: BLE001 - the one place errors become exit codes
        return report_error(args.command, error)


def console_main() -> None:
    """The installed ``vcfdiagnosis`` script: :func:`main`, then a quick exit.

    The exit handlers run (temporary cache folders are removed, worker processes stopped) and the output streams
    are flushed, but the interpreter's own teardown is skipped: destroying the MRML scene, its module logics and the
    VTK objects a command made takes 0.1-1 s after the work is done (every output is already closed and in place
    by then). With other threads still running (none of the commands leaves any), Python's normal exit is used.
    """
    code = main()
    if threading.active_count() > 1:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (``vcfdiagnosis ... | head``): nothing more can be said
            pass
    try:  # what native code (VTK, ITK) printed into C's stdio buffers
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):
        pass
    os._exit(code)


if __name__ == "__main__":
    console_main()
