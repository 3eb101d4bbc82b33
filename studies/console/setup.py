"""The console's set-up pages: a coordinator's studies, a new study, and each study's set-up.

Views authorize, call a service and render; every write is a service call (audit-logged there).
A refused write re-renders the page with the service's message and its status (400, 409); a done
one redirects (so a reload does not send it again) with a message saying what happened.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from studies.errors import DomainError, InvalidInput, RuleViolation
from studies.models import Job, Study
from studies.permissions import Action, can, has_action, visible_studies
from studies.services import protocol, qualification, study_setup, subgroups
from studies.services import studies as study_services
from studies.services.studies import ALLOWED_TRANSITIONS, DESIGN_FIELDS, check_design_change

from .forms import (
    ArmForm,
    MoveArmForm,
    ProtocolForm,
    QualificationForm,
    ScheduleForm,
    StudySettingsForm,
    SubgroupsForm,
    TransitionForm,
)
from .steps import next_step, setup_steps, with_counts

TRANSITION_LABELS = {
    Study.Status.DRAFT: "Back to draft",
    Study.Status.ENROLLING: "Start enrolling",
    Study.Status.READING: "Start reading",
    Study.Status.LOCKED: "Lock for analysis",
}


def _require_console(user) -> None:
    if not has_action(user, Action.CHANGE_STUDY):
        raise PermissionDenied("the console is for coordinators and admins")


def study_to_change(request, study_id: int) -> Study:
    """The study, if the user may change it: 404 where they may not see it at all, else 403."""
    study = get_object_or_404(visible_studies(request.user), pk=study_id)
    if not can(request.user, Action.CHANGE_STUDY, study):
        raise PermissionDenied("only the study's coordinators and admins set it up")
    return study


def refused(request, template: str, context: dict, error: DomainError):
    """The page again, with the service's refusal and its status."""
    return render(request, template, context, status=error.status_code)


def posted(request, form, save, *, again, done):
    """A posted console form: ``save(form)``, then ``done(saved)`` (what to say, where to go) said and
    redirected to; or ``again(form, status)``, the page with the form's errors or the service's refusal on it."""
    if not form.is_valid():
        return again(form, 400)
    try:
        saved = save(form)
    except DomainError as error:
        form.add_service_error(error)
        return again(form, error.status_code)
    message, url = done(saved)
    messages.success(request, message)
    return redirect(url)


def _setup_url(study: Study) -> str:
    return reverse("console-study-setup", args=[study.pk])


# ------------------------------------------------------------------ the coordinator's studies


@login_required
def home(request):
    """The coordinator's studies, each with its status, counts and the next set-up step."""
    _require_console(request.user)
    studies = with_counts(visible_studies(request.user)).order_by("-id")
    rows = [(study, next_step(setup_steps(study))) for study in studies]
    return render(request, "console/home.html", {"rows": rows})


def _new_page(request, *, form=None, protocol_form=None, status=200):
    context = {"form": form or StudySettingsForm(), "protocol_form": protocol_form or ProtocolForm()}
    return render(request, "console/new.html", context, status=status)


@login_required
def study_new(request):
    """A new study from the form; its arms and readers come next, on its own pages."""
    _require_console(request.user)
    if request.method != "POST":
        return _new_page(request)
    return posted(
        request, StudySettingsForm(request.POST),
        lambda form: study_services.create_study(actor=request.user, **form.cleaned_data),
        again=lambda form, status: _new_page(request, form=form, status=status),
        done=lambda study: (f"Study {study.title} created: add its arms.", _setup_url(study)))


@login_required
@require_POST
def study_from_protocol(request):
    """A new study, its arms, members and readers from a protocol file (docs/protocol.example.yaml)."""
    _require_console(request.user)
    form = ProtocolForm(request.POST, request.FILES)
    if not form.is_valid():
        return _new_page(request, protocol_form=form, status=400)
    try:
        study = protocol.create_study_from_protocol(actor=request.user, text=form.cleaned_data["protocol"])
    except DomainError as error:
        form.add_error("protocol", str(error))
        return _new_page(request, protocol_form=form, status=error.status_code)
    messages.success(request, f"Study {study.title} created from {request.FILES['protocol'].name}.")
    return redirect("console-study", study_id=study.pk)


