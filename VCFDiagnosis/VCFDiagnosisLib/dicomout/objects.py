"""A case's results as DICOM objects (highdicom; no hand-written IODs): Parametric Maps, SEG, TID 1500 SR, PDF.

Every object belongs to the source DWI's study (its patient, study and frame of reference) and gets new series
and instance UIDs. Conventions:

* **Parametric Map** per map (D, D*, ADC in mm2/s, UCUM ``mm2/s``; f a fraction, UCUM ``{ratio}``): 32-bit float
  pixels on the DWI grid, one frame per slice, derived from the slice's lowest-b image; voxels not fitted stay
  NaN (never 0); a real-world value mapping (slope 1, intercept 0) with the unit;
* **Segmentation** (binary): one segment per ROI of the results table, labelled with the ROI's name and reader;
* **Comprehensive 3D SR, TID 1500**: per ROI, D, D*, f, ADC, LWR, FF, P_IVIM, P_combined with units, the
  prediction and the research-use note as coded evaluations, each group tied to its SEG segment and source
  images; concepts the standard has no code for use the coding scheme :data:`SCHEME` (a local scheme);
* **Encapsulated PDF**: the one-page report.

Results are research outputs, never a diagnosis: every series description says so.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

import numpy as np
import pydicom

from .. import __version__
from ..dwi.volume import LPS_TO_RAS

#: The local coding scheme of the concepts DICOM has no code for (IVIM D, D*, f, LWR, FF, the model outputs).
SCHEME = "99VCFD"
MANUFACTURER = "VCFDiagnosis"
RESEARCH_NOTE = "research use only, not a diagnosis"
#: Map stem -> (meaning, UCUM unit, unit meaning): the parametric maps written.
MAPS = {"D": ("IVIM diffusion coefficient D", "mm2/s", "square millimeter per second"),
        "Dstar": ("IVIM pseudo-diffusion coefficient D*", "mm2/s", "square millimeter per second"),
        "f": ("IVIM perfusion fraction f", "{ratio}", "ratio"),
        "ADC": ("Apparent Diffusion Coefficient", "mm2/s", "square millimeter per second")}
#: Results column -> (code value, meaning, UCUM unit, unit meaning) of the SR's measurements.
MEASUREMENTS = {"D": ("D", "IVIM diffusion coefficient D", "mm2/s", "square millimeter per second"),
                "Dstar": ("Dstar", "IVIM pseudo-diffusion coefficient D*", "mm2/s", "square millimeter per second"),
                "f": ("f", "IVIM perfusion fraction f", "{ratio}", "ratio"),
                "ADC": ("113041", "Apparent Diffusion Coefficient", "mm2/s", "square millimeter per second"),
                "LWR": ("LWR", "MRS lipid-water ratio (1.3/4.7 ppm)", "{ratio}", "ratio"),
                "FF": ("FF", "MRS fat fraction (T2-weighted, methylene)", "%", "percent"),
                "P_IVIM": ("P_IVIM", "Probability of metastasis, IVIM model", "1", "no units"),
                "P_combined": ("P_combined", "Probability of metastasis, IVIM + MRS model", "1", "no units")}


@dataclass
class SeriesNumbers:
    """Series numbers of the new series (after the source's, so viewers list them after the DWI)."""

    first: int = 9001


def _code(value: str, meaning: str, scheme: str = SCHEME):
    import highdicom as hd

    return hd.sr.CodedConcept(value=value, scheme_designator=scheme, meaning=meaning)


def _unit(value: str, meaning: str):
    import highdicom as hd

    return hd.sr.CodedConcept(value=value, scheme_designator="UCUM", meaning=meaning)


def _equipment() -> dict:
    return {"manufacturer": MANUFACTURER, "manufacturer_model_name": "VCFDiagnosis",
            "software_versions": __version__, "device_serial_number": "0"}


def parametric_map(sources: list[pydicom.Dataset], values_kji: np.ndarray, stem: str, series_number: int):
    """Return the Parametric Map of one map (``values_kji`` on the DWI grid, units as :data:`MAPS`)."""
    import highdicom as hd

    meaning, unit, unit_meaning = MAPS[stem]
    pixels = np.asarray(values_kji, dtype=np.float32)
    finite = pixels[np.isfinite(pixels)]
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if high <= low:
        high = low + (abs(low) or 1.0) * 1e-6
    mapping = hd.pm.RealWorldValueMapping(
        lut_label=stem[:16], lut_explanation=meaning[:64], unit=_unit(unit, unit_meaning), value_range=(low, high),
        slope=1.0, intercept=0.0, quantity_definition=_code(stem, meaning) if stem != "ADC" else
        hd.sr.CodedConcept("113041", "DCM", "Apparent Diffusion Coefficient"))
    pm = hd.pm.ParametricMap(
        source_images=sources, pixel_array=pixels, series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=1, contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=[hd.VOILUTTransformation(  # widths below 1 (mm2/s) need LINEAR_EXACT
            window_center=(low + high) / 2, window_width=max(high - low, 1e-12), voi_lut_function="LINEAR_EXACT")],
        content_label=stem.upper()[:16], content_description=f"{meaning} ({unit}); {RESEARCH_NOTE}"[:64],
        series_description=f"VCFDiagnosis {stem} map ({RESEARCH_NOTE})"[:64], **_equipment())
    pm.Laterality = sources[0].get("Laterality", "")  # Type 2C (the spine is not a paired structure): empty
    return pm


def segmentation(sources: list[pydicom.Dataset], masks: dict[str, np.ndarray], readers: dict[str, str],
                 series_number: int):
    """Return the binary SEG of the ROIs (``{name: [k, j, i] mask}``), one segment each, in the given order."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    names = list(masks)
    pixels = np.stack([np.asarray(masks[n], bool) for n in names], axis=-1).astype(np.uint8)
    descriptions = []
    for number, name in enumerate(names, 1):
        label = f"{name} ({readers[name]})" if readers.get(name) else name
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=label[:64],
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Lesion, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
            tracking_uid=hd.UID(), tracking_id=label[:64]))
    return hd.seg.Segmentation(
        source_images=sources, pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=1,
        series_description=f"VCFDiagnosis ROIs ({RESEARCH_NOTE})"[:64], **_equipment())


def _mrs_voxel_group(sources: list[pydicom.Dataset], rows: list[dict], centre_ras):
    """Return the measurement group of the MRS voxel (its centre as a 3D point, LWR and FF), or None."""
    import highdicom as hd

    row = next((r for r in rows if r.get("status") != "error"), None)
    if centre_ras is None or row is None:
        return None
    measurements = []
    for column in ("LWR", "FF"):
        value = row.get(column)
        if value is not None and math.isfinite(float(value)):
            code, meaning, unit, unit_meaning = MEASUREMENTS[column]
            measurements.append(hd.sr.Measurement(name=_code(code, meaning), value=float(value),
                                                  unit=_unit(unit, unit_meaning)))
    centre_lps = (LPS_TO_RAS @ np.r_[np.asarray(centre_ras, dtype=float), 1.0])[:3]  # its own inverse
    surface = hd.sr.VolumeSurface(
        graphic_type=hd.sr.GraphicTypeValues3D.POINT, graphic_data=centre_lps.reshape(1, 3),
        frame_of_reference_uid=sources[0].FrameOfReferenceUID,
        source_images=[hd.sr.SourceImageForSegmentation.from_source_image(ds) for ds in sources])
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="MRS voxel (centre)"),
        referenced_volume_surface=surface, measurements=measurements)


def measurement_report(sources: list[pydicom.Dataset], seg, rows: list[dict], series_number: int,
                       mrs_centre_ras=None):
    """Return the TID 1500 measurement report of the results ``rows`` (one group per ROI, tied to ``seg``; and,
    with ``mrs_centre_ras``, one for the MRS voxel: its centre as a 3D point with LWR and FF)."""
    import highdicom as hd
    from pydicom.sr.codedict import codes

    groups = []
    segment_numbers = {d.SegmentLabel: d.SegmentNumber for d in seg.SegmentSequence}
    for row in rows:
        label = f"{row['roi']} ({row['reader']})" if row.get("reader") else str(row["roi"])
        number = segment_numbers.get(label[:64])
        if number is None or row.get("status") == "error":
            continue
        measurements = []
        for column, (value, meaning, unit, unit_meaning) in MEASUREMENTS.items():
            number_value = row.get(column)
            if number_value is None or not math.isfinite(float(number_value)):
                continue
            scheme = "DCM" if value == "113041" else SCHEME
            measurements.append(hd.sr.Measurement(name=_code(value, meaning, scheme), value=float(number_value),
                                                  unit=_unit(unit, unit_meaning)))
        evaluations = [hd.sr.QualitativeEvaluation(name=_code("RUO", "Use of these results"),
                                                   value=_code("RUO-NOTE", RESEARCH_NOTE))]
        if row.get("prediction"):
            evaluations.append(hd.sr.QualitativeEvaluation(
                name=_code("PRED", f"Model prediction ({row.get('prediction_model') or 'model'})"[:64]),
                value=_code(str(row["prediction"]).upper()[:16], str(row["prediction"]))))
        groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=label[:64]),
            referenced_segment=hd.sr.ReferencedSegment(
                sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID, segment_number=number,
                source_images=[hd.sr.SourceImageForSegmentation.from_source_image(ds) for ds in sources]),
            measurements=measurements, qualitative_evaluations=evaluations,
            finding_type=codes.SCT.Lesion))
    mrs = _mrs_voxel_group(sources, rows, mrs_centre_ras)
    if mrs is not None:
        groups.append(mrs)
    observer = hd.sr.ObserverContext(observer_type=codes.DCM.Device,
                                     observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                                         uid=hd.UID(), name="VCFDiagnosis", manufacturer_name=MANUFACTURER,
                                         model_name=f"VCFDiagnosis {__version__}"))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.LN.MRIOfSpine if hasattr(codes.LN, "MRIOfSpine") else _code(
            "MRSPINE", "MRI of spine: IVIM diffusion and MR spectroscopy"),
        imaging_measurements=groups)
    return hd.sr.Comprehensive3DSR(
        evidence=[*sources, seg], content=report, series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer=MANUFACTURER,
        series_description=f"VCFDiagnosis measurements ({RESEARCH_NOTE})"[:64], is_complete=True, is_final=False)


def encapsulated_pdf(source: pydicom.Dataset, pdf: bytes, series_number: int, title: str) -> pydicom.Dataset:
    """Return an Encapsulated PDF instance of ``pdf`` in the source's study (new series)."""
    import highdicom as hd
    from pydicom.dataset import FileMetaDataset

    now = datetime.datetime.now()
    ds = pydicom.Dataset()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate",
                    "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName"):
        setattr(ds, keyword, source.get(keyword, ""))
    ds.SOPClassUID = pydicom.uid.EncapsulatedPDFStorage
    ds.SOPInstanceUID = hd.UID()
    ds.SeriesInstanceUID = hd.UID()
    ds.Modality = "DOC"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = 1
    ds.SeriesDescription = f"VCFDiagnosis report ({RESEARCH_NOTE})"[:64]
    ds.Manufacturer = MANUFACTURER
    ds.ConversionType = "WSD"
    ds.ContentDate, ds.ContentTime = now.strftime("%Y%m%d"), now.strftime("%H%M%S")
    ds.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = title[:64]
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.SpecificCharacterSet = "ISO_IR 192"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds
