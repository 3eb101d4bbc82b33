"""Domain models. Rules that must never be broken live in database constraints."""

from .analysis import AnalysisRun
from .audit import AuditEvent
from .deviations import ProtocolDeviation
from .dicom import DicomInstance, DicomSeries, DicomStudy
from .jobs import Job
from .postmarket import (
    FieldRecord,
    LockedEvaluation,
    ModelUpdateEvaluation,
    MonitoredDeployment,
    MonitoringAlarm,
    MonitoringWindow,
)
from .reads import Read, ReadRevision, TrainingRead
from .schedule import Assignment, ReadingSession
from .study import AIModel, AIOutput, AIOutputSet, Arm, Case, Reader, Study, StudyMembership
from .truthing import TruthAdjudication, TruthingMember, TruthLabel
from .uploads import Upload
from .users import Role, User

__all__ = [
    "AIModel",
    "AIOutput",
    "AIOutputSet",
    "AnalysisRun",
    "Arm",
    "Assignment",
    "AuditEvent",
    "Case",
    "DicomInstance",
    "DicomSeries",
    "DicomStudy",
    "FieldRecord",
    "Job",
    "LockedEvaluation",
    "ModelUpdateEvaluation",
    "MonitoredDeployment",
    "MonitoringAlarm",
    "MonitoringWindow",
    "ProtocolDeviation",
    "Read",
    "ReadRevision",
    "Reader",
    "ReadingSession",
    "Role",
    "Study",
    "StudyMembership",
    "TrainingRead",
    "TruthAdjudication",
    "TruthLabel",
    "TruthingMember",
    "Upload",
    "User",
]
