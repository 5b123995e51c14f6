"""Slicer's MRML layer without the Slicer application: the runtime for the CLI and the test suite.

Inside 3D Slicer nothing here is used: ``slicer.mrmlScene``, ``slicer.modules`` and
``slicer.ScriptedLoadableModule`` come from the application. Headless (a server, the ``vcfdiagnosis``
command, pytest) the PyPI wheel ``slicer-core`` provides Slicer's real C++ MRML scene, storage nodes and
module logics, but no application. :func:`initialize` builds what the application would have built:

* one scene with a ``vtkSlicerApplicationLogic`` (empty slice/view logic collections) and the default
  colour nodes;
* the module logics the extension uses (Volumes, Segmentations, Sequences, Tables, Markups, Plots,
  SubjectHierarchy, Transforms), each attached to the application logic and the scene; attaching the
  Segmentations logic registers the segmentation converter rules;
* remote-IO and data-IO-manager logics with a cache folder, which reading ``.mrb`` bundles needs;
* ``slicer.mrmlScene`` and a minimal ``slicer.modules.<name>.logic()`` lookup of those real logics;
* a minimal ``slicer.ScriptedLoadableModule`` whose Logic and Test base classes behave as Slicer's
  (see ``Base/Python/slicer/ScriptedLoadableModule.py`` in Slicer's source) and whose Module and Widget
  classes raise: they need the Qt application.

The runtime lives for the whole process (logics keep raw pointers to the application logic, so it is
never released). Never install the PyPI package named ``slicer``: it overwrites slicer-core's.
"""

from __future__ import annotations

import logging
import os
import sys
import types
import unittest
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import interrupts_held
from ..outputs.scratch import make_cache_dir

SLICER_CORE_PIN = "slicer-core==5.11.0.6"

#: ``slicer.modules`` name -> slicer-core logic class, for the module logics the extension uses.
MODULE_LOGIC_CLASSES = {
    "volumes": "vtkSlicerVolumesLogic",
    "segmentations": "vtkSlicerSegmentationsModuleLogic",
    "sequences": "vtkSlicerSequencesLogic",
    "tables": "vtkSlicerTablesLogic",
    "markups": "vtkSlicerMarkupsLogic",
    "plots": "vtkSlicerPlotsLogic",
    "subjecthierarchy": "vtkSlicerSubjectHierarchyModuleLogic",
    "transforms": "vtkSlicerTransformLogic",
}


#: ``slicer.modules`` name -> the module name Slicer registers its logic under.
MODULE_TITLES = {"volumes": "Volumes", "segmentations": "Segmentations", "sequences": "Sequences", "tables": "Tables",
                 "markups": "Markups", "plots": "Plots", "subjecthierarchy": "SubjectHierarchy",
                 "transforms": "Transforms"}


class SlicerCoreMissingError(RuntimeError):
    """The ``slicer`` package importable here is not Slicer (or slicer-core)."""


def require_slicer():
    """Return the ``slicer`` module after checking it is Slicer's MRML layer; raise a clear error if not."""
    hint = (
        f"VCFDiagnosis needs Slicer's MRML layer: run it inside 3D Slicer, or `pip install {SLICER_CORE_PIN}` "
        "(never the unrelated PyPI package named 'slicer', which overwrites slicer-core; if it was installed, "
        f"`pip uninstall slicer slicer-core` and reinstall {SLICER_CORE_PIN})."
    )
    try:
        with interrupts_held():  # Ctrl-C inside slicer-core's native import crashes the process
            import slicer
    except ImportError as error:
        raise SlicerCoreMissingError(f"cannot import 'slicer' ({error}). {hint}") from error
    if not hasattr(slicer, "vtkMRMLScene"):
        where = getattr(slicer, "__file__", "?")
        raise SlicerCoreMissingError(f"the 'slicer' package at {where} has no vtkMRMLScene. {hint}")
    return slicer


def in_slicer_application() -> bool:
    """Return True when running inside the 3D Slicer application (``slicer.app`` exists)."""
    slicer = sys.modules.get("slicer")
    return slicer is not None and hasattr(slicer, "app")


