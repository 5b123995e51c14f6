"""numpy arrays of MRML volumes and segments, and back, through VTK's own modules: layer 2.

These do what ``slicer.util``'s array helpers (``arrayFromVolume``, ``updateVolumeFromArray``,
``addVolumeFromArray``, ``arrayFromSegmentBinaryLabelmap``, ``updateSegmentBinaryLabelmapFromArray``,
``arrayFromVTKMatrix``) do, with the same notifications, but import only the ``vtkmodules`` they use. Slicer's
helpers import VTK's umbrella module ``vtk``, which loads every VTK library (rendering, charts, views, ...): about
0.4 s in a fresh headless process, the cost of every ``vcfdiagnosis`` command that touches the scene. Inside the
Slicer application the umbrella module is loaded anyway; there these are simply equivalent.
``Testing/test_mrml_arrays.py`` checks each against its ``slicer.util`` counterpart.

Arrays are indexed ``[k, j, i]`` (``[k, j, i, component]`` for vector volumes), as ``slicer.util`` returns them.
"""

from __future__ import annotations

import numpy as np
import slicer
from vtkmodules.util.numpy_support import get_vtk_array_type, vtk_to_numpy
from vtkmodules.vtkCommonCore import VTK_LONG_LONG, vtkStringArray
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonMath import vtkMatrix4x4

#: Node classes whose image is one scalar per voxel, and those with several components per voxel.
SCALAR_VOLUME_CLASSES = ("vtkMRMLScalarVolumeNode", "vtkMRMLLabelMapVolumeNode")
VECTOR_VOLUME_CLASSES = ("vtkMRMLVectorVolumeNode", "vtkMRMLMultiVolumeNode", "vtkMRMLDiffusionWeightedVolumeNode")


def vtk_matrix(array: np.ndarray) -> vtkMatrix4x4:
    """Return a vtkMatrix4x4 holding the 4x4 numpy ``array``."""
    matrix = vtkMatrix4x4()
    matrix.DeepCopy(np.asarray(array, dtype=float).reshape(16))
    return matrix


def array_from_vtk_matrix(matrix: vtkMatrix4x4) -> np.ndarray:
    """Return the elements of a vtkMatrix4x4 as a (4, 4) float array (a copy)."""
    return np.array(matrix.GetData(), dtype=float).reshape(4, 4)


def array_from_volume(volume_node) -> np.ndarray:
    """Return a writable view of a volume node's voxels: ``[k, j, i]`` (scalar, label map) or ``[k, j, i, c]``
    (vector volumes with several components). Raises ValueError for other node classes or a node without image."""
    image = volume_node.GetImageData()
    if image is None or image.GetPointData().GetScalars() is None:
        raise ValueError(f"volume '{volume_node.GetName()}' has no image data")
    shape = tuple(reversed(image.GetDimensions()))
    class_name = volume_node.GetClassName()
    if class_name in VECTOR_VOLUME_CLASSES and image.GetNumberOfScalarComponents() > 1:
        shape = shape + (image.GetNumberOfScalarComponents(),)
    elif class_name not in SCALAR_VOLUME_CLASSES + VECTOR_VOLUME_CLASSES:
        raise ValueError(f"volume '{volume_node.GetName()}': unsupported volume class {class_name}")
    return vtk_to_numpy(image.GetPointData().GetScalars()).reshape(shape)