# ------------------------------------------------------------------ overview and transitions


def _overview_context(study: Study) -> dict:
    counted = with_counts(Study.objects.filter(pk=study.pk)).get()
    steps = setup_steps(counted)
    return {
        "study": counted, "tab": "overview", "steps": steps, "next": next_step(steps),
        "transitions": [(to, TRANSITION_LABELS[to]) for to in sorted(ALLOWED_TRANSITIONS[study.status])
                        if to in TRANSITION_LABELS],
        "schedule_form": ScheduleForm(),
        "schedule_job": Job.objects.filter(study=study, kind="generate_schedule").order_by("-id").first(),
        "error": None,  # a service's refusal (DomainError): the readiness gates' name every failing item in a list
    }


@login_required
def study_overview(request, study_id: int):
    study = study_to_change(request, study_id)
    return render(request, "console/overview.html", _overview_context(study))


@login_required
@require_POST
def study_transition(request, study_id: int):
    study = study_to_change(request, study_id)
    form = TransitionForm(request.POST)
    context = _overview_context(study)
    if not form.is_valid():
        context["error"] = InvalidInput("choose the status to move the study to")
        return render(request, "console/overview.html", context, status=400)
    try:
        study = study_services.transition_study(actor=request.user, study=study, to=form.cleaned_data["to"])
    except DomainError as error:
        context.update(error=error, refused_to=form.cleaned_data["to"])
        return refused(request, "console/overview.html", context, error)
    messages.success(request, f"The study is now {study.status}.")
    return redirect("console-study", study_id=study.pk)


@login_required
@require_POST
def study_schedule(request, study_id: int):
    """Generate the reading schedule (a job; done at once where tasks run in-process)."""
    study = study_to_change(request, study_id)
    form = ScheduleForm(request.POST)
    context = _overview_context(study)
    if not form.is_valid():
        context["schedule_form"] = form
        return render(request, "console/overview.html", context, status=400)
    try:
        job = study_services.request_schedule(actor=request.user, study=study, seed=form.cleaned_data["seed"])
    except DomainError as error:
        context["error"] = error
        return refused(request, "console/overview.html", context, error)
    job.refresh_from_db()
    messages.success(request, f"Schedule job {job.pk}: {job.status}{f' ({job.message})' if job.message else ''}.")
    return redirect("console-study", study_id=study.pk)


# ------------------------------------------------------------------ settings and arms


def _design_fixed_because(study: Study) -> str:
    try:
        check_design_change(study, DESIGN_FIELDS)
    except RuleViolation as violation:
        return violation.message
    return ""


def _setup_page(request, study: Study, *, form=None, arm_form=None, arm_errors=None, qualification_form=None,
                subgroups_form=None, status=200):
    design_fixed = _design_fixed_because(study)
    context = {
        "study": study, "tab": "setup",
        "form": form or StudySettingsForm.for_study(study, design_fixed=bool(design_fixed)),
        "design_fixed": design_fixed,
        "arms": [(arm, (arm_errors or {}).get(arm.pk, "")) for arm in study.arms.all()],
        "arm_form": arm_form or ArmForm(),
        "arms_fixed": study_services.arms_fixed_because(study),
        "qualification_form": qualification_form or _qualification_form(study),
        "qualification_fixed": qualification.rule_fixed_because(study),
        "subgroups_form": subgroups_form or _subgroups_form(study),
        "subgroups_fixed": subgroups.subgroups_fixed_because(study),
    }
    return render(request, "console/setup.html", context, status=status)


