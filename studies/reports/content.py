"""What a report says, built once from a run's stored results and rendered as HTML or PDF.

Numbers come from ``run.results`` only: a report can be regenerated at any time and shows
what the run computed, never a recomputation.
"""

from dataclasses import dataclass, field

from studies.models import AnalysisRun

GENERALIZATIONS = {
    "rrrc": "Random readers, random cases (RRRC)",
    "frrc": "Fixed readers, random cases (FRRC)",
    "rrfc": "Random readers, fixed cases (RRFC)",
}
COVARIANCE_METHODS = {
    "jackknife": "the jackknife",
    "delong": "the DeLong method",
    "unbiased": "the unbiased U-statistic estimator (Gallas 2006)",
    "bootstrap": "the stratified bootstrap",
}
REFERENCES = [
    "Obuchowski NA, Rockette HE (1995). Hypothesis testing of diagnostic accuracy for multiple readers and "
    "multiple tests: an ANOVA approach with dependent observations. Commun Stat Simul Comput 24:285-308.",
    "Hillis SL (2007). A comparison of denominator degrees of freedom methods for multiple observer ROC "
    "analysis. Stat Med 26:596-619.",
    "Hillis SL, Obuchowski NA, Berbaum KS (2011). Power estimation for multireader ROC methods: an updated "
    "and unified approach. Acad Radiol 18:129-142.",
    "DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two or more correlated ROC "
    "curves: a nonparametric approach. Biometrics 44:837-845.",
    "Fleiss JL (1971). Measuring nominal scale agreement among many raters. Psychol Bull 76:378-382.",
    "Shrout PE, Fleiss JL (1979). Intraclass correlations: uses in assessing rater reliability. "
    "Psychol Bull 86:420-428.",
    "McGraw KO, Wong SP (1996). Forming inferences about some intraclass correlation coefficients. "
    "Psychol Methods 1:30-46.",
    "Cameron AC, Gelbach JB, Miller DL (2011). Robust inference with multiway clustering. "
    "J Bus Econ Stat 29:238-249.",
    "Obuchowski NA (1997). Nonparametric analysis of clustered ROC curve data. Biometrics 53:567-578.",
    "Gallas BD (2006). One-shot estimate of MRMC variance: AUC. Acad Radiol 13:353-362.",
]


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


def report_sections(run: AnalysisRun) -> list[Section]:
    """The report's sections in order, for a run that succeeded."""
    results = run.results
    sections = [
        _summary(run, results),
        _methods(results),
        _primary(results),
        _endpoints(results),
        _ai(results),
        _operating_points(results),
        _reader_table(results),
        _subgroups(results),
        _reading_time(results),
        _agreement(results),
        _sequential(results),
        _power(results),
        _r_crosscheck(results),
        Section("References", paragraphs=list(REFERENCES)),
    ]
    return [section for section in sections if section is not None]


def report_title(run: AnalysisRun) -> str:
    kind = "Interim analysis" if run.is_interim else "Analysis"
    return f"{kind} report: {run.results['study']['title']}"


def _summary(run: AnalysisRun, results: dict) -> Section:
    study = results["study"]
    arms = ", ".join(f"{a['label']} ({a['name']}{', AI shown' if a['shows_ai'] else ''})" for a in study["arms"])
    threshold = study["decision_threshold"]
    paragraphs = [
        f"Design: {study['design_label']}. Arms: {arms}. Readers: {len(study['readers'])} "
        f"({', '.join(study['readers'])}). Cases analysed: {study['n_cases']} ({study['n_abnormal']} diseased, "
        f"{study['n_normal']} non-diseased); reads analysed: {study['n_reads']}.",
        f"Rating scale: {study['rating_scale']} {number(study['rating_bounds'][0], 0)}-"
        f"{number(study['rating_bounds'][1], 0)}; decision threshold: "
        f"{'none' if threshold is None else f'{threshold:g}'}; binary decisions collected: "
        f"{'yes' if study['binary_decision'] else 'no'}.",
        f"Run {run.pk} by {run.created_by.username if run.created_by else 'unknown'} on "
        f"{run.created_at:%Y-%m-%d %H:%M} UTC, study status {run.study_status}"
        f"{' (INTERIM: reading not finished)' if run.is_interim else ''}. Snapshot sha256 "
        f"{run.snapshot_checksum}. Software: {run.software_version}.",
    ]
    if study["dropped_incomplete_cases"]:
        paragraphs.append(f"{study['dropped_incomplete_cases']} cases not yet read by every reader in every arm "
                          "were left out of this interim analysis.")
    rows = [
        [variable, level, str(counts["normal"]), str(counts["abnormal"])]
        for variable, levels in study["cases_by_subgroup"].items()
        for level, counts in levels.items()
    ]
    tables = [Table("Cases by truth and subgroup variable", ["Variable", "Level", "Non-diseased", "Diseased"], rows)]
    return Section("Study summary", paragraphs, tables if rows else [])


