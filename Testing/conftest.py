"""Session set-up for the test suite: one headless Slicer MRML runtime (slicer-core), cleared per test.

The runtime is :mod:`VCFDiagnosisLib.mrml.headless` (the same one the ``vcfdiagnosis`` command uses): a real
vtkMRMLScene with the application logic, the module logics, converter rules, colour nodes, remote-IO
logics for ``.mrb`` reading, ``slicer.mrmlScene``, ``slicer.modules.<name>.logic()`` and the minimal
``slicer.ScriptedLoadableModule`` (Logic and Test base classes only). Pure-core tests do not request it.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULE_DIR = ROOT / "VCFDiagnosis"
if str(MODULE_DIR) not in sys.path:  # as Slicer does for a scripted module's folder
    sys.path.insert(0, str(MODULE_DIR))

DATA_DIR = Path(__file__).resolve().parent / "Data"


def pytest_configure(config) -> None:
    """Stop the run at once, with the reason, if ``slicer`` is not Slicer's MRML layer (slicer-core). Give the
    run Ctrl-C as a terminal user has it.

    A shell starts a background job (``make test &``, a CI runner's ``cmd &``) with SIGINT ignored, and Python
    then leaves it ignored, as do the command processes the tests start: the Ctrl-C tests would test a process
    that cannot be interrupted. They are about a user at a terminal, so the run restores Python's own handler.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    from VCFDiagnosisLib.mrml.headless import SlicerCoreMissingError, require_slicer

    try:
        require_slicer()
    except SlicerCoreMissingError as error:
        pytest.exit(f"VCFDiagnosis tests need slicer-core: {error}", returncode=3)


@pytest.fixture(scope="session")
def slicer_runtime(tmp_path_factory):
    """Return the process-wide headless runtime (scene, application logic, module logics)."""
    from VCFDiagnosisLib.mrml import headless

    return headless.initialize(cache_dir=str(tmp_path_factory.mktemp("mrml-cache")))


@pytest.fixture
def scene(slicer_runtime):
    """Return ``slicer.mrmlScene``, emptied after the test (colour tables stay, as in Slicer)."""
    yield slicer_runtime.scene
    slicer_runtime.clear_scene()


@pytest.fixture
def logic(scene):
    """Return a fresh VCFDiagnosisLogic on the cleared scene."""
    from VCFDiagnosisLib.mrml.logic import VCFDiagnosisLogic

    return VCFDiagnosisLogic()


@pytest.fixture
def data_dir() -> Path:
    """Return the folder of test data copied into the repository (each source with its license)."""
    return DATA_DIR
