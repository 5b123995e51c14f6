"""The hostile-input corpus (``Testing/hostile``): every case handled as the CLI's contract says.

Each case runs in its own sandbox; see :mod:`hostile` for what is checked. ``bench_hostile.py`` runs the same
corpus and prints ``hostile: N tried, N handled``.
"""

from __future__ import annotations

import pytest
from hostile import judge, load_cases, run_case

CASES = load_cases()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_is_handled(case, slicer_runtime, tmp_path):
    if case.missing_extra():
        pytest.skip(f"needs {case.missing_extra()} (the project's extra .[dask])")
    outcome = run_case(case, tmp_path / "sandbox")
    problems = judge(case, tmp_path / "sandbox", outcome)
    assert not problems, "\n".join(problems)
