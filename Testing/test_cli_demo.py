"""The vcfdiagnosis command: --help, --version, and the demo (phantom -> MRML scene -> .mrb that re-opens)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from VCFDiagnosisLib import __version__
from VCFDiagnosisLib.analysis.results import read_results_tsv
from VCFDiagnosisLib.app.cli import main
from VCFDiagnosisLib.mrml import headless


def test_version_and_help_run_as_a_program():
    version = subprocess.run([sys.executable, "-m", "VCFDiagnosisLib.app.cli", "--version"],
                             capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"vcfdiagnosis {__version__}"
    helptext = subprocess.run([sys.executable, "-m", "VCFDiagnosisLib.app.cli", "--help"],
                              capture_output=True, text=True, check=True).stdout
    for command in ("demo", "phantom"):
        assert command in helptext
    assert "not a diagnosis" in helptext


def test_demo_runs_a_phantom_through_the_pipeline_and_the_bundle_reopens_intact(scene, tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--seed", "2", "--group", "osteoporotic"]) == 0
    printed = capsys.readouterr().out
    assert "Research use only" in printed and "phantom-osteoporotic-2" in printed
    case_dir = tmp_path / "phantoms" / "phantom-osteoporotic-2"
    for relative in ("truth.json", "roi/lesion.seg.nrrd", "roi/lesion_label.nii.gz", "mrs/lesion.rda"):
        assert (case_dir / relative).is_file(), relative
    assert len(list((case_dir / "dwi").iterdir())) == 8 * 10
    out = tmp_path / "phantom-osteoporotic-2"
    for relative in ("results.tsv", "mrs.json", "report.png", "report.pdf", "roi.seg.nrrd", "maps/D.nrrd",
                     "maps/status.nrrd"):
        assert (out / relative).stat().st_size > 0, relative
    rows = read_results_tsv(out / "results.tsv")
    truth = json.loads((case_dir / "truth.json").read_text())["lesion"]
    assert rows[0]["D"] == pytest.approx(truth["D_mm2_s"], rel=0.1)
    assert rows[0]["FF"] == pytest.approx(truth["FF_percent"], abs=2)
    reopened = headless.open_scene_bundle(str(out / "phantom-osteoporotic-2.mrb"))
    sequence = reopened.GetFirstNode("phantom-osteoporotic-2 DWI", "vtkMRMLSequenceNode")
    assert sequence.GetNumberOfDataNodes() == 8
    assert sequence.GetAttribute("MultiVolume.FrameLabels") == "0,50,100,150,200,400,600,800"
    # the scene in memory and the re-opened one hold the same nodes of each class
    for cls in ("vtkMRMLSequenceNode", "vtkMRMLSequenceBrowserNode", "vtkMRMLScalarVolumeNode",
                "vtkMRMLLabelMapVolumeNode", "vtkMRMLSegmentationNode", "vtkMRMLTableNode",
                "vtkMRMLMarkupsROINode", "vtkMRMLPlotChartNode", "vtkMRMLPlotSeriesNode"):
        assert reopened.GetNumberOfNodesByClass(cls) == scene.GetNumberOfNodesByClass(cls), cls
    assert reopened.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") >= 7  # proxy + 6 float maps


def test_demo_refuses_to_overwrite_without_force(scene, tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    scene.Clear(0)
    assert main(["demo", "--out", str(tmp_path)]) == 2  # bad input: the outputs exist (the CLI contract)
    assert "exists" in capsys.readouterr().err
    scene.Clear(0)
    assert main(["demo", "--out", str(tmp_path), "--force"]) == 0


@pytest.mark.parametrize("argv", [["no-such-command"], ["demo"]])
def test_bad_command_lines_exit_non_zero(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code != 0
