"""Cohort outputs: ``stats.json``, ``stats.md``, ``roc.png``, ``boxplots.png``, ``calibration.png``,
``decision_curve.png`` and a two-page ``stats.pdf`` (summary; validation).

Every file is written atomically (:func:`VCFDiagnosisLib.outputs.atomic.atomic_output`) and carries the research
use note. JSON holds plain types only, NaN/inf as null. Figures use matplotlib's object API (``Figure`` +
Agg canvas; no pyplot, no global backend change); matplotlib is imported only when figures are drawn.
"""

from __future__ import annotations

import json
import math
import os
import textwrap
from pathlib import Path

import numpy as np

from ..analysis.figure_style import TEXT_AS_TYPED, drawn_with
from ..analysis.study_models import METASTATIC, OSTEOPOROTIC, RESEARCH_USE_NOTE
from ..outputs.atomic import atomic_output
from .tables import PARAMETERS, select_cases

MATPLOTLIB_MISSING = ("the cohort figures need matplotlib: `pip install matplotlib` (a base dependency of the "
                      "command line; inside Slicer, in its Python console: import VCFDiagnosis; "
                      "VCFDiagnosis.installCohortExtras())")
OUTPUT_FILES = ("stats.json", "stats.md", "roc.png", "boxplots.png", "calibration.png", "decision_curve.png",
                "stats.pdf")
VALIDATED = {"P_IVIM": ("IVIM: published P_IVIM", "tab:orange"), "P_combined": ("IVIM+MRS: published P_combined",
                                                                                "tab:purple")}
GROUP_COLOURS = {OSTEOPOROTIC: "tab:blue", METASTATIC: "tab:red"}


