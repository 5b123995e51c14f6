"""The one-page case report: a regular grid read top-left to bottom-right, equal map panels with colour bars of
their height, plain-number ticks on the log decay axis, no empty band, A4 PNG and PDF.

Inspects the figure of :func:`build_case_figure` (positions in figure fractions after a draw), built from a
small phantom case in memory (the spectrum comes from the phantom's RDA file).
"""

from __future__ import annotations

import copy
import re
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from VCFDiagnosisLib import __version__
from VCFDiagnosisLib.analysis import report
from VCFDiagnosisLib.analysis.case_analysis import MrsVoxel, analyze_roi
from VCFDiagnosisLib.analysis.decay import DecayCurves, RoiDecay
from VCFDiagnosisLib.analysis.study_models import FF_CUTOFF_NOTE, RESEARCH_USE_NOTE
from VCFDiagnosisLib.ivim import fit_dwi_volume
from VCFDiagnosisLib.mrs import quantify_spectrum, read_spectrum
from VCFDiagnosisLib.phantom import generate_patient, simulate_patient

MAP_ATTRIBUTES = ("D_mm2_s", "Dstar_mm2_s", "f_fraction")
PHANTOM = {"seed": 1, "group": "metastatic", "matrix": 64, "n_slices": 6}


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict:
    """The report's inputs for one phantom case: DWI, lesion mask, voxelwise maps, results row, MRS, voxel."""
    written = generate_patient(tmp_path_factory.mktemp("report-case"), **PHANTOM)
    data = simulate_patient(**PHANTOM)  # the same patient (same seed and grid) in memory
    maps = fit_dwi_volume(data.dwi, mask=data.lesion_mask)
    spectrum = read_spectrum(str(written.rda_path))
    mrs = quantify_spectrum(spectrum)
    voxel = MrsVoxel(spectrum.voxel_center_ras, spectrum.voxel_size_mm, spectrum.voxel_orientation_ras)
    row = analyze_roi(data.dwi, data.lesion_mask, "lesion", data.case_id, maps=maps, mrs=mrs, mrs_voxel=voxel)
    return {"case_id": data.case_id, "dwi": data.dwi, "masks": {"lesion": data.lesion_mask}, "rows": [row],
            "maps": maps, "mrs": mrs, "mrs_voxel": voxel}


def _drawn(figure):
    figure.canvas.draw()
    return figure


@pytest.fixture(scope="module")
def figure(case):
    return _drawn(report.build_case_figure(**case))


@pytest.fixture(scope="module")
def bare_figure(case):
    """The same case without maps and without a spectrum."""
    return _drawn(report.build_case_figure(**{**case, "maps": None, "mrs": None, "mrs_voxel": None}))


def _axes(figure) -> dict:
    return {ax.get_label(): ax for ax in figure.axes}


def _box(ax):
    return ax.get_position()  # figure fractions, after the draw


def _texts(figure) -> list:
    from matplotlib.text import Text

    return [t for t in figure.findobj(Text) if t.get_visible() and t.get_text()]


def _pixels_top(artist, figure) -> float:
    return artist.get_window_extent(figure.canvas.get_renderer()).y1


def _numbers_text(figure):
    """The monospace numbers block (the text of the ``numbers`` axes that holds the table header)."""
    numbers = _axes(figure)["numbers"]
    return next(t for t in numbers.texts if t.get_text().startswith("ROI"))


