"""Study protocol files (YAML): a whole study definition in one reviewable document.

See ``docs/protocol.example.yaml`` for the documented format. Errors name the line and
the field; an invalid file creates nothing.
"""

import contextlib
import re
from dataclasses import dataclass

import yaml
from django.db import transaction

from studies.errors import InvalidInput
from studies.models import Role, Study, User
from studies.models.study import FROC_ACCEPTANCE_RADIUS_DEFAULT
from studies.services import case_mix, deviations, qualification, subgroups, truthing
from studies.services import studies as study_services

SCALE_TYPES = {"continuous", "ordinal"}
TOP_LEVEL_KEYS = {
    "title",
    "protocol_version",
    "protocol_text",
    "design",
    "washout_days",
    "block_size",
    "rating_scale",
    "binary_decision",
    "decision_threshold",
    "marks",
    "revision_policy",
    "allow_identified_data",
    "pixel_cleaning",
    "endpoints",
    "subgroups",
    "qualification",
    "population",
    "truthing",
    "deviation_rules",
    "arms",
    "readers",
    "members",
}

# study field -> where it is written in a protocol file
PROTOCOL_KEYS = {
    "ordinal_labels": "rating_scale.labels",
    "scale_min": "rating_scale.min",
    "scale_max": "rating_scale.max",
    "marks_enabled": "marks.enabled",
    "max_marks": "marks.max",
    "froc_acceptance_radius": "marks.acceptance_radius",
}


@dataclass(frozen=True)
class _Node:
    value: object
    line: int


def _to_python(node: yaml.Node):
    """YAML node → plain values, with every mapping value wrapped with its line number."""
    line = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        return _Node({key.value: _to_python(value) for key, value in node.value}, line)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_to_python(item) for item in node.value], line)
    return _Node(yaml.SafeLoader(" ").construct_object(node) if node.tag else node.value, line)


def _plain(node: _Node):
    """The plain value of a node, line numbers dropped."""
    if isinstance(node.value, dict):
        return {key: _plain(item) for key, item in node.value.items()}
    if isinstance(node.value, list):
        return [_plain(item) for item in node.value]
    return node.value


