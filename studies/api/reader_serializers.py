"""The readers of a study as its staff see them: enrollment, and qualification with the evaluation the reader
is shown in training (kept apart from ``serializers`` because the evaluation's shape lives with training's)."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from studies.models import Reader

from .training_serializers import EvaluationSerializer


class ReaderSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    specialty = serializers.CharField(source="user.specialty", read_only=True)
    years_experience = serializers.IntegerField(source="user.years_experience", read_only=True, allow_null=True)
    qualified_at = serializers.DateTimeField(read_only=True, allow_null=True,
                                             help_text="When the reader passed the study's qualification rule")
    qualification = serializers.SerializerMethodField(
        help_text="The last evaluation of the rule (the one that qualified the reader, once qualified); null before "
                  "their first training read or where the study requires no qualification")

    class Meta:
        model = Reader
        fields = ["id", "code", "group", "username", "specialty", "years_experience", "enrolled_at", "qualified_at",
                  "qualification"]

    @extend_schema_field(EvaluationSerializer(allow_null=True))
    def get_qualification(self, reader: Reader) -> dict | None:
        return EvaluationSerializer(reader.qualification).data if reader.qualification else None