def _methods(results: dict) -> Section:
    primary, options = results["primary"], results["options"]
    confidence = f"{100 * (1 - primary['alpha']):g}%"
    text = (
        f"Reader performance was measured by the {primary['fom_label']} of each reader in each arm and compared "
        f"between arms with the Obuchowski-Rockette (OR) method (Obuchowski & Rockette 1995), the case-sampling "
        f"covariance of the figures of merit estimated by {COVARIANCE_METHODS[primary['cov']]}. The primary "
        f"analysis treats readers and cases as random (RRRC) with Hillis' denominator degrees of freedom "
        f"(Hillis 2007); fixed-reader (FRRC) and fixed-case (RRFC) analyses are reported as secondary. "
        f"Intervals are {confidence} two-sided ({primary['convention_note']}). The AI's standalone AUC has a "
        f"DeLong standard error (DeLong et al. 1988); the AI is compared with the readers' mean treating it as "
        f"one more fixed reader (FRRC, z test). Sensitivity and specificity at the decision threshold are "
        f"averaged over readers with the same OR analysis. Subgroups with fewer than "
        f"{options['min_subgroup_cases']} cases of either truth class are flagged and not analysed; subgroup "
        f"results are not adjusted for multiplicity. Reading time is compared as the ratio of mean times with a "
        f"delta-method interval whose variance is clustered by reader and by case (Cameron, Gelbach & Miller "
        f"2011; Obuchowski 1997). Agreement is Fleiss' kappa on binary calls (Fleiss 1971) and the two-way "
        f"intraclass correlations ICC(2,1) and ICC(3,1) of the ratings (Shrout & Fleiss 1979) with McGraw & Wong "
        f"(1996) intervals. Power for a follow-up study uses the OR variance components of this analysis "
        f"(Hillis, Obuchowski & Berbaum 2011)."
    )
    return Section("Methods", [text])


def _difference_rows(name: str, generalization: dict | None) -> list[list[str]]:
    if generalization is None:
        return []
    return [
        [GENERALIZATIONS[name], " - ".join(d["treatments"]), number(d["estimate"], 4), number(d["se"], 4),
         interval(d["ci"], 4), number(d["df"], 1), number(d["statistic"], 3), p_value(d["p"])]
        for d in generalization["differences"]
    ]


