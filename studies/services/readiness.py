"""Whether a study may start enrolling, and start reading: one list of items, each ok or failing with
what was found and how to fix it. :func:`studies.services.studies.transition_study` refuses either
step while an item of its gate fails; the console's readiness page shows both gates.

The enrolling gate asks for what readers are recruited for: the case set (images, truth, the declared
subgroups' metadata) and the AI outputs, which are fixed once the study leaves draft. The reading gate
asks for all of that again (cases and images may still be added while enrolling) and for what only
exists by then: readers with accounts, qualified where the study requires it, and a complete,
counterbalanced schedule.

Training cases (``Case.is_training``) are the qualification's, not the study's: no item counts them,
and a schedule that includes one is incomplete.
"""

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from statistics import mean

from django.conf import settings

from studies.errors import RuleViolation
from studies.models import Assignment, Case, DicomInstance, Role, Study
from studies.services import qualification
from studies.services.schedule import williams_square
from studies.services.tables import Table

S = Study.Status
EXAMPLES = 10  # labels named in an item's text; the rest are counted


@dataclass(frozen=True)
class Item:
    """One condition of a gate: ``found`` says what was checked and seen, ``fix`` what to do if it fails."""

    key: str
    title: str
    ok: bool
    found: str
    fix: str = ""

    def as_line(self) -> str:
        return f"{self.title}: {self.found}" + (f" ({self.fix})" if self.fix else "")


@dataclass(frozen=True)
class Gate:
    """The items that must all hold before the study goes to ``to``."""

    to: str
    items: list[Item]

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)

    @property
    def failing(self) -> list[Item]:
        return [item for item in self.items if not item.ok]


@dataclass(frozen=True)
class ReaderOrder:
    code: str
    group: int
    arms: tuple[str, ...]  # the arms in the order the reader first meets them
    sessions: list[tuple[int, str]]  # (number, what it reads: e.g. "unaided, 8 reads" or "unaided 4 + aided 4")


@dataclass(frozen=True)
class CasePositions:
    label: str
    by_arm: dict[str, tuple[int, int, float, int]]  # arm -> (reads, first position, mean position, last position)


@dataclass(frozen=True)
class Balance:
    """The schedule as the counterbalancing tables show it."""

    readers: list[ReaderOrder]
    # readers per arm order: the orders of the design's square first (``square_size`` of them), then any other
    orders: list[tuple[tuple[str, ...], int]]
    square_size: int
    cases: list[CasePositions]
    arms: list[str]
    sequential: bool


@dataclass(frozen=True)
class Readiness:
    status: str  # the study's
    enrolling: Gate
    reading: Gate
    balance: Balance | None  # None until a schedule exists

    @property
    def gates(self) -> list[Gate]:
        return [self.enrolling, self.reading]

    @property
    def tables(self) -> list[Table]:
        return balance_tables(self.balance)


# ------------------------------------------------------------------------------------------ facts


class _Facts:
    """What the items look at, each read from the database once per check and only when an item asks."""

    def __init__(self, study: Study):
        self.study = study

    @cached_property
    def cases(self) -> list[dict]:
        return list(self.study.cases.filter(is_training=False).order_by("label")
                    .values("id", "label", "truth", "metadata", "study_instance_uid", "reading_group"))

    @cached_property
    def arms(self) -> list:
        return list(self.study.arms.order_by("order"))

    @cached_property
    def shown_set(self):
        """The AI output set readers are shown, or None."""
        return self.study.ai_output_sets.filter(shown=True).first()

    @cached_property
    def readers(self) -> list:
        return list(self.study.readers.select_related("user").order_by("code"))

    @cached_property
    def assignments(self) -> list[tuple]:
        """(reader id, case id, arm id, session number, session arm id, order) of every scheduled read."""
        return list(Assignment.objects.filter(session__study=self.study)
                    .order_by("reader_id", "session__number", "order")
                    .values_list("reader_id", "case_id", "arm_id", "session__number", "session__arm_id", "order"))

    @cached_property
    def balance(self) -> "Balance":
        return schedule_balance(self)


