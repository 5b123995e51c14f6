"""Record the Slicer API that VCFDiagnosis.py may call, from a git clone of Slicer, into Testing/Data/slicer_api.json.

The Qt layer cannot run on a build server; ``Testing/test_qt_static.py`` checks every signal, widget method and
``slicer.util`` function the module file names against this record. Regenerate it when moving to a newer Slicer:

    python Utilities/extract_slicer_api.py /path/to/Slicer/.git

What is recorded, per C++ class header: its signals (Qt-normalised signatures, e.g.
``currentNodeChanged(vtkMRMLNode*)``), and the names callable from Python (public slots, ``Q_INVOKABLE``
methods, ``Q_PROPERTY`` names); the top-level functions of ``Base/Python/slicer/util.py``; and the names
``slicer.parameterNodeWrapper`` exports.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "Testing" / "Data" / "slicer_api.json"

#: class name -> (header path in Slicer, its Slicer base class recorded here or None)
HEADERS = {
    "qMRMLWidget": ("Libs/MRML/Widgets/qMRMLWidget.h", None),
    "qMRMLNodeComboBox": ("Libs/MRML/Widgets/qMRMLNodeComboBox.h", None),
    "qMRMLTableView": ("Libs/MRML/Widgets/qMRMLTableView.h", None),
    "qMRMLSegmentEditorWidget": ("Modules/Loadable/Segmentations/Widgets/qMRMLSegmentEditorWidget.h", "qMRMLWidget"),
    "qSlicerSegmentEditorEffectFactory": (
        "Modules/Loadable/Segmentations/EditorEffects/qSlicerSegmentEditorEffectFactory.h", None),
    "qSlicerCoreApplication": ("Base/QTCore/qSlicerCoreApplication.h", None),
    "qSlicerApplication": ("Base/QTGUI/qSlicerApplication.h", "qSlicerCoreApplication"),
}
PYTHON_FILES = {
    "slicer.util": "Base/Python/slicer/util.py",
    "slicer.parameterNodeWrapper": "Base/Python/slicer/parameterNodeWrapper",
}


def git_show(git_dir: str, path: str) -> str:
    return subprocess.run(["git", "--git-dir", git_dir, "show", f"HEAD:{path}"], check=True, capture_output=True,
                          text=True).stdout


def normalized_signature(name: str, parameters: str) -> str:
    """Return Qt's normalised signature: parameter types only, ``const T&`` -> ``T``, no spaces before ``*``."""
    types = []
    for parameter in filter(None, (p.strip() for p in parameters.split(","))):
        parameter = parameter.split("=")[0].strip()
        parameter = re.sub(r"^const\s+", "", parameter)
        match = re.match(r"(.+?[\s*&]+)(\w+)$", parameter)  # drop the parameter's name
        kind = (match.group(1) if match else parameter).strip()
        kind = re.sub(r"\s*&$", "", kind)
        kind = re.sub(r"\s*\*", "*", kind)
        types.append(kind)
    return f"{name}({','.join(types)})"


def header_api(text: str) -> dict:
    """Return {"signals": [...], "callables": [...]} of one class header."""
    text = re.sub(r"//.*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    signals, callables, section = [], set(), ""
    for statement in re.split(r";|\{|\}", text):
        statement = " ".join(statement.split())
        marker = re.search(r"(public|protected|private)\s*(slots|Q_SLOTS)?\s*:|(signals|Q_SIGNALS)\s*:", statement)
        if marker:
            section = marker.group(0).replace(" ", "")
            statement = statement[marker.end():].strip()
        for prop in re.findall(r"Q_PROPERTY\(\s*[\w:<>*]+\s+(\w+)", statement):
            callables.add(prop)
        method = re.search(r"(\w+)\s*\(([^()]*)\)\s*(const)?\s*(override)?\s*$", statement)
        if not method or statement.startswith(("Q_PROPERTY", "Q_OBJECT", "Q_DECLARE", "Q_DISABLE")):
            continue
        name = method.group(1)
        if section in ("signals:", "Q_SIGNALS:"):
            signals.append(normalized_signature(name, method.group(2)))
        elif section in ("publicslots:", "publicQ_SLOTS:") or "Q_INVOKABLE" in statement:
            callables.add(name)
    return {"signals": sorted(set(signals)), "callables": sorted(callables)}


def python_names(git_dir: str, path: str) -> list[str]:
    if path.endswith(".py"):
        tree = ast.parse(git_show(git_dir, path))
        return sorted(n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)))
    names = set()
    listing = subprocess.run(["git", "--git-dir", git_dir, "ls-tree", "--name-only", f"HEAD:{path}"], check=True,
                             capture_output=True, text=True).stdout.split()
    for file in listing:
        if file.endswith(".py") and file != "__init__.py":
            tree = ast.parse(git_show(git_dir, f"{path}/{file}"))
            for node in tree.body:
                if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
                    names.update(ast.literal_eval(node.value))
    return sorted(names)


def main(git_dir: str) -> None:
    commit = subprocess.run(["git", "--git-dir", git_dir, "rev-parse", "HEAD"], check=True, capture_output=True,
                            text=True).stdout.strip()
    record = {"source": "https://github.com/Slicer/Slicer", "commit": commit, "classes": {}, "python": {}}
    for name, (path, base) in HEADERS.items():
        record["classes"][name] = {"header": path, "base": base, **header_api(git_show(git_dir, path))}
    for module, path in PYTHON_FILES.items():
        record["python"][module] = python_names(git_dir, path)
    OUTPUT.write_text(json.dumps(record, indent=1) + "\n")
    print(f"{OUTPUT}: {len(record['classes'])} classes, "
          + ", ".join(f"{m} {len(v)} names" for m, v in record["python"].items()) + f" (Slicer {commit[:10]})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/work/.mirror/Slicer+Slicer/repo")