def _primary(results: dict) -> Section:
    primary = results["primary"]
    arms, readers = primary["treatments"], primary["readers"]
    fom_rows = [[reader] + [number(primary["fom_table"][arm][reader], 4) for arm in arms] for reader in readers]
    fom_rows.append(["Mean"] + [number(primary["treatment_means"][arm], 4) for arm in arms])
    ci_rows = [
        [arm, number(ci["estimate"], 4), number(ci["se"], 4), interval(ci["ci"], 4), number(ci["df"], 1)]
        for arm, ci in (primary["rrrc"] or primary["frrc"])["treatment_ci"].items()
    ]
    difference_rows = [row for name in GENERALIZATIONS for row in _difference_rows(name, primary[name])]
    test_rows = [
        [GENERALIZATIONS[name], number(primary[name]["test"]["statistic"], 3), str(primary[name]["test"]["df1"]),
         number(primary[name]["test"]["df2"], 1), p_value(primary[name]["test"]["p"])]
        for name in GENERALIZATIONS if primary[name] and primary[name]["test"]
    ]
    components = primary["var_components"]
    component_rows = [[name, number(value, 6)] for name, value in components.items()]
    component_rows += [[name, number(value, 4)] for name, value in primary["correlations"].items()]
    return Section(
        "Primary analysis (Obuchowski-Rockette)",
        [f"Figure of merit: {primary['fom_label']}; {primary['n_abnormal']} diseased and {primary['n_normal']} "
         f"non-diseased cases. Differences are first arm minus second."],
        [
            Table(f"{primary['fom']} per reader and arm", ["Reader", *arms], fom_rows),
            Table("Arm means (RRRC intervals)", ["Arm", "Estimate", "SE", "CI", "df"], ci_rows),
            Table("Global tests of equal arm means", ["Analysis", "Statistic", "df1", "df2", "p"], test_rows),
            Table("Differences between arms", ["Analysis", "Arms", "Estimate", "SE", "CI", "df", "Statistic", "p"],
                  difference_rows),
            Table("OR variance components and correlations", ["Component", "Value"], component_rows),
        ],
        [("roc_curves", "Empirical ROC curves per arm"), ("reader_foms", "Reader figures of merit by arm")],
    )


def _endpoints(results: dict) -> Section | None:
    """The protocol's hypotheses and each endpoint's decision; runs stored before endpoints existed have none."""
    decisions = results.get("endpoints")
    if not decisions:
        return None
    if not decisions["specified"]:
        return Section("Hypotheses and decisions", ["The protocol pre-specifies no endpoints."])
    plan = decisions["plan"]
    rows = [_decision_row(endpoint) for endpoint in decisions["endpoints"]]
    return Section(
        "Hypotheses and decisions",
        [f"Pre-specified: alpha {plan['alpha']:g}, {plan['sided']}-sided; differences are the arm that shows the AI "
         f"minus the arm that does not (RRRC), each endpoint succeeding when its lower confidence bound exceeds 0 "
         f"(superiority) or minus its margin (non-inferiority). Co-primary endpoints: all must succeed with the "
         f"primary. Secondary endpoints: Holm's step-down, tested once the primary endpoints succeed.",
         " ".join([f"Primary hypothesis: {decisions['primary_outcome']}.", decisions["note"]]).strip(),
         *[_decision_sentence(endpoint) for endpoint in decisions["endpoints"]]],
        [Table("Endpoint decisions", ["Role", "Endpoint", "Hypothesis", "Difference", "CI", "Decision"], rows)],
    )


def _decision_sentence(endpoint: dict) -> str:
    where = f"{endpoint['role']}; {endpoint['source']}" if "source" in endpoint else endpoint["role"]
    outcome = endpoint.get("statement") or f"{endpoint['decision']}, {endpoint['reason']}"
    return f"{endpoint['label']} ({where}): {outcome}."


def _decision_row(endpoint: dict) -> list[str]:
    margin = f" (margin {endpoint['margin']:g})" if endpoint["margin"] else ""
    level = f" ({100 * endpoint['ci_level']:.4g}%)" if "ci_level" in endpoint else ""
    return [endpoint["role"], endpoint["label"], endpoint["hypothesis"].replace("_", "-") + margin,
            number(endpoint.get("estimate")), interval(endpoint.get("ci")) + level, endpoint["decision"]]


def _ai(results: dict) -> Section:
    standalone, versus = results["ai_standalone"], results["ai_versus_readers"]
    if not standalone.get("available"):
        return Section("AI standalone performance", [standalone.get("reason") or standalone.get("error", "")])
    model = standalone["model"]
    paragraphs = [f"{model['name']} {model['version']}: AUC {number(standalone['auc'])} "
                  f"(SE {number(standalone['se'])}, 95% CI {interval(standalone['ci'])}), DeLong."]
    tables = []
    if versus.get("available"):
        tables.append(Table(
            f"Readers' mean {versus['fom']} minus the AI's (AI as a fixed reader, FRRC)",
            ["Arm", "Readers' mean", "AI", "Difference", "SE", "CI", "p"],
            [[arm, number(v["readers_mean_fom"]), number(v["ai_fom"]), number(v["difference"], 4),
              number(v["se"], 4), interval(v["ci"], 4), p_value(v["p"])] for arm, v in versus["by_arm"].items()],
        ))
    else:
        paragraphs.append(f"AI versus readers not computed: {versus.get('reason') or versus.get('error')}")
    return Section("AI standalone performance", paragraphs, tables,
                   [("ai_roc", "AI ROC curve with the readers' operating points")])


