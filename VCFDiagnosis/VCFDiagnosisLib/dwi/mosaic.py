"""Siemens mosaic images: many slices tiled into one 2D image (ImageType contains MOSAIC).

* Number of slices: (0019,100A) NumberOfImagesInMosaic, else the CSA header's ``NumberOfImagesInMosaic``.
* Tiles: the mosaic is a square grid of ``ceil(sqrt(n))`` x ``ceil(sqrt(n))`` tiles of
  ``Rows / grid`` x ``Columns / grid`` pixels, filled row by row; slice t is tile t.
* Geometry: ImagePositionPatient of a mosaic is the corner of a virtual image of the full mosaic size
  centred on the first slice, so the first slice's corner is shifted in-plane by half the size difference
  (what dcm2niix and nibabel do). Slice t lies at ``first + t * spacing * n``, where ``n`` is the CSA
  ``SliceNormalVector`` (its sign gives the acquisition order) or, without a CSA header, the cross product
  of the row and column directions (a warning is recorded); spacing is SpacingBetweenSlices, else
  SliceThickness.
"""

from __future__ import annotations

import math

import numpy as np
import pydicom

from .bvalues import first_number
from .csa import CSA_IMAGE_HEADER_TAG, csa_numbers, parse_csa_header

MOSAIC_COUNT_TAG = (0x0019, 0x100A)
#: a mosaic holding more slices than this is refused (real mosaics hold at most a few hundred)
MAX_MOSAIC_SLICES = 1024


def is_mosaic(ds: pydicom.Dataset) -> bool:
    """Return True when the image is a Siemens mosaic (ImageType contains MOSAIC)."""
    return "MOSAIC" in {str(v).strip().upper() for v in ds.get("ImageType", [])}


def mosaic_slice_count(ds: pydicom.Dataset) -> int | None:
    """Return the number of slices tiled in a mosaic, or None when no tag says it; ValueError if implausible."""
    value = None
    if MOSAIC_COUNT_TAG in ds:
        element = ds[MOSAIC_COUNT_TAG]
        value = first_number(element.value, "<H" if element.VR in ("UN", "OB") else None)
    if not value:
        found = csa_numbers(csa_header(ds), "NumberOfImagesInMosaic")
        value = found[0] if found else None
    if value is None:
        return None
    if not (math.isfinite(value) and 1 <= value <= MAX_MOSAIC_SLICES and value == int(value)):
        raise ValueError(f"NumberOfImagesInMosaic = {value:g} is not a whole number from 1 to {MAX_MOSAIC_SLICES}")
    return int(value)


def csa_header(ds: pydicom.Dataset) -> dict[str, list[str]]:
    """Return the parsed CSA image header of ``ds`` (empty dict without one)."""
    if CSA_IMAGE_HEADER_TAG not in ds:
        return {}
    value = ds[CSA_IMAGE_HEADER_TAG].value
    return parse_csa_header(value if isinstance(value, bytes) else b"")


def mosaic_tile_shape(rows: int, columns: int, n_slices: int) -> tuple[int, int, int]:
    """Return (grid, tile_rows, tile_columns) for a ``rows`` x ``columns`` mosaic holding ``n_slices``."""
    grid = math.ceil(math.sqrt(n_slices))
    if grid < 1 or rows % grid or columns % grid:
        raise ValueError(f"a {rows} x {columns} mosaic cannot hold {n_slices} slices in a {grid} x {grid} grid")
    return grid, rows // grid, columns // grid


def mosaic_slice_positions(ds: pydicom.Dataset, n_slices: int, source: str = "mosaic") -> tuple[np.ndarray, list[str]]:
    """Return the LPS corner position (mm) of every slice of a mosaic [n_slices, 3], and warnings.

    ``source`` names the file in warnings.
    """
    warnings = []
    _, tile_rows, tile_cols = mosaic_tile_shape(int(ds.Rows), int(ds.Columns), n_slices)
    orientation = np.array([float(v) for v in ds.ImageOrientationPatient])
    row_dir, col_dir = orientation[:3], orientation[3:]
    row_spacing, col_spacing = (float(v) for v in ds.PixelSpacing)
    corner = np.array([float(v) for v in ds.ImagePositionPatient])
    first = (corner + row_dir * col_spacing * (int(ds.Columns) - tile_cols) / 2.0
             + col_dir * row_spacing * (int(ds.Rows) - tile_rows) / 2.0)
    normal = np.array(csa_numbers(csa_header(ds), "SliceNormalVector"))
    if normal.size != 3 or not np.linalg.norm(normal):
        normal = np.cross(row_dir, col_dir)
        warnings.append(f"{source}: no CSA SliceNormalVector; slices of the mosaic "
                        "assumed in ascending order along the row x column normal")
    normal = normal / np.linalg.norm(normal)
    spacing = first_number(ds.get("SpacingBetweenSlices")) or first_number(ds.get("SliceThickness"))
    if not spacing:
        raise ValueError("mosaic without SpacingBetweenSlices or SliceThickness: slice positions unknown")
    steps = np.arange(n_slices, dtype=float)[:, None] * spacing
    return first[None, :] + steps * normal[None, :], warnings


def unpack_mosaic(pixels: np.ndarray, n_slices: int) -> np.ndarray:
    """Return the tiles of a 2D mosaic as [n_slices, tile_rows, tile_columns] (row-major tile order)."""
    rows, cols = pixels.shape
    grid, tile_rows, tile_cols = mosaic_tile_shape(rows, cols, n_slices)
    tiles = pixels.reshape(grid, tile_rows, grid, tile_cols).transpose(0, 2, 1, 3)
    return tiles.reshape(grid * grid, tile_rows, tile_cols)[:n_slices]
