"""FROC OR analysis against RJafroc 2.1.3 St(FOM, method = "OR", covEstMethod = "jackknife") on dataset04.

Every number RJafroc printed (figure-of-merit table, ANOVA, variance components, per-treatment and
per-reader components, RRRC/FRRC/RRFC tests, differences and single-treatment intervals) is compared
with the analysis of the dataset read back from the long FROC format. Differences are treatment 1
minus treatment 2 in both; RJafroc names treatment "1" trt1 and reader "3" rdr3.
"""

import functools
import json
from pathlib import Path

import pytest
from scipy import special

from mrmc.stats.froc import analyze_froc_csv, froc_result_to_json

DATA = Path(__file__).parent / "data"
FOMS = {"wAFROC": "wafroc", "AFROC": "afroc", "HrAuc": "hrauc"}
ABSOLUTE = 1e-10
RELATIVE = 1e-9
EXPECTED = json.loads((DATA / "froc_dataset04_expected.json").read_text())["results"]
N_CASES = 200


@functools.cache
def document(fom: str) -> dict:
    result = analyze_froc_csv(DATA / "froc_dataset04_marks.csv", DATA / "froc_dataset04_truth.csv", fom=fom)
    return froc_result_to_json(result)


def _name(label: str) -> str:
    return label.removeprefix("trt").removeprefix("rdr")


def _difference(entries: list[dict], pair: str, reader: str | None = None) -> dict:
    first, second = (_name(label) for label in pair.split("-"))
    (match,) = [e for e in entries if e["treatments"] == [first, second] and e.get("reader") == reader]
    return match


DIFFERENCE_FIELDS = {
    "Estimate": ("estimate",),
    "StdErr": ("se",),
    "DF": ("df",),
    "t": ("statistic",),
    "z": ("statistic",),
    "PrGTt": ("p",),
    "PrGTz": ("p",),
    "CILower": ("ci", 0),
    "CIUpper": ("ci", 1),
}
INTERVAL_FIELDS = {**DIFFERENCE_FIELDS, "Cov2": None}


def _dig(entry, path):
    for step in path:
        entry = entry[step]
    return entry


def reference_cases():
    """(id, RJafroc value, function of our JSON document giving the same number)."""
    for section_name, fom in FOMS.items():
        section = EXPECTED[section_name]
        for treatment, by_reader in section["fom_table"].items():
            for reader, value in by_reader.items():
                yield f"{fom}-fom-{treatment}-{reader}", fom, value, ("fom_table", _name(treatment), reader)
        for index, value in enumerate(section["treatment_means"], start=1):
            yield f"{fom}-mean-{index}", fom, value, ("treatment_means", str(index))
        for source, name in (("T", "t"), ("R", "r"), ("TR", "tr")):
            yield f"{fom}-ms-{source}", fom, section["anova"][source]["MS"], ("mean_squares", f"ms_{name}")
            yield f"{fom}-df-{source}", fom, section["anova"][source]["DF"], ("mean_squares", f"df_{name}")
        for source, name in (("VarR", "var_R"), ("VarTR", "var_TR"), ("Cov1", "cov1"), ("Cov2", "cov2"),
                             ("Cov3", "cov3"), ("Var", "var_error")):
            yield f"{fom}-{name}", fom, section["var_components"][source], ("var_components", name)
        for index in (1, 2, 3):
            value = section["correlations"][f"Cov{index}"]
            yield f"{fom}-corr{index}", fom, value, ("correlations", f"corr{index}")
        for treatment, parts in section["individual_trt"].items():
            t = _name(treatment)
            yield f"{fom}-msr-{t}", fom, parts["msREachTrt"], ("mean_squares", "ms_r_by_treatment", t)
            yield f"{fom}-var-{t}", fom, parts["varEachTrt"], ("treatment_components", t, "var_error")
            yield f"{fom}-cov2-{t}", fom, parts["cov2EachTrt"], ("treatment_components", t, "cov2")
        for reader, parts in section["individual_rdr"].items():
            r = _name(reader)
            yield f"{fom}-var-rdr{r}", fom, parts["varEachRdr"], ("reader_components", r, "var_error")
            yield f"{fom}-cov1-rdr{r}", fom, parts["cov1EachRdr"], ("reader_components", r, "cov1")
        yield from _generalization_cases(fom, section)