def to_jsonable(value):
    """Return ``value`` with numpy types converted, tuples as lists and NaN/inf as None (recursively)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


# --------------------------------------------------------------------------------------------- markdown
def _num(value, digits: int = 3, scale: float = 1.0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value * scale:.{digits}g}" if abs(value * scale) < 1e4 else f"{value * scale:.3e}"


def _p(value) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _pct(value) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.2f}"


def _ci(entry: dict, key: str = "icc", digits: int = 3) -> str:
    if not entry or key not in entry or entry[key] is None or not math.isfinite(entry[key]):
        return "-"
    return f"{entry[key]:.{digits}f} ({entry['ci_low']:.{digits}f}-{entry['ci_high']:.{digits}f})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def render_markdown(stats: dict) -> str:
    """Return the readable report of :func:`VCFDiagnosisLib.cohort.analyze_cohort`'s dict as markdown."""
    cohort, pub = stats["cohort"], stats["published"]
    lines = [f"# {stats['title']}", "", f"**{stats['note']}**", "", f"Models and published values: {stats['provenance']}.",
             f"Software: {stats['software']}.", "", "## Cohort", "",
             f"- Source: `{cohort['source']}`: {cohort['n_rows']} rows, {cohort['n_cases']} cases "
             f"({cohort['n_osteoporotic']} osteoporotic, {cohort['n_metastatic']} metastatic; study: 38 and 32).",
             "- Excluded rows: " + (", ".join(f"{n} {k}" for k, n in cohort["excluded"].items() if n) or "none") + ".",
             f"- Selection: {cohort['selection']} ({cohort['n_extra_rows']} further rows of the same cases)."
             + (f" Readers: {', '.join(cohort['readers'])}." if cohort["readers"] else ""), ""]
    lines += ["## Group comparison (mean +- SD; Table 3 of the study beside)", "",
              "t-tests metastatic vs osteoporotic, two-sided; Holm correction over the parameters tested.", ""]
    rows = []
    for column, g in stats["groups"].items():
        scale, table3 = g["scale"], pub["table3"].get(column)
        cell = {grp: f"{_num(g[grp]['mean'], 4, scale)} +- {_num(g[grp]['sd'], 3, scale)} (n={g[grp]['n']})"
                for grp in (OSTEOPOROTIC, METASTATIC)}
        published = (f"{table3[OSTEOPOROTIC]['mean']:g} +- {table3[OSTEOPOROTIC]['sd']:g} / "
                     f"{table3[METASTATIC]['mean']:g} +- {table3[METASTATIC]['sd']:g}") if table3 else "-"
        rows.append([f"{g['display']} ({g['unit']})", cell[OSTEOPOROTIC], cell[METASTATIC], published,
                     _num(g["welch"]["t"], 3), _p(g["welch"]["p"]), _p(g["welch"]["p_holm"]),
                     _p(g["student"]["p"]), _p(g["student"]["p_holm"])])
    lines += _table(["parameter", "osteoporotic", "metastatic", "study (osteo / meta)", "Welch t", "Welch p",
                     "Welch p (Holm)", "Student p", "Student p (Holm)"], rows) + [""]
    lines += ["## Inter-reader agreement (ICC, 95 % CI)", ""]
    section = stats["icc"]
    if not section["parameters"]:
        lines += [section["message"] + ".", ""]
    else:
        lines += [f"Readers: {', '.join(section['readers'])}. ICC(2,1): two-way random, absolute agreement; "
                  "ICC(3,1): two-way mixed, consistency; single measures. Study (Table 2): ICC type not stated.", ""]
        rows = []
        for column, entry in section["parameters"].items():
            study = pub["table2_icc"].get(column)
            rows.append([column, str(entry["all"].get("n", "-")), _ci(entry["all"].get("ICC2_1")),
                         _ci(entry["all"].get("ICC3_1")), _ci(entry[OSTEOPOROTIC].get("ICC2_1")),
                         _ci(entry[METASTATIC].get("ICC2_1")),
                         (f"{_ci(study[OSTEOPOROTIC])} / {_ci(study[METASTATIC])}"
                          if study else "-")])
        lines += _table(["parameter", "n", "ICC(2,1) all", "ICC(3,1) all", "ICC(2,1) osteoporotic",
                         "ICC(2,1) metastatic", "study osteo / meta"], rows) + [""]
    lines += ["## Logistic regression refitted on the cohort", "",
              "Outcome metastatic; coefficients per study unit (D, D* per mm2/s; f per fraction; FF per percent); "
              "Wald SE, 95 % CI and p.", ""]
    for name, fit in stats["logistic"].items():
        lines += [f"**{name}** ({', '.join(fit['inputs'])}): n = {fit['n']} ({fit['n_events']} metastatic), "
                  f"McFadden R2 = {_num(fit['pseudo_r2'])}." + (f" *{fit['message']}*" if fit["message"] else ""), ""]
        published = fit.get("published") or {}
        rows = [[term, _num(c["coef"], 4), _num(c["se"], 3), f"{_num(c['ci_low'], 3)} to {_num(c['ci_high'], 3)}",
                 _p(c["p"]), _num(published.get(term), 6)] for term, c in fit["coefficients"].items()]
        lines += _table(["term", "coefficient", "SE", "95 % CI", "p", "published"], rows) + [""]
    lines += ["## ROC analysis and diagnostic performance", "",
              "AUC with DeLong 95 % CI. Refitted models are evaluated on the cases they were fitted on (optimistic). "
              "Sensitivity, specificity, accuracy in percent; metastatic is positive.", ""]
    rows = []
    for entry in stats["roc"].values():
        t4 = pub["table4"][entry["model"]]
        published_auc = f"{t4['auc']:.3f} ({t4['auc_ci_low']:.3f}-{t4['auc_ci_high']:.3f})"
        if "auc" not in entry:
            rows.append([entry["label"], str(entry["n"]), "-", published_auc, entry.get("message", ""), "", "", "", ""])
            continue
        for cut_name, cut in entry["cutoffs"].items():
            is_study_row = entry["kind"] == "published" and cut_name != "Youden"
            study = (f"{t4['sensitivity']:.2f} / {t4['specificity']:.2f} / {t4['accuracy']:.2f}"
                     if is_study_row else "")
            rows.append([entry["label"], str(entry["n"]), _ci(entry, "auc"), published_auc, cut["rule"],
                         _pct(cut["sensitivity"]), _pct(cut["specificity"]), _pct(cut["accuracy"]), study])
    lines += _table(["score", "n", "AUC (95 % CI)", "study AUC (Table 4)", "rule", "sens", "spec", "acc",
                     "study sens / spec / acc"], rows) + [""]
    lines += ["## Pairwise comparison of AUCs (DeLong test; cases with all three scores)", ""]
    rows = [[p["kind"], p["models"], str(p["n"]), _num(p.get("auc_a")), _num(p.get("auc_b")), _num(p.get("difference")),
             _num(p.get("z")), _p(p.get("p", math.nan)), f"{p['published_p']:.3f}"] for p in stats["pairwise_auc"]]
    lines += _table(["scores", "models", "n", "AUC a", "AUC b", "a - b", "z", "p", "study P"], rows) + [""]
    lines += [f"Study: {pub['table4_note']}. The FF < 23.2 % rule is a derived cut-off (not printed in the study).",
              ""]
    lines += _validation_markdown(stats.get("validation")) + [f"**{RESEARCH_USE_NOTE}**", ""]
    return "\n".join(lines)


