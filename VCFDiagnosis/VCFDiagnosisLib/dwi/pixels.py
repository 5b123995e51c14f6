"""Read the pixels of indexed DICOM images: each file read once, rescaled to signal, float32.

Classic files give one image, enhanced files one per frame, mosaics one per tile. Files that cannot be
decoded (truncated pixel data, unsupported compression) are reported per file (the DICOM loader refuses the
series then). ``.gz`` files (gzip copies of DICOM files, as some public test sets store them) are read
transparently, decompressed with the ceiling of :mod:`.limits`.

Every file is sniffed first (:func:`sniff_dicom`, its first 144 bytes): a file that cannot start a DICOM data
set, e.g. a zero-filled one, is refused in milliseconds instead of being parsed element by element.
"""

from __future__ import annotations

import contextlib
import io
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pydicom

from .errors import DwiInputError
from .frames import DicomFrame
from .limits import MAX_IMAGE_BYTES_ENV, check_image_bytes, format_bytes, max_image_bytes
from .mosaic import unpack_mosaic
from .streams import Payload


class NotDicomError(pydicom.errors.InvalidDicomError):
    """The file is not DICOM (found from its first bytes, without parsing it); the message says why."""


#: bytes read to sniff a file: preamble, 'DICM', and the first file meta element
_SNIFF_BYTES = 132 + 12
#: groups a DICOM data set without preamble may start with (file meta, identifying)
_FIRST_GROUPS = (0x0002, 0x0008)
#: transfer syntaxes whose pixel data is stored as is (its length must match Rows x Columns x frames ...)
_NATIVE_SYNTAXES = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}


def sniff_dicom(head: bytes, after_meta: bytes | None = None) -> str | None:
    """Return why bytes cannot start a DICOM file (None if they can): checked before any parsing.

    ``head`` holds the first 144 bytes; ``after_meta`` the first 8 bytes after the file meta group when its
    length is known. Zero-filled files are recognised from their first bytes (milliseconds, whatever the size).
    """
    if not head:
        return "not a DICOM file (empty)"
    zero = "; it starts with zero bytes: a zero-filled file?"
    if len(head) >= 132 and head[128:132] == b"DICM":
        group = int.from_bytes(head[132:134], "little") if len(head) >= 136 else None
        if group != 0x0002:
            return "not a DICOM file (no file meta information after the DICM prefix" + (
                zero + ")" if not any(head[132:]) else ")")
        if after_meta is not None and len(after_meta) >= 4 and not any(after_meta):
            return "damaged DICOM: the data set after the file meta information is zero bytes (zero-filled?)"
        return None
    little, big = int.from_bytes(head[:2], "little"), int.from_bytes(head[:2], "big")
    if len(head) >= 8 and (little in _FIRST_GROUPS or big in _FIRST_GROUPS):
        return None
    return "not a DICOM file (no DICM prefix at byte 128 and no DICOM element at its start" + (
        zero + ")" if not any(head[:132]) else ")")


def _meta_end(head: bytes) -> int | None:
    """Return the byte offset where the data set starts, from a (0002,0000) UL group length, else None."""
    if len(head) < 144 or head[132:136] != b"\x02\x00\x00\x00" or head[136:138] != b"UL":
        return None
    return 144 + int.from_bytes(head[140:144], "little")


def _sniff_file(path: str) -> None:
    """Raise :class:`NotDicomError` if the first bytes of ``path`` cannot start a DICOM file."""
    with open(path, "rb") as handle:
        head = handle.read(_SNIFF_BYTES)
        end = _meta_end(head)
        after = None
        if end is not None:
            handle.seek(end)
            after = handle.read(8)
    problem = sniff_dicom(head, after)
    if problem:
        raise NotDicomError(problem)


def _gunzip_capped(path: str) -> io.BytesIO:
    """Return the decompressed bytes of a ``.gz`` DICOM copy, refusing more than the image ceiling."""
    limit = max_image_bytes()
    with Payload(path, "gzip") as stream:
        head = stream.read(_SNIFF_BYTES)
        end = _meta_end(head)
        rest = stream.read(max(end - len(head), 0) + 8) if end is not None else b""
        problem = sniff_dicom(head, rest[-8:] if end is not None else None)
        if problem:
            raise NotDicomError(problem)
        body = stream.read(limit + 1 - len(head) - len(rest))
    if len(head) + len(rest) + len(body) > limit:
        raise DwiInputError(f"{path}: gzip stream decompresses to more than {format_bytes(limit)} "
                            f"(the limit; set {MAX_IMAGE_BYTES_ENV} to raise it)")
    return io.BytesIO(head + rest + body)