def update_volume_from_array(volume_node, array: np.ndarray) -> None:
    """Replace a volume node's voxels (and dimensions) with a copy of ``array`` (``[k, j, i]`` or ``[k, j, i, c]``)
    and notify the scene as Slicer does (storable modified, image data modified). Raises ValueError for other
    shapes and for 64-bit integers (Slicer does not display them)."""
    array = np.asarray(array)
    if array.ndim == 3:
        dimensions, components = tuple(reversed(array.shape)), 1
    elif array.ndim == 4:
        dimensions, components = tuple(reversed(array.shape[:3])), array.shape[3]
    else:
        raise ValueError(f"a volume array must be [k, j, i] or [k, j, i, component], got shape {array.shape}")
    scalar_type = get_vtk_array_type(array.dtype)
    if scalar_type == VTK_LONG_LONG:
        raise ValueError("a volume array of 64-bit integers is not supported")
    image = volume_node.GetImageData()
    if image is None:
        image = vtkImageData()
        volume_node.SetAndObserveImageData(image)
    image.SetDimensions(dimensions)
    image.AllocateScalars(scalar_type, components)
    vtk_to_numpy(image.GetPointData().GetScalars()).reshape(array.shape)[:] = array
    volume_node.StorableModified()
    volume_node.Modified()
    volume_node.InvokeEvent(slicer.vtkMRMLVolumeNode.ImageDataModifiedEvent, volume_node)


def add_volume_from_array(array: np.ndarray, matrix_ijk_to_ras: np.ndarray | None = None, name: str = "",
                          node_class: str = "vtkMRMLScalarVolumeNode", default_display: bool = True):
    """Return a new volume node of ``node_class`` in the scene holding a copy of ``array`` (``[k, j, i]``) on the
    grid ``matrix_ijk_to_ras`` (4x4; None: identity), with its default display nodes (``default_display`` False:
    none, e.g. a grid never shown, or a display the caller sets up itself)."""
    node = slicer.mrmlScene.AddNewNodeByClass(node_class, name)
    if matrix_ijk_to_ras is not None:
        node.SetIJKToRASMatrix(vtk_matrix(matrix_ijk_to_ras))
    update_volume_from_array(node, array)
    if default_display:
        node.CreateDefaultDisplayNodes()
    return node


def _segment_ids(segment_id: str) -> vtkStringArray:
    ids = vtkStringArray()
    ids.InsertNextValue(segment_id)
    return ids


def array_from_segment_binary_labelmap(segmentation_node, segment_id: str, reference_volume_node) -> np.ndarray:
    """Return a copy of a segment's binary label map on the grid of ``reference_volume_node`` (``[k, j, i]``,
    the segment's label value inside, 0 outside), leaving no node behind. Raises ValueError for a segment the
    segmentation does not have, RuntimeError if the segment cannot be exported."""
    if segmentation_node.GetSegmentation().GetSegment(segment_id) is None:
        raise ValueError(f"segmentation '{segmentation_node.GetName()}' has no segment '{segment_id}'")
    labelmap = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode", "__temp__")
    try:
        if not slicer.modules.segmentations.logic().ExportSegmentsToLabelmapNode(
                segmentation_node, _segment_ids(segment_id), labelmap, reference_volume_node):
            raise RuntimeError(f"segment '{segment_id}' of '{segmentation_node.GetName()}' could not be exported")
        return array_from_volume(labelmap).copy()
    finally:  # the temporary node, its colour table (made by the export) and its display node (Slicer's leaves it)
        display = labelmap.GetDisplayNode()
        if display is not None:
            if display.GetColorNode() is not None:
                slicer.mrmlScene.RemoveNode(display.GetColorNode())
            slicer.mrmlScene.RemoveNode(display)
        slicer.mrmlScene.RemoveNode(labelmap)


def update_segment_binary_labelmap_from_array(array: np.ndarray, segmentation_node, segment_id: str,
                                              reference_volume_node) -> None:
    """Set a segment's binary label map from ``array`` (``[k, j, i]`` on the grid of ``reference_volume_node``;
    non-zero is inside). Raises RuntimeError if the segment cannot be imported."""
    labelmap = slicer.modules.volumes.logic().CreateAndAddLabelVolume(reference_volume_node, "__temp__")
    try:
        update_volume_from_array(labelmap, (np.asarray(array) > 0).astype(np.uint8))
        if not slicer.modules.segmentations.logic().ImportLabelmapToSegmentationNode(
                labelmap, segmentation_node, _segment_ids(segment_id)):
            raise RuntimeError(f"segment '{segment_id}' of '{segmentation_node.GetName()}' could not be imported")
    finally:
        slicer.mrmlScene.RemoveNode(labelmap)
