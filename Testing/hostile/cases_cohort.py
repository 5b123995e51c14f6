"""Hostile inputs for ``vcfdiagnosis cohort``: results tables that are short, wrong or not tables at all."""

from __future__ import annotations

import math
from pathlib import Path

from . import OUT, HostileCase


def _table(sandbox: Path, rows: int = 12) -> Path:
    """Write a valid labelled results table (half metastatic) and return its path."""
    from VCFDiagnosisLib.analysis.results import write_results_tsv

    table = []
    for i in range(rows):
        metastatic = i % 2 == 0
        table.append({"case_id": f"c{i}", "roi": "lesion", "status": "ok", "D": 0.9e-3 + 1e-5 * i,
                      "Dstar": (0.06 if metastatic else 0.03) + 1e-3 * i, "f": 0.1, "ADC": 1.1e-3,
                      "LWR": 0.2 if metastatic else 1.2, "FF": 15.0 + i if metastatic else 50.0 - i,
                      "P_IVIM": 0.7 if metastatic else 0.3, "P_combined": math.nan,
                      "label": "metastatic" if metastatic else "osteoporotic", "reader": "r1"})
    return Path(write_results_tsv(sandbox / "results.tsv", table))


def _edited(edit):
    def build(sandbox: Path) -> list[str]:
        path = _table(sandbox)
        lines = path.read_text(encoding="utf-8").splitlines()
        path.write_bytes(edit(lines))
        return ["cohort", str(path), "--out", str(sandbox / OUT)]
    return build


def _short_row(lines: list[str]) -> bytes:
    lines[3] = "\t".join(lines[3].split("\t")[:5])
    return ("\n".join(lines) + "\n").encode()


def _word_in_number(lines: list[str]) -> bytes:
    header = lines[0].split("\t")
    cells = lines[2].split("\t")
    cells[header.index("Dstar")] = "high"
    lines[2] = "\t".join(cells)
    return ("\n".join(lines) + "\n").encode()


def _out_exists(sandbox: Path) -> list[str]:
    (sandbox / OUT).mkdir()
    (sandbox / OUT / "stats.json").write_text("{}")
    return ["cohort", str(_table(sandbox)), "--out", str(sandbox / OUT)]


def _stats_kept(sandbox: Path, outcome) -> None:
    assert (sandbox / OUT / "stats.json").read_text() == "{}"


CASES = [
    HostileCase("cohort-row-too-few-fields", "cohort", _edited(_short_row), 2, ("results.tsv", "line 4", "fields")),
    HostileCase("cohort-word-in-number-column", "cohort", _edited(_word_in_number), 2,
                ("results.tsv", "line 3", "'Dstar'", "'high' is not a number")),
    HostileCase("cohort-latin1-bytes", "cohort", _edited(lambda lines: ("\n".join(lines) + "\n").encode()
                                                         + "Müller\n".encode("latin-1")), 2,
                ("results.tsv", "not UTF-8")),
    HostileCase("cohort-empty-file", "cohort", _edited(lambda lines: b""), 2, ("results.tsv", "no header")),
    HostileCase("cohort-binary-file", "cohort", _edited(lambda lines: bytes(range(256)) * 4), 2, ("results.tsv",)),
    HostileCase("cohort-missing-file", "cohort", lambda s: ["cohort", str(s / "gone.tsv"), "--out", str(s / OUT)], 2,
                ("gone.tsv", "no such results file")),
    HostileCase("cohort-outputs-exist", "cohort", _out_exists, 2, ("stats.json", "--force"), check=_stats_kept),
]
