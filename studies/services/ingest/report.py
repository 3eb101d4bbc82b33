"""What one ingest did, file by file: stored, a duplicate, a conflict or rejected with a reason class."""

from dataclasses import dataclass, field
from typing import NamedTuple

MAX_REPORTED_PROBLEMS = 200


class StoredInstance(NamedTuple):
    """A file stored, or found stored already: the UIDs it is kept under (de-identified ones when it was)."""

    file: str
    study_instance_uid: str
    series_instance_uid: str
    sop_class_uid: str
    sop_instance_uid: str


class Problem(NamedTuple):
    """A file left out: its name in the upload or archive, a reason class and the reason."""

    file: str
    kind: str
    reason: str

    def as_dict(self) -> dict:
        return self._asdict()


@dataclass
class IngestReport:
    """What one ingest did: every file is stored, a duplicate, a conflict or rejected."""

    stored: int = 0
    duplicates: int = 0
    conflicts: list[Problem] = field(default_factory=list)
    rejected: list[Problem] = field(default_factory=list)
    studies: set[str] = field(default_factory=set)
    sanitized: dict[str, list[str]] = field(default_factory=dict)
    cleaned: dict[str, list[list[int]]] = field(default_factory=dict)  # SOP UID -> regions blacked out
    linked: dict[str, str] = field(default_factory=dict)  # case label -> StudyInstanceUID
    # For answering a sender file by file (STOW-RS). Not in as_dict: a job's result grows with its problems
    # only, and the UIDs as sent are never stored.
    instances: list[StoredInstance] = field(default_factory=list)
    received: dict[str, tuple[str, str]] = field(default_factory=dict)  # file -> SOP Class, Instance UID as sent

    @property
    def files(self) -> int:
        return self.stored + self.duplicates + len(self.conflicts) + len(self.rejected)

    def as_dict(self) -> dict:
        return {
            "files": self.files,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "conflicts": [p.as_dict() for p in self.conflicts[:MAX_REPORTED_PROBLEMS]],
            "conflict_count": len(self.conflicts),
            "rejected": [p.as_dict() for p in self.rejected[:MAX_REPORTED_PROBLEMS]],
            "rejected_count": len(self.rejected),
            "studies": sorted(self.studies),
            "sanitized": self.sanitized,
            "cleaned": self.cleaned,
            "linked": self.linked,
        }
