"""The intended-use population: validated with errors naming the field, set while the study is set up, audited;
the protocol file's population block; the acquisition attributes linked from the images."""

import pydicom
import pytest

from studies.errors import InvalidInput, NotAllowed, RuleViolation
from studies.models import AuditEvent, Case, DicomStudy
from studies.services import case_mix, ingest
from studies.services.protocol import create_study_from_protocol
from tests.dicomweb.images import case_datasets

POPULATION = {
    "variables": {
        "age_band": {"source": "acquisition", "targets": {"40-49": 0.2, "50-59": 0.3, "60-69": 0.3, "70-79": 0.2}},
        "site": {"source": "metadata", "targets": {"site-A": 0.5, "site-B": 0.5}},
    },
    "rule": {"min_ratio": 0.5, "alpha": 0.05},
}


@pytest.fixture
def study(make_study):
    return make_study(n_readers=2, n_cases=3, status="draft")


def with_variable(name: str, variable) -> dict:
    return {**POPULATION, "variables": {**POPULATION["variables"], name: variable}}


@pytest.mark.parametrize(("population", "field", "message"), [
    ([], "population", "must be a mapping"),
    ({"variables": {}}, "population.variables", "at least one variable"),
    ({**POPULATION, "targets": {}}, "population.targets", "unknown field"),
    (with_variable("sex", {"source": "dicom", "targets": {"F": 1}}), "population.variables.sex.source",
     "acquisition, metadata"),
    (with_variable("race", {"source": "acquisition", "targets": {"x": 1}}), "population.variables.race",
     "not read from the images"),
    (with_variable("truth", {"source": "metadata", "targets": {"1": 0.5}}), "population.variables.truth",
     "column of the truth file"),
    (with_variable("sex", {"source": "acquisition", "targets": {"U": 1}}), "population.variables.sex.targets.U",
     "not one of F, M, O"),
    (with_variable("age_band", {"source": "acquisition", "targets": {"45-54": 1}}),
     "population.variables.age_band.targets.45-54", "not one of 0-17, 18-39"),
    (with_variable("site", {"source": "metadata", "targets": {"a": 0}}), "population.variables.site.targets.a",
     "above 0 and at most 1"),
    (with_variable("site", {"source": "metadata", "targets": {"a": True}}), "population.variables.site.targets.a",
     "above 0 and at most 1"),
    (with_variable("site", {"source": "metadata", "targets": {"a": 0.7, "b": 0.4}}),
     "population.variables.site.targets", "add up to 1.1, more than 1"),
    (with_variable("site", {"source": "metadata"}), "population.variables.site.targets", "must map each group"),
    (with_variable("site", {"source": "metadata", "targets": {"a": 1}, "weight": 2}),
     "population.variables.site.weight", "unknown field"),
    ({**POPULATION, "rule": {"min_ratio": 1.5}}, "population.rule.min_ratio", "at most 1"),
    ({**POPULATION, "rule": {"alpha": 0.5}}, "population.rule.alpha", "below 0.5"),
    ({**POPULATION, "rule": {"power": 0.8}}, "population.rule.power", "unknown field"),
    ({**POPULATION, "age_bands": [18, 40]}, "population.age_bands", "starting at 0"),
])
def test_a_bad_population_is_refused_naming_the_field_and_nothing_is_stored(study, coordinator, population, field,
                                                                            message):
    with pytest.raises(InvalidInput, match=message) as error:
        case_mix.set_population(actor=coordinator, study=study, population=population)
    assert error.value.field == field
    study.refresh_from_db()
    assert study.population == {}


def test_the_population_is_set_audited_and_fixed_once_reading_starts(make_study, coordinator, statistician):
    study = make_study(n_readers=2, n_cases=4, status="enrolling")
    with pytest.raises(NotAllowed):
        case_mix.set_population(actor=statistician, study=study, population=POPULATION)
    study = case_mix.set_population(actor=coordinator, study=study, population=POPULATION)
    event = AuditEvent.objects.filter(entity="studies.Study", entity_id=str(study.pk), action="update").last()
    assert event.before["population"] == {} and event.after["population"] == POPULATION
    assert case_mix.population_fixed_because(study) == ""
    reading = make_study(n_readers=2, n_cases=4, status="reading")
    with pytest.raises(RuleViolation, match="only change while the study is draft or enrolling"):
        case_mix.set_population(actor=coordinator, study=reading, population=POPULATION)


def test_age_bands_cannot_drop_a_band_a_case_has(study, coordinator):
    Case.objects.filter(study=study, label="C001").update(acquisition={"age_band": "40-49"})
    with pytest.raises(InvalidInput, match="case C001 has the age band 40-49") as error:
        case_mix.set_population(actor=coordinator, study=study,
                                population={**POPULATION, "age_bands": [0, 45],
                                            "variables": {"site": POPULATION["variables"]["site"]}})
    assert error.value.field == "population.age_bands"
    kept = {**POPULATION, "age_bands": [0, 18, 40, 50, 60, 70, 80]}
    assert case_mix.set_population(actor=coordinator, study=study, population=kept).population == kept