def cases_with_images(case_ids: list[int]) -> set[int]:
    """Ids of the cases among ``case_ids`` whose DICOM study holds at least one image that ingest stored.

    Ingest stores an image only after :func:`mrmc.dicom.parse.check_pixel_data` passed: uncompressed
    pixel data exactly as long as its frames, every compressed frame present with a codestream header
    that matches the image's size, and the first compressed frame decoded where the server has the
    codec. Those records are what this reads: no file is opened or decoded again here.
    """
    return set(DicomInstance.objects.filter(series__dicom_study__case_id__in=case_ids, number_of_frames__gte=1)
               .values_list("series__dicom_study__case_id", flat=True).distinct())


def _named(labels: list[str]) -> str:
    shown = ", ".join(labels[:EXAMPLES])
    return shown + (f" and {len(labels) - EXAMPLES} more" if len(labels) > EXAMPLES else "")


def _of_cases(facts: _Facts, failing: list[str], what: str) -> str:
    return f"{len(failing)} of {len(facts.cases)} cases {what}: {_named(failing)}"


# ------------------------------------------------------------------------------------------ items


def arms_item(facts: _Facts) -> Item:
    names = [arm.name for arm in facts.arms]
    return Item("arms", "The study has arms", bool(names),
                f"{len(names)} arm(s): {', '.join(names)}" if names else "no arm",
                "" if names else "add the reading conditions (e.g. unaided, AI-aided) in the set-up")


def cases_item(facts: _Facts) -> Item:
    n = len(facts.cases)
    return Item("cases", "The study has cases", n > 0, f"{n} case(s), training cases not counted",
                "" if n else "import the cases with their truth (a CSV with a 'case' column)")


def images_item(facts: _Facts) -> Item:
    title = "Every case has images that decode"
    if settings.IMAGE_MODE == "upstream":
        missing = [case["label"] for case in facts.cases if not case["study_instance_uid"]]
        found = ("the images stay in the external archive (IMAGE_MODE=upstream), which decodes them; "
                 + (_of_cases(facts, missing, "name no StudyInstanceUID") if missing
                    else "every case names its StudyInstanceUID"))
        return Item("images", title, not missing, found,
                    "give each case its study_instance_uid in the truth CSV" if missing else "")
    with_images = cases_with_images([case["id"] for case in facts.cases])
    missing = [case["label"] for case in facts.cases if case["id"] not in with_images]
    checked = ("checked as ingest stored them: every frame's length (uncompressed) or codestream header "
               "(compressed) against the image size, the first compressed frame decoded where the server has its codec")
    if missing:
        return Item("images", title, False, f"{_of_cases(facts, missing, 'have no stored image')}; {checked}",
                    "upload their DICOM files (images whose pixel data does not decode are refused at upload, "
                    "with the reason) or link them by StudyInstanceUID or accession number")
    return Item("images", title, True, f"{len(facts.cases)} case(s) with stored images, {checked}")


def truth_item(facts: _Facts) -> Item:
    missing = [case["label"] for case in facts.cases if case["truth"] is None]
    if missing:
        return Item("truth", "Every case has truth", False, _of_cases(facts, missing, "have no truth"),
                    "import a truth CSV giving 0 or 1 for them")
    diseased = sum(case["truth"] == 1 for case in facts.cases)
    return Item("truth", "Every case has truth", True,
                f"{diseased} diseased, {len(facts.cases) - diseased} not diseased")


def subgroups_item(facts: _Facts) -> Item:
    declared = [str(name) for name in facts.study.subgroups or []]
    title = "Every case has the declared subgroups' metadata"
    if not declared:
        return Item("subgroups", title, True, "no subgroups are declared")
    missing = {name: [case["label"] for case in facts.cases if (case["metadata"] or {}).get(name) in (None, "")]
               for name in declared}
    missing = {name: labels for name, labels in missing.items() if labels}
    if missing:
        found = "; ".join(f"{name}: {_of_cases(facts, labels, 'lack it')}" for name, labels in missing.items())
        return Item("subgroups", title, False, found,
                    f"import a truth CSV with a column for each of {', '.join(declared)}")
    return Item("subgroups", title, True, f"every case has {', '.join(declared)}")


