"""A study's intended-use population (:mod:`studies.services.case_mix`): its members read it, those who
may change the study set it while it is a draft or enrolling."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from mrmc.dicom.characteristics import ATTRIBUTES, age_band_labels
from studies.models import Study
from studies.permissions import Action
from studies.services import case_mix
from studies.services.ingest.pipeline import age_bounds

from .serializers import JSONValueField, StrictInput
from .staff import study_for


class PopulationSerializer(serializers.Serializer):
    population = serializers.JSONField(help_text="Variables with their target proportions, the rule and the age "
                                                 "bands; empty: none declared")
    fixed_because = serializers.CharField(help_text="Why it can no longer change; empty while it can")
    age_bands = serializers.ListField(child=serializers.CharField(),
                                      help_text="The age band labels that ingest records for this study")
    acquisition_variables = serializers.ListField(child=serializers.CharField(),
                                                  help_text="The variables read from the images")


class PopulationInput(StrictInput):
    population = JSONValueField(help_text="The whole document; {} removes it")


def _body(study: Study) -> dict:
    return {"population": study.population, "fixed_because": case_mix.population_fixed_because(study),
            "age_bands": age_band_labels(age_bounds(study)), "acquisition_variables": list(ATTRIBUTES)}


class PopulationView(APIView):
    @extend_schema(responses=PopulationSerializer)
    def get(self, request, study_id):
        return Response(PopulationSerializer(_body(study_for(request, study_id, Action.VIEW_STUDY))).data)

    @extend_schema(request=PopulationInput, responses=PopulationSerializer)
    def put(self, request, study_id):
        study = study_for(request, study_id, Action.CHANGE_STUDY)
        data = PopulationInput(data=request.data)
        data.is_valid(raise_exception=True)
        study = case_mix.set_population(actor=request.user, study=study, population=data.validated_data["population"])
        return Response(PopulationSerializer(_body(study)).data)
