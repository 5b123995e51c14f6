"""Self-test bodies of the VCFDiagnosis module, run by Slicer's ``VCFDiagnosisTest`` and by pytest headless.

Each check takes ``(logic, work_dir, log)``: a VCFDiagnosisLogic on an empty ``slicer.mrmlScene``, a
writable folder, and a function that reports progress (``delayDisplay`` in Slicer, ``print`` elsewhere).
Data are built in code (the phantom generator), so no download is needed. Checks raise AssertionError
with the numbers that disagree; they use no ``assert`` statements (which ``python -O`` removes).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..dwi.volume import DwiVolume
from . import headless, nodes


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _close(actual, expected, atol: float, what: str) -> None:
    actual, expected = np.asarray(actual, float), np.asarray(expected, float)
    if actual.shape != expected.shape or not np.allclose(actual, expected, atol=atol, rtol=0):
        raise AssertionError(f"{what}: got {actual.tolist()}, expected {expected.tolist()} (atol {atol})")


def oblique_ijk_to_ras(spacing=(1.4, 1.4, 5.5), angles_deg=(8.0, -5.0, 3.0), origin=(-12.0, 40.0, 95.0)) -> np.ndarray:
    """Return an oblique IJK-to-RAS matrix (rotations about x, y, z in degrees, spacing in mm)."""
    ax, ay, az = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    sagittal = np.array([[0, 0, 1], [1, 0, 0], [0, -1, 0]], float)  # i anterior, j inferior, k right
    matrix = np.eye(4)
    matrix[:3, :3] = rz @ ry @ rx @ sagittal @ np.diag(spacing)
    matrix[:3, 3] = origin
    return matrix


def check_dwi_sequence_round_trip_on_oblique_grid(logic, work_dir, log=print) -> None:
    """A DWI on an oblique grid goes into a b-indexed sequence and comes back identical."""
    log("DWI sequence round trip on an oblique grid")
    rng = np.random.default_rng(7)
    bvalues = np.array([0, 50, 100, 150, 200, 400, 600, 800], float)
    data = rng.uniform(10, 1000, size=(bvalues.size, 3, 5, 4)).astype(np.float32)
    matrix = oblique_ijk_to_ras()
    sequence, browser = logic.addDwi(DwiVolume(bvalues, data, matrix), "oblique DWI")
    _expect(sequence.GetNumberOfDataNodes() == 8, f"sequence has {sequence.GetNumberOfDataNodes()} volumes, not 8")
    _expect(sequence.GetIndexUnit() == "s/mm2", f"index unit {sequence.GetIndexUnit()!r}")
    _expect(sequence.GetAttribute(nodes.FRAME_LABELS_ATTRIBUTE) == "0,50,100,150,200,400,600,800",
            f"FrameLabels {sequence.GetAttribute(nodes.FRAME_LABELS_ATTRIBUTE)!r}")
    proxy = browser.GetProxyNode(sequence)
    _expect(proxy is not None and proxy.IsA("vtkMRMLScalarVolumeNode"), "the browser has no volume proxy node")
    _close(nodes.ijk_to_ras(proxy), matrix, 1e-9, "proxy IJK-to-RAS")
    back = logic.dwiFromNode(sequence)
    _close(back.bvalues_s_mm2, bvalues, 0, "b-values read back")
    _close(back.ijk_to_ras, matrix, 1e-9, "IJK-to-RAS read back")
    _expect(np.array_equal(back.data, data), "voxel values changed in the round trip")


def _make_phantom(work_dir, seed: int = 3, group: str = "metastatic", vendor: str = "ge") -> tuple[Path, dict]:
    from ..phantom.patient import generate_patient

    case_id = f"selftest-{group}-{seed}"
    generate_patient(Path(work_dir) / "phantoms", seed=seed, group=group, vendor=vendor, matrix=64, n_slices=6,
                     case_id=case_id)
    case_dir = Path(work_dir) / "phantoms" / case_id
    return case_dir, json.loads((case_dir / "truth.json").read_text())


def check_phantom_case_loads_with_truth(logic, work_dir, log=print) -> None:
    """A phantom patient (GE style, b-values with the 1e9 bias) loads with exact b-values, grid and ROI."""
    log("Phantom patient through the Logic")
    case_dir, truth = _make_phantom(work_dir)
    case = logic.loadPhantomCase(str(case_dir))
    sequence = case.dwi_sequence
    expected_b = truth["bvalues_s_mm2"]
    got_b = [float(sequence.GetNthIndexValue(i)) for i in range(sequence.GetNumberOfDataNodes())]
    _close(got_b, expected_b, 0, "b-values of the loaded sequence")
    _close(nodes.ijk_to_ras(sequence.GetNthDataNode(0)), truth["geometry"]["ijk_to_ras"], 1e-3, "DWI IJK-to-RAS")
    dwi = logic.dwiFromNode(sequence)
    _expect(list(dwi.shape_kji) == list(truth["geometry"]["shape_kji"]),
            f"DWI grid {dwi.shape_kji} != truth {truth['geometry']['shape_kji']}")
    segmentation = case.roi_segmentation
    segment_id = segmentation.GetSegmentation().GetNthSegmentID(0)
    import slicer

    proxy = case.dwi_browser.GetProxyNode(sequence)
    mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, segment_id, proxy)
    _expect(int(mask.sum()) == int(truth["roi"]["voxel_count"]),
            f"ROI has {int(mask.sum())} voxels on the DWI grid, truth {truth['roi']['voxel_count']}")
    b0_lesion = float(dwi.data[0][mask > 0].mean())
    s0 = float(truth["lesion"]["S0"])
    _expect(abs(b0_lesion - s0) < 0.1 * s0, f"mean b=0 signal in the ROI {b0_lesion:.1f}, lesion S0 {s0:.1f}")
    table = case.truth_table
    _expect(table.GetNumberOfRows() >= 4, f"truth table has {table.GetNumberOfRows()} rows")


def check_scene_bundle_round_trip(logic, work_dir, log=print) -> None:
    """The scene with a phantom case saves as .mrb and re-opens in a fresh scene with every node intact."""
    log("Scene bundle (.mrb) round trip")
    case_dir, truth = _make_phantom(work_dir, seed=5, group="osteoporotic", vendor="siemens")
    case = logic.loadPhantomCase(str(case_dir))
    bundle = logic.saveSceneBundle(str(Path(work_dir) / "case.mrb"))
    try:
        logic.saveSceneBundle(bundle)
        raise AssertionError("saveSceneBundle replaced an existing bundle without overwrite=True")
    except FileExistsError:
        pass
    scene = headless.open_scene_bundle(bundle)
    sequence = scene.GetFirstNodeByName(case.dwi_sequence.GetName())
    _expect(sequence is not None and sequence.IsA("vtkMRMLSequenceNode"), "DWI sequence missing after re-open")
    _expect(sequence.GetNumberOfDataNodes() == len(truth["bvalues_s_mm2"]),
            f"re-opened sequence has {sequence.GetNumberOfDataNodes()} volumes")
    _expect(sequence.GetAttribute(nodes.FRAME_LABELS_ATTRIBUTE) ==
            case.dwi_sequence.GetAttribute(nodes.FRAME_LABELS_ATTRIBUTE), "FrameLabels changed")
    original = logic.dwiFromNode(case.dwi_sequence)
    reopened = nodes.dwi_from_sequence(sequence)
    _expect(np.array_equal(original.data, reopened.data), "DWI voxel values changed in the bundle")
    _close(reopened.ijk_to_ras, original.ijk_to_ras, 1e-6, "re-opened DWI geometry")
    segmentation = scene.GetFirstNodeByName(case.roi_segmentation.GetName())
    _expect(segmentation is not None and segmentation.GetSegmentation().GetNumberOfSegments() == 1,
            "ROI segmentation missing after re-open")
    table = scene.GetFirstNodeByName(case.truth_table.GetName())
    _expect(table is not None and table.GetNumberOfRows() == case.truth_table.GetNumberOfRows(),
            "truth table missing or changed after re-open")
    browser = scene.GetFirstNodeByClass("vtkMRMLSequenceBrowserNode")
    _expect(browser is not None, "sequence browser missing after re-open")


def check_panel_apply_on_phantom(logic, work_dir, log=print) -> None:
    """Apply exactly as the panel does (PanelInputs + CaseSettings -> applySettings) on a phantom; check numbers."""
    from ..analysis.settings import CaseSettings
    from ..analysis.study_models import predict
    from .logic import PanelInputs

    log("Panel Apply on a synthetic patient")
    case_dir, truth = _make_phantom(work_dir, seed=4, group="metastatic", vendor="siemens")
    case = logic.loadPhantomCase(str(case_dir))
    inputs = PanelInputs(dwiSequence=case.dwi_sequence, spectrumPath=str(case_dir / "mrs" / "lesion.rda"),
                         caseId="selftest", roiSegmentation=case.roi_segmentation)
    fractions = []
    result = logic.applySettings(inputs, CaseSettings(maps="roi"),
                                 progressCallback=lambda f, m: fractions.append(f) or True)
    _expect(fractions and fractions[-1] == 1.0, f"progress was reported as {fractions[-3:]}")
    lesion = truth["lesion"]
    row = result.rows[0]
    _expect(row["status"] in ("ok", "warning"), f"row status {row['status']}: {row['message']}")
    _expect(abs(row["D"] - lesion["D_mm2_s"]) < 0.1 * lesion["D_mm2_s"],
            f"D {row['D']:.4g} mm2/s, truth {lesion['D_mm2_s']:.4g}")
    _expect(abs(row["FF"] - lesion["FF_percent"]) < 2.0, f"FF {row['FF']:.3g} %, truth {lesion['FF_percent']:.3g}")
    expected = predict(lesion["D_mm2_s"], lesion["Dstar_mm2_s"], lesion["f_fraction"], lesion["FF_percent"])
    if row["prediction"] == "indeterminate":  # the 95 % interval straddles 0.5: it must hold the truth's P
        _expect(row["P_combined_lo"] <= expected.P_combined <= row["P_combined_hi"],
                f"P_combined interval {row['P_combined_lo']:.3f}-{row['P_combined_hi']:.3f} misses the truth's "
                f"{expected.P_combined:.3f}")
    else:
        _expect(row["prediction"] == expected.prediction,
                f"prediction {row['prediction']} but the truth gives {expected.prediction}")
    _expect(result.table.GetNumberOfRows() == 1 and result.table.GetColumnUnitLabel("D") == "mm2/s",
            "results table missing or without units")
    floor_free = result.decay.rois[0].floor_free is not None
    _expect(result.decay_chart.GetNumberOfPlotSeriesNodes() == 2 + floor_free,
            "decay chart should show the mean, the fit and (when removed) the mean without the noise floor")
    _expect("not a diagnosis" in row["note"], "the research-use note is missing from the row")


def check_water_fat_case_without_spectrum(logic, work_dir, log=print) -> None:
    """Apply as the panel does with a water-fat folder and no spectrum: PDFF near the truth, FF from PDFF (flagged),
    PDFF/R2* map nodes on the water-fat grid."""
    from ..analysis.settings import CaseSettings
    from ..fat.relation import PDFF_FLAG, mrs_ff_from_pdff
    from .logic import PanelInputs

    log("Water-fat imaging instead of a spectrum")
    case_dir, truth = _make_phantom(work_dir, seed=6, group="osteoporotic", vendor="philips")
    case = logic.loadPhantomCase(str(case_dir))
    inputs = PanelInputs(dwiSequence=case.dwi_sequence, fatPath=str(case_dir / "fat" / "echoes"), caseId="selftest",
                         roiSegmentation=case.roi_segmentation)
    result = logic.applySettings(inputs, CaseSettings())
    row = result.rows[0]
    lesion_pdff = truth["fat"]["lesion_pdff_percent"]
    marrow_pdff = truth["fat"]["tissues"]["normal_marrow"]["pdff_percent"]
    _expect(lesion_pdff - 1.5 <= row["PDFF"] <= (lesion_pdff + marrow_pdff) / 2,  # edge voxels take in marrow
            f"PDFF {row['PDFF']:.3g} %, lesion truth {lesion_pdff:.3g} % (marrow {marrow_pdff:.3g} %)")
    _expect(row["FF_source"] == "pdff" and PDFF_FLAG in row["flags"], f"FF source {row['FF_source']!r}")
    _close(row["FF"], mrs_ff_from_pdff(row["PDFF"]), 1e-9, "FF from PDFF")
    _expect(set(result.fat_nodes) == {"PDFF", "R2star", "water", "fat", "field_map", "fat_status"},
            f"fat map nodes {sorted(result.fat_nodes)}")
    _close(nodes.ijk_to_ras(result.fat_nodes["PDFF"]), truth["fat"]["geometry"]["ijk_to_ras"], 1e-3,
           "PDFF map IJK-to-RAS")


#: The self-tests, in the order Slicer's VCFDiagnosisTest runs them.
SELF_TESTS = (
    check_dwi_sequence_round_trip_on_oblique_grid,
    check_phantom_case_loads_with_truth,
    check_scene_bundle_round_trip,
    check_panel_apply_on_phantom,
    check_water_fat_case_without_spectrum,
)
