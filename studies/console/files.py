"""The console's truth and AI-output pages: a file is previewed whole (what storing it would do, every
problem by line and column), kept on the server, and stored only as previewed (studies.console.staged),
through the same import the API and the commands use."""

import json
from operator import attrgetter

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.views.decorators.http import require_POST

from studies.errors import DomainError, InvalidInput
from studies.models import Study
from studies.services import ai_outputs, imports

from . import staged
from .forms import ImportFileForm, StoreForm
from .setup import study_to_change

TRUTH, AI = "truth", "ai"  # kinds of staged file, each stored from its page (console-truth, console-ai)
CASES_SHOWN = 500  # the page lists the first ones; the API and the admin have them all
# truth file column -> the case field it sets
TRUTH_FIELDS = {"case": "label", "training": "is_training", **{name: name for name in imports.TRUTH_COLUMNS - {
    "case", "training"}}}


def _shown(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        return json.dumps(value) if value else ""
    return str(value)


def _truth_cells(plan: imports.TruthPlan, row: imports.TruthRow) -> list[tuple[str, str | None]]:
    """Each column of the file for one row: the value, and the stored one where it would change."""
    cells = []
    for column in plan.columns:
        if column in plan.metadata_columns:
            value, before = row.values["metadata"].get(column), None
            old_metadata = row.changes.get("metadata", (None,))[0]
            if old_metadata is not None and old_metadata.get(column) != value:
                before = _shown(old_metadata.get(column))
        else:
            name = TRUTH_FIELDS[column]
            value = row.values.get(name)
            before = _shown(row.changes[name][0]) if name in row.changes else None
        cells.append((_shown(value), before))
    return cells


def _truth_page(request, study: Study, *, form=None, plan=None, error=None, status=200):
    cases = study.cases.select_related("dicom_study").order_by("label")
    problem_lines = {problem.line for problem in plan.problems} if plan else set()
    context = {
        "study": study, "tab": "truth", "form": form or ImportFileForm(), "error": error,
        "cases": cases[:CASES_SHOWN], "n_cases": cases.count(), "n_training": cases.filter(is_training=True).count(),
        "plan": plan, "preview_rows": [(row, _truth_cells(plan, row), row.line in problem_lines)
                                       for row in plan.rows] if plan else [],
        "store_form": StoreForm(initial={"sha256": plan.sha256}) if plan and not plan.problems else None,
        "store_label": f"Store these {len(plan.rows)} case{pluralize(len(plan.rows))}" if plan else "",
    }
    return render(request, "console/truth.html", context, status=status)


@login_required
def truth(request, study_id: int):
    """The study's cases; POST previews a truth CSV (nothing stored) and keeps it for "Store"."""
    study = study_to_change(request, study_id)
    if request.method != "POST":
        return _truth_page(request, study)
    return _preview(request, study, TRUTH, _truth_page, attrgetter("problems"),
                    lambda data, name: imports.preview_truth(actor=request.user, study=study, data=data))


def _preview(request, study: Study, kind: str, page, problems, preview):
    """The file posted, previewed on ``page`` (``preview(data, name)``: its plan; nothing stored), and kept for
    "Store" where the plan has no ``problems``."""
    form = ImportFileForm(request.POST, request.FILES)
    if not form.is_valid():
        return page(request, study, form=form, status=400)
    upload = form.cleaned_data["file"]
    data = upload.read()
    try:
        plan = preview(data, upload.name)
    except DomainError as error:
        return page(request, study, error=error, status=error.status_code)
    if not problems(plan):
        staged.stage(request, study, kind, data, upload.name)
    return page(request, study, plan=plan)


@login_required
@require_POST
def truth_store(request, study_id: int):
    """Store the truth file previewed, exactly as previewed."""
    study = study_to_change(request, study_id)
    return _store(request, study, TRUTH, _truth_page,
                  lambda data, name: imports.import_truth(actor=request.user, study=study, data=data),
                  "{created} case(s) created, {updated} updated, {linked_to_images} linked to images.")


def _store(request, study: Study, kind: str, page, store, done: str):
    """The file previewed and kept, stored exactly as previewed (``store(data, name)``: what was stored, which
    ``done`` formats), or ``page`` again with the refusal."""
    try:
        data, name = staged.staged(request, study, kind, _digest(request))
        result = store(data, name)
    except DomainError as error:
        return page(request, study, error=error, status=error.status_code)
    staged.discard(request, study, kind)
    messages.success(request, f"{name} stored: {done.format(**result)}")
    return redirect(f"console-{kind}", study_id=study.pk)


def _digest(request) -> str:
    form = StoreForm(request.POST)
    if not form.is_valid():
        raise InvalidInput("no previewed file named: preview the file first")
    return form.cleaned_data["sha256"]


def _ai_page(request, study: Study, *, form=None, plan=None, error=None, status=200):
    places = _problem_places(plan.all_problems) if plan else set()
    context = {
        "study": study, "tab": "ai", "form": form or ImportFileForm(), "error": error, "plan": plan,
        "sets": study.ai_output_sets.annotate(n_outputs=Count("outputs")).select_related("model", "created_by"),
        "n_cases": study.cases.count(), "is_draft": study.status == Study.Status.DRAFT,
        "preview_rows": [(row, row.where in places) for row in plan.rows] if plan else [],
        "already_stored": len(plan.rows) - plan.new_outputs if plan else 0,
        "store_form": StoreForm(initial={"sha256": plan.sha256}) if plan and not plan.all_problems else None,
        "store_label": f"Store {plan.new_outputs} output{pluralize(plan.new_outputs)}" if plan else "",
    }
    return render(request, "console/ai.html", context, status=status)


def _problem_places(problems: list[imports.Problem]) -> set[str]:
    """Where the problems are, as the rows of an AI-output file are placed: "line N" or "outputs[i]"."""
    return {f"line {p.line}" if p.line else (p.field or "").split(".")[0] for p in problems}


@login_required
def ai(request, study_id: int):
    """The study's AI output sets; POST previews an AI-output file (JSON or CSV) and keeps it for "Store"."""
    study = study_to_change(request, study_id)
    if request.method != "POST":
        return _ai_page(request, study)
    return _preview(request, study, AI, _ai_page, attrgetter("all_problems"), lambda data, name: (
        imports.preview_ai_outputs(actor=request.user, study=study, data=data, filename=name)))


@login_required
@require_POST
def ai_store(request, study_id: int):
    """Store the AI-output file previewed, exactly as previewed."""
    study = study_to_change(request, study_id)
    return _store(request, study, AI, _ai_page, lambda data, name: (
        imports.import_ai_outputs(actor=request.user, study=study, data=data, filename=name)), "{stored} output(s).")


@login_required
@require_POST
def ai_set_show(request, study_id: int, set_id: int):
    """Make this set the one the AI-aided arm shows."""
    return _change_set(request, study_id, set_id, ai_outputs.show_output_set,
                       "Readers in the AI-aided arm will see {}.")


@login_required
@require_POST
def ai_set_delete(request, study_id: int, set_id: int):
    return _change_set(request, study_id, set_id, ai_outputs.delete_output_set, "{} deleted with its outputs.")


def _change_set(request, study_id: int, set_id: int, change, done: str):
    """``change`` one of the study's output sets; ``done`` says so, with the set in place of ``{}``."""
    study = study_to_change(request, study_id)
    output_set = get_object_or_404(study.ai_output_sets, pk=set_id)
    try:
        change(actor=request.user, output_set=output_set)
    except DomainError as error:
        return _ai_page(request, study, error=error, status=error.status_code)
    messages.success(request, done.format(output_set))
    return redirect("console-ai", study_id=study.pk)
