"""The forest plot of subgroup performance: per subgroup level, the difference between arms of the
primary figure of merit with its confidence interval, beside the whole study's (from the stored results)."""

from matplotlib.figure import Figure

from .elements import difference_label

OVERALL_COLOUR = "#d62728"
SUBGROUP_COLOUR = "#1f77b4"


def forest_rows(results: dict) -> list[tuple[str, float, list[float]]]:
    """(label, estimate, CI) per row: the whole study first, then each subgroup level that has a difference."""
    primary = results["primary"].get("rrrc") or results["primary"].get("frrc") or {}
    rows = [("All cases", d["estimate"], d["ci"]) for d in (primary.get("differences") or [])[:1]]
    for row in (results.get("subgroups") or {}).get("rows", []):
        difference = (row.get("differences") or [None])[0]
        if difference and difference.get("ci") and None not in difference["ci"]:
            label = f"{row['variable']} = {row['level']} ({row['n_normal']}/{row['n_abnormal']})"
            rows.append((label, difference["estimate"], difference["ci"]))
    return rows


def has_forest_plot(results: dict) -> bool:
    """A plot needs the whole study's difference and at least one subgroup level's."""
    return len(forest_rows(results)) > 1


def subgroup_forest(results: dict) -> Figure:
    """Each row's difference (point) and CI (line), top to bottom, with the line of no difference."""
    rows = forest_rows(results)
    figure = Figure(figsize=(7.2, 1.0 + 0.32 * len(rows)), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    positions = range(len(rows) - 1, -1, -1)
    for index, (position, (_, estimate, ci)) in enumerate(zip(positions, rows, strict=True)):
        colour, marker = (OVERALL_COLOUR, "D") if index == 0 else (SUBGROUP_COLOUR, "s")
        axes.plot(ci, [position, position], color=colour, linewidth=1.4)
        axes.plot([estimate], [position], marker=marker, color=colour, markersize=5)
    axes.axvline(0.0, color="#777777", linewidth=0.8, linestyle=":")
    primary = results["primary"]
    subgroup_rows = (results.get("subgroups") or {}).get("rows") or []
    treatments = next((row["differences"][0]["treatments"] for row in subgroup_rows if row.get("differences")),
                      primary["treatments"][:2])
    confidence = f"{100 * (1 - primary['alpha']):g}%"
    figure_of_merit = primary.get("fom_label") or primary["fom"]
    axes.set(yticks=list(positions), yticklabels=[label for label, _, _ in rows], ylim=(-0.7, len(rows) - 0.3),
             xlabel=f"{figure_of_merit} difference, {difference_label(results, treatments)} ({confidence} CI)",
             title="Subgroup performance (non-diseased/diseased cases per level)")
    axes.tick_params(axis="y", labelsize=7)
    return figure