def ai_outputs_item(facts: _Facts) -> Item:
    title = "AI-aided arms have an AI output for every case"
    if not any(arm.shows_ai for arm in facts.arms):
        return Item("ai_outputs", title, True, "no arm shows the AI")
    return _shown_set_covers("ai_outputs", title, facts, facts.cases, "cases")


def training_ai_outputs_item(facts: _Facts) -> Item:
    """Training cases are read in the training arms (the rule's, else every arm) with the AI's output shown in
    those that show it, as feedback too; outputs are fixed once the study leaves draft, when training opens."""
    title = "Training arms that show the AI have an output for every training case"
    arms = [arm.name for arm in qualification.training_arms(facts.study) if arm.shows_ai]
    if not arms:
        return Item("training_ai_outputs", title, True, "no training arm shows the AI")
    cases = list(qualification.training_cases(facts.study).order_by("label").values("id", "label"))
    noun = f"training cases (read with the AI in {', '.join(arms)})"
    if not cases:
        return Item("training_ai_outputs", title, True, f"no {noun}")
    return _shown_set_covers("training_ai_outputs", title, facts, cases, noun)


def _shown_set_covers(key: str, title: str, facts: _Facts, cases: list[dict], noun: str) -> Item:
    """Whether the set shown to readers has an output for each of ``cases`` (``noun`` names them)."""
    shown = facts.shown_set
    back_to_draft = "" if facts.study.status == S.DRAFT else " (outputs change only in draft)"
    if shown is None:
        return Item(key, title, False, "no AI output set is chosen to be shown",
                    "import or compute the AI outputs and choose the set readers see" + back_to_draft)
    covered = set(shown.outputs.values_list("case_id", flat=True))
    missing = [case["label"] for case in cases if case["id"] not in covered]
    if missing:
        return Item(key, title, False,
                    f"{noun} without an output of {shown} (the set shown to readers): {_named(missing)}",
                    f"import or compute outputs of {shown} for them" + back_to_draft)
    return Item(key, title, True, f"{shown} (the set shown) covers all {len(cases)} {noun}")


def reader_accounts_item(facts: _Facts) -> Item:
    title = "Readers have accounts they can log in with"
    if not facts.readers:
        return Item("reader_accounts", title, False, "no reader is enrolled", "enroll the readers")
    inactive = [r.code for r in facts.readers if not r.user.is_active]
    no_password = [r.code for r in facts.readers if r.user.is_active and not r.user.has_usable_password()]
    problems = ([f"inactive: {_named(inactive)}"] if inactive else []) + (
        [f"no password set yet: {_named(no_password)}"] if no_password else [])
    if problems:
        return Item("reader_accounts", title, False, "; ".join(problems),
                    "activate the accounts; a reader without a password sets one from the invitation "
                    "(or an admin sets one)")
    return Item("reader_accounts", title, True, f"{len(facts.readers)} reader(s), all active with a password")


def reader_roles_item(facts: _Facts) -> Item:
    title = "Readers have no conflicting role"
    members = set(facts.study.memberships.values_list("user_id", flat=True))
    conflicts = []
    for reader in facts.readers:
        user = reader.user
        if user.pk in members:
            conflicts.append(f"{reader.code} is also a member of the study (sees truth and every read)")
        elif user.is_superuser or user.role != Role.READER:
            role = "administrator" if user.is_superuser else user.get_role_display().lower()
            conflicts.append(f"{reader.code} has the {role} role")
    if conflicts:
        return Item("reader_roles", title, False, "; ".join(conflicts[:EXAMPLES]),
                    "a reader must be a reader only: enroll another account, or remove the membership or role")
    return Item("reader_roles", title, True, "every reader is a reader only and no member of the study")


def qualification_item(facts: _Facts) -> Item:
    title = "Readers passed the qualification"
    if not facts.study.qualification:
        return Item("qualification", title, True, "the study requires no qualification")
    pending = [r.code for r in facts.readers if r.qualified_at is None]
    if pending:
        return Item("qualification", title, False, f"{len(pending)} of {len(facts.readers)} not yet passed: "
                    f"{_named(pending)}", "they read the training cases in their worklist until they pass")
    return Item("qualification", title, True, f"all {len(facts.readers)} reader(s) passed")


