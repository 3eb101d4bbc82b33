"""The hostile-input corpus: generated files and archives with the outcome ingest must give each."""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Outcome = Literal["stored", "duplicate", "conflict", "rejected"]


@dataclass(frozen=True)
class HostileCase:
    """One file or archive of the corpus.

    ``outcome`` is what ingest must report for it; ``kind`` is the expected reason class of a
    rejection or conflict (e.g. ``"too-large"``, ``"unsafe-member"``), empty when stored or duplicate.
    """

    name: str
    path: Path
    outcome: Outcome
    kind: str = ""
