"""The module's self-test bodies (VCFDiagnosisLib.mrml.selftests), run headless on slicer-core.

Inside Slicer the same functions run from ``VCFDiagnosisTest.runTest`` (VCFDiagnosis.py).
"""

from __future__ import annotations

import pytest

from VCFDiagnosisLib.mrml import selftests


@pytest.mark.parametrize("check", selftests.SELF_TESTS, ids=lambda c: c.__name__)
def test_self_test_body(check, logic, tmp_path):
    check(logic, str(tmp_path), log=lambda message: None)


def test_self_tests_detect_a_wrong_geometry(logic, tmp_path, monkeypatch):
    """The round-trip check fails when the geometry is corrupted on the way (the check can fail)."""
    from VCFDiagnosisLib.mrml import nodes

    original = nodes.dwi_from_sequence

    def shifted(sequence):
        dwi = original(sequence)
        dwi.ijk_to_ras[0, 3] += 0.5
        return dwi

    monkeypatch.setattr(nodes, "dwi_from_sequence", shifted)
    with pytest.raises(AssertionError, match="IJK-to-RAS read back"):
        selftests.check_dwi_sequence_round_trip_on_oblique_grid(logic, str(tmp_path), log=lambda m: None)
