"""Streamed, size-checked reading of image payloads: raw files, gzip and bzip2, never more than announced.

A :class:`Payload` is a binary input stream over a file (from a byte offset), decompressed on the fly for
``gzip``/``bzip2`` (:class:`Decoder`: zlib/bz2 objects fed in :data:`INPUT_CHUNK_BYTES` pieces, each call
bounded in output, several members and zero padding between them accepted). Memory holds only what the caller
keeps (the buffer the header announced) plus one chunk. Problems become :class:`~.errors.DwiInputError` whose
message starts with the file:

* fewer bytes than the header announces: ``truncated: header says N bytes of voxel data, file has M`` (for a
  compressed stream cut before its end marker, M counts every byte it still gave);
* a damaged compressed stream (bad CRC, invalid deflate data): ``corrupt gzip stream (...)``;
* more decompressed data than announced plus :data:`~.limits.DECOMPRESSION_SLACK_BYTES`: refused as a
  decompression bomb (or a wrong header), after reading at most that much.
"""

from __future__ import annotations

import bz2
import os
import stat
import zlib
from pathlib import Path

import numpy as np

from .errors import DwiInputError
from .limits import DECOMPRESSION_SLACK_BYTES, format_bytes

#: bytes decompressed or read per step (the largest piece of output produced at once)
CHUNK_BYTES = 8 << 20
#: compressed bytes read from the file per step
INPUT_CHUNK_BYTES = 1 << 20
ENCODINGS = ("raw", "gzip", "bzip2")
_GZIP_MAGIC = b"\x1f\x8b"


