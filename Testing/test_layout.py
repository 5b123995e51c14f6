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
    assert '"slicer-core==5.11.0.6"' in text
    assert not re.search(r'"slicer(?!-core)[ <>=~!;"]', text), "the PyPI package 'slicer' destroys slicer-core"
    assert 'vcfdiagnosis = "VCFDiagnosisLib.app.cli:console_main"' in text


PURE_PACKAGES = ("analysis", "outputs", "batch", "cohort", "dicomout", "dwi", "fat", "ivim", "mrs", "pacs", "phantom")
PURE_MODULES = ("errors.py", "lazy.py")
#: The browser front end's own pure modules (what the station lists, where uploads go, plot figures).
PURE_WEB_MODULES = ("web/cases.py", "web/uploads.py", "web/plots.py")
MRML_PACKAGE = "mrml"
LIB = MODULE_DIR / "VCFDiagnosisLib"


def _pure_files() -> list[Path]:
    files = [LIB / name for name in (*PURE_MODULES, *PURE_WEB_MODULES)]
    for package in PURE_PACKAGES:
        files.extend(sorted((LIB / package).rglob("*.py")))
    return files


def test_every_library_folder_is_a_declared_layer():
    """The tree reads as the architecture: every package of VCFDiagnosisLib is pure, MRML glue or a front end
    (``app``: the command line; ``web``: the browser reading station)."""
    packages = {path.name for path in LIB.iterdir() if (path / "__init__.py").is_file()}
    assert packages == set(PURE_PACKAGES) | {MRML_PACKAGE, "app", "web"}, packages
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
    """The Logic and the browser front end run without the Qt application (the web page is trame, not Qt)."""
    for path in sorted([*(LIB / MRML_PACKAGE).glob("*.py"), *(LIB / "web").glob("*.py")]):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(qt|ctk)\b", text, re.M), path.name
        assert not re.search(r"(?<![\w`])slicer\.app\b(?!`)", text), path.name  # trame_slicer.app is not Slicer's


def _module_import_graph() -> dict[str, set[str]]:
    """Return {module: VCFDiagnosisLib modules it imports}, function-level imports included (``from . import x``
    of a submodule counts as importing that submodule)."""
    import ast

    modules = {}
    for path in LIB.rglob("*.py"):
        parts = list(path.relative_to(MODULE_DIR).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = (path, parts[:-1])
    graph: dict[str, set[str]] = {}
    for name, (path, package) in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph.setdefault(name, set()).update(t for t in targets if t in modules and t != name)
    return graph


def test_import_graph_has_no_cycle_and_follows_the_layers():
    """No module imports itself through others (the old logic <-> batch pair included), and no pure package
    reaches the MRML or entry-point layers."""
    graph = _module_import_graph()
    assert "VCFDiagnosisLib.mrml.logic" in graph["VCFDiagnosisLib.mrml.batch_case"]  # the graph is read
    visiting, done = set(), set()

    def visit(module: str, trail: list[str]) -> None:
        assert module not in visiting, f"import cycle: {' -> '.join([*trail, module])}"
        if module in done:
            return
        visiting.add(module)
        for imported in sorted(graph.get(module, ())):
            visit(imported, [*trail, module])
        visiting.discard(module)
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    layer = {name.removesuffix(".py") for name in PURE_MODULES} | set(PURE_PACKAGES)

    def package(module: str) -> str:
        return module.split(".")[1] if "." in module else module

    for module, imported in graph.items():
        if package(module) in layer:
            higher = sorted(m for m in imported if package(m) in {MRML_PACKAGE, "app", "web"})
            assert not higher, f"{module} (pure) imports {higher}"
        if package(module) == MRML_PACKAGE:
            assert not [m for m in imported if package(m) in ("app", "web")], module
        if module.removeprefix("VCFDiagnosisLib.").replace(".", "/") + ".py" in PURE_WEB_MODULES:
            higher = sorted(m for m in imported if package(m) in {MRML_PACKAGE, "app"} or m.endswith(
                (".station", ".page", ".server")))
            assert not higher, f"{module} (pure) imports {higher}"


def test_readme_layout_section_names_every_folder_and_module_of_the_tree():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Repository layout", 1)[1].split("\n## ", 1)[0]
    top = {p.name for p in ROOT.iterdir() if not p.name.startswith(".") or p.name == ".ci"}
    top -= {".venv", "demo-output", "build"} | {p.name for p in ROOT.glob("*.egg-info")}
    missing = sorted(name for name in top if name not in section)
    assert not missing, f"README's Repository layout does not name {missing}"
    packages = [p.name + "/" for p in LIB.iterdir() if (p / "__init__.py").is_file()]
    modules = [p.name for p in LIB.glob("*.py") if p.name != "__init__.py"]
    missing = sorted(name for name in packages + modules if name not in section)
    assert not missing, f"README's Repository layout does not name {missing}"
    for subfolder in ("Screenshots", "Icons", "Benchmarks"):
        assert subfolder in section, subfolder