def read_dataset(path: str, **kwargs) -> pydicom.Dataset:
    """Return ``pydicom.dcmread(path, **kwargs)`` after a sniff of the first bytes (:func:`sniff_dicom`).

    ``*.gz`` files are decompressed in memory first (streamed, capped at :func:`~.limits.max_image_bytes`).
    A file without the 128-byte preamble is read with ``force=True`` only when it starts like a DICOM data set
    and is accepted only when it has a SOP Class UID (so text or image files are not mistaken for DICOM).
    """
    source = path
    if path.endswith(".gz"):
        source = _gunzip_capped(path)
    else:
        _sniff_file(path)
    try:
        return pydicom.dcmread(source, **kwargs)
    except pydicom.errors.InvalidDicomError:
        if isinstance(source, io.BytesIO):
            source.seek(0)
        ds = pydicom.dcmread(source, force=True, **kwargs)
        if "SOPClassUID" not in ds:
            raise
        return ds


def expected_pixel_bytes(ds: pydicom.Dataset) -> int:
    """Return the bytes of pixel data the header announces (Rows x Columns x frames x samples x bits / 8)."""
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    bits = int(ds.get("BitsAllocated", 16) or 16)
    n_bits = int(ds.Rows) * int(ds.Columns) * frames * samples * bits
    return (n_bits + 7) // 8


class PixelDataError(ValueError):
    """The pixel data of a file is missing, truncated or oversized (the message is the problem, without the file)."""


def check_pixel_data(ds: pydicom.Dataset, path: str) -> None:
    """Raise :class:`PixelDataError` if the pixel data is missing, above the ceiling or shorter than announced."""
    if "PixelData" not in ds:
        raise PixelDataError("no pixel data")
    expected = expected_pixel_bytes(ds)
    limit = max_image_bytes()
    if expected > limit:
        raise PixelDataError(f"header describes {format_bytes(expected)} of pixel data, above the limit of "
                         f"{format_bytes(limit)} (set {MAX_IMAGE_BYTES_ENV} to raise it)")
    syntax = str(getattr(ds, "file_meta", {}).get("TransferSyntaxUID", "1.2.840.10008.1.2"))
    have = len(ds.PixelData)
    if syntax in _NATIVE_SYNTAXES and have < expected:
        raise PixelDataError(f"truncated: header says {expected} bytes of pixel data, file has {have}")


#: Uncompressed little-endian transfer syntaxes (implicit, explicit VR): their pixel data is the array's bytes.
_LITTLE_ENDIAN_NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}


def stored_pixels(ds: pydicom.Dataset) -> np.ndarray:
    """Return the stored pixel values of a data set (``[frames,] rows, columns``), as ``ds.pixel_array`` does.

    The common case (uncompressed little-endian, one sample, 8/16/32 bits allocated, unsigned or every bit
    stored) is a view of the pixel data's bytes, several times quicker than pydicom's handlers; anything else
    (compressed, big-endian, colour, signed values in fewer bits than allocated, bits above ``BitsStored`` set,
    no transfer syntax in the file meta: pydicom guesses the encoding) is pydicom's ``pixel_array``.
    """
    syntax = str(getattr(ds, "file_meta", {}).get("TransferSyntaxUID", ""))  # none (no file meta): pydicom decides
    allocated, stored = int(ds.get("BitsAllocated") or 0), int(ds.get("BitsStored") or 0)
    signed = int(ds.get("PixelRepresentation") or 0) == 1
    frames, rows, columns = int(ds.get("NumberOfFrames") or 1), int(ds.Rows), int(ds.Columns)
    if (syntax not in _LITTLE_ENDIAN_NATIVE or int(ds.get("SamplesPerPixel") or 1) != 1
            or allocated not in (8, 16, 32) or not 0 < stored <= allocated or (signed and stored < allocated)):
        return ds.pixel_array
    dtype = np.dtype(f"<{'i' if signed else 'u'}{allocated // 8}")
    count = frames * rows * columns
    data = ds.PixelData
    if len(data) < count * dtype.itemsize:
        return ds.pixel_array  # pydicom's message for short data
    pixels = np.frombuffer(data, dtype, count)
    if stored < allocated and int(pixels.max(initial=0)) >> stored:
        return ds.pixel_array  # bits above BitsStored in use (overlays): pydicom's handling
    return pixels.reshape((frames, rows, columns) if frames > 1 else (rows, columns))


