"""Forms of the console's set-up pages. They convert what the browser sends into values; the rules
(bounds, what may change when) are the services', whose errors are put back on the form's fields."""

from django import forms
from django.conf import settings

from studies.errors import DomainError
from studies.models import Study
from studies.models.bounds import BIGINT_MAX

# A protocol is a page of YAML; anything larger is not one.
PROTOCOL_MAX_BYTES = 256 * 1024


class LabelsField(forms.Field):
    """An ordinal scale's labels, one per line, as the list the study keeps."""

    widget = forms.Textarea(attrs={"rows": 5, "cols": 40})

    def to_python(self, value) -> list[str]:
        return [line.strip() for line in (value or "").splitlines() if line.strip()]

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value


class StudySettingsForm(forms.Form):
    """A new study's settings, or an existing one's: only what changed goes to the service."""

    title = forms.CharField(max_length=200)
    protocol_version = forms.CharField(max_length=50, required=False)
    design = forms.ChoiceField(choices=Study.Design.choices)
    washout_days = forms.IntegerField(initial=28, help_text="Days between a reader's sessions of different arms")
    block_size = forms.IntegerField(initial=0, help_text="0: one arm per session; N: arms interleaved in blocks of N")
    rating_scale = forms.ChoiceField(choices=Study.Scale.choices)
    scale_min = forms.FloatField(initial=0, label="Scale minimum")
    scale_max = forms.FloatField(initial=100, label="Scale maximum")
    ordinal_labels = LabelsField(required=False, label="Ordinal labels", help_text="One per line: ratings 1..K")
    binary_decision = forms.BooleanField(required=False, help_text="Readers also answer yes or no")
    decision_threshold = forms.FloatField(required=False, help_text="Rating at or above which a case is positive")
    marks_enabled = forms.BooleanField(required=False, label="Lesion marks")
    max_marks = forms.IntegerField(initial=5, label="Marks per case at most")
    froc_acceptance_radius = forms.FloatField(initial=20, label="FROC acceptance radius (px)")
    revision_policy = forms.ChoiceField(choices=Study.RevisionPolicy.choices)

    DESIGN_FIELDS = ("design", "washout_days", "block_size", "rating_scale", "scale_min", "scale_max",
                     "ordinal_labels", "binary_decision", "decision_threshold", "marks_enabled", "max_marks",
                     "froc_acceptance_radius", "revision_policy")

    def __init__(self, *args, design_fixed: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        for name in self.DESIGN_FIELDS:
            self.fields[name].disabled = design_fixed

    @classmethod
    def for_study(cls, study: Study, data=None, *, design_fixed: bool) -> "StudySettingsForm":
        initial = {name: getattr(study, name) for name in cls.base_fields}
        return cls(data, initial=initial, design_fixed=design_fixed)

    def changed_values(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.changed_data}


class ProtocolForm(forms.Form):
    protocol = forms.FileField(help_text="A protocol YAML file, as docs/protocol.example.yaml documents")

    def clean_protocol(self) -> str:
        upload = self.cleaned_data["protocol"]
        if upload.size > PROTOCOL_MAX_BYTES:
            raise forms.ValidationError(f"larger than {PROTOCOL_MAX_BYTES // 1024} KiB: not a protocol file")
        try:
            text = upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise forms.ValidationError(f"not UTF-8 text (byte {exc.start})") from None
        return text


class ArmForm(forms.Form):
    name = forms.SlugField(max_length=50, help_text="Short code used in exports, e.g. 'unaided'")
    label = forms.CharField(max_length=100, required=False)
    shows_ai = forms.BooleanField(required=False, label="Shows the AI")


class MoveArmForm(forms.Form):
    by = forms.TypedChoiceField(choices=[(-1, "up"), (1, "down")], coerce=int)


class InviteForm(forms.Form):
    name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(label="E-mail")
    code = forms.CharField(max_length=32, required=False, help_text="Pseudonym in exports; empty: R01, R02, …")
    group = forms.IntegerField(initial=0, min_value=0, help_text="Reader group (split-plot)")


class ImportFileForm(forms.Form):
    """A truth or AI-output file: read whole to be checked, so bounded as the API bounds it."""

    file = forms.FileField()

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.IMPORT_FILE_MAX_BYTES:
            raise forms.ValidationError(f"larger than {settings.IMPORT_FILE_MAX_BYTES} bytes")
        return upload


class StoreForm(forms.Form):
    """Store the file previewed: named by its SHA-256, which the server kept with the file."""

    sha256 = forms.RegexField(regex=r"^[0-9a-f]{64}$", widget=forms.HiddenInput)


class TransitionForm(forms.Form):
    to = forms.ChoiceField(choices=Study.Status.choices)


class ScheduleForm(forms.Form):
    seed = forms.IntegerField(required=False, min_value=0, max_value=BIGINT_MAX,
                              help_text="Empty: a random seed (recorded with the schedule)")


def add_service_error(form: forms.Form, error: DomainError) -> None:
    """The service's refusal on the field it names, or on the form as a whole."""
    if error.field in form.fields:
        form.add_error(error.field, error.message)
    else:
        form.add_error(None, str(error))
