"""The submission package: the same data gives the same bytes, every file matches its manifest, and a change
to any file (one byte), a missing file or an extra one is named by the verification."""

import hashlib
import io
import json
import subprocess
import zipfile
from datetime import UTC

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from studies.errors import InvalidInput, NotAllowed
from studies.models import AuditEvent, Role
from studies.reports.package import report_files
from studies.services import package
from studies.services.package_parts import PACKAGE_ENTITY
from tests.conftest import create_user

from .conftest import identities

pytestmark = pytest.mark.django_db  # the tests of the built package too: the test database is set up for them

EVERY_FILE = sorted({
    "protocol/versions.json", "protocol/protocol.txt", "analysis-plan/plan.json", "schedule/schedule.csv",
    "schedule/seed.json", "readers/roster.json", "truth/cases.csv", "truth/provenance.json", "truth/panel.json",
    "truth/labels.csv", "cases/case-mix.json", "ai/models.json", "ai/outputs.csv", "reads/reads.csv", "reads/marks.json",
    "analysis/results.json",
    "analysis/report.pdf", "analysis/report.html", "audit/trail.jsonl", "audit/verification.json",
    "deviations/deviations.csv", "deviations/exclusions.csv", "deviations/rules.json", "software/versions.json",
    "manifest.json", "MANIFEST.sha256",
    *(f"software/sbom/{name}" for name in ("npm.cdx.json", "ohif.cdx.json", "python-dev.cdx.json", "python.cdx.json")),
})


def built(packaged) -> bytes:
    return package.build_package(study=packaged.study, run=packaged.run, report_files=report_files)