@dataclass
class HeadlessRuntime:
    """The objects a headless session keeps alive: scene, application logic, module logics, IO logics."""

    scene: object
    application_logic: object
    module_logics: dict
    remote_io_logic: object
    data_io_manager_logic: object
    cache_dir: str
    _keep_alive: list = field(default_factory=list, repr=False)

    def clear_scene(self) -> None:
        """Remove every node except singletons (colour tables stay), as Slicer's File > Close Scene does."""
        self.scene.Clear(0)


_RUNTIME: HeadlessRuntime | None = None
_RETIRED: list[HeadlessRuntime] = []  # runtimes replaced by adopt_scene/activate, kept alive


class _ModuleHandle:
    """What ``slicer.modules.<name>`` offers headless: the module's real logic object."""

    def __init__(self, name: str, logic) -> None:
        self.name = name
        self._logic = logic

    def logic(self):
        """Return the module logic (a slicer-core object)."""
        return self._logic


def attach_io_logics(scene, application_logic=None, cache_dir: str | None = None) -> tuple:
    """Attach remote-IO and data-IO-manager logics to ``scene`` (needed to read ``.mrb`` bundles).

    Returns ``(remote_io_logic, data_io_manager_logic)``; keep them alive as long as the scene.
    """
    slicer = require_slicer()
    remote_io = slicer.vtkMRMLRemoteIOLogic()
    data_io = slicer.vtkDataIOManagerLogic()
    if application_logic is not None:
        data_io.SetMRMLApplicationLogic(application_logic)
    data_io.SetAndObserveDataIOManager(remote_io.GetDataIOManager())
    remote_io.SetMRMLScene(scene)
    remote_io.AddDataIOToScene()
    if cache_dir is None:
        cache_dir = make_cache_dir()
    remote_io.GetCacheManager().SetRemoteCacheDirectory(cache_dir)
    return remote_io, data_io


def silence_vtk() -> None:
    """Keep VTK's and MRML's messages (warnings, and the informational text MRML prints while zipping a bundle)
    off the terminal: the commands report problems as statuses and one-line messages instead."""
    from vtkmodules.vtkCommonCore import vtkObject, vtkOutputWindow

    vtkObject.GlobalWarningDisplayOff()
    vtkOutputWindow.GetInstance().SetDisplayModeToNever()


def initialize(cache_dir: str | None = None, quiet: bool | None = None) -> HeadlessRuntime:
    """Return the process-wide headless runtime, building it on first call (idempotent).

    A cache folder made here (no ``cache_dir`` given) is removed when the process exits. With ``quiet`` (default:
    the ``VCFDIAGNOSIS_QUIET_VTK`` environment variable, which the CLI sets) VTK's warnings are not printed: the
    commands report problems as statuses and messages. Inside the Slicer application this raises: there the
    application's own scene and logics are used.
    """
    global _RUNTIME
    if _RUNTIME is None:
        with interrupts_held():  # native module logics are being built: Ctrl-C waits until they are
            _RUNTIME = _build_runtime(cache_dir, quiet)
    return _RUNTIME


def adopt_scene(scene, application_logic, cache_dir: str | None = None) -> HeadlessRuntime:
    """Make another application's scene the Logic's scene (e.g. trame-slicer's ``SlicerApp`` in the web station).

    The module logics ``application_logic`` already holds (registered under Slicer's module names) are reused;
    the missing ones are created and attached as :func:`initialize` does. ``slicer.mrmlScene`` and
    ``slicer.modules`` then point at this scene, and the returned runtime is the current one. An earlier runtime
    is kept alive (its logics hold raw pointers) and can be made current again with :func:`activate`.
    """
    require_slicer()
    if in_slicer_application():
        raise RuntimeError("adopt_scene() is for use outside 3D Slicer; inside Slicer use slicer.mrmlScene")
    with interrupts_held():
        logics = _attach_module_logics(scene, application_logic, reuse_registered=True)
        remote_io, data_io = attach_io_logics(scene, application_logic, cache_dir)
        runtime = HeadlessRuntime(scene, application_logic, logics, remote_io, data_io,
                                  remote_io.GetCacheManager().GetRemoteCacheDirectory())
    activate(runtime)
    install_scripted_module_base()
    return runtime


