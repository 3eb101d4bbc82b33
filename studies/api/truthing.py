"""Endpoints of the truthing panel: a member's panels, cases, labels and adjudications; the coordinator's rule,
panel and finalization; the panel's agreement for coordinators and statisticians. Thin: authorize, call
``studies.services.truthing``, render.

Shapes (``truthing_serializers``): ``GET truthing/`` lists the user's panels; ``GET studies/{id}/truthing/cases/``
a member's cases in the round open to them (the adjudicator's: the disputed cases); ``GET .../cases/{case}/`` one
case for the workstation's truthing mode; ``POST .../labels/`` a label (201; a retry with its key 200 with the
stored label; a second label of the case in the round 409 ``already_read``); ``GET .../disputes/``,
``POST .../adjudications/`` (201/200 alike; the note is required); ``GET .../agreement/``; ``POST .../finalize/``;
``GET/PUT .../rule/`` (``{"rule": {...}}``); ``GET/POST .../members/`` and ``DELETE .../members/{member}/``.
"""

from django.db.models import Count
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from studies.errors import NotFound
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
        if not study.truthing_members.filter(pk=member_id).exists():
            raise NotFound("no such member of this study's panel")
        truthing.remove_member(actor=request.user, study=study, member_id=member_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
