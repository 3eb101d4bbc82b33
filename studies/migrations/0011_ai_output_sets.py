"""AI outputs come in sets, one per model version: the outputs imported so far become imported sets.

In each study the set with the most outputs (the first made on a tie) is the one shown to readers,
which is what the reading page showed before, and every read already made in an AI-aided arm records
that set's output for its case.
"""

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Count, Min


def sets_of_existing_outputs(apps, schema_editor):
    AIOutput, AIOutputSet, Read = (apps.get_model("studies", name) for name in ("AIOutput", "AIOutputSet", "Read"))
    models_used = (
        AIOutput.objects.values("study_id", "model_name", "model_version")
        .annotate(outputs=Count("id"), first=Min("id"))
        .order_by("study_id", "-outputs", "first")
    )
    shown_in = set()
    for group in models_used:
        first = AIOutput.objects.get(pk=group["first"])
        output_set = AIOutputSet.objects.create(
            study_id=group["study_id"],
            model_name=group["model_name"],
            model_version=group["model_version"],
            source="imported",
            source_name=first.source_name,
            source_checksum=first.source_checksum,
            shown=group["study_id"] not in shown_in,
        )
        shown_in.add(group["study_id"])
        AIOutput.objects.filter(
            study_id=group["study_id"], model_name=group["model_name"], model_version=group["model_version"]
        ).update(output_set=output_set)
    for read in Read.objects.filter(arm__shows_ai=True, ai_output__isnull=True):
        read.ai_output = AIOutput.objects.filter(case_id=read.case_id, output_set__shown=True).first()
        if read.ai_output is not None:
            read.save(update_fields=["ai_output"])


class Migration(migrations.Migration):
    dependencies = [
        ("studies", "0010_study_froc_acceptance_radius"),
    ]

    operations = [
        migrations.AddField(
            model_name="aioutput",
            name="computed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="aioutput",
            name="runtime",
            field=models.CharField(blank=True, help_text="Computed outputs: e.g. onnxruntime 1.30.0", max_length=100),
        ),
        migrations.AddField(
            model_name="aioutput",
            name="device",
            field=models.CharField(blank=True, help_text="Computed outputs: the GPU or CPU it ran on", max_length=255),
        ),
        migrations.AddField(
            model_name="aioutput",
            name="inputs",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="Computed outputs: each image seen (SOP Instance UID, frame, pixel SHA-256, score)",
            ),
        ),
        migrations.AddField(
            model_name="read",
            name="ai_output",
            field=models.ForeignKey(
                blank=True,
                help_text="The AI output the reader was shown (AI-aided arms): its set names the model and its hash",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="reads",
                to="studies.aioutput",
            ),
        ),
        migrations.CreateModel(
            name="AIModel",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=100)),
                ("version", models.CharField(max_length=50)),
                ("sha256", models.CharField(help_text="Of the model file", max_length=64)),
                (
                    "size",
                    models.PositiveBigIntegerField(
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(9223372036854775807),
                        ]
                    ),
                ),
                ("file_name", models.CharField(blank=True, max_length=255)),
                ("card", models.JSONField(help_text="The card as parsed")),
                ("card_text", models.TextField(help_text="The card as registered")),
                ("card_sha256", models.CharField(max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "registered_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "study",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="ai_models", to="studies.study"
                    ),
                ),
            ],
            options={
                "ordering": ["id"],
            },
        ),
        migrations.CreateModel(
            name="AIOutputSet",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("model_name", models.CharField(max_length=100)),
                ("model_version", models.CharField(max_length=50)),
                (
                    "source",
                    models.CharField(
                        choices=[("imported", "Imported from a file"), ("computed", "Computed by the platform")],
                        max_length=16,
                    ),
                ),
                (
                    "source_name",
                    models.CharField(blank=True, help_text="The file imported (imported sets)", max_length=255),
                ),
                (
                    "source_checksum",
                    models.CharField(blank=True, help_text="sha256 of the file imported", max_length=64),
                ),
                (
                    "outputs_sha256",
                    models.CharField(
                        blank=True,
                        help_text="Of every output of the set, once complete (see services.ai_outputs)",
                        max_length=64,
                    ),
                ),
                ("shown", models.BooleanField(default=False, help_text="The set readers see in the AI-aided arm")),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "job",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="studies.job",
                    ),
                ),
                (
                    "model",
                    models.ForeignKey(
                        blank=True,
                        help_text="The model that computed the outputs (computed sets)",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="output_sets",
                        to="studies.aimodel",
                    ),
                ),
                (
                    "study",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="ai_output_sets", to="studies.study"
                    ),
                ),
            ],
            options={
                "ordering": ["id"],
            },
        ),
        migrations.AddField(
            model_name="aioutput",
            name="output_set",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.CASCADE, related_name="outputs", to="studies.aioutputset"
            ),
        ),
        migrations.RunPython(sets_of_existing_outputs, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="aioutput",
            name="source_checksum",
        ),
        migrations.RemoveField(
            model_name="aioutput",
            name="source_name",
        ),
        migrations.AlterField(
            model_name="aioutput",
            name="output_set",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="outputs", to="studies.aioutputset"
            ),
        ),
        migrations.AddConstraint(
            model_name="aioutput",
            constraint=models.UniqueConstraint(fields=("output_set", "case"), name="ai_output_once_per_set"),
        ),
        migrations.AddConstraint(
            model_name="aimodel",
            constraint=models.UniqueConstraint(fields=("study", "sha256"), name="ai_model_file_unique"),
        ),
        migrations.AddConstraint(
            model_name="aimodel",
            constraint=models.UniqueConstraint(fields=("study", "name", "version"), name="ai_model_version_unique"),
        ),
        migrations.AddConstraint(
            model_name="aioutputset",
            constraint=models.UniqueConstraint(
                fields=("study", "model_name", "model_version"), name="ai_output_set_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="aioutputset",
            constraint=models.UniqueConstraint(
                condition=models.Q(("shown", True)), fields=("study",), name="ai_output_set_one_shown"
            ),
        ),
        migrations.AddConstraint(
            model_name="aioutputset",
            constraint=models.CheckConstraint(
                condition=models.Q(("source__in", ["imported", "computed"])), name="ai_output_set_source_valid"
            ),
        ),
        migrations.AddConstraint(
            model_name="aioutputset",
            constraint=models.CheckConstraint(
                condition=models.Q(("source", "imported"), ("model__isnull", False), _connector="OR"),
                name="ai_output_set_computed_has_model",
            ),
        ),
    ]
