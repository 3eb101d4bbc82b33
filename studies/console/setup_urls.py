"""Set-up pages of the coordinator console (included under /console/)."""

from django.urls import path

from . import files, readers, setup

STUDY = "studies/<int:study_id>/"

urlpatterns = [
    path("", setup.home, name="console-home"),
    path("studies/new/", setup.study_new, name="console-study-new"),
    path("studies/new/protocol/", setup.study_from_protocol, name="console-study-protocol"),
    path(STUDY, setup.study_overview, name="console-study"),
    path(STUDY + "transition/", setup.study_transition, name="console-study-transition"),
    path(STUDY + "schedule/", setup.study_schedule, name="console-study-schedule"),
    path(STUDY + "setup/", setup.study_settings, name="console-study-setup"),
    path(STUDY + "qualification/", setup.study_qualification, name="console-study-qualification"),
    path(STUDY + "subgroups/", setup.study_subgroups, name="console-study-subgroups"),
    path(STUDY + "arms/", setup.arm_add, name="console-arm-add"),
    path(STUDY + "arms/<int:arm_id>/", setup.arm_update, name="console-arm-update"),
    path(STUDY + "arms/<int:arm_id>/move/", setup.arm_move, name="console-arm-move"),
    path(STUDY + "readers/", readers.readers, name="console-readers"),
    path(STUDY + "readers/<int:reader_id>/resend/", readers.reader_resend, name="console-reader-resend"),
    path(STUDY + "readers/<int:reader_id>/remove/", readers.reader_remove, name="console-reader-remove"),
    path(STUDY + "truth/", files.truth, name="console-truth"),
    path(STUDY + "truth/store/", files.truth_store, name="console-truth-store"),
    path(STUDY + "ai/", files.ai, name="console-ai"),
    path(STUDY + "ai/store/", files.ai_store, name="console-ai-store"),
    path(STUDY + "ai/sets/<int:set_id>/show/", files.ai_set_show, name="console-ai-set-show"),
    path(STUDY + "ai/sets/<int:set_id>/delete/", files.ai_set_delete, name="console-ai-set-delete"),
]
