"""The Slicer extension layout: CMake lists every module file, resources exist, metadata is complete."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
MODULE_DIR = ROOT / "VCFDiagnosis"


def _sync_module():
    spec = importlib.util.spec_from_file_location("sync_cmake_scripts", ROOT / "Utilities" / "sync_cmake_scripts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cmake_scripts_list_matches_python_files_on_disk():
    sync = _sync_module()
    listed = sync.listed_scripts((MODULE_DIR / "CMakeLists.txt").read_text())
    on_disk = sync.python_files_on_disk()
    missing = sorted(set(on_disk) - set(listed))
    stale = sorted(set(listed) - set(on_disk))
    assert not missing and not stale, (
        f"VCFDiagnosis/CMakeLists.txt is out of date: missing {missing}, not on disk {stale}; "
        "run `python Utilities/sync_cmake_scripts.py`")
    assert len(listed) == len(set(listed))


def test_module_cmake_builds_scripted_module_and_registers_self_test():
    text = (MODULE_DIR / "CMakeLists.txt").read_text()
    assert "slicerMacroBuildScriptedModule(" in text
    assert re.search(r"slicer_add_python_unittest\(SCRIPT \$\{MODULE_NAME\}\.py\)", text)
    resources = re.search(r"set\(MODULE_PYTHON_RESOURCES\n(.*?)\n  \)", text, re.S).group(1).split()
    for resource in resources:
        assert (MODULE_DIR / resource.replace("${MODULE_NAME}", "VCFDiagnosis")).is_file(), resource


def test_extension_cmake_has_metadata():
    text = (ROOT / "CMakeLists.txt").read_text()
    fields = dict(re.findall(r'set\((EXTENSION_[A-Z]+) "([^"]*)"\)', text))
    assert fields["EXTENSION_CATEGORY"] == "Quantification"
    assert fields["EXTENSION_DEPENDS"] == "NA"
    for key in ("EXTENSION_HOMEPAGE", "EXTENSION_DESCRIPTION", "EXTENSION_ICONURL", "EXTENSION_CONTRIBUTORS"):
        assert fields[key], key
    assert "add_subdirectory(VCFDiagnosis)" in text
    assert "find_package(Slicer REQUIRED)" in text
    # as Slicer's extension template (Utilities/Templates/Extensions/Default/CMakeLists.txt, Slicer 583e9b37)
    assert text.startswith("cmake_minimum_required(VERSION 3.28.0...3.28.0 FATAL_ERROR)")
    assert re.fullmatch(r"[^(),]+ \([^()]+\)(, [^(),]+ \([^()]+\))*", fields["EXTENSION_CONTRIBUTORS"]), \
        "contributors are 'Name (Organization)', comma separated"
    raw = "https://raw.githubusercontent.com/vcfdiagnosis/SlicerVCFDiagnosis/main/"
    for key in ("EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS"):
        for url in fields[key].split():
            assert url.startswith(raw) and (ROOT / url[len(raw):]).is_file(), f"{key}: {url} is not in the repository"
    with Image.open(ROOT / fields["EXTENSION_SCREENSHOTURLS"].split()[0][len(raw):]) as shot:
        assert shot.format == "PNG" and min(shot.size) >= 600, shot.size


def test_icons_are_128_pixel_pngs():
    for path in (MODULE_DIR / "Resources/Icons/VCFDiagnosis.png", ROOT / "Resources/Icons/VCFDiagnosis.png"):
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (128, 128), path


def test_pyproject_pins_slicer_core_and_never_plain_slicer():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"slicer-core==5.13.31053.0"' in text
    assert not re.search(r'"slicer(?!-core)[ <>=~!;"]', text), "the PyPI package 'slicer' destroys slicer-core"
    assert 'vcfdiagnosis = "VCFDiagnosisLib.app.cli:main"' in text


PURE_PACKAGES = ("analysis", "outputs", "batch", "cohort", "dwi", "ivim", "mrs", "phantom")
PURE_MODULES = ("errors.py", "lazy.py")
MRML_PACKAGE = "mrml"
LIB = MODULE_DIR / "VCFDiagnosisLib"


def _pure_files() -> list[Path]:
    files = [LIB / name for name in PURE_MODULES]
    for package in PURE_PACKAGES:
        files.extend(sorted((LIB / package).rglob("*.py")))
    return files


def test_every_library_folder_is_a_declared_layer():
    """The tree reads as the architecture: every package of VCFDiagnosisLib is pure, MRML glue or entry points."""
    packages = {path.name for path in LIB.iterdir() if (path / "__init__.py").is_file()}
    assert packages == set(PURE_PACKAGES) | {MRML_PACKAGE, "app"}, packages
    modules = {path.name for path in LIB.glob("*.py")} - {"__init__.py"}
    assert modules == set(PURE_MODULES), modules


def test_pure_layer_never_names_slicer_vtk_or_qt():
    """Layer 1 must not import slicer/vtk/qt/ctk anywhere, not even inside a function."""
    offenders = []
    for path in _pure_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.match(r"\s*(import|from)\s+(slicer|qt|ctk|vtk)\b", line) or re.match(
                    r"\s*from\s+\.+mrml\b", line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, offenders


def test_pure_layer_imports_with_slicer_blocked():
    """Import every pure module in a fresh interpreter where slicer, vtk, qt and ctk cannot be found."""
    names = []
    for path in _pure_files():
        relative = path.relative_to(MODULE_DIR).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    script = (
        "import importlib, sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('slicer', 'vtk', 'vtkmodules', 'qt', 'ctk', 'MRMLCorePython'):\n"
        "            raise ImportError('blocked in the pure layer: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('slicer', 'vtk', 'qt', 'ctk'))\n"
        "assert not loaded, loaded\n"
        "print(len(" + repr(names) + "))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=MODULE_DIR, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.strip()) == len(names) > 40


def test_logic_layer_never_imports_qt_or_slicer_app():
    for path in sorted((LIB / MRML_PACKAGE).glob("*.py")):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(qt|ctk)\b", text, re.M), path.name
        assert "slicer.app" not in text.replace("slicer.app`", ""), path.name


def _package_import_graph() -> dict[str, set[str]]:
    """Return {package: packages it imports} over every import in VCFDiagnosisLib, function-level ones included."""
    import ast

    graph: dict[str, set[str]] = {}
    for path in LIB.rglob("*.py"):
        parts = list(path.relative_to(MODULE_DIR).with_suffix("").parts)
        package_parts = parts[:-1]  # the package a relative import starts from (a module's, or __init__'s own)
        source = parts[1] if len(parts) > 1 and parts[1] != "__init__" else "VCFDiagnosisLib"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                targets = [".".join(base + ([node.module] if node.module else [])) + f".{a.name}" for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                targets = [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                pieces = target.split(".")
                if pieces[0] == "VCFDiagnosisLib" and len(pieces) > 2 and pieces[1] != source:
                    graph.setdefault(source, set()).add(pieces[1])
    return graph


def test_import_graph_has_no_cycle_and_follows_the_layers():
    graph = _package_import_graph()
    assert "mrml" in graph.get("app", set()) and "batch" in graph.get("mrml", set()), graph  # the graph is read
    visiting, done = set(), set()

    def visit(package: str, trail: list[str]) -> None:
        assert package not in visiting, f"import cycle: {' -> '.join([*trail, package])}"
        if package in done:
            return
        visiting.add(package)
        for imported in sorted(graph.get(package, ())):
            visit(imported, [*trail, package])
        visiting.discard(package)
        done.add(package)

    for package in sorted(graph):
        visit(package, [])
    pure = set(PURE_PACKAGES) | {name.removesuffix(".py") for name in PURE_MODULES}
    for package in pure:
        assert not graph.get(package, set()) & {MRML_PACKAGE, "app"}, f"{package} imports a higher layer"
    assert "app" not in graph.get(MRML_PACKAGE, set())