def _operating_points(results: dict) -> Section:
    section = results["operating_points"]
    if not section.get("available"):
        return Section("Sensitivity and specificity", [section.get("reason") or section.get("error", "")])
    rows = []
    for source, measures in section["sources"].items():
        for kind, label in (("sens", "Sensitivity"), ("spec", "Specificity")):
            summary = measures[kind]
            generalization = summary["rrrc"] or summary["frrc"]
            difference = generalization["differences"][0] if generalization["differences"] else None
            rows.append([source, label] + [
                f"{number(ci['estimate'])} ({interval(ci['ci'])})" for ci in generalization["treatment_ci"].values()
            ] + [number(difference and difference["estimate"]), p_value(difference and difference["p"])])
    arms = list(results["primary"]["treatments"])
    return Section(
        "Sensitivity and specificity",
        ["Readers averaged with the OR method (RRRC); intervals in parentheses."],
        [Table("Sensitivity and specificity by arm", ["Call", "Measure", *arms, "Difference", "p"], rows)],
    )


def _reader_table(results: dict) -> Section:
    table = results["reader_table"]
    arms = results["primary"]["treatments"]
    header = ["Reader"] + [f"{results['primary']['fom']} {arm}" for arm in arms]
    header += [f"Sens {arm}" for arm in arms] + [f"Spec {arm}" for arm in arms] + [f"s/case {arm}" for arm in arms]
    rows = [
        [row["reader"]] + [number(row["fom"].get(arm)) for arm in arms]
        + [number(row["sensitivity"].get(arm)) for arm in arms] + [number(row["specificity"].get(arm)) for arm in arms]
        + [number(row["mean_seconds"].get(arm), 1) for arm in arms]
        for row in table.get("rows", [])
    ]
    return Section("Reader-level results", [], [Table("Per reader and arm", header, rows)])


def _subgroups(results: dict) -> Section:
    section = results["subgroups"]
    if "error" in section:
        return Section("Subgroup analyses", [section["error"]])
    arms = results["primary"]["treatments"]
    rows = []
    for row in section["rows"]:
        difference = (row.get("differences") or [None])[0]
        status = "too small" if row["too_small"] else (row["error"] or "")
        rows.append([row["variable"], row["level"], str(row["n_normal"]), str(row["n_abnormal"])]
                    + [number((row.get("treatment_means") or {}).get(arm)) for arm in arms]
                    + [number(difference and difference["estimate"], 4),
                       interval(difference and difference["ci"], 3), p_value(difference and difference["p"]), status])
    return Section(
        "Subgroup analyses",
        [f"Same OR analysis within each level; flagged 'too small' below {section['min_cases_per_class']} cases "
         "per truth class. Not adjusted for multiplicity."],
        [Table("Subgroups", ["Variable", "Level", "Non-dis.", "Dis.", *arms, "Difference", "CI", "p", "Flag"],
               rows)],
    )