def _interval(entry: dict, key: str) -> str:
    ci = entry.get(f"{key}_ci")
    return f"{_num(entry.get(key, math.nan))} ({_num(ci[0])} to {_num(ci[1])})" if ci else _num(entry.get(key, math.nan))


def _validation_markdown(validation: dict | None) -> list[str]:
    """Return the markdown of the external and internal validation tables (TRIPOD)."""
    if not validation:
        return []
    lines = ["## External validation of the published models on this cohort", "",
             "Calibration-in-the-large (0 ideal; > 0: the model under-predicts metastasis here), calibration slope "
             "(1 ideal; < 1: predictions too extreme), Brier score (lower is better) and scaled Brier (1 - Brier / "
             "Brier of the prevalence). Curves: calibration.png, decision_curve.png.", ""]
    rows = []
    for key, entry in validation["external"].items():
        if key not in VALIDATED:
            continue
        if "calibration" not in entry:
            rows.append([key, str(entry["n"]), entry.get("message", ""), "", "", "", "", ""])
            continue
        cal = entry["calibration"]
        rows.append([key, str(entry["n"]), _ci(entry["auc"], "auc"), _interval(cal, "citl"), _interval(cal, "slope"),
                     _num(cal["observed_minus_expected"]), _num(entry["brier"]), _num(entry["scaled_brier"])])
    lines += _table(["probability", "n", "AUC (95 % CI)", "calibration-in-the-large (95 % CI)",
                     "calibration slope (95 % CI)", "observed - expected", "Brier", "scaled Brier"], rows) + [""]
    lines += ["## Internal validation of the refitted models", "",
              validation["note"], ""]
    rows = []
    for name, entry in validation["internal"].items():
        boot, cv = entry["bootstrap"], entry["cross_validation"]
        if "apparent" not in boot:
            rows.append([name, str(boot["n"]), boot.get("message", ""), "", "", "", ""])
            continue
        a, c, o = boot["apparent"], boot["corrected"], boot["optimism"]
        rows.append([name, str(boot["n"]), f"{_num(a['auc'])} / {_num(c['auc'])} (optimism {_num(o['auc'])})",
                     f"{_num(a['slope'])} / {_num(c['slope'])}", f"{_num(a['brier'])} / {_num(c['brier'])}",
                     f"{cv['k']}-fold: {_ci(cv, 'auc')}" if "auc" in cv else cv.get("message", "-"),
                     f"{boot['n_boot'] - boot['skipped']} of {boot['n_boot']} (seed {boot['seed']})"])
    lines += _table(["model", "n", "AUC apparent / corrected", "slope apparent / corrected",
                     "Brier apparent / corrected", "cross-validated AUC (95 % CI)",
                     "bootstrap refits"], rows) + [""]
    return lines


# --------------------------------------------------------------------------------------------- figures
def _figure_api():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(MATPLOTLIB_MISSING) from error
    return Figure, FigureCanvasAgg


def draw_roc(ax, stats: dict) -> None:
    """Draw every ROC curve of ``stats`` on ``ax`` (published scores solid, refitted dashed)."""
    colours = {"MRS": "tab:green", "IVIM": "tab:orange", "combined": "tab:purple"}
    for entry in stats["roc"].values():
        if "curve" not in entry:
            continue
        ax.step(entry["curve"]["fpr"], entry["curve"]["tpr"], where="post", color=colours[entry["model"]],
                linestyle="-" if entry["kind"] == "published" else "--", linewidth=1.3,
                label=f"{entry['label']}: AUC {entry['auc']:.3f}")
    ax.plot([0, 1], [0, 1], color="0.7", linewidth=0.8)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity (metastatic)")
    ax.legend(fontsize=6, loc="lower right")


