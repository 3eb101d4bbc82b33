"""Every server-rendered page × role: the exact status, or the redirect to the login page.

The DICOMweb routes have their own table (tests/dicomweb/test_dicomweb_authorization.py).
"""

import pytest
from django.urls import get_resolver, reverse

from studies.pages.viewer import ViewerAssets
from studies.services.monitoring import TABLES as MONITORING_TABLES
from studies.services.readiness import BALANCE_TABLES

from .routes import ANY_READER, CHANGE, OUTSIDERS, ROLES, SAMPLE_VALUES, SIGNED_IN, STAFF, route_params

pytestmark = pytest.mark.usefixtures("route_targets")  # the studies in other statuses and the finished run

LOGIN = "login"  # expected: a redirect to the login page (anonymous, where login is required)
STAFF_PAGE = {"anonymous": LOGIN, **dict.fromkeys(ANY_READER, 403), **dict.fromkeys(STAFF | {"other_coordinator"}, 200)}
READER_PAGE = {"anonymous": LOGIN, **dict.fromkeys(ANY_READER, 200), **dict.fromkeys(STAFF | {"other_coordinator"}, 403)}
EVERYONE = dict.fromkeys(ROLES, 200)
# A study's analysis pages: members see them; "reader" (enrolled) is refused, outsiders are told 404.
STUDY_PAGE = {"anonymous": LOGIN, "reader": 403, **dict.fromkeys(OUTSIDERS, 404), **dict.fromkeys(STAFF, 200)}
START_RUN = {**STUDY_PAGE, **dict.fromkeys(STAFF, 302)}  # a started run redirects to its page
START_RUN_FORM = {"fom": "auc", "cov": "jackknife", "convention": "iowa", "alpha": "0.05",
                  "min_subgroup_cases": "10", "power_effect": "0.05"}
# The console: coordinators and admins (any coordinator may start a study); statisticians only look.
CONSOLE = {"anonymous": LOGIN, **dict.fromkeys(ANY_READER | {"statistician"}, 403),
           **dict.fromkeys(CHANGE | {"other_coordinator"}, 200)}
CONSOLE_FORM = {**CONSOLE, **dict.fromkeys(CHANGE | {"other_coordinator"}, 400)}  # the form sent lacks its fields
# A study's set-up pages: its coordinators and admins; the statistician and the enrolled reader are refused,
# outsiders told 404. Writes answer 400 (the form sent lacks their fields) or 409 (the study is reading).
SETUP_PAGE = {**STUDY_PAGE, "statistician": 403}
SETUP_FORM = {**SETUP_PAGE, **dict.fromkeys(CHANGE, 400)}
SETUP_RULE = {**SETUP_PAGE, **dict.fromkeys(CHANGE, 409)}