def _reading_time(results: dict) -> Section:
    section = results["reading_time"]
    if not section.get("available"):
        return Section("Reading time", [section.get("reason") or section.get("error", "")])
    arm_rows = [[arm, str(t["n_reads"]), number(t["mean"], 1), number(t["median"], 1),
                 f"{number(t['q1'], 1)}-{number(t['q3'], 1)}"] for arm, t in section["by_arm"].items()]
    comparison_rows = [
        [f"{c['arm']} vs {c['reference']}", str(c["n_pairs"]), number(c["ratio"]), interval(c["ratio_ci"]),
         f"{100 * (c['ratio'] - 1):+.1f}%", number(c["difference"], 1), interval(c["difference_ci"], 1)]
        for c in section["comparisons"]
    ]
    return Section(
        "Reading time",
        ["Seconds per case from opening to submission. Intervals account for clustering by reader and by case."],
        [Table("Per arm", ["Arm", "Reads", "Mean", "Median", "IQR"], arm_rows),
         Table("Relative change", ["Comparison", "Pairs", "Ratio", "CI", "Change", "Difference (s)", "CI (s)"],
               comparison_rows)],
        [("reading_time", "Reading time per reader and arm")],
    )


def _agreement(results: dict) -> Section:
    section = results["agreement"]
    if "error" in section:
        return Section("Inter-reader agreement", [section["error"]])
    rows = []
    for arm, values in section["by_arm"].items():
        kappa, icc = values["fleiss_kappa"], values["icc"]
        rows.append([arm, values["kappa_source"] or "–", number(kappa and kappa["kappa"]),
                     number(icc["icc_agreement"]), interval(icc["ci_agreement"]),
                     number(icc["icc_consistency"]), interval(icc["ci_consistency"])])
    return Section("Inter-reader agreement", [], [Table(
        "Per arm", ["Arm", "Calls", "Fleiss' kappa", "ICC(2,1)", "CI", "ICC(3,1)", "CI"], rows)])


def _sequential(results: dict) -> Section | None:
    section = results["sequential"]
    if not section.get("available"):
        return None
    rows = [["All reads", str(section["increased"]), str(section["decreased"]), str(section["unchanged"])],
            ["Diseased", str(section["increased_diseased"]), str(section["decreased_diseased"]), ""],
            ["Non-diseased", str(section["increased_normal"]), str(section["decreased_normal"]), ""]]
    paragraphs = [f"Score changes from {section['unaided']} to {section['aided']} over {section['n_reads']} reads."]
    if section["decision_to_positive"] is not None:
        paragraphs.append(
            f"Calls at {section['threshold']:g}: {section['decision_to_positive']} to positive, "
            f"{section['decision_to_negative']} to negative; {section['decision_corrected']} corrected, "
            f"{section['decision_spoiled']} made wrong.")
    return Section("Sequential reading: score changes after the AI", paragraphs,
                   [Table("Direction of change", ["Reads", "Increased", "Decreased", "Unchanged"], rows)])


def _power(results: dict) -> Section:
    section = results["power"]
    if "error" in section:
        return Section("Power for a follow-up study", [section["error"]])
    rows = [[str(row["readers"]), "not reachable" if row["cases"] is None else str(row["cases"])]
            for row in section["rows"]]
    return Section(
        "Power for a follow-up study",
        [f"Cases needed for {100 * section['target_power']:g}% power to detect an AUC difference of "
         f"{section['effect_size']:g} (alpha {section['alpha']:g}, RRRC), from this study's OR variance components."],
        [Table("Sample size", ["Readers", "Cases"], rows)],
    )


def _r_crosscheck(results: dict) -> Section | None:
    section = results["r_crosscheck"]
    if not section.get("requested"):
        return None
    if not section.get("available"):
        return Section("R cross-check (MRMCaov)", [f"Not available: {section.get('reason')}. "
                                                   f"{section.get('how_to_install', '')}"])
    ours = results["primary"]["rrrc"]["differences"][0]
    rows = [[f"This platform ({' - '.join(ours['treatments'])})", number(ours["estimate"], 5),
             number(ours["se"], 5), number(ours["df"], 2), interval(ours["ci"], 5), p_value(ours["p"])],
            [f"MRMCaov ({section['comparison']})" if section.get("comparison") else "MRMCaov",
             number(section["estimate"], 5), number(section["se"], 5), number(section["df"], 2),
             interval(section["ci"], 5), p_value(section["p"])]]
    return Section("R cross-check (MRMCaov)", [], [Table("RRRC difference", ["Software", "Estimate", "SE", "df",
                                                                             "CI", "p"], rows)])
