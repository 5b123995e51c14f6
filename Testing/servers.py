"""Real servers the tests start (the reading station, Orthanc): wait until one answers, stop it by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


def wait_until_answering(url: str, server: subprocess.Popen, log: Path, seconds: float, name: str,
                         poll_s: float = 0.2) -> None:
    """Return once ``url`` answers HTTP (any status); raise naming ``name`` and the log's end if it never does."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:  # e.g. 401: it answers
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text()[-2000:] if log.is_file() else ""
                raise RuntimeError(f"{name} did not start: {tail}") from None
            time.sleep(poll_s)


def stop_by_pid(server: subprocess.Popen, seconds: float = 30) -> None:
    """Stop a server by its PID: SIGTERM, then SIGKILL if it has not exited within ``seconds``."""
    os.kill(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
