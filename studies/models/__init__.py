"""Domain models. Rules that must never be broken live in database constraints."""

from .audit import AuditEvent
from .jobs import Job
from .reads import Read, ReadRevision
from .schedule import Assignment, ReadingSession
from .study import AIOutput, Arm, Case, Reader, Study, StudyMembership
from .users import Role, User

__all__ = [
    "AIOutput",
    "Arm",
    "Assignment",
    "AuditEvent",
    "Case",
    "Job",
    "Read",
    "ReadRevision",
    "Reader",
    "ReadingSession",
    "Role",
    "Study",
    "StudyMembership",
    "User",
]
