"""MRML glue: core objects (DwiVolume, label arrays, tables) to Slicer nodes and back.

Uses only ``slicer`` MRML classes, module logics and the array helpers of :mod:`.arrays` (``slicer.util``'s,
without VTK's umbrella module), never qt or ``slicer.app``, so it runs inside Slicer and headless (see
:mod:`.headless`). Volume arrays are indexed ``[k, j, i]`` as ``slicer.util.arrayFromVolume`` returns them;
geometry is the 4x4 IJK-to-RAS matrix.
"""

from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import numpy as np
import slicer
from vtkmodules.util.numpy_support import numpy_to_vtk
from vtkmodules.vtkCommonCore import vtkIdList, vtkIntArray, vtkStringArray
from vtkmodules.vtkCommonMath import vtkMatrix4x4

from ..dwi.export import exact_integer_voxels
from ..dwi.volume import DwiVolume
from .arrays import (
    add_volume_from_array,
    array_from_segment_binary_labelmap,
    array_from_volume,
    array_from_vtk_matrix,
    update_volume_from_array,
    vtk_matrix,
)

#: Attribute names written on nodes that carry physical quantities.
UNIT_ATTRIBUTE = "VCFDiagnosis.Unit"
QUANTITY_ATTRIBUTE = "VCFDiagnosis.Quantity"
#: The attribute Slicer's MultiVolumeImporter uses for per-frame labels (here: b-values in s/mm2).
FRAME_LABELS_ATTRIBUTE = "MultiVolume.FrameLabels"
#: Sequence attribute: JSON {b label: how the b-image was made} (DwiVolume.metadata["combination"]), read back with it
COMBINATION_ATTRIBUTE = "VCFDiagnosis.combination"
#: The DWI metadata read back from a sequence's ``VCFDiagnosis.DICOM.<key>`` attributes (its source series).
SOURCE_KEYS = ("format", "source", "series_uid", "study_uid", "dicom_layout", "frame_of_reference_uid", "patient_id")


def ijk_to_ras(volume_node) -> np.ndarray:
    """Return the 4x4 IJK-to-RAS matrix of a volume node as a numpy array."""
    matrix = vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return array_from_vtk_matrix(matrix)


def ensure_subject_hierarchy_item(node, parent_item: int | None = None) -> int:
    """Return the subject-hierarchy item of ``node``, creating it under ``parent_item`` if missing.

    Slicer creates items automatically in the application; headless they must be created explicitly.
    """
    sh = slicer.mrmlScene.GetSubjectHierarchyNode()
    item = sh.GetItemByDataNode(node)
    if not item:
        item = sh.CreateItem(parent_item if parent_item else sh.GetSceneItemID(), node)
    elif parent_item:
        sh.SetItemParent(item, parent_item)
    return item


def case_folder_item(case_id: str) -> int:
    """Return the subject-hierarchy folder item named after the case, creating it if needed."""
    sh = slicer.mrmlScene.GetSubjectHierarchyNode()
    children = vtkIdList()
    sh.GetItemChildren(sh.GetSceneItemID(), children)
    for index in range(children.GetNumberOfIds()):
        item = children.GetId(index)
        if sh.GetItemName(item) == case_id and sh.GetItemDataNode(item) is None:  # a folder, not a data node
            return item
    return sh.CreateFolderItem(sh.GetSceneItemID(), case_id)


#: Node attributes that tie an output node to its inputs, so a repeated Apply updates it instead of adding one.
OUTPUT_OF_ATTRIBUTE = "VCFDiagnosis.OutputOf"
OUTPUT_ROLE_ATTRIBUTE = "VCFDiagnosis.OutputRole"


def mark_output(node, key: str, role: str):
    """Record on ``node`` that it is the ``role`` output (e.g. ``map:D``, ``decay_chart``) of inputs ``key``."""
    node.SetAttribute(OUTPUT_OF_ATTRIBUTE, key)
    node.SetAttribute(OUTPUT_ROLE_ATTRIBUTE, role)
    return node


def outputs_of(key: str) -> dict:
    """Return ``{role: node}`` of the scene's output nodes of inputs ``key`` (see :func:`mark_output`)."""
    scene = slicer.mrmlScene
    found = {}
    for index in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(index)
        if node is not None and node.GetAttribute(OUTPUT_OF_ATTRIBUTE) == key:
            found[node.GetAttribute(OUTPUT_ROLE_ATTRIBUTE)] = node
    return found


