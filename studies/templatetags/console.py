"""Template filters of the coordinator console: what the page may offer, asked of studies.permissions."""

from django import template

from studies.permissions import Action, has_action

register = template.Library()


@register.filter
def may_set_up_studies(user) -> bool:
    """Coordinators and admins: the console link in the header and on the home page."""
    return has_action(user, Action.CHANGE_STUDY)


@register.filter
def may_see_field_monitoring(user) -> bool:
    """Monitors, admins, and the staff who may be members of a monitored deployment: the header's link."""
    return has_action(user, Action.VIEW_MONITORING)
