"""Cases of one batch never mix: each case's scene bundle (.mrb) holds that patient only, and a case leaves the
scene exactly as it found it (a worker processes dozens of patients in one scene)."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import pytest

from VCFDiagnosisLib.app.cli import main
from VCFDiagnosisLib.batch.manifest import read_manifest
from VCFDiagnosisLib.phantom.cohort import generate_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("isolation")
    generate_cohort(root, 3, seed=410, matrix=40, n_slices=4, snr=math.inf)
    return root


def _bundle_text(case_dir: Path) -> tuple[list[str], str]:
    """Return (the entry names, the scene's MRML text) of the case folder's .mrb."""
    (bundle,) = case_dir.glob("*.mrb")
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        (mrml,) = [n for n in names if n.endswith(".mrml")]
        return names, archive.read(mrml).decode("utf-8", "replace")


def _scene_state(scene) -> tuple[set, set, dict]:
    from vtkmodules.vtkCommonCore import vtkIdList

    sh = scene.GetSubjectHierarchyNode()
    items = vtkIdList()
    sh.GetItemChildren(sh.GetSceneItemID(), items, True)
    nodes = [scene.GetNthNode(i) for i in range(scene.GetNumberOfNodes())]
    return ({n.GetID() for n in nodes}, {items.GetId(i) for i in range(items.GetNumberOfIds())},
            {n.GetID(): n.GetSaveWithScene() for n in nodes})


def test_one_worker_many_patients_each_bundle_holds_its_own_patient_only(cohort, tmp_path):
    """One worker process runs the three cases one after another: case 3's bundle must not hold case 1's or 2's
    DWI (a proxy volume left behind by a case used to enter every later bundle) nor their names."""
    assert main(["batch", str(cohort / "manifest.tsv"), "--out", str(tmp_path / "out"), "--jobs", "1",
                 "--no-report"]) == 0
    ids = [row.case_id for row in read_manifest(cohort / "manifest.tsv")]
    assert len(ids) == 3
    for case_id in ids:
        names, mrml = _bundle_text(tmp_path / "out" / case_id)
        others = [other for other in ids if other != case_id]
        assert not [n for n in names if any(other in n for other in others)], names
        assert not [other for other in others if other in mrml]
        data = [n for n in names if "/Data/" in n]
        assert sum(n.endswith(" DWI.seq.nrrd") for n in data) == 1  # the case's own DWI, once
        assert sum(n.endswith(" DWI.nrrd") for n in data) <= 1  # its browser's proxy (the shown b-image)


def test_a_case_leaves_the_scene_as_it_found_it(logic, scene, cohort, tmp_path):
    """processManifestRow (what every batch worker and the console batch run per case): after each case the scene
    holds the same nodes and subject-hierarchy items as before, nodes that were there keep being saved, and a
    bundle holds neither an earlier batch's results table nor the other case."""
    from VCFDiagnosisLib.analysis.settings import CaseSettings
    from VCFDiagnosisLib.mrml import nodes
    from VCFDiagnosisLib.mrml.case_scope import BATCH_RESULTS_ATTRIBUTE

    earlier = nodes.add_results_table([], "earlier batch results")
    earlier.SetAttribute(BATCH_RESULTS_ATTRIBUTE, str(tmp_path / "earlier"))
    nodes.status_color_table({0: "ok"}, "VCFDiagnosis fit status")  # shared colours stay saved and referenced
    before = _scene_state(scene)
    rows = read_manifest(cohort / "manifest.tsv")
    for row in rows[:2]:
        produced = logic.processManifestRow(row, tmp_path / row.case_id, CaseSettings(report=False))
        assert produced[0]["status"] != "error" and produced[0]["case_id"] == row.case_id
        assert _scene_state(scene) == before, row.case_id
        names, mrml = _bundle_text(tmp_path / row.case_id)
        assert not [n for n in names if "earlier batch results" in n]  # its rows are not saved with the case
        assert not [other.case_id for other in rows if other.case_id != row.case_id and other.case_id in mrml]
    assert earlier.GetSaveWithScene()
    assert scene.GetNodeByID(earlier.GetID()) is earlier


def test_a_case_refuses_a_scene_holding_a_patient(logic, scene, cohort, tmp_path):
    """The subject hierarchy writes the names of nodes a bundle does not save: a case in a scene that holds another
    patient is refused (an error row in a batch) and nothing is written."""
    from VCFDiagnosisLib.analysis.settings import CaseSettings
    from VCFDiagnosisLib.mrml import nodes

    nodes.add_scalar_volume(np.zeros((2, 3, 4), np.int16), np.eye(4), "Doe^Jane DWI")
    row = read_manifest(cohort / "manifest.tsv")[0]
    with pytest.raises(ValueError, match=r"Doe\^Jane DWI"):
        logic.processManifestRow(row, tmp_path / row.case_id, CaseSettings(report=False))
    assert not (tmp_path / row.case_id).exists()


def test_console_batch_refuses_a_scene_holding_a_patient(logic, scene, cohort, tmp_path):
    """In Slicer's console, a loaded patient's name would enter every case's bundle (the subject hierarchy writes
    the names of unsaved nodes): the batch refuses before writing anything, naming what the scene holds."""
    from VCFDiagnosisLib.mrml import nodes

    patient = nodes.add_scalar_volume(np.zeros((2, 3, 4), np.int16), np.eye(4), "Doe^Jane DWI")
    out = tmp_path / "out"
    with pytest.raises(ValueError, match=r"Doe\^Jane DWI.*Close Scene"):
        logic.processBatch(str(cohort / "manifest.tsv"), str(out), report=False)
    assert not out.exists()
    scene.RemoveNode(patient)
    folder = nodes.case_folder_item("Roe^Richard")  # a subject-hierarchy folder is data too
    with pytest.raises(ValueError, match=r"Roe\^Richard"):
        logic.processBatch(str(cohort / "manifest.tsv"), str(out), report=False)
    scene.GetSubjectHierarchyNode().RemoveItem(folder, True, True)
    chart = scene.AddNewNodeByClass("vtkMRMLPlotChartNode", "Roe^Richard decay")  # not a storable node, but named
    chart_item = nodes.ensure_subject_hierarchy_item(chart)
    with pytest.raises(ValueError, match=r"Roe\^Richard decay"):
        logic.processBatch(str(cohort / "manifest.tsv"), str(out), report=False)
    scene.GetSubjectHierarchyNode().RemoveItem(chart_item, False, True)
    scene.RemoveNode(chart)
    summary, table = logic.processBatch(str(cohort / "manifest.tsv"), str(out), report=False)
    assert summary.processed == 3 and summary.errors == 0
    again, _ = logic.processBatch(str(cohort / "manifest.tsv"), str(out), report=False, force=True)
    assert again.processed == 3  # its own earlier results table is no patient's data
    names, _ = _bundle_text(out / read_manifest(cohort / "manifest.tsv")[0].case_id)
    assert not [n for n in names if "batch results" in n]  # the table of the cohort is not saved in a case
