"""The AI output export's document: what the AI output import reads, with each output's provenance."""

from rest_framework import serializers

from studies.models import AIOutputSet

from .reading_serializers import AIFindingSerializer


class ExportedImageSerializer(serializers.Serializer):
    sop_instance_uid = serializers.CharField()
    frame = serializers.IntegerField()
    pixel_sha256 = serializers.CharField(help_text="Of the decoded stored pixel values (mrmc.inference.pixel_sha256)")
    score = serializers.FloatField(help_text="The model's score of this image")


class ExportedOutputSerializer(serializers.Serializer):
    case = serializers.CharField()
    score = serializers.FloatField()
    operating_point = serializers.FloatField(allow_null=True)
    findings = AIFindingSerializer(many=True)
    inputs = ExportedImageSerializer(many=True, help_text="Computed outputs: the images the model saw")
    runtime = serializers.CharField(allow_blank=True)
    device = serializers.CharField(allow_blank=True)
    computed_at = serializers.DateTimeField(allow_null=True)


class ExportedModelSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()
    source = serializers.ChoiceField(choices=AIOutputSet.Source.choices)
    outputs_sha256 = serializers.CharField(allow_blank=True)
    sha256 = serializers.CharField(required=False, help_text="Computed sets: the model file's")
    card_sha256 = serializers.CharField(required=False)
    card = serializers.CharField(required=False, help_text="Computed sets: the model card as registered")


class AIOutputExportSerializer(serializers.Serializer):
    """The document the AI output import reads (``model`` and ``outputs``), with each output's provenance."""

    model = ExportedModelSerializer()
    outputs = ExportedOutputSerializer(many=True)
