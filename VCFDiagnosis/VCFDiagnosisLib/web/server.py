"""Start the reading station: loopback by default, a work folder, one scene per server process.

Rendering without a display: :mod:`.rendering`.
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
from pathlib import Path

from ..pacs.locations import is_loopback

LOOPBACK = "127.0.0.1"


def host_guard(allowed_hosts: set[str]):
    """Return an aiohttp middleware that refuses (403) a request for another host name or from another page.

    ``Host`` must name this server (DNS rebinding: a foreign name resolving to 127.0.0.1), and an ``Origin`` header
    (every browser sends one with a WebSocket handshake) must be this server's own: a page of another site open in
    the reader's browser cannot drive the station or read its downloads.
    """
    from urllib.parse import urlsplit

    from aiohttp import web

    allowed = {h.lower().strip("[]") for h in allowed_hosts}

    @web.middleware
    async def guard(request, handler):
        host = request.headers.get("Host", "")
        host_name = urlsplit(f"//{host}").hostname or ""
        origin = request.headers.get("Origin")
        if host_name.lower() not in allowed:
            return web.Response(status=403, text=f"host {host_name!r} is not served here\n")
        if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
            return web.Response(status=403, text="requests from another page are refused\n")
        return await handler(request)

    return guard


def served_names(host: str) -> set[str]:
    """Return the host names a browser may use to reach a station bound to ``host``: loopback names, ``host``
    itself and, for a wildcard bind (0.0.0.0, ::), this machine's names and addresses."""
    names = {LOOPBACK, "localhost", "::1", host}
    if host in ("0.0.0.0", "::", ""):
        for name in {socket.gethostname(), socket.getfqdn()}:
            names.add(name)
            try:
                names.update(info[4][0] for info in socket.getaddrinfo(name, None))
            except OSError:
                continue
    return {n.lower() for n in names if n}


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that is free on ``host`` now."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def make_work_dir(work: str | None) -> tuple[Path, bool]:
    """Return (the station's work folder, whether it is temporary and removed at exit)."""
    if work:
        path = Path(work).resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path, False
    return Path(tempfile.mkdtemp(prefix="vcfdiag-station-")), True


def serve(host: str = LOOPBACK, port: int = 0, data_dir: str | None = None, work_dir: str | None = None,
          upload_limit_mb: float = 1000.0, allow_remote: bool = False, ready=None) -> int:
    """Build the station and serve it until interrupted; return 0.

    A host that is not loopback needs ``allow_remote`` (and prints a warning: the station has no log-in, and
    anyone who reaches the port sees and changes the open case). ``ready(url)`` is called once the server
    listens (tests and the benchmark use it).
    """
    from ..errors import InputError

    if not is_loopback(host) and not allow_remote:
        raise InputError("--host", f"{host} is not a loopback address: add --allow-remote to serve other machines "
                                   "(no log-in protects the station; put it behind an authenticating proxy)")
    if data_dir and not Path(data_dir).is_dir():
        raise InputError(data_dir, "no such folder (--data)")
    if not is_loopback(host):
        print(f"WARNING: serving on {host}: anyone who can reach this port can open, see and change the case; "
              "there is no log-in", file=sys.stderr)
    limit_bytes = int(upload_limit_mb * 1e6)
    work, temporary = make_work_dir(work_dir)
    port = port or free_port(LOOPBACK if is_loopback(host) else host)
    try:
        from .page import StationApp

        app = StationApp(str(work), data_dir, upload_limit_bytes=limit_bytes)
        url = f"http://{host}:{port}/"

        def announce(**_):
            print(f"VCFDiagnosis reading station: {url} (work folder {work}; Ctrl-C stops)", flush=True)
            if ready is not None:
                ready(url)

        app.server.controller.on_server_ready.add(announce)
        allowed = served_names(host)
        app.server.controller.on_server_bind.add(
            lambda wslink_server: wslink_server.app.middlewares.append(host_guard(allowed)))
        argv, sys.argv = sys.argv, sys.argv[:1]  # trame/wslink parse sys.argv: our options are not theirs
        try:
            app.server.start(host=host, port=port, open_browser=False, show_connection_info=False,
                             disable_logging=True, timeout=0)  # timeout 0: never stop for want of a client
        finally:
            sys.argv = argv
    finally:
        if temporary:
            shutil.rmtree(work, ignore_errors=True)
    return 0
