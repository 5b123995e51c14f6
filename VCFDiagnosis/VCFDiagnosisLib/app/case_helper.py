"""A helper process for ``vcfdiagnosis run``: it reads the DWI while the command starts Slicer's MRML runtime, and
draws the report while the command writes the maps and the scene bundle.

A fresh ``run`` spends 1.5-2 s loading slicer-core before it can make a scene, and ~1 s drawing the report after
the numbers are known; both on one core. The helper is forked (POSIX) before slicer-core is imported, so it holds
only the pure core. It reads the DWI (pydicom, numpy) and loads matplotlib while the command loads slicer-core,
hands the DWI over through a pipe, then draws the report from the case's arrays while the command writes the other
outputs: on two cores a case is ready 1-2 s sooner (``Testing/Benchmarks/bench_case.py``).

The helper only ever saves time. Whatever goes wrong in it (a DWI it cannot read, a crash, no fork on this system,
arguments that cannot be sent), the command does that step itself, so the results, the errors and their messages
are those of a run without it; a report the helper could not draw is redrawn by the command. The helper ignores
Ctrl-C: the command stops it (on any exit) and waits for it before the case folder is swapped in or removed, so it
never writes after the command has finished.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import multiprocessing
import os
import signal
from collections.abc import Iterator
from multiprocessing import reduction
from pathlib import Path

from ..errors import interrupts_held
from ..ivim.processes import fork_available


class PendingReport:
    """A report the helper is drawing: :meth:`result` waits for its paths, :meth:`cancel` stops it (a no-op once
    done). Made by :meth:`CaseHelper.render_report`."""

    def __init__(self, helper: CaseHelper, arguments: dict) -> None:
        self._helper, self._arguments, self._paths = helper, arguments, None

    def result(self) -> list[str]:
        """Return the paths written (PNG, then PDF), drawing the report here if the helper could not."""
        if self._paths is None:
            answer = self._helper._receive()
            if answer is None:  # the helper died or could not send: draw it here, where any error is the command's
                from ..analysis.report import render_case_report

                self._paths = render_case_report(**self._arguments)
            elif isinstance(answer, BaseException):
                raise answer
            else:
                self._paths = answer
        return self._paths

    def cancel(self) -> None:
        """Stop the helper if the report is still being drawn (nothing is written after this returns)."""
        if self._paths is None:
            self._helper.stop()


class CaseHelper:
    """The helper process of one ``run`` (see the module docstring); use :meth:`started`."""

    def __init__(self) -> None:
        self._process = None
        self._connection = None
        self._dwi_sent = False

    @classmethod
    @contextlib.contextmanager
    def started(cls, dwi_path: str | None, report: bool = True) -> Iterator[CaseHelper]:
        """Yield a helper reading ``dwi_path`` (None: read nothing) and, with ``report``, ready to draw the report;
        stop it on leaving.

        Call this before slicer-core is imported: the helper is a fork of this process. Where processes cannot be
        forked, the helper does nothing and every step runs in this process.
        """
        helper = cls()
        try:
            if fork_available() and (dwi_path is not None or report):
                helper._start(dwi_path, report)
            yield helper
        finally:
            helper.stop()

    def _start(self, dwi_path: str | None, report: bool) -> None:
        """Fork the helper; if the system cannot (no memory, too many processes), go on without one."""
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe()
        # the helper starts with Ctrl-C and SIGTERM held: until it has its own handlers, this process's handler
        # (which raises KeyboardInterrupt) could meet it anywhere; held, a stop sent at once still arrives
        held = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        try:
            process = context.Process(target=_serve, args=(theirs, ours, dwi_path, report, held), daemon=True,
                                      name="vcfdiagnosis-helper")
            process.start()
        except OSError:  # a fork that failed: every step runs in this process, as without a helper
            ours.close()
            return
        finally:
            theirs.close()
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
        self._process, self._connection, self._dwi_sent = process, ours, dwi_path is not None

    def dwi(self):
        """Return the :class:`~VCFDiagnosisLib.dwi.volume.DwiVolume` the helper read, or None (nothing asked, it
        could not read it, or it is gone): then the command reads the DWI itself, with its own error message."""
        if not self._dwi_sent:
            return None
        self._dwi_sent = False
        return self._receive()

    def render_report(self, **arguments):
        """Start drawing a report (the keyword arguments of
        :func:`~VCFDiagnosisLib.analysis.report.render_case_report`); return it pending (without a helper: drawn
        here, a :class:`~VCFDiagnosisLib.analysis.report.DrawnReport`)."""
        if self._connection is not None:
            if self._dwi_sent:
                self.dwi()  # never asked for: received and dropped, so the answers stay in order
            try:
                _send(self._connection, arguments)
                return PendingReport(self, arguments)
            except (OSError, EOFError):  # the helper is gone
                self.stop()
            except Exception:  # noqa: BLE001 - arguments that do not pickle: drawn here instead
                self.stop()  # the pipe may hold half a message
        from ..analysis.report import DrawnReport

        return DrawnReport(**arguments)

    def _receive(self):
        """Return the helper's next answer, or None when it is gone (it is stopped then)."""
        if self._connection is None:
            return None
        try:
            return _receive(self._connection)
        except Exception:  # noqa: BLE001 - gone, or a message that does not read back: the command does it itself
            self.stop()
            return None

    def stop(self) -> None:
        """Stop the helper and wait until it has exited (idempotent). Ctrl-C meanwhile is delivered afterwards."""
        with interrupts_held():  # a second Ctrl-C must not leave a helper running beside a removed case folder
            if self._process is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._process.terminate()
                self._process.join()
            if self._connection is not None:
                self._connection.close()
            self._process = self._connection = None
            self._dwi_sent = False


