"""Endpoints of the truthing panel: a member's panels, cases, labels and adjudications; the coordinator's rule,
panel and finalization; the panel's agreement for coordinators and statisticians. Thin: authorize, call
``studies.services.truthing``, render. The shapes are in ``truthing_serializers``; in short:

``GET truthing/`` (truthers): ``[{study, title, code, role: truther|adjudicator, round: 1|2|null, state:
open|waiting|done|closed, reason_closed, cases_total, cases_done, disputes_open}]``; ``round`` is the round open
to a truther (null when done, waiting for the others' round 1, closed, or for the adjudicator); an adjudicator's
``cases_total``/``cases_done`` count the disputed cases and those adjudicated.

``GET studies/{id}/truthing/cases/``: ``[{case, label, position, round, done, study_instance_uid}]``, a truther's
cases in the round open to them (else the last round they labelled in); the adjudicator's disputed cases.

``GET .../cases/{case}/``: ``{case, label, study_instance_uid, round, is_open, reason_closed, marks_allowed, own:
{label, lesions, comment}|null, others: [{member, round, label, lesions}]}``; ``others`` holds, in round 2, the
other truthers' round-1 labels (empty in round 1); for the adjudicator, ``round`` is null, ``others`` every
truther's label of every round and ``own`` the adjudication (its note as ``comment``).

``POST .../labels/`` ``{case, round, idempotency_key, label, lesions, comment, opened_at}``: 201 with the stored
label, 200 for a retry with its key, 409 ``code: already_read`` for another label of the case in the round.
A mark is ``{type: box|point|polygon, sop_instance_uid, frame (from 1), points: [[x, y], ...]}``; errors name
the field (``lesions[1].points``). A case labelled 0 has no marks.

``GET .../disputes/`` (adjudicator, coordinator): ``[{case, label, study_instance_uid, why, labels: [{member,
round, label, lesions}], adjudicated}]``. ``POST .../adjudications/`` ``{case, label, lesions, note,
idempotency_key}``: 201/200 as labels; the note is required; a second decision is 409 ``already_read``.

``GET .../agreement/`` (coordinator, statistician): per label per round (Cohen's kappa for two truthers, Fleiss'
for more) and per lesion (Dice, IoU of matched marks) with 95% intervals, thresholds and pass/fail; disputes.
``POST .../finalize/`` (coordinator, no body): ``{cases, methods: {consensus, majority, adjudicated},
established_by, agreement}``; 409 naming the cases while labels or adjudications are missing.
``GET/PUT .../rule/``: ``{rule}`` in, ``{rule, fixed_because, closed_because}`` out; the rule's ``final`` is
``adjudicated`` or ``majority`` (consensus is what a unanimous case is, under either).
``GET/POST .../members/`` ``{username, adjudicator: false}`` -> ``{id, code, username, name, role, labels,
adjudications}``; ``DELETE .../members/{id}/``.
"""

from django.db.models import Count
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.permissions import Action, require
from studies.services import truthing

from . import serializers as s
from . import truthing_serializers as t
from .staff import study_for


def _created(created: bool) -> int:
    return status.HTTP_201_CREATED if created else status.HTTP_200_OK


class PanelListView(APIView):
    @extend_schema(responses=t.PanelSerializer(many=True))
    def get(self, request):
        """The truthing panels the user is on, with the round open to them and their progress."""
        return Response(t.PanelSerializer(truthing.panels_of(request.user), many=True).data)


class MemberCaseListView(APIView):
    @extend_schema(responses=t.MemberCaseSerializer(many=True))
    def get(self, request, study_id):
        """A truther's cases in the round open to them (else the last round they labelled in); the adjudicator's
        disputed cases."""
        return Response(t.MemberCaseSerializer(truthing.member_cases(request.user, study_id), many=True).data)


class MemberCaseView(APIView):
    @extend_schema(operation_id="v1_studies_truthing_case_retrieve", responses=t.MemberCaseDetailSerializer)
    def get(self, request, study_id, case_id):
        """One case as the truthing mode shows it: the member's own label, and in round 2 the others' round-1
        labels (the adjudicator: every label of every round)."""
        return Response(t.MemberCaseDetailSerializer(truthing.member_case(request.user, study_id, case_id)).data)


