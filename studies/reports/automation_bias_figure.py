"""The automation-bias figure: each reader's accuracy without and with the AI, per stratum of the AI's call."""

from itertools import groupby

from matplotlib.figure import Figure

from studies.reports.elements import arm_label

EFFECT_COLOURS = {"harmed": "#d62728", "helped": "#2ca02c", "unchanged": "#7f7f7f"}
EFFECT_LEGEND = {"harmed": "AI harmed the reader", "helped": "AI helped the reader", "unchanged": "no change"}


def automation_bias_readers(results: dict) -> Figure:
    """One panel per stratum (AI correct, AI wrong): a line per reader from unaided to aided accuracy, coloured by
    whether the AI helped or harmed that reader there; readers ending at the same accuracy share one label."""
    section = results["automation_bias"]
    arms = [arm_label(results, section["unaided"]), arm_label(results, section["aided"])]
    read = [r for stratum in section["strata"] for r in stratum["readers"] if r["accuracy_unaided"] is not None]
    lowest = min([min(r["accuracy_unaided"], r["accuracy_aided"]) for r in read], default=0.0)
    figure = Figure(figsize=(8.4, 4.2), layout="constrained")
    for number, stratum in enumerate(section["strata"]):
        axes = figure.add_subplot(1, len(section["strata"]), number + 1)
        readers = [r for r in stratum["readers"] if r["accuracy_unaided"] is not None]
        for reader in readers:
            axes.plot([0, 1], [reader["accuracy_unaided"], reader["accuracy_aided"]], marker="o", alpha=0.8,
                      color=EFFECT_COLOURS[reader["effect"]], linewidth=1.2)
        ends = sorted(readers, key=lambda r: (r["accuracy_aided"], r["reader"]))
        for accuracy, together in groupby(ends, key=lambda r: r["accuracy_aided"]):
            axes.annotate(", ".join(r["reader"] for r in together), (1, accuracy), xytext=(6, 0),
                          textcoords="offset points", fontsize=7, va="center")
        axes.set(xticks=[0, 1], xticklabels=arms, xlim=(-0.2, 1.6), ylim=(max(lowest - 0.1, 0.0) - 0.02, 1.02),
                 ylabel="accuracy (share of correct calls)", title=f"{stratum['stratum']} ({stratum['n_cases']} cases)")
    for effect, colour in EFFECT_COLOURS.items():  # the legend names every effect, shown or not
        axes.plot([], [], marker="o", color=colour, label=EFFECT_LEGEND[effect])
    axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=7)
    return figure