def activate(runtime: HeadlessRuntime) -> HeadlessRuntime | None:
    """Make ``runtime`` current (``slicer.mrmlScene``, ``slicer.modules``); return the one it replaces (kept
    alive in ``_RETIRED``: its logics hold raw pointers)."""
    global _RUNTIME
    slicer = require_slicer()
    previous = _RUNTIME
    if previous is not None and previous is not runtime and previous not in _RETIRED:
        _RETIRED.append(previous)
    _RUNTIME = runtime
    slicer.mrmlScene = runtime.scene
    slicer.modules = types.SimpleNamespace(**{n: _ModuleHandle(n, lg) for n, lg in runtime.module_logics.items()})
    return previous


def _attach_module_logics(scene, app, reuse_registered: bool = False) -> dict:
    """Return ``{name: logic}`` of :data:`MODULE_LOGIC_CLASSES`, each attached to ``app`` and ``scene`` and
    registered under Slicer's module name (C++ logics find each other by it); with ``reuse_registered``, a logic
    ``app`` already holds under that name is used as it is."""
    slicer = require_slicer()
    logics = {}
    for name, class_name in MODULE_LOGIC_CLASSES.items():
        logic = app.GetModuleLogic(MODULE_TITLES[name]) if reuse_registered else None
        if logic is None or not logic.IsA(class_name):
            logic = getattr(slicer, class_name)()
            logic.SetMRMLApplicationLogic(app)
            logic.SetMRMLScene(scene)
            app.SetModuleLogic(MODULE_TITLES[name], logic)
        logics[name] = logic
    return logics


def _build_runtime(cache_dir: str | None, quiet: bool | None) -> HeadlessRuntime:
    """Build the scene, application logic, module logics and IO logics (see :func:`initialize`)."""
    slicer = require_slicer()
    if in_slicer_application():
        raise RuntimeError("headless.initialize() is for use outside 3D Slicer; inside Slicer use slicer.mrmlScene")
    from vtkmodules.vtkCommonCore import vtkCollection

    if quiet if quiet is not None else bool(os.environ.get("VCFDIAGNOSIS_QUIET_VTK")):
        silence_vtk()
    scene = slicer.vtkMRMLScene()
    app = slicer.vtkSlicerApplicationLogic()
    app.SetMRMLScene(scene)
    app.SetSliceLogics(vtkCollection())
    app.SetViewLogics(vtkCollection())
    color_logic = app.GetColorLogic()
    color_logic.SetMRMLScene(scene)
    color_logic.AddDefaultColorNodes()

    logics = _attach_module_logics(scene, app)
    app.SetModuleLogic("Colors", color_logic)  # e.g. Volumes gives label maps the default label colours
    if cache_dir is None:
        cache_dir = make_cache_dir()
    remote_io, data_io = attach_io_logics(scene, app, cache_dir)

    slicer.mrmlScene = scene
    if not hasattr(slicer, "modules"):
        slicer.modules = types.SimpleNamespace(**{n: _ModuleHandle(n, lg) for n, lg in logics.items()})
    install_scripted_module_base()
    return HeadlessRuntime(scene, app, logics, remote_io, data_io, cache_dir, [color_logic])


def open_scene_bundle(path: str):
    """Return a new, independent scene read from a ``.mrb`` bundle (works inside Slicer and headless).

    Raises ``OSError`` naming the file if it cannot be read. The scene keeps its IO logics alive.
    """
    slicer = require_slicer()
    scene = slicer.vtkMRMLScene()
    main_scene = getattr(slicer, "mrmlScene", None)
    if main_scene is not None:  # node classes that module logics registered (sequence browser, ...)
        main_scene.CopyRegisteredNodesToScene(scene)
    remote_io, data_io = attach_io_logics(scene)
    messages = slicer.vtkMRMLMessageCollection()
    if not scene.ReadFromMRB(str(Path(path).resolve()), False, messages):
        detail = messages.GetAllMessagesAsString().strip().splitlines()
        raise OSError(f"{path}: not a readable Slicer scene bundle (.mrb)" + (f": {detail[0]}" if detail else ""))
    scene._vcfdiagnosis_io = (remote_io, data_io)  # keep the IO logics alive with the scene
    return scene


