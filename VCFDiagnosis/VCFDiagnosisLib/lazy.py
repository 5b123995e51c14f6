"""Lazy package exports (PEP 562): a package ``__init__`` names what it offers without importing it.

``__getattr__, __dir__ = lazy_exports(__name__, {".engine": ("fit_ivim", ...), ...})`` in a package's ``__init__``
imports ``.engine`` the first time ``fit_ivim`` is asked for, so that light modules of the package (option lists
read by ``vcfdiagnosis --help``) load without numpy, scipy or pydicom.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_exports(package: str, modules: dict[str, tuple[str, ...]]) -> tuple[Callable, Callable]:
    """Return the ``__getattr__`` and ``__dir__`` of ``package`` for ``modules`` ({relative module: names})."""
    exports = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        setattr(sys.modules[package], name, value)  # the next access does not come here
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