def test_the_protocol_file_declares_the_population_and_its_errors_name_the_line(coordinator):
    text = """title: Population
arms:
  - {name: unaided}
population:
  variables:
    sex: {source: acquisition, targets: {F: 0.6, M: 0.4}}
  rule: {min_ratio: 0.6}
"""
    study = create_study_from_protocol(actor=coordinator, text=text)
    assert study.population == {"variables": {"sex": {"source": "acquisition", "targets": {"F": 0.6, "M": 0.4}}},
                                "rule": {"min_ratio": 0.6}}
    with pytest.raises(InvalidInput, match="not one of F, M, O") as error:
        create_study_from_protocol(actor=coordinator, text=text.replace("M: 0.4", "X: 0.4"))
    assert error.value.line == 6 and error.value.field == "population.variables.sex.targets.X"


def test_linking_images_records_their_coarse_attributes_on_the_case_audited(study, coordinator, tmp_path,
                                                                           settings):
    settings.DICOM_STORAGE = tmp_path / "store"
    case = study.cases.get(label="C001")
    folder = tmp_path / "in"
    folder.mkdir()
    for index, ds in enumerate(case_datasets(seed=6, study_instance_uid=case.study_instance_uid)):
        ds.PatientSex, ds.PatientAge, ds.PatientBirthDate = "F", "052Y", "19720304"
        ds.Manufacturer, ds.ManufacturerModelName, ds.SoftwareVersions = "Hologic", "Selenia Dimensions", "1.11"
        ds.DeviceSerialNumber = "SN-77"
        ds.save_as(folder / f"{index}.dcm", enforce_file_format=True)
    report = ingest.ingest_paths(actor=coordinator, study=study, paths=[str(folder)])
    assert list(report.linked) == ["C001"]
    case.refresh_from_db()
    assert case.acquisition == {"sex": "F", "age_band": "50-59", "manufacturer": "Hologic",
                                "model": "Selenia Dimensions", "software_versions": "1.11", "modality": "DX",
                                "body_part": "CHEST"}
    event = AuditEvent.objects.filter(entity="studies.Case", entity_id=str(case.pk), action="update").last()
    assert event.before["acquisition"] == {} and event.after["acquisition"] == case.acquisition
    stored = [pydicom.dcmread(path) for path in (tmp_path / "store").rglob("*.dcm")]
    assert stored and all("PatientAge" not in ds and ds.PatientSex == "" and ds.PatientBirthDate == ""
                          and "DeviceSerialNumber" not in ds for ds in stored)  # the images stay de-identified
    assert DicomStudy.objects.get(case=case).deidentification["case_attributes"] == case.acquisition


def test_members_read_the_population_and_the_cases_acquisition_attributes_through_the_api(api, make_study,
                                                                                           coordinator, statistician):
    study = make_study(n_readers=2, n_cases=2, status="enrolling")
    study.memberships.create(user=statistician)
    put = api(coordinator).put(f"/api/v1/studies/{study.pk}/population/", {"population": POPULATION}, format="json")
    assert put.status_code == 200 and put.json()["population"] == POPULATION
    bad = api(coordinator).put(f"/api/v1/studies/{study.pk}/population/",
                               {"population": {**POPULATION, "rule": {"alpha": 2}}}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "population.rule.alpha"
    Case.objects.filter(study=study, label="C000").update(acquisition={"sex": "F", "age_band": "50-59"})
    read = api(statistician).get(f"/api/v1/studies/{study.pk}/population/").json()
    assert read["population"] == POPULATION and read["fixed_because"] == ""
    assert read["age_bands"] == ["0-17", "18-39", "40-49", "50-59", "60-69", "70-79", "80+"]
    cases = api(statistician).get(f"/api/v1/studies/{study.pk}/cases/").json()
    rows = cases["results"] if isinstance(cases, dict) else cases
    assert {row["label"]: row["acquisition"] for row in rows} == {"C000": {"sex": "F", "age_band": "50-59"},
                                                                   "C001": {}}


def test_ingest_records_age_bands_as_the_population_declares_them(study, coordinator, tmp_path, settings):
    settings.DICOM_STORAGE = tmp_path / "store"
    study = case_mix.set_population(actor=coordinator, study=study, population={
        "variables": {"age_band": {"source": "acquisition", "targets": {"50-74": 0.6, "75+": 0.4}}},
        "age_bands": [0, 50, 75]})
    case = study.cases.get(label="C002")
    folder = tmp_path / "in"
    folder.mkdir()
    for index, ds in enumerate(case_datasets(seed=8, study_instance_uid=case.study_instance_uid)):
        ds.PatientAge = "049Y"  # malformed ages fall back on the dates; this one is valid and wins over them
        ds.PatientBirthDate, ds.StudyDate = "19400101", "20240101"
        ds.save_as(folder / f"{index}.dcm", enforce_file_format=True)
    ingest.ingest_paths(actor=coordinator, study=study, paths=[str(folder)])
    case.refresh_from_db()
    assert case.acquisition["age_band"] == "0-49"  # 49 years, not the 84 of the dates
