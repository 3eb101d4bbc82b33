"""The literature the methods cite."""

from studies.models import AnalysisRun
from studies.reports.elements import Section

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
    "Gallas BD, Bandos A, Samuelson FW, Wagner RF (2009). A framework for random-effects ROC analysis: "
    "biases with the bootstrap and other variance estimators. Commun Stat Theory Methods 38:2586-2603.",
    "Dorfman DD, Berbaum KS, Metz CE (1992). Receiver operating characteristic rating analysis: generalization "
    "to the population of readers and patients with the jackknife method. Invest Radiol 27:723-731.",
    "Hillis SL, Obuchowski NA, Schartz KM, Berbaum KS (2005). A comparison of the Dorfman-Berbaum-Metz and "
    "Obuchowski-Rockette methods for receiver operating characteristic (ROC) data. Stat Med 24:1579-1607.",
    "Hillis SL, Berbaum KS, Metz CE (2008). Recent developments in the Dorfman-Berbaum-Metz procedure for "
    "multireader ROC study analysis. Acad Radiol 15:647-661.",
    "Dorfman DD, Alf E (1969). Maximum-likelihood estimation of parameters of signal-detection theory and "
    "determination of confidence intervals: rating-method data. J Math Psychol 6:487-496.",
]


def build(run: AnalysisRun, results: dict) -> Section:
    return Section("References", paragraphs=list(REFERENCES))
