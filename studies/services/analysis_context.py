"""What every section of a run's results reads (:data:`studies.services.analysis_sections.SECTIONS`), in a
module of its own so that a section kept in its own module can name it without importing the registry."""

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from mrmc.stats import ReaderStudy, analyze_study
from studies.models import AnalysisRun
from studies.services.analysis_snapshot import Snapshot


@dataclass(frozen=True)
class SectionContext:
    """What every section reads: the run, its parsed snapshot, the primary result and the options."""

    run: AnalysisRun
    snapshot: Snapshot
    primary: object  # mrmc.stats.ORResult, or UStatResult for method 'ustat'
    options: dict  # analysis options passed to mrmc.stats.analyze
    threshold: float | None
    ai_model: dict | None
    ai_scores: np.ndarray | None
    arms_show_ai: tuple[bool, ...]

    @property
    def data(self) -> ReaderStudy:
        return self.snapshot.study

    @property
    def fully_crossed(self) -> bool:
        return not np.isnan(self.data.ratings).any()

    @cached_property
    def or_result(self):
        """The OR analysis of the reads: the primary result, or for method 'ustat' the OR analysis beside it."""
        return self.primary if self.primary.method == "or" else analyze_study(self.data, **self.options)