@login_required
def study_settings(request, study_id: int):
    """The study's settings (the design while the rules let it change) and its arms."""
    study = study_to_change(request, study_id)
    if request.method != "POST":
        return _setup_page(request, study)
    form = StudySettingsForm.for_study(study, request.POST, design_fixed=bool(_design_fixed_because(study)))
    return posted(
        request, form,
        lambda form: study_services.update_study(actor=request.user, study=study, **form.changed_values()),
        again=lambda form, status: _setup_page(request, study, form=form, status=status),
        done=lambda saved: (f"Saved: {', '.join(form.changed_data) or 'nothing changed'}.", _setup_url(study)))


@login_required
@require_POST
def arm_add(request, study_id: int):
    study = study_to_change(request, study_id)
    return posted(
        request, ArmForm(request.POST),
        lambda form: study_services.add_arm(actor=request.user, study=study, **form.cleaned_data),
        again=lambda form, status: _setup_page(request, study, arm_form=form, status=status),
        done=lambda arm: (f"Arm {arm.name} added.", _setup_url(study)))


@login_required
@require_POST
def arm_update(request, study_id: int, arm_id: int):
    study = study_to_change(request, study_id)
    arm = get_object_or_404(study.arms, pk=arm_id)
    form = ArmForm(request.POST)
    try:
        if not form.is_valid():
            _raise_form_errors(form)
        study_setup.update_arm(actor=request.user, arm=arm, **form.cleaned_data)
    except DomainError as error:
        return _setup_page(request, study, arm_errors={arm.pk: str(error)}, status=error.status_code)
    messages.success(request, f"Arm {form.cleaned_data['name']} saved.")
    return redirect("console-study-setup", study_id=study.pk)


@login_required
@require_POST
def arm_move(request, study_id: int, arm_id: int):
    study = study_to_change(request, study_id)
    arm = get_object_or_404(study.arms, pk=arm_id)
    form = MoveArmForm(request.POST)
    try:
        if not form.is_valid():
            _raise_form_errors(form)
        study_setup.move_arm(actor=request.user, arm=arm, by=form.cleaned_data["by"])
    except DomainError as error:
        return _setup_page(request, study, arm_errors={arm.pk: str(error)}, status=error.status_code)
    return redirect("console-study-setup", study_id=study.pk)


# ------------------------------------------------------------------ qualification rule and subgroups


def _qualification_form(study: Study, data=None) -> QualificationForm:
    return QualificationForm.for_study(study, data, fixed=bool(qualification.rule_fixed_because(study)))


def _subgroups_form(study: Study, data=None) -> SubgroupsForm:
    fixed = bool(subgroups.subgroups_fixed_because(study))
    return SubgroupsForm.for_study(study, subgroups.metadata_names(study), data, fixed=fixed)


@login_required
@require_POST
def study_qualification(request, study_id: int):
    """The readers' qualification rule; a form left empty requires none."""
    study = study_to_change(request, study_id)
    return posted(
        request, _qualification_form(study, request.POST),
        lambda form: qualification.set_rule(actor=request.user, study=study, rule=form.rule()),
        again=lambda form, status: _setup_page(request, study, qualification_form=form, status=status),
        done=lambda saved: ("Qualification rule saved." if saved.qualification else "No qualification required.",
                            _setup_url(saved)))


@login_required
@require_POST
def study_subgroups(request, study_id: int):
    """The case metadata variables declared as subgroups."""
    study = study_to_change(request, study_id)
    return posted(
        request, _subgroups_form(study, request.POST),
        lambda form: subgroups.set_subgroups(actor=request.user, study=study, names=form.cleaned_data["subgroups"]),
        again=lambda form, status: _setup_page(request, study, subgroups_form=form, status=status),
        done=lambda saved: (f"Declared subgroups: {', '.join(saved.subgroups) or 'none'}.", _setup_url(saved)))


def _raise_form_errors(form) -> None:
    """A form's errors as one InvalidInput, for the pages that show a row's errors in one line."""
    problems = [f"{name}: {' '.join(errors)}" if name != "__all__" else " ".join(errors)
                for name, errors in form.errors.items()]
    raise InvalidInput("; ".join(problems))
