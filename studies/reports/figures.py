"""Report figures drawn with matplotlib (Agg, no pyplot state) from a run's stored results only."""

import io

from matplotlib.figure import Figure

ARM_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
AI_COLOUR = "#222222"


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=110, bbox_inches="tight")
    return out.getvalue()


def _roc_axes(axes, title: str) -> None:
    axes.plot([0, 1], [0, 1], color="#999999", linewidth=0.8, linestyle=":")
    axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="False-positive fraction (1 - specificity)",
             ylabel="True-positive fraction (sensitivity)", title=title, aspect="equal")


def roc_curves(results: dict) -> bytes:
    """Empirical ROC curves per arm: every reader thin, the readers' pooled ratings bold."""
    arms = results["curves"]["arms"]
    figure = Figure(figsize=(4.2 * len(arms), 4.4))
    for number, (arm, curves) in enumerate(arms.items()):
        axes = figure.add_subplot(1, len(arms), number + 1)
        colour = ARM_COLOURS[number % len(ARM_COLOURS)]
        for curve in curves["readers"].values():
            axes.plot(curve["fpr"], curve["tpr"], color=colour, alpha=0.35, linewidth=0.8)
        axes.plot(curves["pooled"]["fpr"], curves["pooled"]["tpr"], color=colour, linewidth=2.2, label="pooled")
        mean = results["primary"]["treatment_means"][arm]
        _roc_axes(axes, f"{arm}: readers (thin) and pooled (bold)\nmean {results['primary']['fom']} {mean:.3f}")
    return _png(figure)


def reader_foms(results: dict) -> bytes:
    """Each reader's figure of merit in every arm, joined per reader, with the arm means."""
    primary = results["primary"]
    arms, readers = primary["treatments"], primary["readers"]
    figure = Figure(figsize=(6.4, 4.2))
    axes = figure.add_subplot(1, 1, 1)
    for reader in readers:
        values = [primary["fom_table"][arm][reader] for arm in arms]
        axes.plot(range(len(arms)), values, marker="o", color="#7f7f7f", alpha=0.7, linewidth=1)
        axes.annotate(reader, (len(arms) - 1, values[-1]), xytext=(5, 0), textcoords="offset points", fontsize=7)
    means = [primary["treatment_means"][arm] for arm in arms]
    axes.plot(range(len(arms)), means, marker="s", color="#d62728", linewidth=2.5, label="readers' mean")
    axes.set(xticks=range(len(arms)), xticklabels=arms, ylabel=primary["fom_label"],
             title=f"Reader {primary['fom']} by arm", xlim=(-0.3, len(arms) - 0.5))
    axes.legend(loc="lower left", fontsize=8)
    return _png(figure)


def ai_roc(results: dict) -> bytes:
    """The AI's empirical ROC curve with each reader's operating point in each arm."""
    curves = results["curves"]
    figure = Figure(figsize=(5.2, 5.0))
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
    axes.legend(loc="lower right", fontsize=8)
    return _png(figure)


def reading_time(results: dict) -> bytes:
    """Mean reading time per reader in each arm, joined per reader, with each arm's median."""
    timing = results["reading_time"]
    arms = list(timing["by_arm"])
    figure = Figure(figsize=(6.4, 4.2))
    axes = figure.add_subplot(1, 1, 1)
    readers = list(timing["by_reader"][arms[0]])
    for reader in readers:
        axes.plot(range(len(arms)), [timing["by_reader"][arm][reader] for arm in arms], marker="o",
                  color="#7f7f7f", alpha=0.7, linewidth=1)
    medians = [timing["by_arm"][arm]["median"] for arm in arms]
    axes.plot(range(len(arms)), medians, marker="s", color="#2ca02c", linewidth=2.5, label="median per read")
    axes.set(xticks=range(len(arms)), xticklabels=arms, ylabel="seconds per case",
             title="Reading time: reader means (grey) and arm medians", xlim=(-0.3, len(arms) - 0.7))
    axes.legend(fontsize=8)
    return _png(figure)


def report_figures(results: dict) -> dict[str, bytes]:
    """Every figure the results allow, by name, as PNG bytes."""
    figures = {"roc_curves": roc_curves(results), "reader_foms": reader_foms(results), "ai_roc": ai_roc(results)}
    if results["reading_time"].get("available"):
        figures["reading_time"] = reading_time(results)
    return figures