def test_maps_are_one_row_of_equal_panels_in_order_d_dstar_f(figure, case):
    axes = _axes(figure)
    boxes = [_box(axes[f"map:{name}"]) for name in MAP_ATTRIBUTES]
    width, height = boxes[0].width, boxes[0].height
    for box in boxes:
        assert box.width == pytest.approx(width, rel=0.01) and box.height == pytest.approx(height, rel=0.01)
        assert box.y0 == pytest.approx(boxes[0].y0, abs=0.002)  # one row
    # left to right, not overlapping, and large enough to read (> 1.2 inch on the A4 page)
    assert boxes[0].x1 < boxes[1].x0 and boxes[1].x1 < boxes[2].x0
    assert width * figure.get_figwidth() > 1.2 and height * figure.get_figheight() > 1.2
    # the panels show the maps in the report's units and ranges
    row = case["rows"][0]
    for name, (low, high), expected in zip(MAP_ATTRIBUTES, [(0, 3), (0, 100), (0, 0.5)],
                                           [row["D"] * 1e3, row["Dstar"] * 1e3, row["f"]]):
        ax = axes[f"map:{name}"]
        assert ax.get_title().split(" [")[0] == {"D_mm2_s": "D", "Dstar_mm2_s": "D*", "f_fraction": "f"}[name]
        image = ax.get_images()[-1]
        assert image.get_clim() == (low, high)
        assert 0.5 < np.nanmedian(image.get_array().filled(np.nan)) / expected < 2.0


def test_each_map_has_a_colour_bar_of_its_height_beside_it(figure):
    axes = _axes(figure)
    boxes = [_box(axes[f"map:{name}"]) for name in MAP_ATTRIBUTES]
    for n, name in enumerate(MAP_ATTRIBUTES):
        image, bar = boxes[n], _box(axes[f"colorbar:{name}"])
        assert bar.height == pytest.approx(image.height, rel=0.01)
        assert bar.y0 == pytest.approx(image.y0, abs=0.002)
        assert image.x1 <= bar.x0 < image.x1 + 0.03  # right next to its image
        assert bar.width < 0.3 * image.width
        if n < 2:
            assert bar.x1 < boxes[n + 1].x0  # before the next map


def test_panels_read_top_to_bottom_on_a_grid(figure):
    axes = _axes(figure)
    b0, decay, spectrum = _box(axes["b0"]), _box(axes["decay"]), _box(axes["spectrum"])
    maps = [_box(axes[f"map:{name}"]) for name in MAP_ATTRIBUTES]
    assert b0.y0 > max(m.y1 for m in maps)  # row 1 above row 2
    assert b0.x0 == pytest.approx(maps[0].x0, abs=0.002) == pytest.approx(decay.x0, abs=0.002)  # one left edge
    # row 3: decay (left) and spectrum (right) below the maps, same row, same size
    assert max(decay.y1, spectrum.y1) < min(m.y0 for m in maps)
    assert decay.y0 == pytest.approx(spectrum.y0, abs=0.002)
    assert decay.height == pytest.approx(spectrum.height, rel=0.01)
    assert decay.width == pytest.approx(spectrum.width, rel=0.01)
    assert decay.x1 < spectrum.x0
    # row 4: the numbers right below row 3, clear of its tick and axis labels
    renderer = figure.canvas.get_renderer()
    text_top = _pixels_top(_numbers_text(figure), figure)
    labels_bottom = min(axes[name].get_tightbbox(renderer).y0 for name in ("decay", "spectrum"))
    assert text_top < labels_bottom
    gap = min(decay.y0, spectrum.y0) - text_top / figure.bbox.height
    assert 0 < gap < 0.10


def test_no_large_empty_band_on_the_page(figure):
    """Everything drawn covers the page from the title down to a small bottom margin, without a wide gap."""
    renderer = figure.canvas.get_renderer()
    extents = [ax.get_tightbbox(renderer) for ax in figure.axes if ax.axison]
    extents += [t.get_window_extent(renderer) for t in _texts(figure)]
    spans = sorted((e.y0 / figure.bbox.height, e.y1 / figure.bbox.height) for e in extents if e.height > 0)
    covered_to, widest_gap = spans[0][1], 0.0
    for low, high in spans[1:]:
        widest_gap = max(widest_gap, low - covered_to)
        covered_to = max(covered_to, high)
    assert widest_gap < 0.06, widest_gap
    assert 0.0 <= spans[0][0] < 0.08  # bottom margin under 8 % of the page
    assert max(high for _, high in spans) <= 1.0


