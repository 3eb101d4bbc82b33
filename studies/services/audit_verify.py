"""Checking the audit trail: the hash chain, its anchors, and reads and truth against it.

The walk streams the events in ``seq`` order and reports, without stopping at the first:
an event whose content does not match its hash (edited, or forged with a wrong hash), an
event whose ``prev_hash`` is not its predecessor's hash (a link rewritten), missing
``seq`` numbers (deleted events), anchors whose event has another hash, and anchors beyond
the head (the newest events removed). Then every read and every case's truth is compared
with the values of its last audit event (:data:`ROW_HASHED_FIELDS`), so a direct
``UPDATE``, ``INSERT`` or ``DELETE`` that bypassed the application is named.
"""

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection, transaction

from studies.models import AuditEvent, Case, Read
from studies.services.audit import CHAIN_FIELDS, GENESIS_HASH, canonical_json, event_hash, json_safe, read_anchors

CHUNK = 5000
# The values of reads and truth the verifier holds against the trail: the scores and what
# they belong to, the reference standard and what it is about.
ROW_HASHED_FIELDS = {
    "studies.Read": (Read, ("assignment_id", "reader_id", "case_id", "arm_id", "rating", "decision", "marks",
                            "comment", "revision", "submitted_at")),
    "studies.Case": (Case, ("study_id", "label", "study_instance_uid", "truth", "truth_method",
                            "truth_established_by", "lesions", "metadata", "reading_group")),
}
DELETED = "deleted"
MAX_IDS_SHOWN = 5


@dataclass
class Verification:
    events: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    anchors: list[dict] = field(default_factory=list)
    rows_checked: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        last = max(self.anchors, key=lambda anchor: anchor["seq"], default=None)
        anchored = f"last anchor seq {last['seq']} at {last['anchored_at']}" if last else "no anchor yet"
        rows = " and ".join(f"{count} {entity.removeprefix('studies.').lower()}s" for entity, count
                         in self.rows_checked.items())
        return (f"audit trail intact: {self.events} events, head seq {self.head_seq} hash {self.head_hash}, "
                f"{anchored}; {rows} match the trail")


def row_hash(values: dict, fields: tuple[str, ...]) -> str:
    """The hash of a row's audited values, whether they come from the table or an event's snapshot."""
    return hashlib.sha256(canonical_json({name: values.get(name) for name in fields})).hexdigest()


def verify(*, anchor_file: Path) -> Verification:
    """Check the whole trail in one consistent snapshot of the database."""
    result = Verification(anchors=_anchors(anchor_file))
    with transaction.atomic():
        if connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1:
            with connection.cursor() as cursor:  # events and rows as of one instant
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        audited = _walk_chain(result)
        _check_anchors(result)
        for entity, (model, fields) in ROW_HASHED_FIELDS.items():
            _check_rows(result, entity, model, fields, audited[entity])
    return result


def _anchors(anchor_file: Path) -> list[dict]:
    try:
        with open(anchor_file, encoding="utf-8") as handle:
            return read_anchors(handle)
    except FileNotFoundError:
        return []


def _walk_chain(result: Verification) -> dict[str, dict[int, str]]:
    """Check every link; returns the last audited row hash (or DELETED) per read and case id."""
    audited = {entity: {} for entity in ROW_HASHED_FIELDS}
    anchored = {}
    for anchor in result.anchors:
        anchored.setdefault(anchor["seq"], []).append(anchor)
    expected_seq, prev_hash = 1, GENESIS_HASH
    for event in _events():
        seq = event["seq"]
        if seq != expected_seq:
            result.problems.append(f"missing events: seq {expected_seq}–{seq - 1} deleted (the chain jumps from "
                                   f"{expected_seq - 1} to {seq})")
        elif event["prev_hash"] != prev_hash:
            result.problems.append(f"broken link at seq {seq} (id {event['id']}): its previous hash is not the hash "
                                   f"of seq {seq - 1}")
        if event_hash(event) != event["hash"]:
            result.problems.append(f"event seq {seq} (id {event['id']}, {event['action']} {event['entity']} "
                                   f"{event['entity_id']}) does not match its hash: edited or forged")
        for anchor in anchored.get(seq, ()):
            if anchor["hash"] != event["hash"]:
                result.problems.append(f"event seq {seq} differs from its anchor of {anchor['anchored_at']}: "
                                       "the chain was rewritten")
        _remember_row(audited, event)
        expected_seq, prev_hash = seq + 1, event["hash"]
        result.events += 1
    result.head_seq, result.head_hash = expected_seq - 1, prev_hash
    return audited


def _events():
    """All events in ``seq`` order, fetched in chunks."""
    after = 0
    while True:
        chunk = list(AuditEvent.objects.filter(seq__gt=after).order_by("seq").values("id", "hash", *CHAIN_FIELDS)
                     [:CHUNK])
        yield from chunk
        if len(chunk) < CHUNK:
            return
        after = chunk[-1]["seq"]


def _remember_row(audited: dict, event: dict) -> None:
    spec = ROW_HASHED_FIELDS.get(event["entity"])
    if spec is None or not event["entity_id"].isdigit():
        return
    after = event["after"]
    rows = audited[event["entity"]]
    if event["action"] == "delete":
        rows[int(event["entity_id"])] = DELETED
    elif isinstance(after, dict):
        rows[int(event["entity_id"])] = row_hash(after, spec[1])


def _check_anchors(result: Verification) -> None:
    beyond = [anchor for anchor in result.anchors if anchor["seq"] > result.head_seq]
    if beyond:
        latest = max(beyond, key=lambda anchor: anchor["seq"])
        result.problems.append(f"truncated: the chain ends at seq {result.head_seq} but the anchor of "
                               f"{latest['anchored_at']} records seq {latest['seq']}: events "
                               f"{result.head_seq + 1}–{latest['seq']} (at least) were removed")


def _check_rows(result: Verification, entity: str, model, fields: tuple[str, ...], audited: dict[int, str]) -> None:
    name = entity.removeprefix("studies.").lower()
    unaudited, changed, present = [], [], set()
    after = 0
    while True:
        chunk = list(model.objects.filter(pk__gt=after).order_by("pk").values("pk", *fields)[:CHUNK])
        for row in chunk:
            pk = row["pk"]
            present.add(pk)
            expected = audited.get(pk)
            if expected is None or expected == DELETED:
                unaudited.append(pk)
            elif row_hash(json_safe(row), fields) != expected:
                changed.append(pk)
        if len(chunk) < CHUNK:
            break
        after = chunk[-1]["pk"]
    vanished = sorted(pk for pk, state in audited.items() if state != DELETED and pk not in present)
    for ids, what in ((changed, "differ from the values of their last audit event (changed without one)"),
                      (unaudited, "have no audit event (inserted without one)"),
                      (vanished, "are gone without an audit event of their deletion")):
        if ids:
            result.problems.append(f"{len(ids)} {name}(s) {what}: {name} {_ids(ids)}")
    result.rows_checked[entity] = len(present)


def _ids(ids: list[int]) -> str:
    shown = ", ".join(str(pk) for pk in ids[:MAX_IDS_SHOWN])
    return shown + (f" and {len(ids) - MAX_IDS_SHOWN} more" if len(ids) > MAX_IDS_SHOWN else "")