def schedule_item(facts: _Facts) -> Item:
    title = "Every reader reads every case once per arm"
    regenerate = "generate the schedule again (it was made before these readers, cases or arms changed)"
    if not facts.assignments:
        return Item("schedule", title, False, "no schedule", "generate the schedule")
    expected = _expected_reads(facts)
    found = {(reader, case, arm) for reader, case, arm, *_ in facts.assignments}  # unique in the database
    codes = {r.pk: r.code for r in facts.readers}
    missing = sorted({codes[reader] for reader, _, _ in expected - found})
    extra = found - expected
    problems = []
    if missing:
        problems.append(f"reads missing for {_named(missing)}")
    if extra:
        problems.append(f"{len(extra)} scheduled read(s) outside the design, of {_named(_case_names(extra))}")
    if problems:
        return Item("schedule", title, False, "; ".join(problems), regenerate)
    return Item("schedule", title, True, f"{len(found)} reads: {len(facts.readers)} reader(s) × their cases × "
                f"{len(facts.arms)} arm(s), each once")


def balance_item(facts: _Facts) -> Item:
    title = "The arm order is counterbalanced across readers"
    if not facts.assignments:
        return Item("balance", title, False, "no schedule", "generate the schedule")
    if facts.study.design == Study.Design.SEQUENTIAL:
        return Item("balance", title, True, "sequential reading: every reader reads unaided, then with AI")
    balance = facts.balance
    counts = [n for _, n in balance.orders[:balance.square_size]]
    square = {order for order, _ in balance.orders[:balance.square_size]}
    outside = [r.code for r in balance.readers if r.arms and r.arms not in square]
    spread = max(counts) - min(counts)
    if outside or spread > 1:
        found = (f"{_named(outside)} read in an order outside the design's balanced Latin square; " if outside
                 else "") + f"readers per order: {', '.join(str(n) for n in counts)} (differ by {spread})"
        return Item("balance", title, False, found, "generate the schedule again")
    return Item("balance", title, True, f"readers per arm order: {', '.join(str(n) for n in counts)} "
                "(equal within one, balanced Latin square, Williams 1949)")


def _case_names(reads: set[tuple[int, int, int]]) -> list[str]:
    cases = Case.objects.filter(pk__in={case for _, case, _ in reads}).order_by("label")
    return [f"{case.label} (training)" if case.is_training else case.label for case in cases]


def _expected_reads(facts: _Facts) -> set[tuple[int, int, int]]:
    split = facts.study.design == Study.Design.SPLIT_PLOT
    return {(reader.pk, case["id"], arm.pk) for reader in facts.readers for case in facts.cases
            if not split or case["reading_group"] == reader.group for arm in facts.arms}


ENROLLING_ITEMS: tuple[Callable[[_Facts], Item], ...] = (
    arms_item, cases_item, images_item, truth_item, subgroups_item, ai_outputs_item, training_ai_outputs_item)
READING_ITEMS = ENROLLING_ITEMS + (
    reader_accounts_item, reader_roles_item, qualification_item, schedule_item, balance_item)
GATE_ITEMS = {S.ENROLLING: ENROLLING_ITEMS, S.READING: READING_ITEMS}


# ------------------------------------------------------------------------------------------ schedule tables


def schedule_balance(facts: _Facts) -> Balance:
    """Each reader's arm order and sessions, readers per order of the design's square, each case's positions."""
    arm_names = {arm.pk: arm.name for arm in facts.arms}
    by_reader = defaultdict(list)
    for row in facts.assignments:
        by_reader[row[0]].append(row)
    readers = [_reader_order(reader, by_reader.get(reader.pk, []), arm_names) for reader in facts.readers]
    square = [tuple(facts.arms[i].name for i in row) for row in williams_square(len(facts.arms))] if facts.arms else []
    counts = Counter(r.arms for r in readers)
    orders = [(order, counts[order]) for order in dict.fromkeys(square)]
    size = len(orders)
    orders += [(order, n) for order, n in counts.items() if order and order not in square]
    return Balance(readers=readers, orders=orders, square_size=size, cases=_case_positions(facts, arm_names),
                   arms=[arm.name for arm in facts.arms], sequential=facts.study.design == Study.Design.SEQUENTIAL)