# --- the minimal slicer.ScriptedLoadableModule (Logic and Test only) -------------------------------------


class _NeedsSlicerApplication:
    """Base of the GUI classes headless: constructing one is an error, with the reason."""

    def __init__(self, *args, **kwargs) -> None:
        raise RuntimeError(
            f"{type(self).__name__} needs the 3D Slicer application (Qt); headless, use the module's Logic"
        )


class ScriptedLoadableModule(_NeedsSlicerApplication):
    """Headless stand-in for Slicer's module class: raises when used."""


class ScriptedLoadableModuleWidget(_NeedsSlicerApplication):
    """Headless stand-in for Slicer's widget class: raises when used."""


class ScriptedLoadableModuleLogic:
    """Slicer's scripted-module logic base, with the same parameter-node behaviour, on ``slicer.mrmlScene``."""

    def __init__(self, parent=None) -> None:
        self.moduleName = self.__class__.__name__
        if self.moduleName.endswith("Logic"):
            self.moduleName = self.moduleName[:-5]
        self.isSingletonParameterNode = True

    def getParameterNode(self):
        """Return the module's parameter node (a vtkMRMLScriptedModuleNode), creating it if needed."""
        import slicer

        scene = slicer.mrmlScene
        if self.isSingletonParameterNode:
            node = scene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
            if node:
                if node.GetAttribute("ModuleName") != self.moduleName:
                    node.SetAttribute("ModuleName", self.moduleName)
                return node
        else:
            for node in self.getAllParameterNodes():
                return node
        return scene.AddNode(self.createParameterNode())

    def getAllParameterNodes(self) -> list:
        """Return every parameter node of this module in the scene."""
        import slicer

        scene = slicer.mrmlScene
        nodes = [scene.GetNthNodeByClass(i, "vtkMRMLScriptedModuleNode")
                 for i in range(scene.GetNumberOfNodesByClass("vtkMRMLScriptedModuleNode"))]
        return [n for n in nodes if n.GetAttribute("ModuleName") == self.moduleName]

    def createParameterNode(self):
        """Return a new parameter node tagged with the module name (not yet added to the scene)."""
        import slicer

        node = slicer.mrmlScene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
        node.UnRegister(None)
        if self.isSingletonParameterNode:
            node.SetSingletonTag(self.moduleName)
        node.SetAttribute("ModuleName", self.moduleName)
        node.SetName(slicer.mrmlScene.GenerateUniqueName(self.moduleName))
        return node


class ScriptedLoadableModuleTest(unittest.TestCase):
    """Slicer's scripted-module test base headless: ``delayDisplay`` logs instead of showing a message."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.enableScreenshots = False
        self.screenshotScaleFactor = 1.0

    def delayDisplay(self, message, requestedDelay=None, msec=None) -> None:
        logging.info(message)

    def takeScreenshot(self, name, description, type=-1) -> None:
        logging.info("%s (no screenshot headless)", description)

    def runTest(self) -> None:
        logging.warning("No test is defined in %s", type(self).__name__)


def install_scripted_module_base() -> types.ModuleType:
    """Return ``slicer.ScriptedLoadableModule``, installing the headless one above if Slicer has none."""
    slicer = require_slicer()
    try:
        import slicer.ScriptedLoadableModule as existing  # the real one inside Slicer

        return existing
    except ImportError:
        pass
    module = types.ModuleType("slicer.ScriptedLoadableModule", "Headless scripted-module base classes.")
    for cls in (ScriptedLoadableModule, ScriptedLoadableModuleWidget, ScriptedLoadableModuleLogic,
                ScriptedLoadableModuleTest):
        setattr(module, cls.__name__, cls)
    module.__all__ = [cls.__name__ for cls in (ScriptedLoadableModule, ScriptedLoadableModuleWidget,
                                               ScriptedLoadableModuleLogic, ScriptedLoadableModuleTest)]
    sys.modules[module.__name__] = module
    slicer.ScriptedLoadableModule = module
    return module
