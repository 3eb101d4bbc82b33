"""Report figures drawn with matplotlib (Agg, no pyplot state) from a run's stored results only.

Every legend sits outside its axes (right of them), so it never hides a curve or a point.
"""

import io

from matplotlib.figure import Figure

from mrmc.stats.binormal import binormal_curve
from mrmc.stats.proper_binormal import proper_curve

from .automation_bias_figure import automation_bias_readers
from .forest_plot import has_forest_plot, subgroup_forest

ARM_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
READER_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                  "#bcbd22", "#17becf")
AI_COLOUR = "#222222"


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=110, bbox_inches="tight")
    return out.getvalue()


def _legend_outside(axes, **options) -> None:
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=7, **options)


def _roc_axes(axes, title: str) -> None:
    axes.plot([0, 1], [0, 1], color="#999999", linewidth=0.8, linestyle=":")
    axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="False-positive fraction (1 - specificity)",
             ylabel="True-positive fraction (sensitivity)", title=title, aspect="equal")


def roc_curves(results: dict) -> Figure:
    """Empirical ROC curves per arm: every reader thin, the pooled curve (all readers' ratings pooled) bold."""
    arms = results["curves"]["arms"]
    figure = Figure(figsize=(5.6 * len(arms), 4.4), layout="constrained")
    for number, (arm, curves) in enumerate(arms.items()):
        axes = figure.add_subplot(1, len(arms), number + 1)
        colour = ARM_COLOURS[number % len(ARM_COLOURS)]
        for index, curve in enumerate(curves["readers"].values()):
            axes.plot(curve["fpr"], curve["tpr"], color=colour, alpha=0.35, linewidth=0.8,
                      label="each reader (empirical)" if index == 0 else None)
        axes.plot(curves["pooled"]["fpr"], curves["pooled"]["tpr"], color=colour, linewidth=2.2,
                  label="pooled ROC (all readers'\nratings pooled)")
        mean = results["primary"]["treatment_means"][arm]
        _roc_axes(axes, f"{arm}\nreaders' mean {results['primary']['fom']} {mean:.3f}")
        _legend_outside(axes)
    return figure


def binormal_roc(results: dict) -> Figure:
    """Per arm, each reader's empirical ROC (solid), fitted binormal (dashed) and proper binormal (dotted) curves.

    One legend, right of the last panel: a colour per reader and the two line styles (a and b are in the table).
    """
    arms, fits = results["curves"]["arms"], results["binormal"]["by_arm"]
    proper_fits = results["binormal"].get("proper_by_arm", {})
    figure = Figure(figsize=(4.6 * len(arms) + 1.4, 4.6), layout="constrained")
    for number, (arm, curves) in enumerate(arms.items()):
        axes = figure.add_subplot(1, len(arms), number + 1)
        for index, (reader, curve) in enumerate(curves["readers"].items()):
            colour = READER_COLOURS[index % len(READER_COLOURS)]
            axes.plot(curve["fpr"], curve["tpr"], color=colour, linewidth=0.9, label=reader)
            fit = fits.get(arm, {}).get(reader, {})
            if "a" in fit:
                axes.plot(*binormal_curve(fit["a"], fit["b"]), color=colour, linewidth=1.2, linestyle="--")
            proper = proper_fits.get(arm, {}).get(reader, {})
            if "a" in proper:
                axes.plot(*proper_curve(proper["a"], proper["b"]), color=colour, linewidth=1.2, linestyle=":")
        _roc_axes(axes, f"{arm}: empirical and fitted")
    axes.plot([], [], color="#444444", linewidth=0.9, label="empirical (solid)")
    axes.plot([], [], color="#444444", linewidth=1.2, linestyle="--", label="binormal fit (dashed)")
    if proper_fits:
        axes.plot([], [], color="#444444", linewidth=1.2, linestyle=":", label="proper binormal fit (dotted)")
    _legend_outside(axes)
    return figure


