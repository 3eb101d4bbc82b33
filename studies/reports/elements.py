"""The building blocks of a report: sections, tables and the formatting of numbers."""

from dataclasses import dataclass, field

GENERALIZATIONS = {
    "rrrc": "Random readers, random cases (RRRC)",
    "frrc": "Fixed readers, random cases (FRRC)",
    "rrfc": "Random readers, fixed cases (RRFC)",
}


@dataclass(frozen=True)
class Table:
    caption: str
    header: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (figure name, caption)


def number(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def p_value(value) -> str:
    if value is None:
        return "–"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def interval(bounds, digits: int = 3) -> str:
    if not bounds or None in bounds:
        return "–"
    return f"{bounds[0]:.{digits}f} to {bounds[1]:.{digits}f}"


def arm_label(results: dict, arm: str) -> str:
    """An arm's label as the study names it (the arm's code when the results predate labels)."""
    labels = {entry["name"]: entry["label"] for entry in results.get("study", {}).get("arms", [])}
    return labels.get(arm, arm)


def difference_label(results: dict, treatments) -> str:
    """'AI-aided − Unaided': the difference in the order the results computed it, never assumed."""
    first, second = treatments
    return f"{arm_label(results, first)} − {arm_label(results, second)}"


def negative_estimate_note(name: str, value, used_as: str) -> str | None:
    """Why a variance component printed negative is not an error, or None when it is not negative."""
    if value is None or value >= 0:
        return None
    return (f"{name} is estimated as {value:.6f}; negative estimates occur by chance when the true component is "
            f"small (ANOVA estimates are unbiased, not truncated). {used_as}")
