"""Django admin for coordinators: scoped to their studies and to the role × action table.

Changes made here go through model saves, so the audit trail records them like any other.
"""

import copy
import functools

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError

from .errors import DomainError
from .models import (
    AIModel,
    AIOutput,
    AIOutputSet,
    AnalysisRun,
    Arm,
    AuditEvent,
    Case,
    DicomStudy,
    Job,
    Read,
    Reader,
    ReadingSession,
    Study,
    StudyMembership,
    User,
)
from .permissions import Action, can, has_action, visible_studies
from .services.imports import TRUTH_STATUSES
from .services.studies import (
    SETUP_STATUSES,
    check_design_change,
    check_member_role,
    check_reader_role,
    delete_study,
    is_deletable,
    status_rule,
    validate_design,
)


class StudyStatusForm(forms.ModelForm):
    """Refuses changes to a study's records outside the statuses in which its services allow
    them (``editable_while``, set by subclasses)."""

    editable_while: tuple[str, ...] = ()
    records = "these records"

    def clean(self):
        cleaned = super().clean()
        study = cleaned.get("study") or (self.instance.study if self.instance.study_id else None)
        if study is not None and study.status not in self.editable_while:
            raise ValidationError(status_rule(self.records, self.editable_while))
        return cleaned


class CaseAdminForm(StudyStatusForm):
    editable_while, records = TRUTH_STATUSES, "cases"


def _user_checked_by(check):
    """A form's ``clean_user`` that applies a service's role rule."""

    def clean_user(self):
        user = self.cleaned_data["user"]
        try:
            check(user)
        except DomainError as exc:
            raise ValidationError(exc.message) from None
        return user

    return clean_user


class ReaderAdminForm(StudyStatusForm):
    editable_while, records = SETUP_STATUSES, "readers"
    clean_user = _user_checked_by(check_reader_role)


class MembershipAdminForm(forms.ModelForm):
    clean_user = _user_checked_by(check_member_role)


class StudyScopedAdmin(admin.ModelAdmin):
    """Objects of the studies the user is a member of; editable only with CHANGE_STUDY, and
    only in the study statuses that the form's ``editable_while`` allows (if it has one)."""

    study_path = "study"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        path = f"{self.study_path}__in" if self.study_path else "pk__in"
        return queryset.filter(**{path: visible_studies(request.user)})

    def _study_of(self, obj):
        return functools.reduce(getattr, self.study_path.split("__"), obj) if self.study_path else obj

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "study":  # new records only in the user's own studies (adding needs CHANGE_STUDY)
            kwargs["queryset"] = visible_studies(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _in_editable_status(self, obj) -> bool:
        allowed = getattr(self.form, "editable_while", None)
        return obj is None or allowed is None or self._study_of(obj).status in allowed

    def has_module_permission(self, request):
        return has_action(request.user, Action.VIEW_STUDY)

    def has_view_permission(self, request, obj=None):
        return can(request.user, Action.VIEW_STUDY, obj and self._study_of(obj))

    def has_change_permission(self, request, obj=None):
        return can(request.user, Action.CHANGE_STUDY, obj and self._study_of(obj)) and self._in_editable_status(obj)

    def has_add_permission(self, request, obj=None):
        return has_action(request.user, Action.CHANGE_STUDY)

    def has_delete_permission(self, request, obj=None):
        return has_action(request.user, Action.CHANGE_STUDY) and self._in_editable_status(obj)


class ArmInline(admin.TabularInline):
    """A study's arms, changed by those who may change the study (``obj``), and only while
    its services allow."""

    model = Arm
    extra = 0

    def has_view_permission(self, request, obj=None):
        return can(request.user, Action.VIEW_STUDY, obj)

    def has_change_permission(self, request, obj=None):
        return can(request.user, Action.CHANGE_STUDY, obj) and (obj is None or obj.status in SETUP_STATUSES)

    has_add_permission = has_delete_permission = has_change_permission


class StudyAdminForm(forms.ModelForm):
    """The rules of the study services (design consistency, pixel cleaning rules, the design
    fixed once reading can start) apply to edits made here too; the admin supplies the model
    and fields."""

    def clean_endpoints(self):
        return self.cleaned_data["endpoints"] or {}  # an emptied box: no endpoints pre-specified

    def clean(self):
        cleaned = super().clean()
        candidate = copy.copy(self.instance)
        for name, value in cleaned.items():
            setattr(candidate, name, value)
        try:
            if self.instance.pk:
                check_design_change(self.instance, set(self.changed_data))
            validate_design(candidate)
        except DomainError as exc:
            field = (exc.field or "").split(".")[0]  # a value inside a JSON field is named by its path
            message = exc.message if field == exc.field else f"{exc.field}: {exc.message}"
            raise ValidationError({field: message} if field in self.fields else message) from None
        return cleaned


@admin.register(Study)
class StudyAdmin(StudyScopedAdmin):
    form = StudyAdminForm
    study_path = None
    list_display = ["title", "status", "design", "rating_scale", "washout_days", "created_at"]
    list_filter = ["status", "design"]
    readonly_fields = ["status", "schedule_seed", "schedule_generated_at", "created_by"]
    inlines = [ArmInline]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        if not change:
            StudyMembership.objects.get_or_create(study=obj, user=request.user)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or is_deletable(obj))

    def get_deleted_objects(self, objs, request):
        """Whether a study may go is the service's rule (a draft goes with all it holds), not the
        permissions of each record that goes with it (AI outputs, for one, are never deleted alone)."""
        deleted, counts, _, protected = super().get_deleted_objects(objs, request)
        refused = {self.opts.verbose_name for study in objs if not self.has_delete_permission(request, study)}
        return deleted, counts, refused, protected

    def delete_model(self, request, obj):
        delete_study(actor=request.user, study=obj)

    def delete_queryset(self, request, queryset):
        for study in queryset:  # each checked by has_delete_permission before the admin gets here
            delete_study(actor=request.user, study=study)


