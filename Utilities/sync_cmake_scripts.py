"""Rewrite the MODULE_PYTHON_SCRIPTS list of VCFDiagnosis/CMakeLists.txt from the .py files on disk.

Run after adding or removing a module file: ``python Utilities/sync_cmake_scripts.py``.
Testing/test_layout.py fails while the list and the files disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

MODULE_DIR = Path(__file__).resolve().parents[1] / "VCFDiagnosis"
LIST_PATTERN = re.compile(r"(set\(MODULE_PYTHON_SCRIPTS\n)(.*?)(\n  \))", re.S)


def python_files_on_disk() -> list[str]:
    """Return the module's .py files relative to VCFDiagnosis/, the module file first, then sorted."""
    files = sorted(str(p.relative_to(MODULE_DIR)) for p in MODULE_DIR.rglob("*.py") if "__pycache__" not in p.parts)
    files.remove("VCFDiagnosis.py")
    return ["${MODULE_NAME}.py", *files]


def listed_scripts(cmake_text: str) -> list[str]:
    """Return the entries of MODULE_PYTHON_SCRIPTS in the module's CMakeLists.txt text."""
    match = LIST_PATTERN.search(cmake_text)
    if not match:
        raise ValueError("VCFDiagnosis/CMakeLists.txt has no MODULE_PYTHON_SCRIPTS list")
    return [line.strip() for line in match.group(2).splitlines() if line.strip()]


def main() -> int:
    cmake = MODULE_DIR / "CMakeLists.txt"
    text = cmake.read_text()
    body = "\n".join(f"  {name}" for name in python_files_on_disk())
    cmake.write_text(LIST_PATTERN.sub(lambda m: m.group(1) + body + m.group(3), text))
    print(f"{cmake}: {len(python_files_on_disk())} scripts listed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
