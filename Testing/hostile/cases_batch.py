"""Hostile inputs for ``vcfdiagnosis batch``: case ids that are paths or collide, broken rows, folders in use."""

from __future__ import annotations

import json
from pathlib import Path

from . import OUT, VICTIM, HostileCase
from .inputs import copy_patient, unwritable_path, write_manifest

FAST = ["--no-report", "--maps", "none"]
LONG_ID = "x" * 300


def _rows(*case_ids: str, dwi: str = "patient/dwi") -> list[dict]:
    return [{"case_id": c, "dwi": dwi, "roi": "patient/roi/lesion_label.nii.gz", "label": "metastatic",
             "reader": "r1"} for c in case_ids]


def _batch(*case_ids: str, extra: tuple[str, ...] = (), rows: list[dict] | None = None, fast: bool = True):
    def build(sandbox: Path) -> list[str]:
        copy_patient(sandbox)
        manifest = write_manifest(sandbox / "manifest.tsv", rows if rows is not None else _rows(*case_ids))
        return ["batch", str(manifest), "--out", str(sandbox / OUT), *(FAST if fast else ()), *extra]
    return build


def _all_of(*checks):
    def check(sandbox: Path, outcome) -> None:
        for each in checks:
            each(sandbox, outcome)
    return check


def _reports_drawn(sandbox: Path, outcome) -> None:
    """Every case has its report (PNG and PDF): a case id is text on the page, never a formula or an error."""
    folders = [marker.parent for marker in (sandbox / OUT).glob("*/case.json")]
    assert folders and all((f / "report.png").stat().st_size > 10_000 and (f / "report.pdf").is_file()
                           for f in folders), folders


def _results(sandbox: Path) -> list[dict]:
    from VCFDiagnosisLib.analysis.results import read_results_tsv

    return read_results_tsv(sandbox / OUT / "results.tsv")


def _each_case_in_its_own_folder(*case_ids: str):
    """Every id gets an ok row, and the folder holding its results names that id (no patient mixed up)."""
    def check(sandbox: Path, outcome) -> None:
        rows = _results(sandbox)
        assert [r["case_id"] for r in rows] == list(case_ids), [r["case_id"] for r in rows]
        assert all(r["status"] != "error" for r in rows), [r["message"] for r in rows]
        owners = {}
        for marker in (sandbox / OUT).glob("*/case.json"):
            owners[json.loads(marker.read_text())["case_id"]] = marker.parent
        assert sorted(owners) == sorted(case_ids), sorted(owners)
        assert len(set(owners.values())) == len(case_ids)
        for case_id, folder in owners.items():
            assert folder.parent == sandbox / OUT
            (row,) = [r for r in __import__("VCFDiagnosisLib.analysis.results", fromlist=["x"]).read_results_tsv(
                folder / "results.tsv")]
            assert row["case_id"] == case_id
    return check


def _statuses(expected: dict[str, str], needle: dict[str, str] | None = None):
    def check(sandbox: Path, outcome) -> None:
        rows = {r["case_id"]: r for r in _results(sandbox)}
        got = {c: rows[c]["status"] if c in rows else "missing" for c in expected}
        assert got == expected, got
        for case_id, text in (needle or {}).items():
            assert text in rows[case_id]["message"], rows[case_id]["message"]
    return check


def _second_manifest(sandbox: Path) -> list[str]:
    first = _batch("first")(sandbox)
    from . import _run_in_process

    code, _, err = _run_in_process(first)
    assert code == 0, err
    (sandbox / "results-before.tsv").write_bytes((sandbox / OUT / "results.tsv").read_bytes())
    other = write_manifest(sandbox / "other.tsv", _rows("second"))
    return ["batch", str(other), "--out", str(sandbox / OUT), *FAST]


def _first_batch_kept(sandbox: Path, outcome) -> None:
    assert (sandbox / OUT / "results.tsv").read_bytes() == (sandbox / "results-before.tsv").read_bytes()


def _swapped_folder(sandbox: Path) -> list[str]:
    """A finished case folder that holds another case's results (moved by hand) must not be taken as this one."""
    argv = _batch("A1", "B2")(sandbox)
    from . import _run_in_process

    code, _, err = _run_in_process(argv)
    assert code == 0, err
    out = sandbox / OUT
    (out / "A1").rename(out / "tmp")
    (out / "B2").rename(out / "A1")
    (out / "tmp").rename(out / "B2")
    return argv


