"""One case of a batch in a shared MRML scene, kept apart from every other case: layer 2.

A batch processes its cases one after another in one scene (a worker process's, or Slicer's in the console).
:func:`case_scope` makes each case's scene bundle (``.mrb``) hold that case only, and leaves the scene as it found
it: the nodes that were in the scene before the case are not saved with it (``SaveWithScene`` off while the case
runs, restored after), and every node and subject-hierarchy item the case added is removed afterwards: sequence
browsers first, since a browser re-creates a proxy node removed before it (a proxy DWI volume, with its patient's
images, would otherwise stay behind and enter the next case's bundle).

The subject hierarchy writes the *names* of the items of unsaved nodes into a bundle, so a batch in Slicer's
console refuses a scene that holds other data (:func:`data_in_scene`), rather than carry a patient's name into
another patient's bundle.
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
    the removal is repeated while nodes remain (removing one node may bring another).
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


@contextlib.contextmanager
def case_scope() -> Iterator[None]:
    """Process one case inside: its scene bundle holds only what is added inside, and everything added inside
    (nodes, subject-hierarchy folders) is removed on leaving, whatever happened."""
    scene = slicer.mrmlScene
    before_nodes, before_items = _node_ids(), _item_ids()
    hidden = [node for node in (scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes()))
              if node is not None and not node.GetSingletonTag() and node.GetSaveWithScene()
              and not node.IsA("vtkMRMLSubjectHierarchyNode")]  # the hierarchy itself is the case's too
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


def data_in_scene() -> list[str]:
    """Return the names of the data the scene holds that a batch did not put there (loaded volumes, segmentations,
    tables, folders...): what would enter every case's bundle by name. Empty for a new scene."""
    scene = slicer.mrmlScene
    names = []
    for index in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(index)
        if (node is not None and node.IsA("vtkMRMLStorableNode") and not node.GetSingletonTag()
                and node.GetSaveWithScene() and node.GetAttribute(BATCH_RESULTS_ATTRIBUTE) is None):
            names.append(node.GetName() or node.GetID())
    sh = scene.GetSubjectHierarchyNode()
    names += [sh.GetItemName(item) for item in sorted(_item_ids()) if sh.GetItemDataNode(item) is None]
    return names
