"""Drawing the slice views without a display, and keeping VTK's messages off the server's terminal.

VTK draws off screen through Mesa's EGL (``libegl1``/``libegl-mesa0``) or OSMesa (``libosmesa6``), chosen with
``VTK_DEFAULT_OPENGL_WINDOW`` before VTK creates a window (:func:`choose_offscreen_window`).
"""

from __future__ import annotations

import ctypes.util
import os

#: VTK render window classes for drawing without a display, in order of preference, with the library each needs.
OFFSCREEN_WINDOWS = (("vtkEGLRenderWindow", "EGL"), ("vtkOSOpenGLRenderWindow", "OSMesa"))


def choose_offscreen_window(environ=os.environ) -> str | None:
    """Set ``VTK_DEFAULT_OPENGL_WINDOW`` for headless rendering unless a display or a choice exists; return it."""
    if environ.get("VTK_DEFAULT_OPENGL_WINDOW"):
        return environ["VTK_DEFAULT_OPENGL_WINDOW"]
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return None
    for window, library in OFFSCREEN_WINDOWS:
        if ctypes.util.find_library(library):
            environ["VTK_DEFAULT_OPENGL_WINDOW"] = window
            return window
    return None


def quiet_vtk() -> None:
    """Keep VTK's warnings off the server's terminal unless ``VCFDIAGNOSIS_DEBUG`` is set (as the CLI does)."""
    from ..errors import DEBUG_ENV

    if not os.environ.get(DEBUG_ENV):
        from ..mrml.headless import silence_vtk

        silence_vtk()