def _garbage_manifest(sandbox: Path) -> list[str]:
    (sandbox / "manifest.tsv").write_bytes(bytes(range(256)) * 8)
    return ["batch", str(sandbox / "manifest.tsv"), "--out", str(sandbox / OUT)]


def _out_is_file(sandbox: Path) -> list[str]:
    argv = _batch("c1")(sandbox)
    argv[argv.index("--out") + 1] = str(sandbox / VICTIM)
    return argv


def _out_unwritable(sandbox: Path) -> list[str]:
    argv = _batch("c1")(sandbox)
    argv[argv.index("--out") + 1] = str(unwritable_path(sandbox) / "batch")
    return argv


def _short_row(sandbox: Path) -> list[str]:
    copy_patient(sandbox)
    manifest = write_manifest(sandbox / "manifest.tsv", _rows("good"))
    with open(manifest, "a", encoding="utf-8") as handle:
        handle.write("short-row\n")  # one field, the header has six
    return ["batch", str(manifest), "--out", str(sandbox / OUT), *FAST]


CASES = [
    HostileCase("batch-case-id-dotdot", "batch", _batch("../../x"), 0, check=_each_case_in_its_own_folder("../../x")),
    HostileCase("batch-case-id-absolute", "batch", _batch("/abs/path/victim"), 0,
                check=_each_case_in_its_own_folder("/abs/path/victim")),
    HostileCase("batch-ids-slash-vs-space", "batch", _batch("a/b", "a b", "a_b"), 0,
                check=_each_case_in_its_own_folder("a/b", "a b", "a_b")),
    HostileCase("batch-ids-umlauts", "batch", _batch("Müller", "Möller", "Muller"), 0,
                check=_each_case_in_its_own_folder("Müller", "Möller", "Muller")),
    HostileCase("batch-ids-differ-in-case-only", "batch", _batch("P1", "p1"), 0,
                check=_statuses({"P1": "ok", "p1": "error"}, {"p1": "share the output folder"})),
    HostileCase("batch-case-ids-with-math-dollars", "batch", _batch("a$\\frac$b", "$x_1$", fast=False), 0,
                check=_all_of(_each_case_in_its_own_folder("a$\\frac$b", "$x_1$"), _reports_drawn)),
    HostileCase("batch-case-id-300-characters", "batch", _batch(LONG_ID, "after"), 0,
                check=_each_case_in_its_own_folder(LONG_ID, "after")),
    HostileCase("batch-second-manifest-same-out", "batch", _second_manifest, 2, ("another manifest",),
                check=_first_batch_kept),
    HostileCase("batch-swapped-case-folders", "batch", _swapped_folder, 0,
                check=_statuses({"A1": "error", "B2": "error"}, {"A1": "not 'A1'"})),
    HostileCase("batch-manifest-garbage", "batch", _garbage_manifest, 2, ("manifest.tsv",)),
    HostileCase("batch-manifest-missing", "batch", lambda s: ["batch", str(s / "none.tsv"), "--out", str(s / OUT)],
                2, ("none.tsv",)),
    HostileCase("batch-out-is-a-file", "batch", _out_is_file, 2, (VICTIM, "not a folder")),
    HostileCase("batch-out-unwritable", "batch", _out_unwritable, 2, ("vcfdiag-unwritable",)),
    HostileCase("batch-jobs-negative", "batch", _batch("c1", extra=("--jobs", "-1")), 2, ("--jobs",)),
    HostileCase("batch-jobs-zero-is-automatic", "batch", _batch("c1", extra=("--jobs", "0")), 0,
                ("--jobs 0: using",)),
    HostileCase("batch-jobs-capped", "batch", _batch("c1", extra=("--jobs", "512")), 0, ("capped to",)),
    HostileCase("batch-row-too-short", "batch", _short_row, 0,
                check=_statuses({"good": "ok", "short-row": "error"}, {"short-row": "no dwi"})),
    HostileCase("batch-dwi-missing-row", "batch", _batch(rows=_rows("ok1") + _rows("gone", dwi="nowhere/dwi")), 0,
                check=_statuses({"ok1": "ok", "gone": "error"}, {"gone": "no such file"})),
]