def test_tick_labels_are_plain_numbers_without_offset_or_multiplier(figure, case):
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            assert axis.get_offset_text().get_text() == "", ax.get_label()
            for label in axis.get_majorticklabels() + axis.get_minorticklabels():
                text = label.get_text()
                assert "×" not in text and "\\times" not in text and "^" not in text and "e+" not in text, (
                    ax.get_label(), text)
    decay = _axes(figure)["decay"]
    assert decay.get_yscale() == "log"
    low, high = decay.get_ylim()
    shown = [label for label in decay.yaxis.get_majorticklabels()
             if label.get_text() and low <= label.get_position()[1] <= high]
    assert len(shown) >= 2
    for label in shown:  # each label is the plain value of its tick
        assert float(label.get_text()) == pytest.approx(label.get_position()[1], rel=1e-3)
    assert "b [s/mm2]" in decay.get_xlabel()
    # the decay plot shows the ROI's mean signal and its fit
    assert decay.get_lines() and low < float(np.min(case["dwi"].data[:, case["masks"]["lesion"]].mean(axis=1)))


@pytest.mark.parametrize(("low", "high"), [(880.0, 1000.0), (5.0, 40000.0), (0.02, 0.9), (300.0, 1000.0)])
def test_decay_axis_ticks_stay_plain_for_narrow_and_wide_ranges(case, low, high):
    """A given ``decay`` is drawn as is: narrow and wide signal ranges both get >= 2 plain labels."""
    b = np.array([0.0, 100.0, 400.0, 800.0])
    mean = np.geomspace(high / 1.1, low * 1.1, b.size)
    decay = DecayCurves(b, np.linspace(0, 800, 11), [RoiDecay("custom", mean, 0.01 * mean, None)])
    figure = _drawn(report.build_case_figure(**{**case, "decay": decay}))
    ax = _axes(figure)["decay"]
    assert "custom mean +- SD" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert ax.yaxis.get_offset_text().get_text() == ""
    view_low, view_high = ax.get_ylim()
    labels = [t.get_text() for t in ax.yaxis.get_majorticklabels()
              if t.get_text() and view_low <= t.get_position()[1] <= view_high]
    assert len(labels) >= 2, labels
    assert all("e" not in text and "×" not in text and "$" not in text for text in labels), labels


def test_report_keeps_its_content_items(figure, case):
    texts = [t.get_text() for t in _texts(figure)]
    joined = "\n".join(texts)
    assert f"VCFDiagnosis case report: {case['case_id']}" in texts
    red_notes = [t for t in _texts(figure) if t.get_text() == RESEARCH_USE_NOTE and t.get_color() == "darkred"]
    assert len(red_notes) == 2  # under the title and at the end of the numbers
    title_note = max(red_notes, key=lambda t: t.get_position()[1])
    assert title_note.get_position()[1] > _box(_axes(figure)["b0"]).y1
    block = _numbers_text(figure).get_text()
    assert block.splitlines()[2].startswith("lesion") and "metastatic" in block.splitlines()[2]
    assert block.startswith("ROI") and "Models: Tan et al. 2019" in block and FF_CUTOFF_NOTE in block
    assert f"VCFDiagnosis {__version__}, " in block and "case ID only" in block
    assert _numbers_text(figure).get_fontfamily()[0] == "monospace"
    spectrum = _axes(figure)["spectrum"]
    assert spectrum.get_title().startswith("MRS: LWR ") and " FF " in spectrum.get_title()
    assert spectrum.get_xlim() == (6.5, 0.0) and len(spectrum.get_lines()) == 3
    b0 = _axes(figure)["b0"]
    assert "ROI (red), MRS voxel (yellow)" in b0.get_title(loc="left") and "slice " in b0.get_xlabel()
    contour_colours = {tuple(np.round(c.get_edgecolor()[0][:3], 2)) for c in b0.collections}
    assert {(1.0, 0.0, 0.0), (1.0, 1.0, 0.0)} <= contour_colours  # ROI red, MRS voxel yellow
    assert "Slice " in joined and "b-values: " in joined


