"""``vcfdiagnosis serve``: the reading station in the browser (needs the ``[web]`` extra)."""

from __future__ import annotations

NAME = "serve"
HELP = ("serve the reading station in a web browser: open a case, draw ROIs per reader with Slicer's Segment "
        "Editor, Apply, download (research use only; binds to 127.0.0.1 unless told otherwise)")


def add_arguments(parser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="interface to listen on (default 127.0.0.1; another needs --allow-remote)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0 picks a free one)")
    parser.add_argument("--data", help="folder of cases offered by the case picker (manifests, DICOM folders)")
    parser.add_argument("--work", help="the only folder the station writes in: uploads, synthetic patients, "
                                       "downloads (default: a temporary folder removed when the server stops)")
    parser.add_argument("--upload-limit-mb", type=float, default=1000.0,
                        help="size cap of one upload, all its files together (MB = 10**6 bytes; default 1000)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a --host other than loopback (prints a warning: the station has no log-in)")


def run(args) -> int:
    from ...errors import InputError

    try:
        import trame_slicer  # noqa: F401
    except ImportError as error:
        raise InputError("serve", f"the reading station needs the web extra: pip install 'vcfdiagnosis[web]' "
                                  f"({error})") from None
    from ...web.server import serve

    return serve(args.host, args.port, args.data, args.work, args.upload_limit_mb, args.allow_remote)
