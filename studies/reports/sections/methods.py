"""The statistical methods, in the words a protocol or paper would use."""

from studies.models import AnalysisRun
from studies.reports.elements import Section

COVARIANCE_METHODS = {
    "jackknife": "the jackknife",
    "delong": "the DeLong method",
    "unbiased": "the unbiased U-statistic estimator (Gallas 2006)",
    "bootstrap": "the stratified bootstrap",
}



def build(run: AnalysisRun, results: dict) -> Section:
    primary, options = results["primary"], results["options"]
    if primary.get("method") == "ustat":
        return Section("Methods", [
            f"Reader performance was measured by each reader's AUC in each arm and compared between arms with "
            f"{primary['method_note']} (Gallas 2009). {_sentence(_ai_versus_readers(results))}"])
    confidence = f"{100 * (1 - primary['alpha']):g}%"
    text = (
        f"Reader performance was measured by the {primary['fom_label']} of each reader in each arm and compared "
        f"between arms with the Obuchowski-Rockette (OR) method (Obuchowski & Rockette 1995), the case-sampling "
        f"covariance of the figures of merit estimated by {COVARIANCE_METHODS[primary['cov']]}. The primary "
        f"analysis treats readers and cases as random (RRRC) with Hillis' denominator degrees of freedom "
        f"(Hillis 2007); fixed-reader (FRRC) and fixed-case (RRFC) analyses are reported as secondary. "
        f"Intervals are {confidence} two-sided ({primary['convention_note']}). The AI's standalone AUC has a "
        f"DeLong standard error (DeLong et al. 1988); {_ai_versus_readers(results)} "
        f"Sensitivity and specificity at the decision threshold are "
        f"averaged over readers with the same OR analysis. Subgroups with fewer than "
        f"{options['min_subgroup_cases']} cases of either truth class are flagged and not analysed; subgroup "
        f"results are not adjusted for multiplicity. Reading time is compared as the ratio of mean times with a "
        f"delta-method interval whose variance is clustered by reader and by case (Cameron, Gelbach & Miller "
        f"2011; Obuchowski 1997). Agreement is Fleiss' kappa on binary calls (Fleiss 1971) and the two-way "
        f"intraclass correlations ICC(2,1) and ICC(3,1) of the ratings (Shrout & Fleiss 1979) with McGraw & Wong "
        f"(1996) intervals. Power for a follow-up study uses the OR variance components of this analysis "
        f"(Hillis, Obuchowski & Berbaum 2011). Beside OR the report prints the Dorfman-Berbaum-Metz (DBM) "
        f"analysis of jackknife pseudovalues (Dorfman, Berbaum & Metz 1992), which with the jackknife gives the "
        f"same F test as OR (Hillis et al. 2005), and each reader's binormal ROC curve fitted by maximum "
        f"likelihood (Dorfman & Alf 1969)."
    )
    return Section("Methods", [text])


def _ai_versus_readers(results: dict) -> str:
    """How the AI was compared with the readers, as the results say (1T-RRRC by default, FRRC on request)."""
    versus = results.get("ai_versus_readers") or {}
    if not versus.get("available"):
        return "the AI was not compared with the readers."
    descriptions = {v.get("method_description") or v.get("method", "") for v in versus["by_arm"].values()}
    return f"the AI is compared with the readers' mean by {'; '.join(sorted(descriptions))}."


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]