def test_without_maps_and_spectrum_placeholders_keep_the_grid(figure, bare_figure):
    full, bare = _axes(figure), _axes(bare_figure)
    for name in MAP_ATTRIBUTES:
        placeholder, mapped = _box(bare[f"map:{name}"]), _box(full[f"map:{name}"])
        assert placeholder.width == pytest.approx(mapped.width, rel=0.01)
        assert placeholder.height == pytest.approx(mapped.height, rel=0.01)
        assert placeholder.y0 == pytest.approx(mapped.y0, abs=0.002)
        assert placeholder.x0 == pytest.approx(mapped.x0, abs=0.002)
        assert [t.get_text() for t in bare[f"map:{name}"].texts] == ["map not computed"]
        assert f"colorbar:{name}" not in bare
    assert [t.get_text() for t in bare["spectrum"].texts] == ["no spectrum"]
    assert _box(bare["spectrum"]).height == pytest.approx(_box(bare["decay"]).height, rel=0.01)
    assert bare["decay"].get_lines()  # the decay is computed from the DWI when not given


def test_a_long_numbers_table_shrinks_the_images_not_the_page(case):
    """Twelve ROIs with messages: the numbers stay on the page and clear of row 3, the maps stay equal."""
    rows, masks = [], {}
    for n in range(12):
        row = copy.deepcopy(case["rows"][0])
        row.update(roi=f"roi {n}", message="a long warning message that wraps over more than one line " * 3)
        rows.append(row)
        masks[f"roi {n}"] = case["masks"]["lesion"]
    figure = _drawn(report.build_case_figure(**{**case, "rows": rows, "masks": masks}))
    axes = _axes(figure)
    block = _numbers_text(figure).get_window_extent(figure.canvas.get_renderer())
    assert block.y0 >= 0 and block.y1 / figure.bbox.height < _box(axes["decay"]).y0
    boxes = [_box(axes[f"map:{name}"]) for name in MAP_ATTRIBUTES]
    assert all(b.width == pytest.approx(boxes[0].width, rel=0.01) for b in boxes)
    assert _box(axes["b0"]).y0 > boxes[0].y1


def test_render_writes_a4_png_and_pdf(case, tmp_path):
    png, pdf = tmp_path / "report.png", tmp_path / "report.pdf"
    written = report.render_case_report(str(png), str(pdf), **case)
    assert written == [str(png.resolve()), str(pdf.resolve())]
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n" and header[12:16] == b"IHDR"
    width, height = struct.unpack(">II", header[16:24])
    assert report.PAGE_SIZE_IN == (8.27, 11.69)
    # 8.27 x 11.69 inch at the report's resolution (matplotlib truncates the fraction of a pixel)
    assert report.REPORT_DPI >= 100
    assert abs(width - 8.27 * report.REPORT_DPI) < 1 and abs(height - 11.69 * report.REPORT_DPI) < 1
    content = pdf.read_bytes()
    assert content.startswith(b"%PDF") and b"/MediaBox [ 0 0 595.44 841.68 ]" in content
    # the same report without maps and spectrum, PNG only; an existing file is not replaced without overwrite
    bare = report.render_case_report(str(tmp_path / "bare.png"), None,
                                     **{**case, "maps": None, "mrs": None, "mrs_voxel": None})
    assert bare == [str((tmp_path / "bare.png").resolve())] and (tmp_path / "bare.png").stat().st_size > 10_000
    with pytest.raises(FileExistsError):
        report.render_case_report(str(png), None, **case)


def test_matplotlib_is_not_imported_with_the_module():
    code = "import sys, VCFDiagnosisLib.analysis.report; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=str(report.Path(report.__file__).parents[2]))
    assert result.stdout.strip() == "False"


def _pdf_fonts(content: bytes) -> set[bytes]:
    return set(re.findall(rb"/BaseFont /([\w+-]+)", content))


def _pdf_page_text(content: bytes) -> bytes:
    """Return the PDF's streams inflated and joined (its page content: text operators and strings)."""
    streams = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", content, re.S):
        try:
            streams.append(zlib.decompress(match.group(1)))
        except zlib.error:
            continue
    return b"\n".join(streams)