class _NoAliasLoader(yaml.SafeLoader):
    """Refuses YAML aliases (``*name``, merge keys ``<<: *name`` included) as it meets them: a protocol has no
    use for them, and a few nested ones in a small file expand into billions of values once the document is
    turned into Python values. Refused here, every path that reads a protocol (command, API, console) refuses."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            alias = self.peek_event()
            raise InvalidInput("YAML aliases (*name) are not allowed in a protocol", line=alias.start_mark.line + 1)
        return super().compose_node(parent, index)


def parse_protocol(text: str) -> _Node:
    try:
        root = yaml.compose(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InvalidInput(f"not valid YAML: {getattr(exc, 'problem', exc)}", line=mark and mark.line + 1) from None
    if root is None or not isinstance(root, yaml.MappingNode):
        raise InvalidInput("a protocol file must be a mapping of fields", line=1)
    return _to_python(root)


class _Fields:
    """Typed access to a mapping node, raising errors that name line and field."""

    def __init__(self, node: _Node, path: str = ""):
        self.node, self.path = node, path

    def _name(self, key):
        return f"{self.path}.{key}" if self.path else key

    def get(self, key, kind, default=None, *, required=False):
        item = self.node.value.get(key)
        if item is None or item.value is None:
            if required:
                raise InvalidInput("is required", line=self.node.line, field=self._name(key))
            return default
        if kind is float and isinstance(item.value, int) and not isinstance(item.value, bool):
            return float(item.value)
        if not isinstance(item.value, kind) or (kind is int and isinstance(item.value, bool)):
            expected = getattr(kind, "__name__", "text or a number")
            raise InvalidInput(f"must be {expected}, not {item.value!r}", line=item.line, field=self._name(key))
        return item.value

    def line(self, key):
        item = self.node.value.get(key)
        return item.line if item else self.node.line

    def mapping(self, key) -> "_Fields | None":
        item = self.node.value.get(key)
        if item is None:
            return None
        if not isinstance(item.value, dict):
            raise InvalidInput("must be a mapping", line=item.line, field=self._name(key))
        return _Fields(item, self._name(key))

    def items(self, key) -> list["_Fields"]:
        item = self.node.value.get(key)
        if item is None:
            return []
        if not isinstance(item.value, list) or not all(isinstance(x.value, dict) for x in item.value):
            raise InvalidInput("must be a list of mappings", line=item.line, field=self._name(key))
        return [_Fields(x, f"{self._name(key)}[{i}]") for i, x in enumerate(item.value)]

    def check_keys(self, allowed: set[str]) -> None:
        for key, item in self.node.value.items():
            if key not in allowed:
                raise InvalidInput(f"unknown field (allowed: {', '.join(sorted(allowed))})", line=item.line,
                                   field=self._name(key))


def _choice(fields: _Fields, key: str, choices, default):
    value = fields.get(key, str, default)
    if value not in choices:
        raise InvalidInput(f"'{value}' is not one of {', '.join(choices)}", line=fields.line(key), field=key)
    return value


def _study_fields(top: _Fields) -> dict:
    values = {
        "protocol_version": str(top.get("protocol_version", (str, int, float), "")),
        "protocol_text": top.get("protocol_text", str, ""),
        "design": _choice(top, "design", Study.Design.values, Study.Design.FULLY_CROSSED),
        "washout_days": top.get("washout_days", int, 28),
        "block_size": top.get("block_size", int, 0),
        "binary_decision": top.get("binary_decision", bool, False),
        "decision_threshold": top.get("decision_threshold", float),
        "revision_policy": _choice(top, "revision_policy", Study.RevisionPolicy.values, "forbidden"),
        "allow_identified_data": top.get("allow_identified_data", bool, False),
        "pixel_cleaning": [_plain(rule) for rule in top.get("pixel_cleaning", list, [])],
    }
    endpoints = top.node.value.get("endpoints")
    if endpoints is not None:
        values["endpoints"] = _plain(endpoints)  # checked by the study service, errors located below
    for key in ("washout_days", "block_size"):
        if values[key] < 0:
            raise InvalidInput("must not be negative", line=top.line(key), field=key)
    scale = top.mapping("rating_scale")
    if scale is not None:
        scale.check_keys({"type", "min", "max", "labels"})
        values["rating_scale"] = _choice(scale, "type", sorted(SCALE_TYPES), "continuous")
        values["scale_min"] = scale.get("min", float, 0.0)
        values["scale_max"] = scale.get("max", float, 100.0)
        labels = scale.get("labels", list, [])
        values["ordinal_labels"] = [str(label.value) for label in labels]
    marks = top.mapping("marks")
    if marks is not None:
        marks.check_keys({"enabled", "max", "acceptance_radius"})
        values["marks_enabled"] = marks.get("enabled", bool, False)
        values["max_marks"] = marks.get("max", int, 5)
        values["froc_acceptance_radius"] = marks.get("acceptance_radius", float, FROC_ACCEPTANCE_RADIUS_DEFAULT)
    return values


@transaction.atomic
def create_study_from_protocol(*, actor: User, text: str) -> Study:
    """Create the study, its arms, members and enrolled readers from a protocol document."""
    top = _Fields(parse_protocol(text))
    top.check_keys(TOP_LEVEL_KEYS)
    title = top.get("title", str, required=True)
    arms = top.items("arms")
    if not arms:
        raise InvalidInput("at least one arm is required", line=top.line("arms"), field="arms")
    try:
        study = study_services.create_study(actor=actor, title=title, **_study_fields(top))
    except InvalidInput as exc:
        key = PROTOCOL_KEYS.get(exc.field, exc.field or "title")
        raise InvalidInput(exc.message, field=key, line=_line_of(top.node, key)) from None
    for arm in arms:
        arm.check_keys({"name", "label", "shows_ai"})
        with _located(arm, "name"):
            study_services.add_arm(
                actor=actor, study=study, name=arm.get("name", str, required=True),
                label=arm.get("label", str, ""), shows_ai=arm.get("shows_ai", bool, False),
            )
    study = _declare_subgroups(actor, study, top)
    for section, set_section in RULE_SECTIONS.items():
        study = _set_rule_section(actor, study, top, section, set_section)
    for member in top.items("members"):
        member.check_keys({"username"})
        with _located(member, "username"):
            study_services.add_member(actor=actor, study=study, user=_existing_user(member))
    for reader in top.items("readers"):
        reader.check_keys({"username", "code", "group", "specialty", "years_experience", "email"})
        with _located(reader, "username"):
            study_services.enroll_reader(
                actor=actor, study=study, user=_reader_user(reader), code=reader.get("code", str, ""),
                group=reader.get("group", int, 0),
            )
    return study


def _declare_subgroups(actor: User, study: Study, top: _Fields) -> Study:
    """The case metadata variables declared as subgroups (:mod:`studies.services.subgroups`), errors at their line."""
    items = top.get("subgroups", list, [])
    if not items:
        return study
    with _at_line_of(top, "subgroups"):
        return subgroups.set_subgroups(actor=actor, study=study, names=[item.value for item in items])


# Protocol sections each handed whole to the service that keeps them: (actor, study, the section as plain data).
RULE_SECTIONS = {
    "qualification": lambda actor, study, value: qualification.set_rule(actor=actor, study=study, rule=value),
    "population": lambda actor, study, value: case_mix.set_population(actor=actor, study=study, population=value),
    "truthing": lambda actor, study, value: truthing.set_up_from_protocol(actor=actor, study=study, block=value),
    "deviation_rules": lambda actor, study, value: deviations.set_rules(actor=actor, study=study, rules=value),
}


def _set_rule_section(actor: User, study: Study, top: _Fields, section: str, set_section) -> Study:
    """A section given to its service (RULE_SECTIONS), the service's errors at their line; absent, nothing."""
    value = top.node.value.get(section)
    if value is None:
        return study
    with _at_line_of(top, section):
        return set_section(actor, study, _plain(value))