def remove_nodes(nodes_to_remove) -> None:
    """Remove nodes (and their display and storage nodes) from the scene."""
    scene = slicer.mrmlScene
    for node in nodes_to_remove:
        for method in ("GetDisplayNode", "GetStorageNode"):
            helper = getattr(node, method, lambda: None)()
            if helper is not None:
                scene.RemoveNode(helper)
        scene.RemoveNode(node)


def add_scalar_volume(array_kji: np.ndarray, matrix_ijk_to_ras: np.ndarray, name: str, *,
                      label: bool = False, unit: str | None = None, quantity: str | None = None,
                      window_min_max: tuple[float, float] | None = None):
    """Return a new scalar (or label map) volume node holding ``array_kji`` on the given grid.

    With ``window_min_max`` (in the volume's unit) the display window is fixed there, set before the display node
    sees the voxels, so the automatic window (a histogram of every voxel) is never computed.
    """
    fixed = window_min_max is not None and not label
    node = add_volume_from_array(np.ascontiguousarray(array_kji), matrix_ijk_to_ras, name,
                                 "vtkMRMLLabelMapVolumeNode" if label else "vtkMRMLScalarVolumeNode",
                                 default_display=not fixed)
    if fixed:  # vtkMRMLScalarVolumeNode::CreateDefaultDisplayNodes, with the window fixed first
        display = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeDisplayNode")
        if not display.GetColorNodeID():  # a scene default display node may name one
            display.SetDefaultColorMap()
        display.SetAutoWindowLevel(False)
        display.SetWindowLevelMinMax(*window_min_max)
        node.SetAndObserveDisplayNodeID(display.GetID())
    if unit:
        node.SetAttribute(UNIT_ATTRIBUTE, unit)
    if quantity:
        node.SetAttribute(QUANTITY_ATTRIBUTE, quantity)
    node.CreateDefaultDisplayNodes()
    return node


def add_dwi_sequence(dwi: DwiVolume, name: str):
    """Return (sequence node, browser node) holding one volume per b-value, indexed by b (s/mm2).

    The sequence also carries ``MultiVolume.FrameLabels`` (the b-values) as Slicer's MultiVolumeImporter
    does, so Slicer's own modules can browse it; the browser's proxy node shows the current b-image. The volumes
    keep the scanner's integer type when it holds every value exactly (as Slicer's DICOM import does), else
    float32 (:func:`VCFDiagnosisLib.dwi.export.exact_integer_voxels`).
    """
    scene = slicer.mrmlScene
    sequence = scene.AddNewNodeByClass("vtkMRMLSequenceNode", name)
    sequence.SetIndexName("b-value")
    sequence.SetIndexUnit("s/mm2")
    sequence.SetIndexType(sequence.NumericIndex)
    matrix = vtk_matrix(dwi.ijk_to_ras)
    # the scanner's integer type when it holds the values exactly (half the memory and scene file of float32)
    voxels = exact_integer_voxels(dwi.data, dwi.metadata.get("stored_pixel_type"))
    voxels = dwi.data if voxels is None else voxels
    for b, volume in zip(dwi.bvalues_s_mm2, voxels):
        frame = slicer.vtkMRMLScalarVolumeNode()
        frame.SetIJKToRASMatrix(matrix)
        update_volume_from_array(frame, volume)
        sequence.SetDataNodeAtValue(frame, f"{b:g}")
    labels = ",".join(f"{b:g}" for b in dwi.bvalues_s_mm2)
    sequence.SetAttribute(FRAME_LABELS_ATTRIBUTE, labels)
    sequence.SetAttribute("MultiVolume.FrameIdentifyingDICOMTagName", "DiffusionBValue")
    sequence.SetAttribute("MultiVolume.FrameIdentifyingDICOMTagUnits", "s/mm2")
    for key, value in dwi.metadata.items():
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            sequence.SetAttribute(f"VCFDiagnosis.DICOM.{key}", str(value))
    if isinstance(dwi.metadata.get("combination"), dict):  # how each b-image was made: the noise floor needs it
        sequence.SetAttribute(COMBINATION_ATTRIBUTE, json.dumps(dwi.metadata["combination"]))
    browser = scene.AddNewNodeByClass("vtkMRMLSequenceBrowserNode", f"{name} browser")
    browser.SetAndObserveMasterSequenceNodeID(sequence.GetID())
    slicer.modules.sequences.logic().UpdateProxyNodesFromSequences(browser)
    proxy = browser.GetProxyNode(sequence)
    if proxy is not None:
        proxy.CreateDefaultDisplayNodes()
        proxy.SetAttribute(FRAME_LABELS_ATTRIBUTE, labels)
    return sequence, browser