def draw_boxplots(axes, rows: list[dict], source: str = "results table") -> None:
    """Draw one box plot per parameter (display units) by group on ``axes`` (at least 6 axes)."""
    table = select_cases(rows, source)
    rng = np.random.default_rng(0)
    for ax, (column, display, unit, scale) in zip(axes, PARAMETERS):
        data = [table.values[column][(table.y == label) & np.isfinite(table.values[column])] * scale
                for label in (0, 1)]
        if not any(d.size for d in data):
            ax.text(0.5, 0.5, f"{display}: no values", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            continue
        ax.boxplot([d if d.size else [np.nan] for d in data], showfliers=False, widths=0.5)
        for position, (d, group) in enumerate(zip(data, (OSTEOPOROTIC, METASTATIC)), start=1):
            ax.plot(position + rng.uniform(-0.12, 0.12, d.size), d, "o", markersize=2.5, alpha=0.6,
                    color=GROUP_COLOURS[group])
        ax.set_xticks([1, 2])
        ax.set_xticklabels([f"osteoporotic\n(n={data[0].size})", f"metastatic\n(n={data[1].size})"], fontsize=7)
        ax.set_title(f"{display} ({unit})", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)


def draw_calibration(ax, histogram_ax, stats: dict) -> None:
    """Draw the calibration curves (quantile bins with Wilson CIs, LOWESS) of the published probabilities, and
    the histogram of predictions by group below them."""
    external = stats.get("validation", {}).get("external", {})
    for key, (label, colour) in VALIDATED.items():
        curve = external.get(key, {}).get("calibration_curve")
        if not curve:
            continue
        bins = curve["bins"]
        x = [b["mean_predicted"] for b in bins]
        yv = [b["observed"] for b in bins]
        err = [[b["observed"] - b["ci"][0] for b in bins], [b["ci"][1] - b["observed"] for b in bins]]
        ax.errorbar(x, yv, yerr=err, fmt="o", color=colour, ms=4, capsize=2, label=f"{label} (bins)")
        ax.plot(curve["lowess"]["predicted"], curve["lowess"]["observed"], color=colour, lw=1.2,
                label=f"{label} (LOWESS)")
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, linestyle="--", label="ideal")
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("observed fraction metastatic")
    ax.legend(fontsize=6.5, loc="upper left")
    ax.set_title("Calibration of the published models on this cohort", fontsize=9)
    predictions = stats.get("validation", {}).get("predictions", {})
    for key, (label, colour) in VALIDATED.items():
        values = np.asarray(predictions.get(key, []), float)
        if values.size:
            histogram_ax.hist(values[np.isfinite(values)], bins=20, range=(0, 1), color=colour, alpha=0.5,
                              label=label)
    histogram_ax.set_xlim(0, 1)
    histogram_ax.set_xlabel("predicted probability of metastasis")
    histogram_ax.set_ylabel("cases", fontsize=7)
    histogram_ax.tick_params(labelsize=7)


def draw_decision_curve(ax, stats: dict) -> None:
    """Draw the net benefit of the published probabilities, the FF rule, treat all and treat none."""
    external = stats.get("validation", {}).get("external", {})
    curves = [(key, *VALIDATED[key]) for key in VALIDATED] + [("FF_rule", "MRS: FF < 23.2 % (rule)", "tab:green")]
    treat_all = None
    for key, label, colour in curves:
        curve = external.get(key, {}).get("decision_curve")
        if not curve:
            continue
        ax.plot(curve["thresholds"], curve["model"], color=colour, lw=1.3, label=label)
        treat_all = treat_all or curve
    if treat_all:
        ax.plot(treat_all["thresholds"], treat_all["treat_all"], color="0.4", lw=1, linestyle=":",
                label="treat all as metastatic")
        ax.axhline(0, color="0.2", lw=0.8, label="treat none")
        top = max(max(treat_all["treat_all"]), 0.05)
        ax.set_ylim(-0.05, top * 1.15)
    ax.set_xlim(0, 1)
    ax.set_xlabel("threshold probability")
    ax.set_ylabel("net benefit")
    ax.legend(fontsize=6.5, loc="upper right")
    ax.set_title("Decision curves", fontsize=9)