def _pdf_string(text: str) -> bytes:
    """Return how a PDF writes ``text`` in a standard font: a literal string, backslash and parentheses escaped."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    return f"({escaped}".encode("cp1252")


def test_pdf_text_is_plain_text_in_the_standard_fonts_and_shown_as_typed(case, tmp_path):
    # '$...$' would be typeset as math (or fail, as '$\\frac$' did) if a case id or ROI name were parsed as math
    case_id, roi = "Fx-12 $x_1$ Müller", "Läsion $2$"
    pdf = tmp_path / "report.pdf"
    report.render_case_report(None, str(pdf), **{**case, "case_id": case_id, "rows": [{**case["rows"][0], "roi": roi}]})
    content = pdf.read_bytes()
    assert _pdf_fonts(content) == {b"Helvetica", b"Helvetica-Bold", b"Courier"}  # the standard fonts, nothing embedded
    assert b"/FontFile" not in content and b"/Type3" not in content
    text = _pdf_page_text(content)
    for typed in (f"VCFDiagnosis case report: {case_id}", RESEARCH_USE_NOTE, f"{roi:<12}"):
        assert _pdf_string(typed) in text  # one string, as typed, in the fonts' encoding (Windows-1252)
    # a '$\frac$' case id draws (it raised ValueError from the math parser)
    report.render_case_report(str(tmp_path / "frac.png"), str(tmp_path / "frac.pdf"), **{**case, "case_id": "a$\\frac$b"})
    assert _pdf_string("VCFDiagnosis case report: a$\\frac$b") in _pdf_page_text((tmp_path / "frac.pdf").read_bytes())


def test_pdf_embeds_its_fonts_for_text_beyond_the_standard_fonts(case, tmp_path):
    pdf = tmp_path / "report.pdf"
    report.render_case_report(None, str(pdf), **{**case, "rows": [{**case["rows"][0], "roi": "Läsion Ω"}]})
    fonts = _pdf_fonts(pdf.read_bytes())
    assert fonts and all(b"DejaVu" in font for font in fonts)  # Ω is not in Windows-1252: embedded fonts


def test_standard_fonts_print_no_font_notice(tmp_path):
    # matplotlib logs 'Failed to find font weight normal for Helvetica' the first time in a process; not shown
    code = ("import sys, logging; logging.basicConfig(); from VCFDiagnosisLib.analysis import report; "
            "from VCFDiagnosisLib.analysis.case_analysis import analyze_roi; "
            "from VCFDiagnosisLib.phantom import simulate_patient; "
            f"data = simulate_patient(**{PHANTOM!r}); "
            "row = analyze_roi(data.dwi, data.lesion_mask, 'lesion', data.case_id); "
            "report.render_case_report(None, sys.argv[1], case_id=data.case_id, dwi=data.dwi, "
            "masks={'lesion': data.lesion_mask}, rows=[row]); "
            "print(len(logging.getLogger('matplotlib.font_manager').filters))")
    pdf = tmp_path / "report.pdf"
    result = subprocess.run([sys.executable, "-c", code, str(pdf)], capture_output=True, text=True, check=True,
                            cwd=str(report.Path(report.__file__).parents[2]))
    assert b"Helvetica" in pdf.read_bytes()
    assert "findfont" not in result.stderr, result.stderr
    assert result.stdout.strip() == "0"  # the filter is removed afterwards


def test_without_matplotlib_the_report_says_how_to_install_it():
    code = ("import sys; sys.modules['matplotlib'] = None  # as if not installed\n"
            "from VCFDiagnosisLib.analysis import report\n"
            "try:\n    report.build_case_figure(case_id='x', dwi=None, masks={}, rows=[])\n"
            "except ImportError as error:\n    print(error)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=str(report.Path(report.__file__).parents[2]))
    assert result.stdout.strip() == report.MATPLOTLIB_MISSING
