"""DICOM headers of the demo images: Digital X-Ray and Digital Mammography, For Presentation.

The attribute set passes dciodvfy without errors or warnings (PS3.3 A.26, A.27):
beyond the obvious modules it needs Presentation Intent Type, the DX Anatomy
Imaged and Positioning code sequences, an empty Acquisition Context Sequence and
the Pixel Intensity Relationship pair.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian

from ..deid import remap_uid
from .phantom import BITS_STORED

DX_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.1")  # Digital X-Ray Image Storage - For Presentation
MG_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.2")  # Digital Mammography X-Ray Image Storage - For Presentation
MANUFACTURER = "MRMC SYNTHETIC PHANTOM"
PHANTOM_COMMENT = "Synthetic phantom generated for demonstration; not patient data"

MG_VIEWS = (  # label, laterality, view code, PatientOrientation (PS3.3 C.8.11.7)
    ("RCC", "R", ("399162004", "cranio-caudal"), ["P", "L"]),
    ("LCC", "L", ("399162004", "cranio-caudal"), ["A", "R"]),
    ("RMLO", "R", ("399368009", "medio-lateral oblique"), ["P", "FL"]),
    ("LMLO", "L", ("399368009", "medio-lateral oblique"), ["A", "FR"]),
)


def _code(value: str, meaning: str, scheme: str = "SCT") -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


@dataclass(frozen=True)
class CaseMeta:
    case_id: str
    study_uid: str
    study_date: dt.date
    age: int
    sex: str
    site: str
    vendor: str
    uid_entropy: int

    def uid(self, *role) -> str:
        return case_uid(self.uid_entropy, self.case_id, *role)


def case_uid(entropy: int, case_id: str, *role) -> str:
    """A 2.25 UID derived from the case's random entropy, stable for a seed (PS3.5 B.2)."""
    return remap_uid("/".join([case_id, *map(str, role)]), key=str(entropy))


def _image_dataset(meta: CaseMeta, sop_class: UID, modality: str, series_number: int,
                   instance_number: int, pixels: np.ndarray, spacing_mm: float) -> Dataset:
    """Patient, study, series, equipment, image, pixel and DX image modules (PS3.3 A.26, A.27)."""
    sop_uid = meta.uid("instance", series_number, instance_number)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    date, time = meta.study_date.strftime("%Y%m%d"), "093000"
    birth_year = meta.study_date.year - meta.age
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = time
    ds.AccessionNumber = f"ACC-{meta.case_id}"
    ds.Modality = modality
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.Manufacturer = MANUFACTURER
    ds.InstitutionName = f"Demo {meta.site}"
    ds.ReferringPhysicianName = ""
    ds.ManufacturerModelName = meta.vendor
    ds.PatientName = f"DEMO^{meta.case_id}"
    ds.PatientID = f"DEMO-{meta.case_id}"
    ds.PatientBirthDate = f"{birth_year}0101"
    ds.PatientSex = meta.sex
    ds.PatientAge = f"{meta.age:03d}Y"
    ds.DeviceSerialNumber = f"SN-{meta.vendor[-4:].upper()}-{meta.site[-1]}"
    ds.SoftwareVersions = "mrmc.dicom.synth 1"
    ds.DetectorType = "DIRECT" if modality == "MG" else "SCINTILLATOR"
    ds.StudyInstanceUID = meta.study_uid
    ds.SeriesInstanceUID = meta.uid("series", series_number)
    ds.StudyID = meta.case_id[-16:]
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.ImageComments = PHANTOM_COMMENT
    ds.AcquisitionContextSequence = []
    ds.ImagerPixelSpacing = [spacing_mm, spacing_mm]
    _set_pixels(ds, pixels)
    return ds


def _set_pixels(ds: Dataset, pixels: np.ndarray) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, BITS_STORED, BITS_STORED - 1
    ds.PixelRepresentation = 0
    ds.PixelIntensityRelationship = "LOG"
    ds.PixelIntensityRelationshipSign = -1  # higher values = less beam intensity (C.8.11.3)
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = 0, 1, "US"
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "NO"
    ds.PresentationLUTShape = "IDENTITY"
    low, high = np.percentile(pixels[::8, ::8], [1, 99.5])
    ds.WindowCenter = round(float(low + high) / 2)
    ds.WindowWidth = max(round(float(high - low) * 1.1), 2)
    ds.PixelData = pixels.astype("<u2").tobytes()


def dx_dataset(meta: CaseMeta, pixels: np.ndarray, spacing_mm: float) -> Dataset:
    """Digital X-Ray Image IOD, For Presentation (PS3.3 A.26), PA chest."""
    ds = _image_dataset(meta, DX_PRESENTATION, "DX", 1, 1, pixels, spacing_mm)
    ds.SeriesDescription = "Chest PA (phantom)"
    ds.StudyDescription = "XR CHEST PA (SYNTHETIC)"
    ds.BodyPartExamined = "CHEST"
    ds.PatientOrientation = ["L", "F"]
    ds.ImageLaterality = "U"
    ds.AnatomicRegionSequence = [_code("51185008", "Chest")]
    view = _code("399348003", "postero-anterior")
    view.ViewModifierCodeSequence = []
    ds.ViewCodeSequence = [view]
    ds.ViewPosition = "PA"
    ds.PositionerType = ""
    ds.KVP = 120
    ds.DistanceSourceToDetector = 1800
    return ds


def mg_dataset(meta: CaseMeta, instance_number: int, view_spec: tuple, pixels: np.ndarray,
                spacing_mm: float, rng: np.random.Generator) -> Dataset:
    """Digital Mammography X-Ray Image IOD, For Presentation (PS3.3 A.27)."""
    _, laterality, (code, meaning), orientation = view_spec
    ds = _image_dataset(meta, MG_PRESENTATION, "MG", 1, instance_number, pixels, spacing_mm)
    ds.SeriesDescription = "Screening mammography (phantom)"
    ds.StudyDescription = "MG SCREENING BILATERAL (SYNTHETIC)"
    ds.BodyPartExamined = "BREAST"
    ds.PatientOrientation = orientation
    ds.ImageLaterality = laterality
    ds.AnatomicRegionSequence = [_code("76752008", "Breast")]
    view = _code(code, meaning)
    view.ViewModifierCodeSequence = []
    ds.ViewCodeSequence = [view]
    ds.ViewPosition = ""  # MG views are coded; CC/MLO are not DX defined terms
    ds.PositionerType = "MAMMOGRAPHIC"
    ds.OrganExposed = "BREAST"
    ds.BreastImplantPresent = "NO"
    ds.PartialView = "NO"
    ds.BodyPartThickness = round(float(rng.uniform(35, 70)), 1)
    ds.CompressionForce = round(float(rng.uniform(60, 140)), 1)
    ds.AnodeTargetMaterial = "TUNGSTEN"
    ds.FilterMaterial = "RHODIUM"
    ds.KVP = 29
    ds.ExposureInuAs = int(rng.integers(40000, 120000))
    return ds