def validation_page(stats: dict):
    """Return the second A4 page of stats.pdf: calibration, decision curves and the validation tables."""
    Figure, FigureCanvasAgg = _figure_api()
    figure = Figure(figsize=(8.27, 11.69), dpi=100)
    FigureCanvasAgg(figure)
    figure.suptitle("Validation on this cohort (TRIPOD)", fontsize=12, fontweight="bold")
    figure.text(0.5, 0.955, RESEARCH_USE_NOTE, ha="center", fontsize=8.5, color="darkred")
    grid = figure.add_gridspec(2, 2, height_ratios=[3, 1], left=0.09, right=0.97, top=0.92, bottom=0.55,
                               hspace=0.08, wspace=0.3)
    calibration_ax = figure.add_subplot(grid[0, 0])
    histogram_ax = figure.add_subplot(grid[1, 0], sharex=calibration_ax)
    calibration_ax.tick_params(labelbottom=False)
    draw_calibration(calibration_ax, histogram_ax, stats)
    draw_decision_curve(figure.add_subplot(grid[:, 1]), stats)
    text = [line.replace("|", " ") for line in _validation_markdown(stats.get("validation"))
            if not line.startswith(("|--", "|---")) and not line.startswith("## ")]
    figure.text(0.05, 0.5, "\n".join(textwrap.fill(line, 150) for line in text), family="monospace",
                fontsize=5.6, va="top")
    return figure


def _save(figure, path: Path, fmt: str, overwrite: bool) -> str:
    with atomic_output(path, overwrite) as temporary:
        figure.savefig(temporary, format=fmt)
    return str(path.resolve())


def _summary_lines(stats: dict) -> list[str]:
    """Return a short monospace summary (performance beside Table 4) for the PDF page."""
    c = stats["cohort"]
    lines = [f"{c['n_cases']} cases ({c['n_osteoporotic']} osteoporotic, {c['n_metastatic']} metastatic) from "
             f"{os.path.basename(str(c['source']))}; {c['selection']}", "",
             f"{'score':<16}{'rule':<17}{'AUC (95% CI)':<22}{'sens %':>8}{'spec %':>8}{'acc %':>8}"]
    for key, entry in stats["roc"].items():
        if "auc" not in entry:
            lines.append(f"{key:<16}{entry.get('message', '')}")
            continue
        for cut in entry["cutoffs"].values():
            lines.append(f"{key:<16}{cut['rule'][:16]:<17}{_ci(entry, 'auc'):<22}"
                         f"{_pct(cut['sensitivity']):>8}{_pct(cut['specificity']):>8}{_pct(cut['accuracy']):>8}")
    lines += ["", "Study (Table 4): MRS 87.50 / 57.89 / 71.43 %, AUC 0.730; IVIM 78.13 / 89.47 / 84.28 %, AUC 0.875;",
              "                 combined 90.63 / 97.37 / 94.29 %, AUC 0.964 (MRS rule: FF < 23.2 %, a derived cut-off)",
              "", "DeLong tests of AUCs:"]
    lines += [f"  {p['kind']:<10}{p['models']:<18}p = {_p(p.get('p', math.nan)):<8} (study P {p['published_p']:.3f})"
              for p in stats["pairwise_auc"]]
    lines += ["", "Refitted models are evaluated on the cases they were fitted on (optimistic). Full tables: stats.md."]
    return lines


