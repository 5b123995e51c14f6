"""Read the pixels of indexed DICOM images: each file read once, rescaled to signal, float32.

Classic files give one image, enhanced files one per frame, mosaics one per tile. Files that cannot be
decoded (truncated pixel data, unsupported compression) are reported, not fatal: the caller decides
whether the images that remain still make a complete series. ``.gz`` files (gzip copies of DICOM
files, as some public test sets store them) are read transparently.
"""

from __future__ import annotations

import gzip
import io
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pydicom

from .frames import DicomFrame
from .mosaic import unpack_mosaic


def read_dataset(path: str, **kwargs) -> pydicom.Dataset:
    """Return ``pydicom.dcmread(path, **kwargs)``; ``*.gz`` files are decompressed in memory first.

    A file without the 128-byte preamble is retried with ``force=True`` and accepted only when it has a
    SOP Class UID (so text or image files are not mistaken for DICOM).
    """
    source = path
    if path.endswith(".gz"):
        with gzip.open(path) as stream:
            source = io.BytesIO(stream.read())
    try:
        return pydicom.dcmread(source, **kwargs)
    except pydicom.errors.InvalidDicomError:
        if isinstance(source, io.BytesIO):
            source.seek(0)
        ds = pydicom.dcmread(source, force=True, **kwargs)
        if "SOPClassUID" not in ds:
            raise
        return ds


def _file_images(path: str, frames: list[DicomFrame]) -> list[np.ndarray]:
    """Return the rescaled float32 pixels of ``frames``, all held by the file ``path``."""
    ds = read_dataset(path)
    pixels = ds.pixel_array
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
        slope, intercept = frame.rescale
        out.append(image.astype(np.float32) * np.float32(slope) + np.float32(intercept))
    return out


def read_frame_pixels(frames: list[DicomFrame], workers: int | None = None) -> tuple[np.ndarray, list[int], list[str]]:
    """Return (pixels [n_ok, rows, cols] float32, indices of ``frames`` read, problems per failed file).

    All frames must share one matrix size. Each file is read once (a thread pool overlaps file access).
    """
    by_path: dict[str, list[int]] = defaultdict(list)
    for index, frame in enumerate(frames):
        by_path[frame.path].append(index)
    rows, cols = frames[0].shape
    pixels = np.empty((len(frames), rows, cols), dtype=np.float32)
    done = np.zeros(len(frames), dtype=bool)
    problems = []

    def work(item):
        path, indices = item
        try:
            return path, indices, _file_images(path, [frames[i] for i in indices]), None
        except Exception as error:  # noqa: BLE001 - any decoding problem is reported per file
            return path, indices, None, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"

    workers = workers or min(4, (os.cpu_count() or 1) + 1)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for path, indices, images, problem in pool.map(work, by_path.items()):
            if problem is not None:
                problems.append(f"{path}: pixel data not readable ({problem})")
                continue
            for i, image in zip(indices, images):
                pixels[i] = image
                done[i] = True
    ok = np.flatnonzero(done)
    return pixels[ok] if not done.all() else pixels, ok.tolist(), problems
