"""The console's truthing page (included under /console/)."""

from django.urls import path

from . import truthing

STUDY = "studies/<int:study_id>/truthing/"

urlpatterns = [
    path(STUDY, truthing.truthing_page, name="console-truthing"),
    path(STUDY + "rule/", truthing.rule, name="console-truthing-rule"),
    path(STUDY + "members/", truthing.member_add, name="console-truthing-member-add"),
    path(STUDY + "members/<int:member_id>/remove/", truthing.member_remove, name="console-truthing-member-remove"),
    path(STUDY + "finalize/", truthing.finalize, name="console-truthing-finalize"),
]
