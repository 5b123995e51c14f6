"""The Slicer extension layout: CMake lists every module file, resources exist, metadata is complete."""

from __future__ import annotations

import importlib.util
import re
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


def test_icons_are_128_pixel_pngs():
    for path in (MODULE_DIR / "Resources/Icons/VCFDiagnosis.png", ROOT / "Resources/Icons/VCFDiagnosis.png"):
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (128, 128), path


def test_pyproject_pins_slicer_core_and_never_plain_slicer():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"slicer-core==5.13.31053.0"' in text
    assert not re.search(r'"slicer(?!-core)[ <>=~!;"]', text), "the PyPI package 'slicer' destroys slicer-core"
    assert 'vcfdiagnosis = "VCFDiagnosisLib.cli:main"' in text


def test_core_packages_do_not_import_slicer_or_qt():
    """Layer 1 (ivim, mrs, dwi, phantom, cohort) must import without Slicer: no slicer/qt/ctk imports there."""
    offenders = []
    for package in ("ivim", "mrs", "dwi", "phantom", "cohort"):
        for path in (MODULE_DIR / "VCFDiagnosisLib" / package).rglob("*.py"):
            for line in path.read_text().splitlines():
                if re.match(r"\s*(import|from)\s+(slicer|qt|ctk|vtk)\b", line):
                    offenders.append(f"{path.relative_to(ROOT)}: {line.strip()}")
    assert not offenders, offenders


def test_logic_layer_never_imports_qt_or_slicer_app():
    for name in ("logic.py", "nodes.py", "headless.py", "selftests.py"):
        text = (MODULE_DIR / "VCFDiagnosisLib" / name).read_text()
        assert not re.search(r"^\s*(import|from)\s+(qt|ctk)\b", text, re.M), name
        assert "slicer.app" not in text.replace("slicer.app`", ""), name