def _generalization_cases(fom: str, section: dict):
    rrrc, frrc, rrfc = section["RRRC"], section["FRRC"], section["RRFC"]
    tests = (
        ("rrrc", rrrc["FTests"]["Treatment"]["FStat"], "statistic"),
        ("rrrc", rrrc["FTests"]["Treatment"]["p"], "p"),
        ("rrrc", rrrc["FTests"]["Error"]["DF"], "df2"),
        ("rrrc", rrrc["FTests"]["Error"]["MS"], "denominator"),
        ("frrc", frrc["FTests"]["Treatment"]["Chisq"], "statistic"),
        ("frrc", frrc["FTests"]["Treatment"]["p"], "p"),
        ("frrc", frrc["FTests"]["Error"]["MS"], "denominator"),
        ("rrfc", rrfc["FTests"]["T"]["F"], "statistic"),
        ("rrfc", rrfc["FTests"]["T"]["p"], "p"),
        ("rrfc", rrfc["FTests"]["TR"]["DF"], "df2"),
        ("rrfc", rrfc["FTests"]["TR"]["MS"], "denominator"),
    )
    for generalization, value, field in tests:
        yield f"{fom}-{generalization}-test-{field}", fom, value, (generalization, "test", field)
    for generalization, results in (("rrrc", rrrc), ("frrc", frrc), ("rrfc", rrfc)):
        for pair, entry in results["ciDiffTrt"].items():
            for key, value in entry.items():
                path = DIFFERENCE_FIELDS[key]
                yield (f"{fom}-{generalization}-{pair}-{key}", fom, value,
                       lambda doc, g=generalization, p=pair, path=path: _dig(_difference(doc[g]["differences"], p), path))
        for treatment, entry in results["ciAvgRdrEachTrt"].items():
            for key, value in entry.items():
                path = INTERVAL_FIELDS[key]
                # RJafroc prints DF K - 1 beside FRRC single-treatment intervals that use the normal quantile.
                if path is None or (generalization == "frrc" and key == "DF"):
                    continue
                yield (f"{fom}-{generalization}-{treatment}-{key}", fom, value,
                       (generalization, "treatment_ci", _name(treatment), *path))
    for label, entry in frrc["ciDiffTrtEachRdr"].items():
        reader, pair = label.split("::")
        reader = _name(reader)
        for key, value in entry.items():
            path = DIFFERENCE_FIELDS[key]
            yield (f"{fom}-frrc-{label}-{key}", fom, value,
                   lambda doc, r=reader, p=pair, path=path:
                   _dig(_difference(doc["frrc"]["reader_differences"], p, reader=r), path))


REFERENCE = list(reference_cases())


@pytest.mark.parametrize(("fom", "expected", "where"), [case[1:] for case in REFERENCE],
                         ids=[case[0] for case in REFERENCE])
def test_matches_rjafroc(fom, expected, where):
    actual = where(document(fom)) if callable(where) else _dig(document(fom), where)
    assert actual == pytest.approx(expected, rel=RELATIVE, abs=ABSOLUTE)


def test_reference_covers_every_section():
    assert len(REFERENCE) > 3 * 250


@pytest.mark.parametrize("section_name", FOMS)
def test_frrc_treatment_intervals_use_the_normal_quantile_as_rjafroc_does(section_name):
    """RJafroc labels them with DF = K - 1, but its bounds are mean +- z SE (a t quantile would be wider)."""
    frrc = document(FOMS[section_name])["frrc"]["treatment_ci"]
    for treatment, entry in EXPECTED[section_name]["FRRC"]["ciAvgRdrEachTrt"].items():
        ours = frrc[_name(treatment)]
        assert entry["DF"] == N_CASES - 1 and ours["df"] is None
        z_bound = ours["estimate"] + special.ndtri(0.975) * ours["se"]
        t_bound = ours["estimate"] + special.stdtrit(N_CASES - 1, 0.975) * ours["se"]
        assert entry["CIUpper"] == pytest.approx(z_bound, rel=RELATIVE)
        assert abs(entry["CIUpper"] - t_bound) > 1e-4
