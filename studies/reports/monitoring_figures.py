"""Figures of a monitored deployment's page, drawn with matplotlib (Agg) from its stored windows and its charts.

Every legend sits outside its axes, as in the report's figures.
"""

from datetime import datetime

from matplotlib.figure import Figure

from .figures import READER_COLOURS, _legend_outside, _png

METRICS = (("auc", "AUC"), ("sensitivity", "Sensitivity"), ("specificity", "Specificity"), ("ppv", "PPV"))
FLAG_COLOUR = "#d62728"


def performance_over_time(windows_by_group: dict[str, list]) -> bytes:
    """AUC, sensitivity, specificity and PPV per window with their 95% intervals, a line per group."""
    figure = Figure(figsize=(10.5, 6.0), layout="constrained")
    for number, (key, title) in enumerate(METRICS):
        axes = figure.add_subplot(2, 2, number + 1)
        for index, (group, windows) in enumerate(windows_by_group.items()):
            shown = [(window.start, window.metrics.get(key)) for window in windows if window.metrics.get(key)]
            if not shown:
                continue
            starts = [start for start, _ in shown]
            estimates = [value["estimate"] for _, value in shown]
            below = [value["estimate"] - value["ci"][0] for _, value in shown]
            above = [value["ci"][1] - value["estimate"] for _, value in shown]
            axes.errorbar(starts, estimates, yerr=[below, above], marker="o", markersize=3, capsize=2, linewidth=1,
                          color=READER_COLOURS[index % len(READER_COLOURS)], label=group or "all records")
        axes.set(title=title, ylim=(0, 1.02), ylabel="estimate (95% CI)")
        axes.tick_params(axis="x", labelrotation=45, labelsize=7)
        if number == 1:
            _legend_outside(axes)
    return _png(figure)


def drift_over_time(windows_by_group: dict[str, list], attributes: list[str], psi_threshold: float) -> bytes:
    """The PSI of each drift attribute per window against the reference, a line per group; flagged windows red."""
    figure = Figure(figsize=(10.5, 2.4 * max(1, (len(attributes) + 1) // 2)), layout="constrained")
    for number, attribute in enumerate(attributes):
        axes = figure.add_subplot((len(attributes) + 1) // 2, 2, number + 1)
        for index, (group, windows) in enumerate(windows_by_group.items()):
            shown = [(window.start, window.drift[attribute]) for window in windows if attribute in window.drift]
            if not shown:
                continue
            starts = [start for start, _ in shown]
            axes.plot(starts, [max(value["psi"], 1e-3) for _, value in shown], marker="o", markersize=3, linewidth=1,
                      color=READER_COLOURS[index % len(READER_COLOURS)], label=group or "all records")
            flagged = [(start, value["psi"]) for start, value in shown if value["flagged"]]
            if flagged:
                axes.scatter([start for start, _ in flagged], [psi for _, psi in flagged], s=60, facecolors="none",
                             edgecolors=FLAG_COLOUR, linewidths=1.5, zorder=3)
        axes.axhline(psi_threshold, color=FLAG_COLOUR, linestyle="--", linewidth=0.8)
        axes.set(title=f"{attribute}: PSI against the reference (circled: flagged)", yscale="log", ylabel="PSI")
        axes.tick_params(axis="x", labelrotation=45, labelsize=7)
        if number == 1 or len(attributes) == 1:
            _legend_outside(axes)
    return _png(figure)


def cusum_paths(paths: dict[str, dict], alarms: list[tuple[str, datetime]]) -> bytes:
    """Each chart's statistic after every confirmed positive, with its threshold h; alarms marked."""
    figure = Figure(figsize=(10.5, 3.6), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    threshold = None
    for index, (group, path) in enumerate(paths.items()):
        axes.step(path["at"], path["statistic"], where="post", linewidth=1,
                  color=READER_COLOURS[index % len(READER_COLOURS)], label=group or "all sites")
        threshold = path["threshold"]
    if threshold is not None:
        axes.axhline(threshold, color=FLAG_COLOUR, linestyle="--", linewidth=1, label=f"h = {threshold}")
    for _, raised_at in alarms:
        axes.axvline(raised_at, color=FLAG_COLOUR, linewidth=0.8, alpha=0.6)
    axes.set(title="CUSUM of misses among confirmed positives (chart units; alarms: red lines)",
             ylabel="statistic", xlabel="confirmed")
    _legend_outside(axes)
    return _png(figure)
