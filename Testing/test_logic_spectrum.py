"""Logic.loadSpectrum on a real Siemens RDA: the voxel as an oriented markups ROI in RAS, and the plot."""

from __future__ import annotations

import re

import numpy as np
import pytest

from VCFDiagnosisLib.mrml import nodes


def _rda_header(path) -> dict:
    text = path.read_bytes().split(b">>> End of header <<<")[0].decode("latin-1")
    return dict(re.findall(r"^([A-Za-z\[\]0-9]+): (.*?)\r?$", text, re.M))


def test_rda_voxel_becomes_an_oriented_roi_node_in_ras(logic, data_dir):
    path = data_dir / "mrs" / "suspect" / "SVS_30.rda"
    header = _rda_header(path)
    loaded = logic.loadSpectrum(str(path), name="svs30")
    roi = loaded.voxel_roi
    lps = np.array([float(header[f"VOIPosition{a}"]) for a in ("Sag", "Cor", "Tra")])
    np.testing.assert_allclose(roi.GetCenter(), lps * [-1, -1, 1], atol=1e-4)  # LPS -> RAS
    np.testing.assert_allclose(sorted(roi.GetSize()), sorted(
        float(header[k]) for k in ("VOIReadoutFOV", "VOIPhaseFOV", "VOIThickness")), atol=1e-6)
    row = np.array([float(header[f"RowVector[{i}]"]) for i in range(3)]) * [-1, -1, 1]
    column = np.array([float(header[f"ColumnVector[{i}]"]) for i in range(3)]) * [-1, -1, 1]
    axes = nodes.slicer.util.arrayFromVTKMatrix(roi.GetObjectToNodeMatrix())[:3, :3]
    # each ROI axis is parallel to the RDA row or column direction or their normal
    for direction in (row, column, np.cross(row, column)):
        assert np.max(np.abs(axes.T @ (direction / np.linalg.norm(direction)))) == pytest.approx(1.0, abs=1e-4)
    chart = loaded.chart
    assert tuple(chart.GetXAxisRange()) == (6.5, 0.0)  # high ppm on the left
    assert chart.GetNumberOfPlotSeriesNodes() >= 3
    table = loaded.table
    ppm = nodes.slicer.util.arrayFromTableColumn(table, "ppm")
    assert ppm.min() >= 0 and ppm.max() <= 6.5 and table.GetNumberOfRows() == ppm.size
    assert loaded.result.frequency_mhz == pytest.approx(float(header["MRFrequency"]))


def test_unreadable_spectrum_is_a_clear_error(logic, tmp_path):
    bad = tmp_path / "broken.rda"
    bad.write_bytes(b">>> Begin of header <<<\r\nVectorSize: 1024\r\n>>> End of header <<<\r\n" + b"\0" * 100)
    with pytest.raises(ValueError, match="broken.rda"):
        logic.loadSpectrum(str(bad))
