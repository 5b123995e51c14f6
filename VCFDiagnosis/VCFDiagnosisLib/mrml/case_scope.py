"""One case of a batch in a shared MRML scene, kept apart from every other case: layer 2.

A batch processes its cases one after another in one scene (a worker process's, or Slicer's in the console).
:func:`case_scope` makes each case's scene bundle (``.mrb``) hold that case only, and leaves the scene as it found
it: the nodes that were in the scene before the case are not saved with it (``SaveWithScene`` off while the case
runs, restored after), and every node and subject-hierarchy item the case added is removed afterwards: sequence
browsers first, since a browser re-creates a proxy node removed before it (a proxy DWI volume, with its patient's
images, would otherwise stay behind and enter the next case's bundle).

The subject hierarchy writes the *names* of the items of unsaved nodes into a bundle, so a case refuses a scene that
holds other data (:func:`data_in_scene`), rather than carry a patient's name into another patient's bundle: a batch
worker's scene is empty, and in Slicer's console ``processBatch`` checks before writing anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import slicer
from vtkmodules.vtkCommonCore import vtkIdList

#: Attribute marking a batch's results table (case ids and results, no images): allowed in the scene of a next batch.
BATCH_RESULTS_ATTRIBUTE = "VCFDiagnosis.BatchResults"
#: How many times the removal is repeated when removing one node brings another (at most; 2 suffice today).
_REMOVAL_PASSES = 4


def _node_ids() -> set[str]:
    scene = slicer.mrmlScene
    return {scene.GetNthNode(i).GetID() for i in range(scene.GetNumberOfNodes())}


def _item_ids() -> set[int]:
    sh = slicer.mrmlScene.GetSubjectHierarchyNode()
    items = vtkIdList()
    sh.GetItemChildren(sh.GetSceneItemID(), items, True)  # recursive
    return {items.GetId(i) for i in range(items.GetNumberOfIds())}


def nodes_added_since(before: set[str]) -> list:
    """Return the scene's nodes whose IDs are not in ``before`` (singletons excluded: shared, never a case's)."""
    scene = slicer.mrmlScene
    added = (scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes()))
    return [node for node in added if node is not None and node.GetID() not in before and not node.GetSingletonTag()]


def remove_added_since(before_nodes: set[str], before_items: set[int]) -> None:
    """Remove every node and subject-hierarchy item added since the scene held ``before_nodes``/``before_items``.

    Sequence browsers go first (removing a proxy node before its browser makes the browser create a new one);
    the removal is repeated while nodes remain (removing one node may bring another). Raises RuntimeError if any
    node or item stays: the next case's bundle would carry it.
    """
    scene = slicer.mrmlScene
    for _ in range(_REMOVAL_PASSES):
        added = nodes_added_since(before_nodes)
        if not added:
            break
        for node in sorted(added, key=lambda n: not n.IsA("vtkMRMLSequenceBrowserNode")):
            if scene.GetNodeByID(node.GetID()) is node:  # not already removed with another one
                scene.RemoveNode(node)
    sh = scene.GetSubjectHierarchyNode()
    items = _item_ids() - before_items  # folders the case made (its nodes' items went with the nodes)
    for item in items:
        if sh.GetItemParent(item) not in items:  # a top folder: its children go with it
            sh.RemoveItem(item, False, True)
    stayed = [node.GetName() or node.GetID() for node in nodes_added_since(before_nodes)]
    stayed += [sh.GetItemName(item) for item in _item_ids() - before_items]
    if stayed:
        raise RuntimeError(f"the case's {', '.join(stayed[:5])} could not be removed from the scene; a next case's "
                           "scene bundle would carry them")


def _hidden_from_bundle(node) -> bool:
    """Return True for a node present before a case that its bundle must not save (data, not shared settings)."""
    return (not node.GetSingletonTag() and node.GetSaveWithScene()
            and not node.IsA("vtkMRMLSubjectHierarchyNode")  # the hierarchy itself is the case's too
            and not node.IsA("vtkMRMLColorNode"))  # colour tables (fit status) hold no patient and are referenced


@contextlib.contextmanager
def case_scope() -> Iterator[None]:
    """Process one case inside: its scene bundle holds only what is added inside, and everything added inside
    (nodes, subject-hierarchy folders) is removed on leaving, whatever happened.

    Raises ValueError on entry if the scene holds other data (:func:`data_in_scene`): the subject hierarchy would
    write its names into the case's bundle.
    """
    scene = slicer.mrmlScene
    scene.GetSubjectHierarchyNode()  # created now if missing, so it is not taken for the case's
    check_no_other_data()
    before_nodes, before_items = _node_ids(), _item_ids()
    hidden = [node for node in (scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes()))
              if node is not None and _hidden_from_bundle(node)]
    for node in hidden:
        node.SetSaveWithScene(False)
    try:
        yield
    finally:
        try:
            remove_added_since(before_nodes, before_items)
        finally:
            for node in hidden:
                node.SetSaveWithScene(True)


def check_no_other_data() -> None:
    """Raise ValueError naming what the scene holds if :func:`data_in_scene` finds anything."""
    held = data_in_scene()
    if held:
        shown = ", ".join(f"'{name}'" for name in held[:3]) + (f" and {len(held) - 3} more" if len(held) > 3 else "")
        raise ValueError(f"the scene holds other data ({shown}): every case's scene bundle would carry their "
                         "names; save it and close the scene (File > Close Scene), then run the batch")


def data_in_scene() -> list[str]:
    """Return the names of the data the scene holds that a batch did not put there (loaded volumes, segmentations,
    tables, charts, folders...): what would enter every case's bundle by name. Empty for a new scene.

    Singleton nodes, colour tables and the results tables of earlier batches (:data:`BATCH_RESULTS_ATTRIBUTE`:
    case ids and results, no images) are not counted.
    """
    scene = slicer.mrmlScene

    def allowed(node) -> bool:
        return (bool(node.GetSingletonTag()) or node.IsA("vtkMRMLColorNode") or node.IsA("vtkMRMLSubjectHierarchyNode")
                or node.GetAttribute(BATCH_RESULTS_ATTRIBUTE) is not None
                or (node.GetHideFromEditors() and not node.IsA("vtkMRMLStorableNode")))  # e.g. module parameters

    names = []
    for index in range(scene.GetNumberOfNodes()):  # data nodes, with or without a subject-hierarchy item
        node = scene.GetNthNode(index)
        if node is not None and node.IsA("vtkMRMLStorableNode") and node.GetSaveWithScene() and not allowed(node):
            names.append(node.GetName() or node.GetID())
    sh = scene.GetSubjectHierarchyNode()
    for item in sorted(_item_ids()):  # every item the hierarchy would write: folders, charts, any other node
        node = sh.GetItemDataNode(item)
        if node is None or (not allowed(node) and not node.IsA("vtkMRMLStorableNode")):
            names.append(sh.GetItemName(item))
    return names