@contextlib.contextmanager
def _at_line_of(top: _Fields, section: str):
    """Re-raise a service's error at the line of the field it names within ``section`` (the section's own line
    where it names none)."""
    try:
        yield
    except InvalidInput as exc:
        field = exc.field or section
        raise InvalidInput(exc.message, field=field, line=_line_of(top.node, field)) from None


def _line_of(node: _Node, path: str) -> int:
    """The line of the deepest node on ``path`` (``endpoints.co_primary[1].margin``) that exists."""
    for step in re.findall(r"[^.\[\]]+", path):
        children = node.value
        if isinstance(children, dict) and step in children:
            node = children[step]
        elif isinstance(children, list) and step.isdigit() and int(step) < len(children):
            node = children[int(step)]
        else:
            break
    return node.line


@contextlib.contextmanager
def _located(fields: _Fields, key: str):
    """Re-raise a service's error at the protocol line it came from."""
    try:
        yield
    except InvalidInput as exc:
        if exc.line is not None:
            raise
        raise InvalidInput(exc.message, line=fields.line(key), field=fields._name(key)) from None


def _existing_user(fields: _Fields) -> User:
    username = fields.get("username", str, required=True)
    user = User.objects.filter(username=username).first()
    if user is None:
        raise InvalidInput(f"no user '{username}'", line=fields.line("username"), field=fields._name("username"))
    return user


def _reader_user(fields: _Fields) -> User:
    """Readers named in a protocol are created if new (without a usable password yet)."""
    username = fields.get("username", str, required=True)
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username, role=Role.READER, email=fields.get("email", str, ""))
        user.set_unusable_password()
    user.specialty = fields.get("specialty", str, user.specialty)
    user.years_experience = fields.get("years_experience", int, user.years_experience)
    user.save()
    return user