def bvalues_of_sequence(sequence) -> list:
    """Return a sequence's b-values (s/mm2) in volume order: ``MultiVolume.FrameLabels``, else the index values."""
    labels = sequence.GetAttribute(FRAME_LABELS_ATTRIBUTE)
    if labels:
        return [float(v) for v in labels.split(",")]
    return [float(sequence.GetNthIndexValue(i)) for i in range(sequence.GetNumberOfDataNodes())]


def grid_of_sequence(sequence) -> tuple[np.ndarray, tuple]:
    """Return (IJK-to-RAS 4x4, shape (k, j, i)) of a volume sequence's first volume, without copying voxels."""
    frame = sequence.GetNthDataNode(0) if sequence.GetNumberOfDataNodes() else None
    if frame is None or not frame.IsA("vtkMRMLScalarVolumeNode") or frame.GetImageData() is None:
        raise ValueError(f"sequence '{sequence.GetName()}' does not hold scalar volumes")
    i, j, k = frame.GetImageData().GetDimensions()
    return ijk_to_ras(frame), (k, j, i)


def dwi_from_sequence(sequence, bvalues_override=None) -> DwiVolume:
    """Return the DwiVolume held by a volume sequence indexed by b-value.

    The b-values come from ``bvalues_override`` (s/mm2, one per volume in sequence order) if given, else
    from ``MultiVolume.FrameLabels`` when present (MultiVolumeImporter sequences, whose index holds frame
    numbers), else from the numeric index values.
    """
    n = sequence.GetNumberOfDataNodes()
    bvalues = [float(v) for v in bvalues_override] if bvalues_override is not None else bvalues_of_sequence(sequence)
    if len(bvalues) != n:
        raise ValueError(f"sequence '{sequence.GetName()}' has {n} volumes but {len(bvalues)} b-values")
    frames = [sequence.GetNthDataNode(i) for i in range(n)]
    if any(not f or not f.IsA("vtkMRMLScalarVolumeNode") for f in frames):
        raise ValueError(f"sequence '{sequence.GetName()}' does not hold scalar volumes")
    data = np.stack([array_from_volume(f).astype(np.float32) for f in frames])
    order = np.argsort(bvalues, kind="stable")
    metadata = {"name": sequence.GetName()}
    for key in SOURCE_KEYS:  # where the images came from: DICOM results derive from them
        value = sequence.GetAttribute(f"VCFDiagnosis.DICOM.{key}")
        if value:
            metadata[key] = value
    combination = sequence.GetAttribute(COMBINATION_ATTRIBUTE)
    if combination:
        try:
            metadata["combination"] = dict(json.loads(combination))
        except (ValueError, TypeError):
            pass  # a hand-edited attribute: how the images were made is unknown (no noise-floor correction)
    return DwiVolume(np.asarray(bvalues)[order], data[order], ijk_to_ras(frames[0]), metadata=metadata)


def dwi_from_dwi_volume_node(node) -> DwiVolume:
    """Return the DwiVolume of a ``vtkMRMLDiffusionWeightedVolumeNode`` (one component per gradient; its
    per-gradient b-values, s/mm2; directions at the same b combined into the trace by geometric mean)."""
    from ..dwi.shells import dwi_from_volumes

    array = array_from_volume(node)  # [k, j, i, gradient]
    n = node.GetNumberOfGradients()
    if array.ndim != 4 or array.shape[-1] != n:
        raise ValueError(f"DWI node '{node.GetName()}' has {n} gradients but image data of shape {array.shape}")
    bvalues = [node.GetBValue(i) for i in range(n)]
    return dwi_from_volumes(bvalues, np.moveaxis(array, -1, 0), ijk_to_ras(node), {"name": node.GetName()})


