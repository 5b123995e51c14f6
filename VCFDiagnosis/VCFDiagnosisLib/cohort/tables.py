"""Reading a labelled results table and selecting one row per case (and per reader for the ICC).

Input rows are the results-table rows of :mod:`VCFDiagnosisLib.analysis.results` (one row per ROI) plus a ``label``
column (``metastatic``/``osteoporotic``, added by the batch runner from its manifest) and, optionally, a
``reader`` column. Conventions:

* rows with ``status == "error"`` and rows without a label are excluded and counted; a label other than
  ``metastatic``/``osteoporotic`` (case-insensitive) is an error (most likely a typo in the manifest);
* **group analyses use one row per case: the first reader's row** (readers ordered by first appearance in
  the table); a case the first reader did not measure uses its first row from another reader. Without a
  ``reader`` column a case with several rows (several ROIs) uses its first row; the others are counted;
* the ICC uses every reader: a cases x readers matrix per parameter, complete cases only.

Units are those of the results table: D, Dstar, ADC in mm2/s; f a fraction; LWR a plain ratio; FF percent;
P_IVIM, P_combined probabilities. ``y`` is 1 for metastatic (the positive class), 0 for osteoporotic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..analysis.study_models import LABELS, METASTATIC, OSTEOPOROTIC

#: Group-analysis parameters: (column, display name, display unit, scale from table units to display units).
PARAMETERS: tuple[tuple[str, str, str, float], ...] = (
    ("LWR", "LWR", "%", 100.0),
    ("FF", "FF", "%", 1.0),
    ("D", "D", "1e-3 mm2/s", 1e3),
    ("Dstar", "D*", "1e-3 mm2/s", 1e3),
    ("f", "f", "fraction", 1.0),
    ("ADC", "ADC", "1e-3 mm2/s", 1e3),
)
PARAMETER_NAMES = tuple(p[0] for p in PARAMETERS)
#: Columns read as numbers (the model probabilities besides the parameters).
NUMERIC_COLUMNS = PARAMETER_NAMES + ("P_IVIM", "P_combined")
REQUIRED_COLUMNS = ("case_id", "label", "D", "Dstar", "f", "FF")


def as_float(value) -> float:
    """Return ``value`` as a float; '', None and unparsable text give NaN."""
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


@dataclass
class CohortTable:
    """The cases selected for the analysis.

    ``cases`` holds one row per case (the first reader's), ``y`` the labels (1 metastatic, 0 osteoporotic),
    ``values`` each numeric column as a float array aligned with ``cases`` (NaN where missing),
    ``readers`` the reader names in order of appearance (empty without a ``reader`` column) and
    ``reader_rows`` ``{case_id: {reader: row}}`` for the ICC; ``excluded`` counts the rows left out, by reason; ``n_extra_rows`` the
    rows of a case besides the one used for the group analyses (other readers' rows feed the ICC).
    """

    cases: list[dict]
    y: np.ndarray
    values: dict[str, np.ndarray]
    readers: list[str] = field(default_factory=list)
    reader_rows: dict[str, dict[str, dict]] = field(default_factory=dict)
    excluded: dict[str, int] = field(default_factory=dict)
    n_rows: int = 0
    n_extra_rows: int = 0
    source: str = "results table"
    selection: str = ""

    @property
    def n_metastatic(self) -> int:
        return int(self.y.sum())

    @property
    def n_osteoporotic(self) -> int:
        return int(len(self.y) - self.y.sum())

    def reader_matrix(self, column: str, label: int | None = None) -> tuple[np.ndarray, list[str]]:
        """Return (cases x readers matrix of ``column``, case ids): complete cases, optionally one group only."""
        matrix, ids = [], []
        for case, outcome in zip(self.cases, self.y):
            if label is not None and outcome != label:
                continue
            by_reader = self.reader_rows.get(case["case_id"], {})
            row = [as_float(by_reader[r].get(column)) if r in by_reader else math.nan for r in self.readers]
            if all(math.isfinite(v) for v in row):
                matrix.append(row)
                ids.append(case["case_id"])
        return np.asarray(matrix, float).reshape(len(matrix), len(self.readers)), ids


def select_cases(rows: list[dict], source: str = "results table") -> CohortTable:
    """Return the :class:`CohortTable` of ``rows``; raise ValueError naming ``source`` and the problem.

    Problems: no rows; missing columns (``case_id``, ``label``, ``D``, ``Dstar``, ``f``, ``FF``); an
    unknown label; fewer than 2 labelled cases in a group.
    """
    if not rows:
        raise ValueError(f"{source}: no rows")
    present = set().union(*(r.keys() for r in rows))
    missing = [c for c in REQUIRED_COLUMNS if c not in present]
    if missing:
        hint = " (the batch runner adds 'label' from the manifest)" if "label" in missing else ""
        raise ValueError(f"{source}: missing column(s) {', '.join(missing)}{hint}")
    has_reader = "reader" in present
    excluded = {"status error": 0, "no label": 0, "no case_id": 0}
    kept: list[dict] = []
    for index, row in enumerate(rows):
        status = str(row.get("status") or "").strip().lower()
        label = str(row.get("label") or "").strip().lower()
        case_id = str(row.get("case_id") or "").strip()
        if status == "error":
            excluded["status error"] += 1
        elif not label:
            excluded["no label"] += 1
        elif not case_id:
            excluded["no case_id"] += 1
        elif label not in LABELS:
            raise ValueError(f"{source}: row {index + 2} (case {case_id}): label {row.get('label')!r} is neither "
                             f"'{METASTATIC}' nor '{OSTEOPOROTIC}'")
        else:
            kept.append({**row, "case_id": case_id, "label": label,
                         "reader": str(row.get("reader") or "").strip() if has_reader else ""})
    readers: list[str] = []
    for row in kept:
        if has_reader and row["reader"] and row["reader"] not in readers:
            readers.append(row["reader"])
    by_case: dict[str, list[dict]] = {}
    for row in kept:
        by_case.setdefault(row["case_id"], []).append(row)
    cases, reader_rows, n_extra = [], {}, 0
    for case_id, case_rows in by_case.items():
        labels = {r["label"] for r in case_rows}
        if len(labels) > 1:
            raise ValueError(f"{source}: case {case_id} has conflicting labels {sorted(labels)}")
        first = next((r for r in case_rows if readers and r["reader"] == readers[0]), case_rows[0])
        cases.append(first)
        per_reader: dict[str, dict] = {}
        for r in case_rows:
            if r["reader"]:
                per_reader.setdefault(r["reader"], r)
        reader_rows[case_id] = per_reader
        n_extra += len(case_rows) - 1
    y = np.array([1 if c["label"] == METASTATIC else 0 for c in cases], int)
    counts = {g: int(np.sum(y == (1 if g == METASTATIC else 0))) for g in LABELS}
    if any(n < 2 for n in counts.values()):
        raise ValueError(f"{source}: need at least 2 labelled cases per group, found "
                         + ", ".join(f"{n} {g}" for g, n in counts.items())
                         + f" (excluded: {', '.join(f'{n} {k}' for k, n in excluded.items() if n) or 'none'})")
    values = {c: np.array([as_float(r.get(c)) for r in cases], float) for c in NUMERIC_COLUMNS}
    selection = ("one row per case: the first reader's row (" + readers[0] + "); all readers for the ICC"
                 if len(readers) > 1 else "one row per case: its first row")
    return CohortTable(cases=cases, y=y, values=values, readers=readers if len(readers) > 1 else [],
                       reader_rows=reader_rows, excluded=excluded, n_rows=len(rows), n_extra_rows=n_extra, source=source,
                       selection=selection)