def _serve(connection, parents_end, dwi_path: str | None, report: bool, mask: set) -> None:
    """The helper's life: read the DWI and send it (None if it cannot be read), load matplotlib (if a report will
    be drawn), then draw each report it is sent (answering with the paths, or the error) until the pipe closes.

    It starts with SIGINT and SIGTERM blocked; ``mask`` is the signal mask to restore once its handlers are set."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the command handles Ctrl-C and stops the helper
    signal.signal(signal.SIGTERM, _stop_drawing)
    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    parents_end.close()  # so that the pipe closes when the command exits, however it exits
    try:
        if dwi_path is not None:
            _send(connection, _read_dwi(dwi_path), fallback=None)  # in shared memory: sent without waiting
        if report:
            _warm_up_matplotlib()
        while True:
            arguments = _receive(connection)
            try:
                answer = _draw(arguments)
            except Exception as error:  # noqa: BLE001 - sent to the command, which raises it
                answer = error
            del arguments
            _send(connection, answer, fallback=None)
    except Exception:  # noqa: BLE001 - the pipe closed, or a message was damaged: the command does it itself
        return


#: What the command sends to stop the helper (SIGTERM) and what reaches every process of a terminal (SIGINT).
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}

#: The process drawing the PDF, while there is one (forked by :func:`_draw`).
_PDF_DRAWER: list[int] = []


def _draw(arguments: dict) -> list[str]:
    """Draw the report as :func:`~VCFDiagnosisLib.analysis.report.render_case_report` does; return its paths.

    The PDF is drawn by a fork of the helper while the helper draws the PNG: on two cores, with the command
    writing its files meanwhile, the report is ready ~0.3 s sooner. If that process fails, the PDF is drawn here
    (and its error raised).
    """
    from ..analysis.report import render_case_report

    png, pdf = arguments["path_png"], arguments.get("path_pdf")
    common = {key: value for key, value in arguments.items() if key not in ("path_png", "path_pdf")}
    drawer = -1
    if pdf is not None and png is not None:
        held = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # until the drawer is known to the handler
        try:
            drawer = _fork()
            if drawer == 0:
                code = 1
                try:
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    signal.pthread_sigmask(signal.SIG_SETMASK, held)
                    render_case_report(None, pdf, **common)
                    code = 0
                finally:
                    os._exit(code)
            _PDF_DRAWER.append(drawer)
        except OSError:  # no fork: both drawn here
            drawer = -1
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, held)
    if drawer < 0:
        return render_case_report(png, pdf, **common)
    try:
        written = render_case_report(png, None, **common)
    finally:
        _, status = os.waitpid(drawer, 0)
        _PDF_DRAWER.clear()
    if status != 0:
        return written + render_case_report(None, pdf, **common)
    return [*written, str(Path(pdf).resolve())]


def _fork() -> int:
    """``os.fork()`` (one place, so that the tests can make it fail)."""
    return os.fork()


def _stop_drawing(signum, frame) -> None:
    """SIGTERM in the helper (the command stops it): the PDF's process is killed and reaped first, so nothing is
    written once the helper has exited."""
    for pid in _PDF_DRAWER:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    os._exit(1)


_SHARED = "shared-memory"


def _send(connection, value, fallback=_SHARED) -> None:
    """Send ``value`` through ``connection``, its arrays through shared memory (a memfd, Linux) and the rest
    pickled; raise if it does not pickle, or send ``fallback`` instead when one is given.

    The arrays of a case (~100 MB) would cross a pipe at ~0.3 s; copied into shared memory they take ~0.05 s and
    the receiver maps them without a copy.
    """
    import pickle

    arrays: list = []
    try:
        payload = pickle.dumps(value, protocol=5, buffer_callback=arrays.append)
        if isinstance(value, BaseException):
            pickle.loads(payload, buffers=arrays)  # an error that pickles but does not read back (custom __init__)
    except Exception:  # noqa: BLE001 - nothing was written: the pipe stays in step
        if fallback is _SHARED:
            raise
        value, payload, arrays = fallback, pickle.dumps(fallback, protocol=5), []
    raw = [array.raw() for array in arrays]
    sizes = [part.nbytes for part in raw]
    offsets, end = [], 0
    for size in sizes:
        offsets.append(end)
        end += _aligned(size)
    total = offsets[-1] + sizes[-1] if sizes else 0
    if not total or not hasattr(os, "memfd_create"):
        connection.send(("inline", pickle.dumps(value, protocol=5) if raw else payload))
        return
    descriptor = os.memfd_create("vcfdiagnosis-helper")
    try:
        os.ftruncate(descriptor, total)
        with mmap.mmap(descriptor, total) as region:
            for offset, part in zip(offsets, raw):
                region[offset:offset + part.nbytes] = part
        connection.send((_SHARED, payload, list(zip(offsets, sizes))))
        reduction.send_handle(connection, descriptor, 0)
    finally:
        os.close(descriptor)


#: Each array starts on a 64-byte boundary in the shared memory (numpy's and SIMD's alignment).
_ALIGNMENT = 64


def _aligned(size: int) -> int:
    """Return ``size`` rounded up to :data:`_ALIGNMENT`."""
    return _ALIGNMENT * -(-size // _ALIGNMENT)


def _receive(connection):
    """Return the next value :func:`_send` sent (its arrays mapped from the shared memory, not copied)."""
    import pickle

    kind, payload, *sizes = connection.recv()
    if kind != _SHARED:
        return pickle.loads(payload)
    places = sizes[0]
    descriptor = reduction.recv_handle(connection)
    try:  # a private copy-on-write mapping: the arrays behave as the sender's own copies would
        region = mmap.mmap(descriptor, places[-1][0] + places[-1][1], access=mmap.ACCESS_COPY)
    finally:
        os.close(descriptor)
    view = memoryview(region)
    return pickle.loads(payload, buffers=[view[offset:offset + size] for offset, size in places])  # mapped while used


def _read_dwi(path: str):
    """Return the DWI at ``path`` as the Logic reads it, or None if it cannot be read (the command reports it)."""
    try:
        from ..dwi.loader import load_dwi

        return load_dwi(path)
    except Exception:  # noqa: BLE001 - the command reads it again and reports the error itself
        return None


def _warm_up_matplotlib() -> None:
    """Import what the report draws with and draw a line of text into PNG and PDF (fonts and caches loaded)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(1, 1), dpi=50)
        FigureCanvasAgg(figure)
        figure.text(0.1, 0.5, "b = 0 s/mm2", family="monospace")
        figure.text(0.1, 0.2, "D*", fontweight="bold")
        for fmt in ("png", "pdf"):
            figure.savefig(io.BytesIO(), format=fmt)
    except Exception:  # noqa: BLE001 - no matplotlib: the report says so when it is drawn
        pass