def dwi_from_scalar_volumes(volume_nodes: list, bvalues) -> DwiVolume:
    """Return the DwiVolume of scalar volume nodes on one grid with their b-values (s/mm2, one per node)."""
    from ..dwi.shells import dwi_from_volumes

    if len(volume_nodes) != len(bvalues):
        raise ValueError(f"{len(bvalues)} b-values given for {len(volume_nodes)} volumes")
    matrix = ijk_to_ras(volume_nodes[0])
    arrays = [array_from_volume(v) for v in volume_nodes]
    for node, array in zip(volume_nodes, arrays):
        if array.shape != arrays[0].shape or not np.allclose(ijk_to_ras(node), matrix, atol=1e-4):
            raise ValueError(f"volume '{node.GetName()}' is not on the grid of '{volume_nodes[0].GetName()}'")
    return dwi_from_volumes(bvalues, np.stack(arrays), matrix, {"name": volume_nodes[0].GetName()})


def read_segmentation_file(path: str, name: str | None = None):
    """Return a segmentation node read from a ``.seg.nrrd`` file (Slicer's segmentation storage node)."""
    scene = slicer.mrmlScene
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name or "ROI")
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(path))
    if not storage.ReadData(node):
        scene.RemoveNode(node)
        scene.RemoveNode(storage)
        raise OSError(f"{path}: not readable as a Slicer segmentation")
    node.SetAndObserveStorageNodeID(storage.GetID())
    node.CreateDefaultDisplayNodes()
    return node


def segmentation_from_label_file(path: str, name: str | None = None):
    """Return a segmentation node with one segment per label value of a label-map file (NIfTI, NRRD)."""
    volumes_logic = slicer.modules.volumes.logic()
    label_node = volumes_logic.AddArchetypeVolume(str(path), "__vcfdiagnosis_label__", 1)  # 1 = label map
    if label_node is None:
        raise OSError(f"{path}: not readable as a label map")
    try:
        node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", name or "ROI")
        if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(label_node, node):
            slicer.mrmlScene.RemoveNode(node)
            raise OSError(f"{path}: label map could not be converted to segments")
        segmentation = node.GetSegmentation()
        stem = Path(path).name.split(".")[0].removesuffix("_label") or "ROI"  # lesion_label.nii.gz -> lesion
        count = segmentation.GetNumberOfSegments()
        for index in range(count):
            segmentation.GetNthSegment(index).SetName(stem if count == 1 else f"{stem} {index + 1}")
        node.CreateDefaultDisplayNodes()
        return node
    finally:
        slicer.mrmlScene.RemoveNode(label_node)


def segmentation_from_dicom_seg(path: str, name: str | None = None):
    """Return a segmentation node with one segment per segment of a DICOM SEG file (on the SEG's own grid)."""
    from ..dicomout.seg_in import read_dicom_seg

    segments = read_dicom_seg(path)
    node = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", name or "ROI")
    for label, mask, matrix in segments:
        label_node = add_scalar_volume(mask.astype(np.uint8), matrix, "__vcfdiagnosis_seg__", label=True)
        try:
            before = node.GetSegmentation().GetNumberOfSegments()
            if not slicer.vtkSlicerSegmentationsModuleLogic.ImportLabelmapToSegmentationNode(label_node, node):
                raise OSError(f"{path}: segment '{label}' could not be converted")
            node.GetSegmentation().GetNthSegment(before).SetName(label)
        finally:
            remove_nodes([label_node])
    node.CreateDefaultDisplayNodes()
    return node


def add_table_column(table, name: str, values, kind: str = "double", unit: str = "", description: str = ""):
    """Append a column to a table node: ``kind`` ``double`` (None -> NaN), ``integer`` (None/NaN -> -1) or
    ``string`` (None -> ''); the unit and description go to the column's properties."""
    if kind == "double":
        array = numpy_to_vtk(np.array([np.nan if v is None else v for v in values], dtype=float), deep=True)
    else:
        array = vtkIntArray() if kind == "integer" else vtkStringArray()
        for value in values:
            if kind == "integer":
                array.InsertNextValue(-1 if value is None or math.isnan(value) else int(value))
            else:
                array.InsertNextValue("" if value is None else str(value))
    array.SetName(name)
    table.AddColumn(array)
    if unit:
        table.SetColumnUnitLabel(name, unit)
    if description:
        table.SetColumnDescription(name, description)


