"""The command line's error contract, in one place: which failures are bad input, which a failed run.

* **Bad input** (exit code :data:`EXIT_BAD_INPUT`, 2): a file that cannot be read, is corrupt or truncated, a
  value that is implausible, an output that exists without ``--force``, an output folder that cannot be written.
  Raise :class:`InputError` (or any ``ValueError``/``OSError``; the CLI treats them alike) with a message that
  starts with the file or field and then states the problem.
* **Failed run** (exit code :data:`EXIT_FAILED`, 1): the inputs were accepted but the command could not produce
  its result (e.g. the only row of ``run`` is an error row). Raise :class:`RunFailed`.
* **Interrupted** (exit code :data:`EXIT_INTERRUPTED`, 130): Ctrl-C / SIGINT / SIGTERM.

Every message reaches the terminal as one line ``vcfdiagnosis <command>: error: <file>: <problem>``, written once
by the CLI's entry point (:func:`VCFDiagnosisLib.app.cli.main`); no traceback unless ``VCFDIAGNOSIS_DEBUG=1``.
This module imports nothing but the standard library.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import threading
from collections.abc import Iterator

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130

#: The environment variable that makes the CLI print tracebacks (for developers).
DEBUG_ENV = "VCFDIAGNOSIS_DEBUG"


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) and SIGTERM while native libraries are loaded; deliver them when the block ends.

    A KeyboardInterrupt raised inside an extension module's initialisation (``import slicer``, VTK class
    registration) leaves it half-built, and the next use crashes the process (exit -11, no message). Inside this
    block a signal is only recorded; on leaving, the handler that was in place receives it, so the command still
    stops with exit 130. Only the main thread can hold signals; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum)) for sig in held}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if received:
            handler = previous[received[0]]
            if callable(handler):
                handler(received[0], None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), received[0])


class InputError(ValueError):
    """Bad input: ``path`` (a file, folder or field name) and what is wrong with it."""

    def __init__(self, path: str | os.PathLike | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class RunFailed(RuntimeError):
    """The inputs were accepted but the command could not produce its result."""


def one_line(text: str, limit: int = 600) -> str:
    """Return ``text`` folded onto one line (whitespace collapsed), cut to ``limit`` characters."""
    folded = " ".join(str(text).split())
    return folded if len(folded) <= limit else folded[: limit - 1] + "…"


def describe_error(error: BaseException) -> str:
    """Return a one-line message for ``error`` that names the file when the exception knows it.

    ``OSError`` carries the file in ``filename``; its ``strerror`` is the problem. ``KeyError`` has only the key.
    Other exceptions' messages are used as they are (the code that raises them names the file).
    """
    if isinstance(error, OSError) and not isinstance(error, InputError) and error.filename is not None:
        problem = error.strerror or str(error)
        if error.errno == errno.ENAMETOOLONG:
            problem = "file name too long"
        target = error.filename if error.filename2 is None else f"{error.filename} -> {error.filename2}"
        return one_line(f"{target}: {problem}")
    if isinstance(error, KeyError):
        return one_line(f"missing {error}")
    text = str(error)
    return one_line(text if text else type(error).__name__)


def exit_code_for(error: BaseException) -> int:
    """Return the exit code of the contract for an exception that ended a command."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, RunFailed):
        return EXIT_FAILED
    if isinstance(error, (ValueError, OSError, KeyError, UnicodeError)):
        return EXIT_BAD_INPUT
    return EXIT_FAILED