def reader_foms(results: dict) -> Figure:
    """Each reader's figure of merit in every arm, joined per reader, with the arm means."""
    primary = results["primary"]
    arms, readers = primary["treatments"], primary["readers"]
    figure = Figure(figsize=(6.8, 4.2), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    for index, reader in enumerate(readers):
        values = [primary["fom_table"][arm][reader] for arm in arms]
        axes.plot(range(len(arms)), values, marker="o", color="#7f7f7f", alpha=0.7, linewidth=1,
                  label="each reader" if index == 0 else None)
        axes.annotate(reader, (len(arms) - 1, values[-1]), xytext=(5, 0), textcoords="offset points", fontsize=7)
    means = [primary["treatment_means"][arm] for arm in arms]
    axes.plot(range(len(arms)), means, marker="s", color="#d62728", linewidth=2.5, label="readers' mean")
    axes.set(xticks=range(len(arms)), xticklabels=arms, ylabel=primary.get("fom_label", primary["fom"]),
             title=f"Reader {primary['fom']} by arm", xlim=(-0.3, len(arms) - 0.5))
    _legend_outside(axes)
    return figure


def ai_roc(results: dict) -> Figure:
    """The AI's empirical ROC curve with each reader's operating point in each arm."""
    curves = results["curves"]
    figure = Figure(figsize=(6.8, 5.0), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    if curves["ai"]:
        standalone = results["ai_standalone"]
        axes.plot(curves["ai"]["fpr"], curves["ai"]["tpr"], color=AI_COLOUR, linewidth=2,
                  label=f"AI standalone (AUC {standalone['auc']:.3f})")
    for number, (arm, arm_curves) in enumerate(curves["arms"].items()):
        points = list(arm_curves["operating_points"].values())
        axes.scatter([p["fpr"] for p in points], [p["tpr"] for p in points], s=28,
                     color=ARM_COLOURS[number % len(ARM_COLOURS)], marker="os^D"[number % 4],
                     label=f"readers, {arm}", zorder=3)
    _roc_axes(axes, "AI ROC curve and readers' operating points")
    _legend_outside(axes)
    return figure


def reading_time(results: dict) -> Figure:
    """Mean reading time per reader in each arm, joined per reader, with each arm's median."""
    timing = results["reading_time"]
    arms = list(timing["by_arm"])
    figure = Figure(figsize=(6.8, 4.2), layout="constrained")
    axes = figure.add_subplot(1, 1, 1)
    readers = list(timing["by_reader"][arms[0]])
    for index, reader in enumerate(readers):
        axes.plot(range(len(arms)), [timing["by_reader"][arm][reader] for arm in arms], marker="o",
                  color="#7f7f7f", alpha=0.7, linewidth=1, label="reader mean" if index == 0 else None)
    medians = [timing["by_arm"][arm]["median"] for arm in arms]
    axes.plot(range(len(arms)), medians, marker="s", color="#2ca02c", linewidth=2.5, label="median per read")
    axes.set(xticks=range(len(arms)), xticklabels=arms, ylabel="seconds per case",
             title="Reading time: reader means and arm medians", xlim=(-0.3, len(arms) - 0.7))
    _legend_outside(axes)
    return figure


def report_figure_objects(results: dict) -> dict[str, Figure]:
    """Every figure the results allow, by name."""
    figures = {"roc_curves": roc_curves(results), "reader_foms": reader_foms(results), "ai_roc": ai_roc(results)}
    if "by_arm" in (results.get("binormal") or {}):
        figures["binormal_roc"] = binormal_roc(results)
    if results["reading_time"].get("available"):
        figures["reading_time"] = reading_time(results)
    if (results.get("automation_bias") or {}).get("available"):
        figures["automation_bias_readers"] = automation_bias_readers(results)
    if has_forest_plot(results):
        figures["subgroup_forest"] = subgroup_forest(results)
    return figures


def report_figures(results: dict) -> dict[str, bytes]:
    """Every figure the results allow, by name, as PNG bytes."""
    return {name: _png(figure) for name, figure in report_figure_objects(results).items()}