def add_plot_series(chart, table, name: str, x_column: str, y_column: str, *, markers: bool = False,
                    line: bool = True, dashed: bool = False):
    """Add a scatter-type plot series (x and y columns of ``table``) to ``chart``; return the series node."""
    series = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLPlotSeriesNode", name)
    series.SetAndObserveTableNodeID(table.GetID())
    series.SetXColumnName(x_column)
    series.SetYColumnName(y_column)
    series.SetPlotType(series.PlotTypeScatter)
    if not markers:
        series.SetMarkerStyle(series.MarkerStyleNone)
    if not line:
        series.SetLineStyle(series.LineStyleNone)
    elif dashed:
        series.SetLineStyle(series.LineStyleDash)
    series.SetUniqueColor()
    chart.AddAndObservePlotSeriesNodeID(series.GetID())
    return series


def add_table(name: str, columns: list[tuple[str, str, str]], rows: list[dict]):
    """Return a new table node with typed columns and one row per dict.

    ``columns`` lists ``(name, kind, unit)`` with kind ``"string"`` or ``"double"``; the unit is set on
    the column's properties (empty string for none). Missing values are empty strings or NaN.
    """
    table = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", name)
    for column, kind, unit in columns:
        add_table_column(table, column, [row.get(column) for row in rows], kind, unit)
    return table


#: How each map (IVIM, water-fat) is named, labelled and displayed: file stem -> (label, unit, window min, window max).
#: A None window means automatic window/level (S0 is in arbitrary scanner units).
MAP_DISPLAY = {
    "S0": ("S0", "a.u.", None, None),
    "D": ("D", "mm2/s", 0.0, 3.0e-3),
    "Dstar": ("D*", "mm2/s", 0.0, 0.1),
    "f": ("f", "fraction", 0.0, 0.5),
    "ADC": ("ADC", "mm2/s", 0.0, 3.0e-3),
    "R2": ("R2", "fraction", 0.0, 1.0),
    "status": ("fit status", "code", None, None),
    "PDFF": ("PDFF", "percent", 0.0, 100.0),
    "R2star": ("R2*", "1/s", 0.0, 300.0),
    "water": ("water", "a.u.", None, None),
    "fat": ("fat", "a.u.", None, None),
    "field_map": ("field map", "Hz", -150.0, 150.0),
    "fat_status": ("water-fat status", "code", None, None),
}
#: Status label maps (status codes, shown with a colour table named after them): stem -> colour table name.
STATUS_MAPS = {"status": "VCFDiagnosis fit status", "fat_status": "VCFDiagnosis water-fat status"}


def status_color_table(descriptions: dict, name: str = "VCFDiagnosis fit status"):
    """Return the colour table naming each fit-status code (reused if already in the scene)."""
    scene = slicer.mrmlScene
    existing = scene.GetFirstNode(name, "vtkMRMLColorTableNode")
    if existing:
        return existing
    colors = {0: (0.2, 0.7, 0.3), 1: (0.0, 0.0, 0.0), 2: (0.95, 0.75, 0.1), 3: (0.9, 0.4, 0.1),
              4: (0.85, 0.1, 0.1)}
    table = scene.AddNewNodeByClass("vtkMRMLColorTableNode", name)
    table.SetTypeToUser()
    table.SetNumberOfColors(max(descriptions) + 1)
    for code, text in descriptions.items():
        r, g, b = colors.get(int(code), (0.5, 0.5, 0.5))
        table.SetColor(int(code), text, r, g, b, 0.0 if int(code) == 1 else 1.0)
    return table


def add_ivim_map_nodes(maps_by_stem: dict, matrix_ijk_to_ras: np.ndarray, series_name: str,
                       status_descriptions: dict, provenance: dict, reuse: dict | None = None) -> dict:
    """Return ``{stem: volume node}``: one scalar volume per map (IVIM on the DWI grid, water-fat on its own; stems
    of :data:`MAP_DISPLAY`), plus a status label map.

    Names read ``<series> D [mm2/s]``; each node carries its unit and quantity as attributes, the fit
    settings in ``provenance`` as ``VCFDiagnosis.<key>`` attributes, and a display window suited to the map.
    A node in ``reuse`` (``{stem: node}``) gets the new voxels and grid instead of a new node being added.
    """
    created = {}
    for stem, array in maps_by_stem.items():
        label, unit, low, high = MAP_DISPLAY[stem]
        is_status = stem in STATUS_MAPS
        values = np.ascontiguousarray(array, dtype=np.uint8 if is_status else np.float32)
        node = (reuse or {}).get(stem)
        if node is None:
            node = add_scalar_volume(values, matrix_ijk_to_ras, f"{series_name} {label} [{unit}]", label=is_status,
                                     unit=unit, quantity=label, window_min_max=None if low is None else (low, high))
        else:
            node.SetIJKToRASMatrix(vtk_matrix(matrix_ijk_to_ras))
            update_volume_from_array(node, values)
        for key, value in provenance.items():
            node.SetAttribute(f"VCFDiagnosis.{key}", str(value))
        display = node.GetDisplayNode()
        if is_status:
            display.SetAndObserveColorNodeID(status_color_table(status_descriptions, STATUS_MAPS[stem]).GetID())
        elif low is not None:
            display.SetAutoWindowLevel(False)
            display.SetWindowLevelMinMax(low, high)
        created[stem] = node
    return created


