"""A DICOM Segmentation (SEG, e.g. drawn in OHIF or Slicer) read as ROI masks on its own grid (pure core).

Each segment becomes ``(label, mask[k, j, i], ijk_to_ras)``: the SEG's frames as a regular volume (highdicom),
LPS turned into RAS, axes in the order the rest of VCFDiagnosis uses (``k`` slice, ``j`` row, ``i`` column). The
caller resamples it onto the DWI as any ROI. Fractional segments are thresholded at 0.5.
"""

from __future__ import annotations

import os

import numpy as np

from ..dwi.volume import LPS_TO_RAS
from ..errors import InputError

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


def is_dicom_seg(path: str | os.PathLike) -> bool:
    """Return True if ``path`` is a DICOM file of the Segmentation storage class.

    A file without the DICOM marker ('DICM' at byte 128), which pydicom refuses without ``force``, is answered
    without importing pydicom (0.2-0.4 s in a fresh process: ``run`` asks this of every ROI file).
    """
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            if handle.read(4) != b"DICM":
                return False
    except OSError:
        return False
    import pydicom

    try:
        ds = pydicom.dcmread(os.fspath(path), stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except Exception:  # noqa: BLE001 - not DICOM at all
        return False
    return str(ds.get("SOPClassUID", "")) == SEG_SOP_CLASS


def read_dicom_seg(path: str | os.PathLike) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Return ``[(segment label, mask [k, j, i], ijk_to_ras 4x4)]`` of a DICOM SEG; InputError naming the file."""
    try:
        import highdicom as hd
    except ImportError:
        raise InputError(str(path), "reading a DICOM SEG needs highdicom: pip install 'vcfdiagnosis[dicom]'") from None
    import pydicom

    from ..dwi.limits import check_image_bytes

    try:
        header = pydicom.dcmread(os.fspath(path), stop_before_pixels=True)
        frames, rows, columns = (int(header.get(k) or 1) for k in ("NumberOfFrames", "Rows", "Columns"))
    except Exception as error:  # noqa: BLE001 - any reader failure is this file's problem
        raise InputError(str(path), f"not a usable DICOM Segmentation ({error})") from None
    # the caps every image reader applies, before the frames are unpacked (one byte per voxel)
    check_image_bytes(path, frames * rows * columns, f"{frames} frames of {rows} x {columns}")
    try:
        seg = hd.seg.segread(os.fspath(path))
        numbers = sorted(int(d.SegmentNumber) for d in seg.SegmentSequence)
        labels = {int(d.SegmentNumber): str(d.SegmentLabel) for d in seg.SegmentSequence}
        volume = seg.get_volume(segment_numbers=numbers, combine_segments=False)
    except Exception as error:  # noqa: BLE001 - any reader failure is this file's problem
        raise InputError(str(path), f"not a usable DICOM Segmentation ({error})") from None
    array = np.asarray(volume.array)
    if array.ndim == 3:
        array = array[..., None]
    matrix = (LPS_TO_RAS @ np.asarray(volume.affine, float))[:, [2, 1, 0, 3]]  # (slice, row, col) -> (i, j, k)
    threshold = 0.5 * (array.max() if array.dtype.kind == "f" and array.max() > 1 else 1.0)
    result = []
    for index, number in enumerate(numbers):
        mask = array[..., index] >= threshold if array.dtype.kind == "f" else array[..., index] > 0
        if mask.any():
            result.append((labels[number], mask, matrix))
    if not result:
        raise InputError(str(path), "the Segmentation has no segment with a voxel")
    return result
