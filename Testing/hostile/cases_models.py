"""Hostile site-model files (``--model``) and Dask requests (``--scheduler``) for ``run`` and ``batch``.

Every bad model is refused before any case is loaded (exit 2, the file and the problem named, no output folder);
a device, a FIFO (which would block a reader) or a huge file is never read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from . import OUT, HostileCase
from .cases_batch import _batch
from .cases_paths import _run_argv

#: A well-formed site model (the published coefficients, for shape only); cases break one part of it.
VALID_MODEL = {
    "format": "vcfdiagnosis-site-model", "format_version": 1, "name": "hostile",
    "predictors": {name: {"unit": unit, "training_range": [0, 1000]} for name, unit in
                   (("D_mm2_s", "mm2/s"), ("Dstar_mm2_s", "mm2/s"), ("f_fraction", "fraction"),
                    ("FF_percent", "percent"))},
    "models": {"P_IVIM": {"intercept": -3.068, "coefficients": {
        "D_mm2_s": {"value": -736.188, "unit": "per mm2/s"}, "Dstar_mm2_s": {"value": 135.729, "unit": "per mm2/s"},
        "f_fraction": {"value": -8.449, "unit": "per fraction"}}}},
}


def _no_output(sandbox: Path, outcome) -> None:
    assert not (sandbox / OUT).exists(), "an output folder was created for a refused model"


def _one_case_done(sandbox: Path, outcome) -> None:
    from VCFDiagnosisLib.analysis.results import read_results_tsv

    rows = read_results_tsv(sandbox / OUT / "results.tsv")
    assert [(r["case_id"], r["status"] != "error") for r in rows] == [("c1", True)], rows


def _with_model(write, command: str = "run"):
    def build(sandbox: Path) -> list[str]:
        path = write(sandbox)
        argv = _run_argv(sandbox) if command == "run" else _batch("c1")(sandbox)
        return [*argv, "--model", str(path)]
    return build


def _text(content: str | bytes, name: str = "site.json"):
    def write(sandbox: Path) -> Path:
        path = sandbox / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path
    return write


def _fifo(sandbox: Path) -> Path:
    path = sandbox / "site.fifo"
    os.mkfifo(path)
    return path


def _directory(sandbox: Path) -> Path:
    (sandbox / "models").mkdir()
    return sandbox / "models"


def _broken(change) -> str:
    document = json.loads(json.dumps(VALID_MODEL))
    change(document)
    return json.dumps(document)


CASES = [
    HostileCase("model-device", "models", _with_model(lambda s: Path("/dev/zero")), 2,
                ("/dev/zero", "not a file"), check=_no_output),
    HostileCase("model-fifo", "models", _with_model(_fifo), 2, ("site.fifo", "not a file"), check=_no_output,
                timeout_s=60),
    HostileCase("model-directory", "models", _with_model(_directory), 2, ("models", "not a file"), check=_no_output),
    HostileCase("model-missing", "models", _with_model(lambda s: s / "gone.json"), 2, ("gone.json", "cannot read"),
                check=_no_output),
    HostileCase("model-huge", "models", _with_model(_text(b" " * (3 << 20))), 2, ("site.json", "bytes is not"),
                check=_no_output),
    HostileCase("model-truncated", "models", _with_model(_text(json.dumps(VALID_MODEL)[:200])), 2,
                ("site.json", "not a readable site model file"), check=_no_output),
    HostileCase("model-deeply-nested", "models", _with_model(_text("[" * 100000 + "]" * 100000)), 2,
                ("site.json", "not a readable site model file"), check=_no_output),
    HostileCase("model-infinite-coefficient", "models", _with_model(_text(_broken(
        lambda d: d["models"]["P_IVIM"]["coefficients"]["D_mm2_s"].update(value=1e400)))), 2,
        ("site.json", "must be a finite number"), check=_no_output),
    HostileCase("model-wrong-unit", "models", _with_model(_text(_broken(
        lambda d: d["predictors"]["D_mm2_s"].update(unit="um2/ms")))), 2, ("site.json", "'um2/ms'"),
        check=_no_output),
    HostileCase("model-bad-in-batch", "models", _with_model(_text("{}"), command="batch"), 2,
                ("site.json", "not a site model file"), check=_no_output),
    HostileCase("scheduler-huge-local-cluster", "models", lambda s: [*_batch("c1")(s), "--scheduler", "local:100000"],
                0, ("--scheduler local:100000: capped to",), check=_one_case_done, tags=("dask",)),
]