def segment_mask_on_grid(segmentation, segment_id: str, matrix_ijk_to_ras: np.ndarray,
                         shape_kji: tuple) -> np.ndarray:
    """Return the segment as a boolean ``[k, j, i]`` mask resampled onto the given grid (any source grid)."""
    with grid_volume(matrix_ijk_to_ras, shape_kji) as reference:  # a segment it does not have: ValueError naming both
        return array_from_segment_binary_labelmap(segmentation, segment_id, reference) > 0


@contextlib.contextmanager
def grid_volume(matrix_ijk_to_ras: np.ndarray, shape_kji: tuple):
    """Yield a temporary volume node (zeros, no display) on the given grid, removed from the scene afterwards: the
    reference geometry Slicer's segmentation functions take."""
    reference = add_volume_from_array(np.zeros(shape_kji, np.uint8), matrix_ijk_to_ras, "__vcfdiagnosis_grid__",
                                      default_display=False)
    try:
        yield reference
    finally:
        slicer.mrmlScene.RemoveNode(reference)


def empty_segment_names(segmentation) -> tuple[str, ...]:
    """Return the names of the segments that hold no voxel at all in their own geometry (nothing drawn)."""
    names = []
    seg = segmentation.GetSegmentation()
    for index in range(seg.GetNumberOfSegments()):
        segment_id = seg.GetNthSegmentID(index)
        image = slicer.vtkOrientedImageData()
        slicer.vtkSlicerSegmentationsModuleLogic.GetSegmentBinaryLabelmapRepresentation(segmentation, segment_id,
                                                                                       image)
        extent = image.GetExtent()
        drawn = (all(extent[2 * a] <= extent[2 * a + 1] for a in range(3)) and image.GetPointData().GetScalars()
                 is not None and image.GetScalarRange()[1] > 0)
        if not drawn:
            names.append(seg.GetSegment(segment_id).GetName())
    return tuple(names)


def add_mrs_voxel_roi(center_ras, size_mm, orientation_ras, name: str):
    """Return a markups ROI node showing a spectroscopy voxel: centre (RAS mm), edges (mm), axes (3x3 RAS)."""
    roi = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLMarkupsROINode", name)
    matrix = np.eye(4)
    if orientation_ras is not None:
        axes = np.asarray(orientation_ras, float)
        matrix[:3, :3] = axes / np.linalg.norm(axes, axis=0)
    matrix[:3, 3] = np.asarray(center_ras, float)
    roi.SetAndObserveObjectToNodeMatrix(vtk_matrix(matrix))
    roi.SetSize(*[float(s) for s in size_mm])
    roi.SetAttribute(UNIT_ATTRIBUTE, "mm")
    roi.CreateDefaultDisplayNodes()
    return roi


def add_spectrum_plot(fit, name: str, ppm_range: tuple[float, float] = (0.0, 6.5)):
    """Return (table node, plot chart node) of a water-fat fit: spectrum, fit, residual and components.

    ``fit`` is a :class:`VCFDiagnosisLib.mrs.fit.SpectralFit`. The chart's x axis is chemical shift in
    ppm, drawn from high to low ppm as spectroscopists read it (a descending axis range).
    """
    scene = slicer.mrmlScene
    keep = (fit.ppm >= ppm_range[0]) & (fit.ppm <= ppm_range[1])
    columns = {"ppm": fit.ppm[keep], "spectrum": fit.real_spectrum[keep], "fit": fit.fit_spectrum[keep],
               "residual": fit.residual[keep]}
    columns.update({f"component {k}": np.asarray(v)[keep] for k, v in fit.components.items()})
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", f"{name} spectrum")
    for column, values in columns.items():
        add_table_column(table, column, values, unit="ppm" if column == "ppm" else "")
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", f"{name} spectrum chart")
    chart.SetTitle(f"{name}: spectrum and fit")
    chart.SetXAxisTitle("chemical shift [ppm]")
    chart.SetYAxisTitle("signal [a.u.]")
    chart.SetXAxisRangeAuto(False)
    chart.SetXAxisRange(ppm_range[1], ppm_range[0])
    for column in columns:
        if column != "ppm":
            add_plot_series(chart, table, f"{name} {column}", "ppm", column, dashed=column.startswith("component"))
    return table, chart


