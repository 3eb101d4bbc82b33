"""Forms of the console's set-up pages. They convert what the browser sends into values; the rules
(bounds, what may change when) are the services', whose errors are put back on the form's fields."""

import re

from django import forms
from django.conf import settings

from studies.errors import DomainError
from studies.models import Study
from studies.models.bounds import BIGINT_MAX

# A protocol is a page of YAML; anything larger is not one.
PROTOCOL_MAX_BYTES = 256 * 1024


class ConsoleForm(forms.Form):
    """A form whose values a service checks: the service's refusal goes on the field it names (``field_for``),
    or on the form as a whole."""

    def field_for(self, error: DomainError) -> str | None:
        return error.field if error.field in self.fields else None

    def add_service_error(self, error: DomainError) -> None:
        field = self.field_for(error)
        self.add_error(field, error.message if field else str(error))


class LabelsField(forms.Field):
    """An ordinal scale's labels, one per line, as the list the study keeps."""

    widget = forms.Textarea(attrs={"rows": 5, "cols": 40})

    def to_python(self, value) -> list[str]:
        return [line.strip() for line in (value or "").splitlines() if line.strip()]

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value


class StudySettingsForm(ConsoleForm):
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


class ArmForm(ConsoleForm):
    name = forms.SlugField(max_length=50, help_text="Short code used in exports, e.g. 'unaided'")
    label = forms.CharField(max_length=100, required=False)
    shows_ai = forms.BooleanField(required=False, label="Shows the AI")


class QualificationForm(ConsoleForm):
    """The reader qualification rule (studies.services.qualification), a field per criterion: a field left empty
    is left out of the rule, and a form left empty requires no qualification."""

    min_cases = forms.IntegerField(required=False, label="Training cases",
                                   help_text="Read in every training arm; empty: no qualification required")
    arms = forms.MultipleChoiceField(required=False, widget=forms.CheckboxSelectMultiple, label="Training arms",
                                     help_text="Each training case is read in each, in this order; the first one's "
                                               "ratings are evaluated. None ticked: every arm, in the study's order")
    min_auc = forms.FloatField(required=False, label="Minimum AUC", help_text="Of the ratings against truth")
    min_agreement = forms.FloatField(required=False, label="Minimum agreement",
                                     help_text="Fraction of yes/no calls agreeing with truth")
    positives_above_negatives = forms.BooleanField(required=False, label="Diseased rated above non-diseased",
                                                   help_text="On average, as higher ratings mean more suspicious")
    min_categories = forms.IntegerField(required=False, label="Minimum distinct ratings")
    min_spread = forms.FloatField(required=False, label="Minimum spread",
                                  help_text="Share of the scale used: (highest − lowest rating) / (maximum − minimum)")

    CALIBRATION = ("positives_above_negatives", "min_categories", "min_spread")

    def __init__(self, *args, arm_names: list[str], fixed: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["arms"].choices = [(name, name) for name in arm_names]
        for field in self.fields.values():
            field.disabled = fixed

    @classmethod
    def for_study(cls, study: Study, data=None, *, fixed: bool) -> "QualificationForm":
        """The form showing the study's rule; the arms listed in its order first, so that saving keeps it."""
        rule = study.qualification or {}
        named = rule.get("arms", [])
        arm_names = named + [name for name in study.arms.values_list("name", flat=True) if name not in named]
        initial = {**{key: value for key, value in rule.items() if key != "calibration"}, **rule.get("calibration", {})}
        return cls(data, initial=initial, arm_names=arm_names, fixed=fixed)

    def rule(self) -> dict:
        """The rule as the service takes it: only the fields given."""
        given = {name: value for name, value in self.cleaned_data.items()
                 if value is not None and value is not False and value != []}  # a 0 stays, for the service to refuse
        calibration = {name: given.pop(name) for name in self.CALIBRATION if name in given}
        return {**given, "calibration": calibration} if calibration else given

    def field_for(self, error: DomainError) -> str | None:
        """The service names a field of the rule: ``qualification.calibration.min_spread``, ``...arms[1]``."""
        name = re.sub(r"\[\d+\]$", "", (error.field or "").rsplit(".", 1)[-1])
        return name if name in self.fields else None


class SubgroupsForm(ConsoleForm):
    subgroups = forms.MultipleChoiceField(
        required=False, widget=forms.CheckboxSelectMultiple, label="Declared subgroups",
        help_text="Case metadata variables (columns of the truth file) the analysis reports subgroup by subgroup; "
                  "every case must have them before the study enrolls")

    def __init__(self, *args, names: list[str], fixed: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["subgroups"].choices = [(name, name) for name in names]
        self.fields["subgroups"].disabled = fixed

    @classmethod
    def for_study(cls, study: Study, metadata_names: list[str], data=None, *, fixed: bool) -> "SubgroupsForm":
        """Choices: the names the cases' metadata has, and any declared before the cases had them."""
        declared = list(study.subgroups or [])
        names = declared + [name for name in metadata_names if name not in declared]
        return cls(data, initial={"subgroups": declared}, names=names, fixed=fixed)

    def field_for(self, error: DomainError) -> str | None:
        return "subgroups" if (error.field or "").startswith("subgroups[") else None


class MoveArmForm(forms.Form):
    by = forms.TypedChoiceField(choices=[(-1, "up"), (1, "down")], coerce=int)


class InviteForm(ConsoleForm):
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