class LabelListView(APIView):
    @extend_schema(request=t.LabelInput, responses={201: t.StoredLabelSerializer, 200: t.StoredLabelSerializer})
    def post(self, request, study_id):
        """Submit a label; final once submitted. A retry with the same idempotency key returns the stored label
        (200); another label of the same case and round is refused (409, code already_read)."""
        require(request.user, Action.TRUTH_CASES)
        data = t.LabelInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        label, created = truthing.submit_label(
            user=request.user, study_id=study_id, case_id=values["case"], round=values["round"],
            idempotency_key=values["idempotency_key"], label=values["label"], lesions=values["lesions"],
            comment=values["comment"], opened_at=values["opened_at"])
        return Response(t.StoredLabelSerializer(label).data, status=_created(created))


class DisputeListView(APIView):
    @extend_schema(responses=t.DisputeSerializer(many=True))
    def get(self, request, study_id):
        """The cases the panel disagrees on after the last round (adjudicator, coordinator)."""
        return Response(t.DisputeSerializer(truthing.disputes(request.user, study_id), many=True).data)


class AdjudicationListView(APIView):
    @extend_schema(request=t.AdjudicationInput,
                   responses={201: t.StoredAdjudicationSerializer, 200: t.StoredAdjudicationSerializer})
    def post(self, request, study_id):
        """The adjudicator's truth of a disputed case, with the reason; final once submitted."""
        require(request.user, Action.TRUTH_CASES)
        data = t.AdjudicationInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        decision, created = truthing.adjudicate(
            user=request.user, study_id=study_id, case_id=values["case"], label=values["label"],
            lesions=values["lesions"], note=values["note"], idempotency_key=values["idempotency_key"])
        return Response(t.StoredAdjudicationSerializer(decision).data, status=_created(created))


class AgreementView(APIView):
    @extend_schema(responses=t.AgreementSerializer)
    def get(self, request, study_id):
        """The panel's agreement per label and per lesion, against the rule's thresholds, and its disputes."""
        study = study_for(request, study_id, Action.VIEW_TRUTH)
        return Response(t.AgreementSerializer(truthing.agreement(study)).data)


class FinalizeView(APIView):
    @extend_schema(request=s.NoBody, responses=t.FinalizeSerializer)
    def post(self, request, study_id):
        """Write the panel's truth to the cases; refused while a case lacks labels or a dispute its adjudication."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        s.NoBody(data=request.data).is_valid(raise_exception=True)
        return Response(t.FinalizeSerializer(truthing.finalize(actor=request.user, study=study)).data)


class RuleView(APIView):
    @extend_schema(responses=t.RuleSerializer)
    def get(self, request, study_id):
        return Response(_rule(study_for(request, study_id, Action.VIEW_STUDY)))

    @extend_schema(request=t.RuleInput, responses=t.RuleSerializer)
    def put(self, request, study_id):
        """Set the truthing rule ({} for imported truth); fixed once a truther has labelled a case."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = t.RuleInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(_rule(truthing.set_rule(actor=request.user, study=study, rule=data.validated_data["rule"])))


def _rule(study) -> dict:
    return t.RuleSerializer({"rule": study.truthing, "fixed_because": truthing.rule_fixed_because(study),
                             "closed_because": truthing.closed_because(study)}).data


def _members(study):
    return study.truthing_members.select_related("user").annotate(
        label_count=Count("labels", distinct=True), adjudication_count=Count("adjudications", distinct=True))


class MemberListView(APIView):
    @extend_schema(responses=t.MemberSerializer(many=True))
    def get(self, request, study_id):
        study = study_for(request, study_id, Action.VIEW_STUDY)
        return Response(t.MemberSerializer(_members(study).order_by("code"), many=True).data)

    @extend_schema(request=t.MemberInput, responses={201: t.MemberSerializer})
    def post(self, request, study_id):
        """Put a user with the truther role on the panel (codes E1, E2, …), or make them its adjudicator (A1)."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = t.MemberInput(data=request.data)
        data.is_valid(raise_exception=True)
        member = truthing.add_member(actor=request.user, study=study,
                                     user=truthing.truther_user(data.validated_data["username"]),
                                     adjudicator=data.validated_data["adjudicator"])
        return Response(t.MemberSerializer(_members(study).get(pk=member.pk)).data, status=status.HTTP_201_CREATED)


class MemberDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, study_id, member_id):
        """Take a member off the panel: a truther before any label, the adjudicator before any adjudication."""
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        s.NoBody(data=request.data).is_valid(raise_exception=True)
        truthing.remove_member(actor=request.user, study=study, member_id=member_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
