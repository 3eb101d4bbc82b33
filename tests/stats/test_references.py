"""Every number in the reference files, for every covariance method and generalization.

Sources (copied into tests/stats/data from shared/refs): vandyke_expected.json and
franken_expected.json (full-precision MRMCaov 0.3.0 / independent runs, and the values
printed by OR-DBM MRMC 2.51 and the MRMCaov paper) plus ordbm251_printed.json, the
numbers of the printed OR-DBM outputs that the json files do not hold.

Full-precision values must agree to 1e-6 relative; printed values to within half a
unit of their last printed digit.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

from mrmc.stats import analyze_study, read_long_csv, result_to_json

DATA = Path(__file__).parent / "data"
COV_NAMES = {"jackknife": "jackknife", "DeLong": "delong", "unbiased": "unbiased"}
GENERALIZATION_NAMES = {"RRRC": "rrrc", "FRRC": "frrc", "RRFC": "rrfc"}


@cache
def reference_json(dataset: str, cov: str, convention: str) -> dict:
    study = read_long_csv(DATA / f"{dataset}.csv")
    return result_to_json(analyze_study(study, cov=cov, convention=convention))


def load(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def extract(document: dict, generalization: str | None, key: str) -> float:
    """Look up a reference key (vandyke_expected.json vocabulary) in our JSON output."""
    section = document[generalization] if generalization else None
    if key in ("F", "X2", "statistic"):
        return section["test"]["statistic"]
    if key in ("df1", "p", "denominator") or (key == "df2" and generalization != "frrc"):
        return section["test"][key]
    if key == "df":  # chi-square degrees of freedom
        return section["test"]["df1"]
    if match := re.fullmatch(r"diff_(estimate|se|t|z|p|df|ci_lower|ci_upper)", key):
        return _difference_field(section["differences"][0], match.group(1))
    if match := re.fullmatch(r"test(\d+)_(estimate|se|df|ci_lower|ci_upper|cov2|var_error|MS_R)", key):
        treatment, field = match.groups()
        if field in ("cov2", "var_error", "MS_R"):
            return document["treatment_components"][treatment][field.lower()]
        interval = section["treatment_ci"][treatment]
        return {"ci_lower": interval["ci"][0], "ci_upper": interval["ci"][1]}.get(field, interval.get(field))
    if match := re.fullmatch(r"reader(\d+)_(estimate|se|z|p|ci_lower|ci_upper|var_error|cov1)", key):
        reader, field = match.groups()
        if field in ("var_error", "cov1"):
            return document["reader_components"][reader][field]
        (difference,) = [d for d in section["reader_differences"] if d["reader"] == reader]
        return _difference_field(difference, field)
    if key in document["var_components"]:
        return document["var_components"][key]
    if key in document["correlations"]:
        return document["correlations"][key]
    raise KeyError(f"no mapping for reference key {key!r}")


def _difference_field(difference: dict, field: str) -> float:
    if field in ("t", "z"):
        return difference["statistic"]
    if field == "ci_lower":
        return difference["ci"][0]
    if field == "ci_upper":
        return difference["ci"][1]
    return difference[field]


def assert_full_precision(actual: float, expected: float) -> None:
    assert actual == pytest.approx(expected, rel=1e-6, abs=1e-15)


def assert_printed(actual: float, printed: float | str) -> None:
    """``printed`` to its last printed digit: |actual - printed| <= half a unit there."""
    digits = -Decimal(str(printed)).as_tuple().exponent
    assert abs(actual - float(printed)) <= 0.5 * 10.0**-digits + 1e-12, (actual, printed)


# ---------------------------------------------------------------- VanDyke


def vandyke_cases():
    """(id, cov, conventions, generalization, key, entry) for every numeric VanDyke entry."""
    reference = load("vandyke_expected.json")
    for method, cov in COV_NAMES.items():
        for key, entry in reference[method]["var_components"].items():
            yield f"{method}-var-{key}", cov, ("iowa", "mrmcaov"), None, key, entry
        for section in ("RRRC", "FRRC"):
            for key, entry in reference[method][section].items():
                # Cov2 > Cov3 for VanDyke, so both FRRC conventions agree.
                yield f"{method}-{section}-{key}", cov, ("iowa", "mrmcaov"), GENERALIZATION_NAMES[section], key, entry
    for key, entry in reference["RRFC"].items():
        for cov in COV_NAMES.values():
            yield f"{cov}-RRFC-{key}", cov, ("iowa",), "rrfc", key, entry


VANDYKE = list(vandyke_cases())


@pytest.mark.parametrize(
    ("cov", "conventions", "generalization", "key", "entry"),
    [case[1:] for case in VANDYKE],
    ids=[case[0] for case in VANDYKE],
)
def test_vandyke_analysis(cov, conventions, generalization, key, entry):
    for convention in conventions:
        actual = extract(reference_json("vandyke", cov, convention), generalization, key)
        assert_full_precision(actual, entry["value"])
        if "published" in entry:
            assert_printed(actual, entry["published"])


def vandyke_estimate_cases():
    reference = load("vandyke_expected.json")
    for treatment, by_reader in reference["reader_test_auc"].items():
        for reader, entry in by_reader.items():
            yield f"auc-{treatment}-{reader}", ("fom_table", treatment, reader), entry
    for treatment, entry in reference["test_means"].items():
        yield f"mean-{treatment}", ("treatment_means", treatment), entry
    yield "difference", ("rrrc", "differences", 0, "estimate"), reference["difference_1_minus_2"]
    names = {"MS_T": "ms_t", "MS_R": "ms_r", "MS_TR": "ms_tr"}
    for key, entry in reference["anova"].items():
        if key.startswith("MS_R_test"):
            path = ("mean_squares", "ms_r_by_treatment", key.removeprefix("MS_R_test"))
        else:
            path = ("mean_squares", names[key])
        yield f"anova-{key}", path, entry


VANDYKE_ESTIMATES = list(vandyke_estimate_cases())


@pytest.mark.parametrize(
    ("path", "entry"), [case[1:] for case in VANDYKE_ESTIMATES], ids=[case[0] for case in VANDYKE_ESTIMATES]
)
@pytest.mark.parametrize("cov", list(COV_NAMES.values()))
def test_vandyke_estimates(cov, path, entry):
    value = reference_json("vandyke", cov, "iowa")
    for step in path:
        value = value[step]
    assert_full_precision(value, entry["value"])
    assert_printed(value, entry["published"])


# ---------------------------------------------------------------- Franken


def _flatten_franken_section(section: dict) -> dict[str, float]:
    """Franken's lists of diffs / single / reader_diffs in the VanDyke key vocabulary."""
    flat = {
        key: value for key, value in section.items() if isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    for difference in section.get("diffs", []):
        assert difference["comparison"] == "1 - 2"
        flat.update({f"diff_{k}": v for k, v in difference.items() if k != "comparison"})
    for number, single in enumerate(section.get("single", []), start=1):
        flat.update({f"test{number}_{k}": v for k, v in single.items()})
    for difference in section.get("reader_diffs", []):
        flat.update(
            {f"reader{difference['reader']}_{k}": v for k, v in difference.items() if k not in ("reader", "comparison")}
        )
    return flat


def franken_cases():
    results = load("franken_expected.json")["results"]
    for method, cov in COV_NAMES.items():
        block = results[method]
        for key, value in block["var_components"].items():
            yield f"{method}-var-{key}", cov, "iowa", None, key, value
        sections = (
            ("RRRC", "rrrc", ("iowa", "mrmcaov")),
            ("FRRC", "frrc", ("mrmcaov",)),  # MRMCaov: Cov2 - Cov3 not truncated
            ("FRRC_truncated", "frrc", ("iowa",)),  # OR-DBM MRMC / RJafroc
        )
        for section, generalization, conventions in sections:
            for key, value in _flatten_franken_section(block[section]).items():
                for convention in conventions:
                    yield f"{method}-{section}-{convention}-{key}", cov, convention, generalization, key, value
        for key, value in _flatten_franken_section(results["RRFC"]).items():
            yield f"{method}-RRFC-{key}", cov, "iowa", "rrfc", key, value


FRANKEN = list(franken_cases())


@pytest.mark.parametrize(
    ("cov", "convention", "generalization", "key", "expected"),
    [case[1:] for case in FRANKEN],
    ids=[case[0] for case in FRANKEN],
)
def test_franken_analysis(cov, convention, generalization, key, expected):
    actual = extract(reference_json("franken", cov, convention), generalization, key)
    assert_full_precision(actual, expected)


def test_franken_fom_table_and_mean_squares():
    reference = load("franken_expected.json")
    document = reference_json("franken", "jackknife", "iowa")
    for entry in reference["reader_test_auc"]:
        assert_full_precision(document["fom_table"][entry["treatment"]][entry["reader"]], entry["auc"])
    for key, name in (("MS_T", "ms_t"), ("MS_R", "ms_r"), ("MS_TR", "ms_tr")):
        assert_full_precision(document["mean_squares"][name], reference["anova"][key])


def franken_published_cases():
    """Values printed by OR-DBM MRMC 2.51 for Franken (jackknife, Iowa convention)."""
    published = load("franken_expected.json")["published_ORDBM251"]
    for treatment, values in published["reader_test_auc"].items():
        for reader, value in enumerate(values, start=1):
            yield f"auc-{treatment}-{reader}", ("fom_table", treatment, str(reader)), value
    for treatment, value in enumerate(published["test_means"], start=1):
        yield f"mean-{treatment}", ("treatment_means", str(treatment)), value
    yield "difference", ("rrrc", "differences", 0, "estimate"), published["difference_1_minus_2"]
    for key, name in (("MS_T", "ms_t"), ("MS_R", "ms_r"), ("MS_TR", "ms_tr")):
        yield key, ("mean_squares", name), published[key]
    for key in ("var_R", "var_TR", "cov1", "cov2", "cov3", "var_error"):
        yield key, ("var_components", key), published[key]
    for section in ("RRRC", "FRRC", "RRFC"):
        generalization = GENERALIZATION_NAMES[section]
        for key, value in published[section].items():
            yield from _published_generalization(generalization, key, value)


def _published_generalization(generalization: str, key: str, value):
    test_fields = {"F": "statistic", "X2": "statistic", "df2": "df2", "p": "p"}
    if key in test_fields:
        yield f"{generalization}-{key}", (generalization, "test", test_fields[key]), value
    elif key in ("diff_se", "diff_z"):
        field = "se" if key == "diff_se" else "statistic"
        yield f"{generalization}-{key}", (generalization, "differences", 0, field), value
    elif key == "diff_ci":
        for end, bound in enumerate(value):
            yield f"{generalization}-{key}-{end}", (generalization, "differences", 0, "ci", end), bound
    elif key in ("single_se", "single_df"):
        for treatment, number in enumerate(value, start=1):
            field = key.removeprefix("single_")
            yield f"{generalization}-{key}-{treatment}", (generalization, "treatment_ci", str(treatment), field), number
    elif key == "single_ci":
        for treatment, bounds in enumerate(value, start=1):
            for end, bound in enumerate(bounds):
                path = (generalization, "treatment_ci", str(treatment), "ci", end)
                yield f"{generalization}-{key}-{treatment}-{end}", path, bound
    else:
        raise KeyError(key)


FRANKEN_PUBLISHED = list(franken_published_cases())


@pytest.mark.parametrize(
    ("path", "printed"), [case[1:] for case in FRANKEN_PUBLISHED], ids=[case[0] for case in FRANKEN_PUBLISHED]
)
def test_franken_published(path, printed):
    value = reference_json("franken", "jackknife", "iowa")
    for step in path:
        value = value[step]
    assert_printed(value, printed)


# ------------------------------------------- printed OR-DBM numbers beyond the json files


@pytest.mark.parametrize("dataset", ["vandyke", "franken"])
def test_printed_sums_of_squares_and_dbm_components(dataset):
    printed = load("ordbm251_printed.json")[dataset]
    document = reference_json(dataset, "jackknife", "iowa")
    ms = document["mean_squares"]
    sums = {"T": ms["ms_t"] * ms["df_t"], "R": ms["ms_r"] * ms["df_r"], "TR": ms["ms_tr"] * ms["df_tr"]}
    for source, value in printed["sum_of_squares"].items():
        assert_printed(sums[source], value)
    for name, value in printed["dbm_var_components"].items():
        assert_printed(document["dbm_var_components"][name], value)


def test_printed_franken_reader_and_treatment_details():
    printed = load("ordbm251_printed.json")["franken"]
    document = reference_json("franken", "jackknife", "iowa")
    for treatment, value in printed["ms_r_by_treatment"].items():
        assert_printed(document["mean_squares"]["ms_r_by_treatment"][treatment], value)
    for name, value in printed["correlations"].items():
        assert_printed(document["correlations"][name], value)
    assert_printed(document["rrrc"]["test"]["denominator"], printed["rrrc_denominator"])
    assert_printed(document["rrrc"]["differences"][0]["statistic"], printed["rrrc_diff_t"])
    for treatment, fields in printed["treatment_components"].items():
        for field, value in fields.items():
            assert_printed(document["treatment_components"][treatment][field], value)
    for reader, fields in printed["reader_components"].items():
        for field, value in fields.items():
            assert_printed(document["reader_components"][reader][field], value)
    for reader, fields in printed["frrc_reader_differences"].items():
        (difference,) = [d for d in document["frrc"]["reader_differences"] if d["reader"] == reader]
        for field in ("estimate", "se", "statistic", "p"):
            assert_printed(difference[field], fields[field])
        for actual, value in zip(difference["ci"], fields["ci"], strict=True):
            assert_printed(actual, value)


def test_franken_truncation_makes_rrrc_equal_rrfc():
    """Cov2 < Cov3: the RRRC error term is MS(T:R) alone and ddf = (T-1)(J-1) = 3."""
    document = reference_json("franken", "jackknife", "iowa")
    assert document["var_components"]["cov2"] < document["var_components"]["cov3"]
    assert document["rrrc"]["test"] == pytest.approx(document["rrfc"]["test"], rel=1e-12)
    assert document["rrrc"]["test"]["df2"] == pytest.approx(3.0)