def _reader_order(reader, rows: list[tuple], arm_names: dict[int, str]) -> ReaderOrder:
    first_met = dict.fromkeys(arm_names[arm] for _, _, arm, *_ in rows)
    per_session = defaultdict(Counter)
    for _, _, arm, number, _, _ in rows:
        per_session[number][arm_names[arm]] += 1
    return ReaderOrder(reader.code, reader.group, tuple(first_met),
                       [(number, _session_reads(per_session[number])) for number in sorted(per_session)])


def _session_reads(arms: Counter) -> str:
    if len(arms) == 1:
        (arm, n), = arms.items()
        return f"{arm}, {n} reads"
    return " + ".join(f"{arm} {n}" for arm, n in arms.items())  # arms interleaved in blocks, or sequential


def _case_positions(facts: _Facts, arm_names: dict[int, str]) -> list[CasePositions]:
    positions = defaultdict(list)
    for _, case, arm, _, _, order in facts.assignments:
        positions[(case, arm_names[arm])].append(order)
    return [
        CasePositions(case["label"], {
            name: (len(found), min(found), round(mean(found), 1), max(found))
            for name in arm_names.values() if (found := positions.get((case["id"], name)))
        })
        for case in facts.cases
    ]


BALANCE_TABLES = ("reader_orders", "arm_orders", "case_positions")


def balance_tables(balance: Balance | None) -> list[Table]:
    """The counterbalancing tables (named as :data:`BALANCE_TABLES`); none before a schedule exists."""
    if balance is None:
        return []
    n_sessions = max((len(r.sessions) for r in balance.readers), default=0)
    readers = [(r.code, r.group, " → ".join(r.arms),
                *(reads for _, reads in r.sessions), *[""] * (n_sessions - len(r.sessions)))
               for r in balance.readers]
    orders = [(" → ".join(order), n, "yes" if i < balance.square_size else "no")
              for i, (order, n) in enumerate(balance.orders)]
    positions = [(case.label, *(value for arm in balance.arms for value in case.by_arm.get(arm, (0, None, None, None))))
                 for case in balance.cases]
    square_note = ("sequential reading: one session, unaided then aided for each case" if balance.sequential else
                   "an order is the arms in the order a reader first reads them; counterbalanced when the orders of "
                   "the design's balanced Latin square (Williams 1949) have equal numbers of readers, within one")
    return [
        Table("reader_orders", "Arm order per reader", ("reader", "group", "arm_order",
              *(f"session_{i}" for i in range(1, n_sessions + 1))), readers),
        Table("arm_orders", "Readers per arm order", ("arm_order", "readers", "in_design_square"), orders, square_note),
        Table("case_positions", "Positions of each case in its sessions",
              ("case", *(f"{arm}_{what}" for arm in balance.arms for what in ("reads", "first", "mean", "last"))),
              positions, "position: the case's place in the reader's session (1 = first); each case should be read "
                         "once per reader and arm, at positions spread through the sessions"),
    ]


def schedule_tables(study: Study) -> list[Table]:
    facts = _Facts(study)
    return balance_tables(facts.balance if facts.assignments else None)


# ------------------------------------------------------------------------------------------ entry points


def gate(study: Study, to: str) -> Gate:
    facts = _Facts(study)
    return Gate(to, [item(facts) for item in GATE_ITEMS[to]])


def readiness(study: Study) -> Readiness:
    """Both gates and, once a schedule exists, its counterbalancing tables; the items both gates share are
    checked once."""
    facts = _Facts(study)
    shared = [item(facts) for item in ENROLLING_ITEMS]
    return Readiness(
        status=study.status,
        enrolling=Gate(S.ENROLLING, shared),
        reading=Gate(S.READING, shared + [item(facts) for item in READING_ITEMS[len(ENROLLING_ITEMS):]]),
        balance=facts.balance if facts.assignments else None,
    )


def require_ready(study: Study, to: str) -> None:
    """Refuse the step to ``to`` (enrolling or reading) while an item of its gate fails, naming every one."""
    if to not in GATE_ITEMS:
        return
    failing = gate(study, to).failing
    if failing:
        raise RuleViolation(f"the study cannot start {to}: " + "; ".join(item.as_line() for item in failing),
                            errors=[item.as_line() for item in failing])