def _file_images(path: str, frames: list[DicomFrame], ds: pydicom.Dataset | None = None) -> list[np.ndarray]:
    """Return the rescaled float32 pixels of ``frames``, all held by the file ``path`` (``ds``: its data set, already
    read with the pixel data deferred; None: read here)."""
    ds = ds if ds is not None else read_dataset(path)
    check_pixel_data(ds, path)
    pixels = stored_pixels(ds)
    out = []
    for frame in frames:
        if frame.frame is not None:
            image = pixels[frame.frame] if pixels.ndim == 3 else pixels
        elif frame.tile is not None:
            image = unpack_mosaic(pixels, frame.n_tiles)[frame.tile]
        else:
            image = pixels
        if image.ndim != 2 or image.shape != tuple(frame.shape):
            raise ValueError(f"pixel array {image.shape} does not match the header ({frame.shape})")
        out.append(_rescaled(image, *frame.rescale))
    return out


def _rescaled(image: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """Return ``image * slope + intercept`` in float32 (signal units), computed in place on one new array."""
    signal = image.astype(np.float32)
    signal *= np.float32(slope)
    signal += np.float32(intercept)
    return signal


def read_frame_pixels(frames: list[DicomFrame], workers: int | None = None,
                      datasets: dict | None = None) -> tuple[np.ndarray, list[int], list[str]]:
    """Return (pixels [n_ok, rows, cols] float32, indices of ``frames`` read, problems per failed file).

    All frames must share one matrix size. Each file is read once, in this thread unless ``workers`` > 1 (a thread
    pool): decoding is Python under the GIL, so on a local disk a pool saves little or no wall time and costs CPU,
    which a batch with busy cores waits for (``Testing/Benchmarks/bench_dwi_loading.py --threads 3`` prints both).
    A slow network share may gain from a pool.
    ``datasets`` (``{path: data set}``, read with the pixel data deferred, e.g. while indexing) spares parsing those
    files' headers again; each is taken out of the dict as it is read, so its pixel bytes are not kept.
    Each problem is one line ``<file>: <problem>`` (e.g. ``truncated: header says N bytes of pixel data, file
    has M``). The float32 buffer of all images must fit :func:`~.limits.max_image_bytes`.
    """
    by_path: dict[str, list[int]] = defaultdict(list)
    for index, frame in enumerate(frames):
        by_path[frame.path].append(index)
    rows, cols = frames[0].shape
    check_image_bytes(frames[0].path, len(frames) * rows * cols * 4,
                      f"{len(frames)} images of {rows} x {cols} pixels (float32)")
    pixels = np.empty((len(frames), rows, cols), dtype=np.float32)
    done = np.zeros(len(frames), dtype=bool)
    problems = []

    def work(item):
        path, indices = item
        try:
            known = datasets.pop(path, None) if datasets is not None else None
            return path, indices, _file_images(path, [frames[i] for i in indices], known), None
        except PixelDataError as error:
            return path, indices, None, str(error)
        except Exception as error:  # noqa: BLE001 - any decoding problem is reported per file
            text = str(error).strip().splitlines()[0] if str(error).strip() else ""
            return path, indices, None, f"pixel data not readable ({type(error).__name__}: {text})"

    with contextlib.ExitStack() as stack:
        if workers is not None and workers > 1:
            results = stack.enter_context(ThreadPoolExecutor(max_workers=workers)).map(work, by_path.items())
        else:
            results = map(work, by_path.items())
        for path, indices, images, problem in results:
            if problem is not None:
                problems.append(problem if problem.startswith(f"{path}: ") else f"{path}: {problem}")
                continue
            for i, image in zip(indices, images):
                pixels[i] = image
                done[i] = True
    ok = np.flatnonzero(done)
    return pixels[ok] if not done.all() else pixels, ok.tolist(), problems