def members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def rewritten(data: bytes, change) -> bytes:
    """The archive rewritten as the platform writes it (entry by entry, comment kept) with ``change`` applied
    to its {name: content} mapping."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos, comment = archive.infolist(), archive.comment
        contents = {info.filename: archive.read(info) for info in infos}
    changed = change(dict(contents))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        template = infos[0]
        for name, content in changed.items():
            info = next((item for item in infos if item.filename == name), None) or zipfile.ZipInfo(
                name, template.date_time)
            archive.writestr(info, content, compress_type=zipfile.ZIP_DEFLATED)
        archive.comment = comment
    return out.getvalue()


def one_byte_changed(content: bytes) -> bytes:
    """``content`` with its middle byte changed (to another printable character for text)."""
    middle = len(content) // 2
    replacement = b"0" if content[middle:middle + 1] != b"0" else b"1"
    return content[:middle] + replacement + content[middle + 1:]


def test_the_same_data_gives_the_same_bytes(packaged):
    first = built(packaged)
    package.export_package(actor=packaged.statistician, study=packaged.study, report_files=report_files)  # a download in between
    second = built(packaged)
    before, after = members(first), members(second)
    assert [name for name in before if before[name] != after.get(name)] == []
    assert hashlib.sha256(first).hexdigest() == hashlib.sha256(second).hexdigest()


def test_the_package_holds_every_part_and_matches_its_manifest(packaged, package_bytes, tmp_path):
    data = package_bytes
    files = members(data)
    assert sorted(files) == EVERY_FILE
    assert package.verify_package(data).intact
    # sha256sum -c, an independent implementation, agrees once the archive is unpacked
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(tmp_path)
    checked = subprocess.run(["sha256sum", "--check", "--strict", "MANIFEST.sha256"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": OK") == len(files) - 1
    described = json.loads(files["manifest.json"])["files"]
    assert {item["path"] for item in described} == set(files) - {"manifest.json", "MANIFEST.sha256"}
    assert all(item["sha256"] == hashlib.sha256(files[item["path"]]).hexdigest() for item in described)
    verification = json.loads(files["audit/verification.json"])
    assert (verification["intact"], verification["problems"]) == (True, [])


def test_entries_have_fixed_times_and_modes(packaged, package_bytes):
    run = packaged.run
    finished = run.finished_at.astimezone(UTC)
    finished = finished.replace(second=finished.second // 2 * 2)  # zip's times are in steps of two seconds
    with zipfile.ZipFile(io.BytesIO(package_bytes)) as archive:
        infos = archive.infolist()
    assert {info.date_time for info in infos} == {finished.timetuple()[:6]}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}
    assert [info.filename for info in infos][-2:] == ["manifest.json", "MANIFEST.sha256"]


def test_the_pdf_report_is_deterministic(packaged):
    from studies import reports

    run = packaged.run
    assert reports.render_pdf(run) == reports.render_pdf(run)


@pytest.mark.parametrize("name", EVERY_FILE)
def test_one_byte_changed_in_any_file_is_named(package_bytes, name):
    data = package_bytes
    tampered = rewritten(data, lambda files: {**files, name: one_byte_changed(files[name])})
    result = package.verify_package(tampered)
    assert list(result.problems) == [name], result.lines()


def test_a_missing_and_an_extra_file_are_named(package_bytes):
    data = package_bytes

    def change(files):
        del files["truth/cases.csv"]
        return {**files, "truth/notes.txt": b"added later\n"}

    result = package.verify_package(rewritten(data, change))
    assert result.problems == {"truth/cases.csv": "missing: listed in the manifest but not in the package",
                               "truth/notes.txt": "extra: in the package but not in the manifest"}


def test_the_commands_write_and_check_the_package(packaged, package_bytes, tmp_path, capsys):
    out = tmp_path / "package.zip"
    call_command("export_package", str(out), study=packaged.study_id, user="pkg_stat", run=packaged.run_id)
    assert out.read_bytes() == package_bytes
    call_command("verify_package", str(out))
    assert "intact" in capsys.readouterr().out
    out.write_bytes(rewritten(out.read_bytes(), lambda files: {
        **files, "reads/reads.csv": one_byte_changed(files["reads/reads.csv"])}))
    with pytest.raises(CommandError, match=r"NOT intact, 1 file\(s\) failing: reads/reads.csv$"):
        call_command("verify_package", str(out))
    assert "reads/reads.csv: altered" in capsys.readouterr().err


def test_a_file_that_is_not_a_zip_is_refused_clearly(tmp_path):
    with pytest.raises(InvalidInput, match="not a readable zip archive"):
        package.verify_package(b"PK\x03\x04 not really")
    (tmp_path / "bad.zip").write_bytes(b"hello")
    with pytest.raises(CommandError, match="bad.zip: not a readable zip archive"):
        call_command("verify_package", str(tmp_path / "bad.zip"))


def test_no_reader_or_truther_identity_is_in_the_package(packaged, package_bytes):
    data = package_bytes
    contents = {"(the archive)": data, **members(data)}  # the deflated archive and every file as it unpacks
    for identity in identities():
        for variant in {identity, identity.lower()}:
            assert [name for name, content in contents.items() if variant.encode() in content] == [], variant
    trail = members(data)["audit/trail.jsonl"].decode()
    assert '"actor_username":"R01"' in trail and '"email":"R01"' in trail  # by code, not left out
    roster = json.loads(members(data)["readers/roster.json"])["readers"]
    assert [(item["code"], item["specialty"], item["years_experience"]) for item in roster] == [
        ("R01", "breast imaging", 12), ("R02", "breast imaging", 12), ("R03", "breast imaging", 12)]


def test_the_protocol_keeps_every_version(package_bytes):
    document = json.loads(members(package_bytes)["protocol/versions.json"])
    versions = [version["protocol"]["protocol_version"] for version in document["versions"]]
    assert versions[-1] == "1.1" and "1.0" in versions
    assert document["current"]["protocol_version"] == "1.1" and document["current_in_trail"] is True
    assert document["versions"][-1]["changed_by"] == "pkg_coord"


def test_truth_deviations_and_exclusions_are_in_the_package(package_bytes):
    files = members(package_bytes)
    provenance = {item["case"]: item for item in json.loads(files["truth/provenance.json"])}
    second = provenance[sorted(provenance)[1]]
    assert second["established_by"] == "A1" and second["provenance"]["adjudicated_by"] == "A1"
    assert second["adjudication"]["by"] == "A1" and second["adjudication"]["note"] == "Agreed with E1"
    first_case, second_case = sorted(provenance)[:2]
    given = [(first_case, "E1", 1), (first_case, "E2", 1), (second_case, "E1", 1), (second_case, "E2", 0)]
    labels = [line.rsplit(",", 1)[0] for line in files["truth/labels.csv"].decode().splitlines()[1:]]  # less the time
    assert labels == [f"{case},{member},1,{label},[],Seen by {member}" for case, member, label in given]
    panel = json.loads(files["truth/panel.json"])
    assert [(m["code"], m["adjudicator"]) for m in panel["members"]] == [("A1", True), ("E1", False), ("E2", False)]
    agreement = panel["agreement"]
    assert (agreement["truthers"], agreement["adjudicator"], agreement["label"]["n_cases"]) == (["E1", "E2"], "A1", 2)
    assert files["deviations/deviations.csv"].decode().splitlines()[1].split(",")[1:3] == ["late_session", "minor"]
    assert "R01 read session 2 three days late" in files["deviations/deviations.csv"].decode()
    assert files["deviations/exclusions.csv"].decode().splitlines()[1].startswith(
        f"{max(provenance)},\"Image unreadable (motion), as R01 reported\",2026-03-02T09:30:00Z")


def test_refused_without_access_to_the_study(packaged):
    outsider = create_user("other_coord", Role.COORDINATOR)
    reader = packaged.study.readers.first().user
    for user in (outsider, reader):
        with pytest.raises(NotAllowed):
            package.export_package(actor=user, study=packaged.study, report_files=report_files)
    assert not AuditEvent.objects.filter(entity=PACKAGE_ENTITY).exists()


def test_the_download_is_audit_logged(packaged):
    filename, _ = package.export_package(actor=packaged.coordinator, study=packaged.study,
                                          report_files=report_files)
    event = AuditEvent.objects.filter(entity=PACKAGE_ENTITY).get()
    assert (event.action, event.actor_username, event.study_id, event.entity_id, event.after) == (
        "download", "pkg_coord", packaged.study_id, str(packaged.run_id), {"file": filename})
    assert filename == f"study-{packaged.study_id}-run-{packaged.run_id}-submission-package.zip"


def test_the_run_page_offers_the_package_as_an_audited_download(packaged, package_bytes, client):
    run_page = reverse("analysis-run-page", kwargs={"run_id": packaged.run_id})
    url = reverse("analysis-run-package", kwargs={"run_id": packaged.run_id})
    client.force_login(packaged.statistician)
    assert f'action="{url}"' in client.get(run_page).content.decode()
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response.content == package_bytes
    filename = f"study-{packaged.study_id}-run-{packaged.run_id}-submission-package.zip"
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    event = AuditEvent.objects.get(entity=PACKAGE_ENTITY)
    assert (event.actor_username, event.after) == ("pkg_stat", {"file": filename})
    client.force_login(packaged.study.readers.first().user)
    assert client.get(url).status_code == 403
    assert AuditEvent.objects.filter(entity=PACKAGE_ENTITY).count() == 1


def test_the_case_mix_is_in_the_package(packaged, package_bytes):
    document = json.loads(members(package_bytes)["cases/case-mix.json"])
    study = packaged.study
    assert document["population"] == study.population and document["population"]["variables"]
    stored = {case.label: (case.metadata, case.acquisition, bool(case.excluded_reason)) for case in study.cases.all()}
    assert {case["case"]: (case["metadata"], case["acquisition"], case["excluded"]) for case in document["cases"]} == (
        stored)
    assert sum(case["excluded"] for case in document["cases"]) == 1