def regular_file(path: str | os.PathLike, what: str = "file") -> Path:
    """Return ``path`` if it is a readable regular file; else raise :class:`DwiInputError` saying what it is.

    Folders, devices and pipes (which could block or never end) are refused without being opened.
    """
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError as error:
        raise DwiInputError(f"{path}: {what} not found") from error
    except OSError as error:
        raise DwiInputError(f"{path}: cannot read ({error.strerror or type(error).__name__})") from error
    if stat.S_ISDIR(info.st_mode):
        raise DwiInputError(f"{path}: is a folder, expected a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise DwiInputError(f"{path}: not a regular file (a device, pipe or socket), expected a {what}")
    if not os.access(path, os.R_OK):
        raise DwiInputError(f"{path}: cannot read (permission denied)")
    return path


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class Decoder:
    """Incremental gzip/bzip2 decompression of a binary file object: :meth:`read` returns at most ``n`` bytes.

    Several members (concatenated gzip or bzip2 streams) are read as one; zero bytes after a gzip member are
    padding. ``cut_short`` becomes True when the file ends inside a member (no end marker): the bytes decoded up
    to there are still returned. A damaged stream raises ``zlib.error`` / ``OSError`` / ``EOFError``.
    """

    def __init__(self, fileobj, encoding: str) -> None:
        self._fp = fileobj
        self._gzip = encoding == "gzip"
        self._input = b""
        self._engine = None  # the decompressor of the current member; None between members
        self.members = 0
        self.finished = False
        self.cut_short = False

    def _next_input(self) -> bool:
        """Read more compressed bytes into the input; return False at the end of the file."""
        if not self._input:
            self._input = self._fp.read(INPUT_CHUNK_BYTES)
        return bool(self._input)

    def _start_member(self) -> bool:
        """Start the next member (skipping gzip zero padding); return False when the file holds no more."""
        while True:
            if not self._next_input():
                return False
            if self._gzip and self.members:
                self._input = self._input.lstrip(b"\0")
                if not self._input:
                    continue
            if self._gzip and self.members and not self._input.startswith(_GZIP_MAGIC[: len(self._input)]):
                raise OSError(f"data after gzip member {self.members} is not another gzip member")
            self._engine = zlib.decompressobj(31) if self._gzip else bz2.BZ2Decompressor()
            return True

    def _step(self, budget: int) -> bytes:
        """Decompress at most ``budget`` bytes from the current member."""
        engine = self._engine
        if self._gzip:
            out = engine.decompress(self._input, budget)
            self._input = engine.unconsumed_tail
        else:
            out = engine.decompress(self._input if engine.needs_input else b"", budget)
            self._input = b""
        if engine.eof:
            self._input = engine.unused_data + self._input
            self._engine = None
            self.members += 1
        return out

    def _member_needs_input(self) -> bool:
        engine = self._engine
        return not self._input and (self._gzip or engine.needs_input)

    def read(self, n_bytes: int) -> bytes:
        """Return up to ``n_bytes`` decompressed bytes (fewer only at the end of the data)."""
        parts, got = [], 0
        while got < n_bytes and not self.finished:
            if self._engine is None and not self._start_member():
                self.finished = True
                break
            budget = min(n_bytes - got, CHUNK_BYTES)
            if self._member_needs_input() and not self._next_input():
                out = self._step(budget)  # output the decompressor may still hold from input it consumed
                if not out and self._engine is not None:
                    self.cut_short = self.finished = True
                    break
                parts.append(out)
                got += len(out)
                continue
            out = self._step(budget)
            parts.append(out)
            got += len(out)
        return b"".join(parts)


class Payload:
    """A binary stream over ``path`` from byte ``offset``: the raw bytes, or their gzip/bzip2 decompression.

    Use as a context manager. All reads are bounded by the size asked for; :attr:`position` counts the bytes
    delivered (decompressed).
    """

    def __init__(self, path: str | os.PathLike, encoding: str = "raw", offset: int = 0) -> None:
        if encoding not in ENCODINGS:
            raise DwiInputError(f"{path}: encoding '{encoding}' is not supported ({', '.join(ENCODINGS)})")
        self.path = Path(path)
        self.encoding = encoding
        self.offset = int(offset)
        self.position = 0
        self._file = None
        self._decoder: Decoder | None = None

    @property
    def compressed(self) -> bool:
        """Return True for gzip and bzip2 payloads."""
        return self.encoding != "raw"

    @property
    def cut_short(self) -> bool:
        """Return True when a compressed stream ended before its end marker (the file was cut)."""
        return self._decoder is not None and self._decoder.cut_short

    def __enter__(self) -> Payload:
        try:
            self._file = open(self.path, "rb")  # closed in __exit__
            self._file.seek(self.offset)
        except OSError as error:
            raise DwiInputError(f"{self.path}: cannot read ({error.strerror or type(error).__name__})") from error
        if self.compressed:
            self._decoder = Decoder(self._file, self.encoding)
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()

    def raw_bytes_left(self) -> int:
        """Return the bytes between the current position and the end of the file (raw payloads only)."""
        return max(os.fstat(self._file.fileno()).st_size - self.offset - self.position, 0)

    def _start_text(self) -> str:
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            start = handle.read(4)
        if not start:
            return "nothing: the file is empty"
        return "zero bytes" if not any(start) else " ".join(f"{b:02x}" for b in start)

    def _failure(self, error: BaseException) -> DwiInputError:
        if not self.compressed:
            return DwiInputError(f"{self.path}: cannot read ({_reason(error)})")
        if self._decoder.members == 0 and self.position == 0 and isinstance(error, zlib.error):
            if "header" in str(error):
                return DwiInputError(f"{self.path}: not a gzip file (it starts with {self._start_text()})")
        return DwiInputError(f"{self.path}: corrupt {self.encoding} stream ({_reason(error)})")

    def _read_some(self, n_bytes: int) -> bytes:
        try:
            if self._decoder is not None:
                return self._decoder.read(n_bytes)
            return self._file.read(n_bytes)
        except (zlib.error, OSError, EOFError, ValueError) as error:
            raise self._failure(error) from error

    def read(self, n_bytes: int) -> bytes:
        """Return up to ``n_bytes`` bytes (fewer at the end of the data); damaged compressed data raise."""
        parts, left = [], int(n_bytes)
        while left > 0:
            chunk = self._read_some(min(left, CHUNK_BYTES))
            if not chunk:
                break
            parts.append(chunk)
            left -= len(chunk)
            self.position += len(chunk)
        return b"".join(parts)

    def read_into(self, buffer) -> int:
        """Fill ``buffer`` (any writable bytes-like object) from the stream; return the bytes filled."""
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            chunk = self._read_some(min(len(view) - filled, CHUNK_BYTES))
            if not chunk:
                break
            view[filled: filled + len(chunk)] = chunk
            filled += len(chunk)
            self.position += len(chunk)
        return filled

    def skip(self, n_bytes: int) -> int:
        """Skip ``n_bytes`` bytes (decompressing and discarding them); return how many were skipped."""
        skipped = 0
        while skipped < n_bytes:
            got = len(self.read(min(n_bytes - skipped, CHUNK_BYTES)))
            if not got:
                break
            skipped += got
        return skipped

    def expect_end(self, described_bytes: int, slack: int = DECOMPRESSION_SLACK_BYTES) -> None:
        """Check that a compressed stream ends (with its end marker and CRC) within ``slack`` more bytes.

        Raises naming the file if it holds more (a decompression bomb or a wrong header) or was cut short.
        Raw payloads are not checked (nothing more is read).
        """
        if not self.compressed:
            return
        extra = len(self.read(slack + 1))
        if extra > slack:
            raise DwiInputError(
                f"{self.path}: the {self.encoding} stream decompresses to more than the "
                f"{format_bytes(described_bytes)} its header describes (stopped after {format_bytes(self.position)}):"
                " a decompression bomb or a wrong header")
        if self.cut_short:
            raise DwiInputError(f"{self.path}: truncated: the {self.encoding} stream ends before its end marker "
                                "(the file was cut short)")


def truncated(path, expected: int, found: int, what: str = "voxel data") -> DwiInputError:
    """Return the error for a payload shorter than its header says (``found``: bytes it holds, decompressed)."""
    return DwiInputError(f"{path}: truncated: header says {expected} bytes of {what}, file has {found}")


def read_payload(stream: Payload, n_bytes: int, what: str = "voxel data") -> np.ndarray:
    """Return exactly ``n_bytes`` bytes of ``stream`` as a uint8 array; raise if the file holds fewer or more.

    A raw payload's length is checked before anything is read or allocated; a compressed one is decompressed
    into the buffer chunk by chunk and must end within the slack after it.
    """
    if not stream.compressed:
        left = stream.raw_bytes_left()
        if left < n_bytes:
            raise truncated(stream.path, n_bytes, left, what)
    buffer = np.empty(n_bytes, dtype=np.uint8)
    filled = stream.read_into(buffer)
    if filled < n_bytes:
        raise truncated(stream.path, n_bytes, filled, what)
    stream.expect_end(n_bytes)
    return buffer


def verify_payload(stream: Payload, n_bytes: int, what: str = "voxel data") -> None:
    """Check that ``stream`` holds exactly ``n_bytes`` bytes (as :func:`read_payload`) without keeping them."""
    if not stream.compressed:
        left = stream.raw_bytes_left()
        if left < n_bytes:
            raise truncated(stream.path, n_bytes, left, what)
        return
    done = 0
    while done < n_bytes:
        got = len(stream.read(min(n_bytes - done, CHUNK_BYTES)))
        done += got
        if not got:
            raise truncated(stream.path, n_bytes, done, what)
    stream.expect_end(n_bytes)