# (url name, method) -> role -> expected status
PAGES = {
    ("home", "get"): {**STAFF_PAGE, **dict.fromkeys(ANY_READER, 302)},  # readers go on to their worklist
    ("login", "get"): EVERYONE,
    ("logout", "post"): dict.fromkeys(ROLES, 302),  # to the login page (LOGOUT_REDIRECT_URL)
    ("otp-setup", "get"): STAFF_PAGE,  # readers never use a second factor
    ("otp-verify", "get"): {"anonymous": LOGIN, **dict.fromkeys(SIGNED_IN, 200)},
    ("reader-worklist", "get"): READER_PAGE,
    ("reading", "get"): {**READER_PAGE, "other_reader": 404},  # not their session
    ("reader-training", "get"): {**READER_PAGE, "other_reader": 404},  # not a study they read in
    # A truther's pages: no role here is a truther (tests/e2e/test_truthing.py opens them as one).
    ("truthing-worklist", "get"): {"anonymous": LOGIN, **dict.fromkeys(SIGNED_IN, 403)},
    ("truthing", "get"): {"anonymous": LOGIN, **dict.fromkeys(SIGNED_IN, 403)},
    ("analysis-study-runs", "get"): STUDY_PAGE,
    ("analysis-study-runs", "post"): START_RUN,
    ("analysis-run-page", "get"): STUDY_PAGE,
    ("analysis-run-package", "get"): STUDY_PAGE,
    ("analysis-study-evaluations", "get"): STUDY_PAGE,
    ("analysis-study-evaluations", "post"): {**STUDY_PAGE, **dict.fromkeys(STAFF, 400)},  # no form named: refused
    ("schema", "get"): EVERYONE,
    ("api-docs", "get"): EVERYONE,
    ("api-redoc", "get"): EVERYONE,
    ("healthz", "get"): EVERYONE,
    ("livez", "get"): EVERYONE,
    ("favicon", "get"): dict.fromkeys(ROLES, 301),
    ("metrics", "get"): EVERYONE,  # from the test client's loopback address; other networks: tests/observability
    ("ohif", "get"): {"anonymous": LOGIN, **dict.fromkeys(SIGNED_IN, 200)},  # what it shows is DICOMweb's matter
    ("ohif-config", "get"): EVERYONE,
    ("invite-accept", "get"): dict.fromkeys(ROLES, 404),  # no invitation has this token
    ("console-home", "get"): CONSOLE,
    ("console-study-new", "get"): CONSOLE,
    ("console-study-new", "post"): CONSOLE_FORM,
    ("console-study-protocol", "post"): CONSOLE_FORM,
    ("console-study", "get"): SETUP_PAGE,
    ("console-study-transition", "post"): SETUP_FORM,
    ("console-study-schedule", "post"): SETUP_RULE,
    ("console-study-setup", "get"): SETUP_PAGE,
    ("console-study-setup", "post"): SETUP_FORM,
    ("console-study-qualification", "post"): SETUP_RULE,  # an empty form: no rule, refused while reading
    ("console-study-subgroups", "post"): SETUP_RULE,
    ("console-arm-add", "post"): SETUP_FORM,
    ("console-arm-update", "post"): SETUP_FORM,
    ("console-arm-move", "post"): SETUP_FORM,
    ("console-readers", "get"): SETUP_PAGE,
    ("console-readers", "post"): SETUP_FORM,
    ("console-reader-resend", "post"): SETUP_RULE,  # R01 has a password already
    ("console-reader-remove", "post"): SETUP_RULE,
    ("console-truth", "get"): SETUP_PAGE,
    ("console-truth", "post"): SETUP_FORM,
    ("console-truth-store", "post"): SETUP_FORM,
    ("console-ai", "get"): SETUP_PAGE,
    ("console-ai", "post"): SETUP_FORM,
    ("console-ai-store", "post"): SETUP_FORM,
    ("console-ai-set-show", "post"): SETUP_RULE,
    ("console-ai-set-delete", "post"): SETUP_RULE,
    ("console-images", "get"): SETUP_PAGE,
    # The study here has no truthing rule: finalizing is refused (409); member 1 is on no panel (404).
    ("console-truthing", "get"): SETUP_PAGE,
    ("console-truthing-rule", "post"): SETUP_FORM,
    ("console-truthing-member-add", "post"): SETUP_FORM,
    ("console-truthing-member-remove", "post"): {**SETUP_PAGE, **dict.fromkeys(CHANGE, 404)},
    ("console-truthing-finalize", "post"): SETUP_RULE,
    # Readiness and monitoring: every member of the study looks, statisticians included.
    ("console-readiness", "get"): STUDY_PAGE,
    ("console-monitor", "get"): STUDY_PAGE,
    **{(f"console-readiness-{name.replace('_', '-')}-csv", "get"): STUDY_PAGE for name in BALANCE_TABLES},
    **{(f"console-monitor-{name.replace('_', '-')}-csv", "get"): STUDY_PAGE for name in MONITORING_TABLES},
    # Accountability: every member looks; coordinators' forms sent empty are refused, "Look now" runs.
    ("console-accountability", "get"): STUDY_PAGE,
    ("console-population", "get"): STUDY_PAGE,
    ("console-population-set", "post"): SETUP_RULE,  # an empty form removes the population: refused once reading
    ("console-case-exclude", "post"): SETUP_FORM,
    ("console-case-withdraw", "post"): SETUP_FORM,
    ("console-deviation-record", "post"): SETUP_FORM,
    ("console-deviation-detect", "post"): {**SETUP_PAGE, **dict.fromkeys(CHANGE, 302)},
    ("console-deviation-review", "post"): SETUP_FORM,
    # Field monitoring: staff see the deployments they are members of (none here: deployment and alarm 1 do not
    # exist for them); readers never (tests/studies/field_monitoring covers monitors and members).
    ("console-field-monitoring", "get"): {**STAFF_PAGE, **dict.fromkeys(ANY_READER, 403)},
    ("console-field-monitoring-deployment", "get"): {**STAFF_PAGE, **dict.fromkeys(STAFF | {"other_coordinator"}, 404)},
    ("console-field-monitoring-acknowledge", "post"): {**STAFF_PAGE,
                                                       **dict.fromkeys(STAFF | {"other_coordinator"}, 404)},
}
REDIRECTS_TO = {("home", "reader"): "reader-worklist", ("home", "other_reader"): "reader-worklist",
                ("logout", "*"): "login"}


def page_url_names() -> set[str]:
    names = {name for name in get_resolver().reverse_dict if isinstance(name, str)}
    return {name for name in names if not _url(name).startswith(("/api/v1/", "/dicomweb/"))}


def _url(name: str, **values) -> str:
    return reverse(name, kwargs={param: values.get(param, SAMPLE_VALUES.get(param, 1)) for param in route_params(name)})


def test_every_page_route_is_in_the_table():
    assert page_url_names() == {name for name, _ in PAGES}


CASES = [(name, method, role) for (name, method) in PAGES for role in ROLES]


@pytest.fixture(autouse=True)
def viewer_built(monkeypatch):
    """The reading page answers 503 while the viewer is not built; who may open it is the question here."""
    monkeypatch.setattr("studies.pages.views.viewer_assets", lambda: ViewerAssets("/static/viewer/app.js", ()))


@pytest.fixture(autouse=True)
def ohif_installed(settings, tmp_path):
    """/ohif/ answers 404 without a fetched OHIF Viewer (tests/studies/test_ohif_pages.py)."""
    (tmp_path / "app.bundle.0123.js").write_text("")
    settings.OHIF_DIST = str(tmp_path)


@pytest.mark.parametrize("name,method,role", CASES, ids=[f"{n}-{m}-{r}" for n, m, r in CASES])
def test_page_matrix(client, world, name, method, role):
    values = {"session_id": world.session.pk, "study_id": world.study.pk, "arm_id": world.study.arms.first().pk,
              "reader_id": world.read.reader_id, "set_id": world.study.ai_output_sets.first().pk}
    if "run_id" in route_params(name):
        values["run_id"] = world.finished_run.pk
    url = _url(name, **values)
    if world.users[role] is not None:
        client.force_login(world.users[role])
    response = getattr(client, method)(url, START_RUN_FORM if method == "post" else {})
    expected = PAGES[(name, method)][role]
    if expected == LOGIN:
        assert response.status_code == 302 and response["Location"] == f"{reverse('login')}?next={url}"
        return
    assert response.status_code == expected, response.content[:300]
    target = REDIRECTS_TO.get((name, role)) or REDIRECTS_TO.get((name, "*"))
    if target:
        assert response["Location"] == reverse(target)