def summary_page(stats: dict, rows: list[dict]):
    """Return the one-page A4 summary figure (ROC, box plots, performance beside Table 4, research note)."""
    Figure, FigureCanvasAgg = _figure_api()
    figure = Figure(figsize=(8.27, 11.69), dpi=100)
    FigureCanvasAgg(figure)
    figure.suptitle(stats["title"], fontsize=12, fontweight="bold")
    figure.text(0.5, 0.955, RESEARCH_USE_NOTE, ha="center", fontsize=8.5, color="darkred")
    grid = figure.add_gridspec(3, 3, height_ratios=[1.5, 1.0, 1.0], left=0.08, right=0.97, top=0.92,
                               bottom=0.36, hspace=0.5, wspace=0.35)
    roc_axes = figure.add_subplot(grid[0, 0:2])
    draw_roc(roc_axes, stats)
    handles, labels = roc_axes.get_legend_handles_labels()
    roc_axes.get_legend().remove()
    legend_axes = figure.add_subplot(grid[0, 2])
    legend_axes.set_axis_off()
    legend_axes.legend(handles, [textwrap.fill(label, 36) for label in labels], fontsize=6.5,
                       loc="center left", frameon=False)
    source = str(stats.get("cohort", {}).get("source", "results table"))
    draw_boxplots([figure.add_subplot(grid[1 + i // 3, i % 3]) for i in range(6)], rows, source)
    figure.text(0.05, 0.31, "\n".join(_summary_lines(stats)), family="monospace", fontsize=6.3, va="top")
    return figure


@drawn_with(TEXT_AS_TYPED)  # the table's file name and the model labels are printed as typed
def write_cohort_outputs(stats: dict, rows: list[dict], out_dir: str | os.PathLike,
                         overwrite: bool = False) -> dict[str, str]:
    """Write the cohort files (:data:`OUTPUT_FILES`) into ``out_dir``; return ``{name: absolute path}``.

    ``rows`` are the same rows given to ``analyze_cohort`` (for the box plots). Refuses (FileExistsError,
    naming the file) before writing anything if an output exists and ``overwrite`` is False.
    """
    out = Path(out_dir)
    targets = {name: out / name for name in OUTPUT_FILES}
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{existing[0]}: exists; pass overwrite=True (--force) to replace it")
    Figure, FigureCanvasAgg = _figure_api()
    source = str(stats.get("cohort", {}).get("source", "results table"))
    written = {}
    text = json.dumps(to_jsonable(stats), indent=1, allow_nan=False)
    with atomic_output(targets["stats.json"], overwrite) as temporary:
        temporary.write_text(text + "\n", encoding="utf-8")
    written["stats.json"] = str(targets["stats.json"].resolve())
    with atomic_output(targets["stats.md"], overwrite) as temporary:
        temporary.write_text(render_markdown(stats), encoding="utf-8")
    written["stats.md"] = str(targets["stats.md"].resolve())

    figure = Figure(figsize=(6.5, 6.5), dpi=110)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot(1, 1, 1)
    draw_roc(ax, stats)
    ax.set_title("ROC: metastatic vs osteoporotic", fontsize=10)
    figure.text(0.5, 0.01, RESEARCH_USE_NOTE, ha="center", fontsize=7, color="darkred")
    written["roc.png"] = _save(figure, targets["roc.png"], "png", overwrite)

    figure = Figure(figsize=(10, 6.5), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.subplots(2, 3).ravel()
    draw_boxplots(axes, rows, source)
    figure.suptitle("Parameters by group", fontsize=11)
    figure.text(0.5, 0.01, RESEARCH_USE_NOTE, ha="center", fontsize=7, color="darkred")
    figure.subplots_adjust(hspace=0.45, wspace=0.3, bottom=0.1)
    written["boxplots.png"] = _save(figure, targets["boxplots.png"], "png", overwrite)

    figure = Figure(figsize=(6.5, 7.5), dpi=110)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(2, 1, height_ratios=[3, 1], hspace=0.08)
    calibration_ax = figure.add_subplot(grid[0])
    histogram_ax = figure.add_subplot(grid[1], sharex=calibration_ax)
    calibration_ax.tick_params(labelbottom=False)
    draw_calibration(calibration_ax, histogram_ax, stats)
    figure.text(0.5, 0.01, RESEARCH_USE_NOTE, ha="center", fontsize=7, color="darkred")
    written["calibration.png"] = _save(figure, targets["calibration.png"], "png", overwrite)

    figure = Figure(figsize=(6.5, 5.5), dpi=110)
    FigureCanvasAgg(figure)
    draw_decision_curve(figure.add_subplot(1, 1, 1), stats)
    figure.text(0.5, 0.01, RESEARCH_USE_NOTE, ha="center", fontsize=7, color="darkred")
    written["decision_curve.png"] = _save(figure, targets["decision_curve.png"], "png", overwrite)

    from matplotlib.backends.backend_pdf import PdfPages

    with atomic_output(targets["stats.pdf"], overwrite) as temporary, PdfPages(temporary) as pdf:
        pdf.savefig(summary_page(stats, rows))
        pdf.savefig(validation_page(stats))
    written["stats.pdf"] = str(targets["stats.pdf"].resolve())
    return written
