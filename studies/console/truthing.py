"""The console's truthing page: a study's truthing rule, its panel (truthers and the adjudicator), each truther's
progress per round, the agreement figures against the rule's thresholds, the disputes and whether adjudicated,
and the button that writes the panel's truth to the cases (:mod:`studies.services.truthing` holds every rule)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from studies.errors import DomainError
from studies.models import Study
from studies.services import truthing

from .forms import ConsoleForm
from .setup import study_to_change


class RuleForm(ConsoleForm):
    """The truthing rule as the protocol's ``truthing:`` holds it; empty thresholds are not required."""

    rounds = forms.TypedChoiceField(choices=[(1, "1: blinded"), (2, "2: blinded, then unblinded (LIDC)")], coerce=int)
    marks = forms.MultipleChoiceField(choices=[(kind, kind) for kind in truthing.MARK_TYPES], required=False,
                                      widget=forms.CheckboxSelectMultiple, label="Lesion marks",
                                      help_text="None: labels only")
    iou = forms.FloatField(initial=truthing.DEFAULT_MATCHING["iou"], label="Matching: IoU at least",
                           help_text="Two experts' boxes or polygons are the same lesion at this IoU or more")
    point_radius = forms.FloatField(initial=truthing.DEFAULT_MATCHING["point_radius"],
                                    label="Matching: points within (px)")
    kappa = forms.FloatField(required=False, label="Threshold: kappa", help_text="Label agreement to reach")
    dice = forms.FloatField(required=False, label="Threshold: mean Dice", help_text="Lesion agreement to reach")
    final = forms.ChoiceField(choices=[("adjudicated", "adjudicated: any disagreement goes to the adjudicator"),
                                       ("majority", "majority: a strict majority decides; ties go to the adjudicator")])

    def field_for(self, error: DomainError) -> str | None:
        name = (error.field or "").rsplit(".", 1)[-1]  # truthing.thresholds.kappa -> kappa
        return name if name in self.fields else None

    @classmethod
    def of(cls, rule: dict) -> "RuleForm":
        if not rule:
            return cls()
        matching, thresholds = rule.get("matching", {}), rule.get("thresholds", {})
        return cls(initial={"rounds": rule["rounds"], "marks": rule.get("marks", []), "final": rule["final"],
                            "iou": matching.get("iou"), "point_radius": matching.get("point_radius"),
                            "kappa": thresholds.get("kappa"), "dice": thresholds.get("dice")})

    def rule(self) -> dict:
        data = self.cleaned_data
        thresholds = {name: data[name] for name in ("kappa", "dice") if data[name] is not None}
        return {"rounds": data["rounds"], "marks": data["marks"], "final": data["final"], "thresholds": thresholds,
                "matching": {"iou": data["iou"], "point_radius": data["point_radius"]}}


class MemberForm(ConsoleForm):
    username = forms.CharField(max_length=150, help_text="The account of an expert with the truther role")
    adjudicator = forms.BooleanField(required=False, label="as the adjudicator")


def _progress(panel: truthing.Panel) -> list[dict]:
    """Each truther's labels per round, out of the study's cases."""
    return [{"member": member, "rounds": [sum(1 for case in panel.cases if (case.pk, member.pk, number) in panel.labels)
                                          for number in range(1, panel.last_round + 1)]}
            for member in panel.truthers]


def _page(request, study: Study, *, rule_form=None, member_form=None, error: str = "", status: int = 200):
    panel = truthing.Panel.of(study)
    fixed_because = truthing.rule_fixed_because(study)
    context = {
        "study": study, "tab": "truthing", "rule": study.truthing, "panel": panel,
        "rule_form": rule_form or RuleForm.of(study.truthing), "member_form": member_form or MemberForm(),
        "fixed_because": fixed_because, "progress": _progress(panel),
        # Truthers join before the first label; the adjudicator may still be chosen after it, until the truth is final.
        "may_add_member": not truthing.is_final(study) and (not fixed_because or panel.adjudicator is None),
        "rounds": range(1, panel.last_round + 1), "agreement": truthing.agreement(study) if study.truthing else None,
        "disputes": truthing.disputes(request.user, study.pk) if study.truthing else [], "error": error,
    }
    return render(request, "console/truthing.html", context, status=status)


@login_required
def truthing_page(request, study_id: int):
    return _page(request, study_to_change(request, study_id))


@login_required
@require_POST
def rule(request, study_id: int):
    study = study_to_change(request, study_id)
    form = RuleForm(request.POST)
    if not form.is_valid():
        return _page(request, study, rule_form=form, status=400)
    try:
        truthing.set_rule(actor=request.user, study=study, rule=form.rule())
    except DomainError as error:
        form.add_service_error(error)
        return _page(request, study, rule_form=form, status=error.status_code)
    messages.success(request, "Truthing rule saved.")
    return redirect("console-truthing", study_id=study.pk)


@login_required
@require_POST
def member_add(request, study_id: int):
    study = study_to_change(request, study_id)
    form = MemberForm(request.POST)
    if not form.is_valid():
        return _page(request, study, member_form=form, status=400)
    try:
        user = truthing.truther_user(form.cleaned_data["username"])
        member = truthing.add_member(actor=request.user, study=study, user=user,
                                     adjudicator=form.cleaned_data["adjudicator"])
    except DomainError as error:
        form.add_service_error(error)
        return _page(request, study, member_form=form, status=error.status_code)
    role = "the adjudicator" if member.is_adjudicator else "a truther"
    messages.success(request, f"{user.username} is on the panel as {role} ({member.code}).")
    return redirect("console-truthing", study_id=study.pk)


@login_required
@require_POST
def member_remove(request, study_id: int, member_id: int):
    study = study_to_change(request, study_id)
    try:
        truthing.remove_member(actor=request.user, study=study, member_id=member_id)
    except DomainError as error:
        return _page(request, study, error=str(error), status=error.status_code)
    messages.success(request, "Taken off the panel (the account stays).")
    return redirect("console-truthing", study_id=study.pk)


@login_required
@require_POST
def finalize(request, study_id: int):
    study = study_to_change(request, study_id)
    try:
        result = truthing.finalize(actor=request.user, study=study)
    except DomainError as error:
        return _page(request, study, error=str(error), status=error.status_code)
    methods = ", ".join(f"{n} {method}" for method, n in result["methods"].items() if n)
    messages.success(request, f"The panel's truth is written to the {result['cases']} cases ({methods}).")
    return redirect("console-truthing", study_id=study.pk)