def add_results_table(rows: list[dict], name: str, table=None):
    """Return a table node (new, or ``table`` emptied) with one row per ROI and the results columns.

    Each column carries its unit and description (:data:`VCFDiagnosisLib.analysis.results.COLUMNS`).
    """
    from ..analysis.results import COLUMNS

    if table is None:
        table = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", name)
    else:
        table.RemoveAllColumns()
    for column in COLUMNS:
        add_table_column(table, column.name, [row.get(column.name) for row in rows], column.kind, column.unit,
                         column.description)
    known = {c.name for c in COLUMNS}
    for extra in sorted({k for row in rows for k in row} - known):  # e.g. label, reader from a batch manifest
        add_table_column(table, extra, [row.get(extra) for row in rows], "string")
    return table


def write_node(node, path: str, overwrite: bool = False) -> str:
    """Write a storable node (volume, segmentation, table, markups) to ``path`` atomically; return the path.

    The file format follows the extension (``.nrrd``, ``.nii.gz``, ``.seg.nrrd``, ``.mrk.json``, ...), as
    Slicer's storage nodes choose it.
    """
    from ..outputs.atomic import atomic_output

    storage = node.CreateDefaultStorageNode()
    if storage is None:
        raise ValueError(f"node '{node.GetName()}' ({node.GetClassName()}) cannot be written to a file")
    storage.UnRegister(None)  # the Python variable owns the new object (as Slicer's scripts do)
    with atomic_output(path, overwrite) as temporary:
        storage.SetFileName(str(temporary))
        if not storage.WriteData(node):
            raise OSError(f"{path}: writing '{node.GetName()}' failed")
    return str(Path(path).resolve())


def add_decay_plot(curves, name: str, table=None, chart=None):
    """Return (table node, plot chart node) of :class:`~VCFDiagnosisLib.analysis.decay.DecayCurves`: the
    ROI-mean signal per b-value (mean and SD, markers; the mean without the noise floor too when the fit used it)
    and each ROI's IVIM fit curve (line), log signal axis.
    A given ``table`` and ``chart`` are emptied and refilled (a repeated Apply) instead of new ones added."""
    scene = slicer.mrmlScene
    if table is None:
        table = scene.AddNewNodeByClass("vtkMRMLTableNode", f"{name} signal decay")
    else:
        table.RemoveAllColumns()
    if chart is None:
        chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", f"{name} signal decay chart")
    else:
        series = [scene.GetNodeByID(chart.GetNthPlotSeriesNodeID(i)) for i in range(chart.GetNumberOfPlotSeriesNodes())]
        chart.RemoveAllPlotSeriesNodeIDs()
        remove_nodes(s for s in series if s is not None)
    chart.SetTitle(f"{name}: ROI signal decay and IVIM fit")
    chart.SetXAxisTitle("b [s/mm2]")
    chart.SetYAxisTitle("signal [a.u.]")
    curve_b = curves.curve_b_s_mm2
    columns = {"b_s_mm2": curves.bvalues_s_mm2, "fit_b_s_mm2": curve_b}
    for roi in curves.rois:
        columns[f"{roi.roi} mean"] = roi.mean
        columns[f"{roi.roi} sd"] = roi.sd
        columns[f"{roi.roi} fit"] = roi.fit if roi.fit is not None else np.full(curve_b.size, np.nan)
        if roi.floor_free is not None:
            columns[f"{roi.roi} mean without noise floor"] = roi.floor_free
    length = max(len(v) for v in columns.values())
    for column, values in columns.items():
        add_table_column(table, column, np.r_[values, np.full(length - len(values), np.nan)])
    for column in columns:
        if column.endswith((" mean", " mean without noise floor")):
            add_plot_series(chart, table, f"{name} {column}", "b_s_mm2", column, markers=True, line=False)
        elif column.endswith(" fit"):
            add_plot_series(chart, table, f"{name} {column}", "fit_b_s_mm2", column)
    chart.SetYAxisLogScale(True)
    return table, chart