@admin.register(Case)
class CaseAdmin(StudyScopedAdmin):
    form = CaseAdminForm
    list_display = ["label", "study", "truth", "truth_method", "study_instance_uid", "reading_group"]
    list_filter = ["study", "truth", "truth_method"]
    search_fields = ["label", "study_instance_uid", "accession_number"]


@admin.register(Reader)
class ReaderAdmin(StudyScopedAdmin):
    form = ReaderAdminForm
    list_display = ["code", "user", "study", "group", "enrolled_at"]
    list_filter = ["study"]


@admin.register(StudyMembership)
class MembershipAdmin(StudyScopedAdmin):
    form = MembershipAdminForm
    list_display = ["study", "user"]


class ReadOnlyAdminMixin:
    """Records that only their own workflow writes (reads, AI imports, schedules, jobs, audit)."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyStudyScopedAdmin(ReadOnlyAdminMixin, StudyScopedAdmin):
    pass


@admin.register(AIOutput)
class AIOutputAdmin(ReadOnlyStudyScopedAdmin):
    list_display = ["case", "model_name", "model_version", "score", "computed_at"]
    list_filter = ["study", "model_name"]


@admin.register(AIOutputSet)
class AIOutputSetAdmin(ReadOnlyStudyScopedAdmin):
    list_display = ["model_name", "model_version", "source", "shown", "outputs_sha256", "created_at"]
    list_filter = ["study", "source"]


@admin.register(AIModel)
class AIModelAdmin(ReadOnlyStudyScopedAdmin):
    list_display = ["name", "version", "sha256", "file_name", "created_at"]
    list_filter = ["study"]


@admin.register(ReadingSession)
class ReadingSessionAdmin(ReadOnlyStudyScopedAdmin):
    list_display = ["reader", "number", "arm", "opens_at", "completed_at"]
    list_filter = ["study"]


@admin.register(Read)
class ReadAdmin(ReadOnlyStudyScopedAdmin):
    study_path = "case__study"
    list_display = ["reader", "case", "arm", "rating", "decision", "submitted_at", "duration_ms", "revision"]
    list_filter = ["arm__study", "arm"]


@admin.register(Job)
class JobAdmin(ReadOnlyStudyScopedAdmin):
    list_display = ["id", "kind", "study", "status", "progress", "created_at", "finished_at"]


@admin.register(DicomStudy)
class DicomStudyAdmin(ReadOnlyStudyScopedAdmin):
    list_display = ["study_instance_uid", "study", "case", "modalities", "created_at"]
    list_filter = ["study"]


@admin.register(AnalysisRun)
class AnalysisRunAdmin(ReadOnlyStudyScopedAdmin):
    list_display = ["id", "study", "created_by", "created_at", "is_interim", "snapshot_checksum"]
    list_filter = ["study"]
    exclude = ["snapshot_csv"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["seq", "at", "actor_username", "action", "entity", "entity_id", "study_id", "hash"]
    list_filter = ["action", "entity"]

    def get_queryset(self, request):
        studies = visible_studies(request.user).values_list("pk", flat=True)
        return super().get_queryset(request).filter(study_id__in=list(studies))

    def has_module_permission(self, request):
        return has_action(request.user, Action.VIEW_READS)

    def has_view_permission(self, request, obj=None):
        return has_action(request.user, Action.VIEW_READS)


@admin.register(User)
class PlatformUserAdmin(UserAdmin):
    fieldsets = UserAdmin.fieldsets + (("Role and profile", {"fields": ("role", "specialty", "years_experience")}),)
    list_display = ["username", "role", "specialty", "years_experience", "is_active"]
    list_filter = ["role", "is_active"]
