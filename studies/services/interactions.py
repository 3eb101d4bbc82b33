"""The interaction record of a read: what the reader did while reading the case.

The reading workstation (``viewer_static/src/interactions.js``) sends it with a first read as
``interactions``, version 1::

    {"v": 1,
     "images": [[set, index, ms], ...],  # time each image was on screen where the reader was
                                         # (set: viewport / display set, index: image in its stack)
     "wl": n, "zoom": n, "pan": n, "invert": n,  # view changes the reader made
     "ai_toggles": n,                    # AI findings shown or hidden
     "events": [[ds, kind], ...],        # those changes in order; ds: tenths of a second since the
                                         # first image; kind: wl, zoom, pan, invert, ai_on, ai_off
     "truncated": bool}                  # images or events left out at their limits

:func:`checked_interactions` holds a record to exactly that before the read is stored: every key,
type and bound, at most 64 KiB as compact JSON, nothing else (no coordinates, values or text). A
read without one (a viewer from before the record) stores ``{}``. Changes to a read keep the
record of its first reading.

:func:`summary_by_arm` summarises the records as the reads export (``selectors.reads_csv``) carries
them, one row per read: ``image_dwell_ms`` (the images' times added up), ``images_viewed`` (images
with any time), ``wl_changes``, ``zoom_changes``, ``pan_changes`` and ``ai_toggles``, all empty where
a read has no record; for the reading-time section of a run's results.
"""

import json
import statistics
from collections.abc import Iterable, Mapping

from studies.errors import InvalidInput
from studies.models.bounds import INTEGER_MAX

VERSION = 1
MAX_BYTES = 64 * 1024
MAX_IMAGES = 4000
MAX_EVENTS = 200
MAX_SETS = 100  # viewports: the viewer hangs at most 9
MAX_STACK = 1_000_000  # images in one stack
MAX_COUNT = 1_000_000  # changes of one kind on one case
COUNTS = ("wl", "zoom", "pan", "invert", "ai_toggles")
EVENT_KINDS = frozenset({"wl", "zoom", "pan", "invert", "ai_on", "ai_off"})
KEYS = frozenset({"v", "images", "events", "truncated", *COUNTS})
FIELD = "interactions"

# The reads export's columns (studies.selectors.reads_csv) that count a read's view changes and AI toggles.
COUNT_COLUMNS = ("wl_changes", "zoom_changes", "pan_changes", "ai_toggles")


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, field=FIELD)


def _whole(value, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def checked_interactions(record) -> dict:
    """The record as it is stored (``{}`` for none); InvalidInput naming the first problem otherwise."""
    if record is None:
        return {}
    if not isinstance(record, dict):
        raise _invalid("must be an object")
    size = len(json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_BYTES:
        raise _invalid(f"is {size} bytes of JSON; at most {MAX_BYTES}")
    if record.get("v") != VERSION or type(record.get("v")) is not int:
        raise _invalid(f"version {record.get('v')!r} is not one this server reads (only {VERSION})")
    if missing := sorted(KEYS - record.keys()):
        raise _invalid(f"missing {', '.join(missing)}")
    if unknown := sorted(record.keys() - KEYS):
        raise _invalid(f"unknown key {', '.join(map(repr, unknown))}")
    for key in COUNTS:
        if not _whole(record[key], 0, MAX_COUNT):
            raise _invalid(f"{key} must be a whole number from 0 to {MAX_COUNT}")
    if type(record["truncated"]) is not bool:
        raise _invalid("truncated must be true or false")
    _check_images(record["images"])
    _check_events(record["events"])
    return record


def _check_images(images) -> None:
    if not isinstance(images, list) or len(images) > MAX_IMAGES:
        raise _invalid(f"images must be a list of at most {MAX_IMAGES} entries")
    seen = set()
    for i, entry in enumerate(images):
        if not (isinstance(entry, list) and len(entry) == 3 and _whole(entry[0], 0, MAX_SETS - 1)
                and _whole(entry[1], 0, MAX_STACK - 1) and _whole(entry[2], 0, INTEGER_MAX)):
            raise _invalid(f"images[{i}] must be [set 0-{MAX_SETS - 1}, index 0-{MAX_STACK - 1}, milliseconds]")
        if (entry[0], entry[1]) in seen:
            raise _invalid(f"images[{i}] repeats image {entry[1]} of set {entry[0]}")
        seen.add((entry[0], entry[1]))


def _check_events(events) -> None:
    if not isinstance(events, list) or len(events) > MAX_EVENTS:
        raise _invalid(f"events must be a list of at most {MAX_EVENTS} entries")
    previous = 0
    for i, entry in enumerate(events):
        if not (isinstance(entry, list) and len(entry) == 2 and _whole(entry[0], 0, INTEGER_MAX)
                and entry[1] in EVENT_KINDS):
            raise _invalid(f"events[{i}] must be [tenths of a second, one of {', '.join(sorted(EVENT_KINDS))}]")
        if entry[0] < previous:
            raise _invalid(f"events[{i}] is earlier than the event before it")
        previous = entry[0]


def summary_by_arm(rows: Iterable[Mapping[str, str]]) -> dict[str, dict]:
    """Per arm (the export's ``treatment``), over the reads with a record: how many, the median
    seconds images were viewed per case, and the median and mean of each count per case."""
    by_arm: dict[str, list[Mapping[str, str]]] = {}
    for row in rows:
        by_arm.setdefault(row["treatment"], [])
        if row.get("image_dwell_ms", ""):
            by_arm[row["treatment"]].append(row)
    return {arm: _arm_summary(recorded) for arm, recorded in by_arm.items()}


def _arm_summary(rows: list[Mapping[str, str]]) -> dict:
    if not rows:
        return {"n_reads": 0}
    dwell = [int(row["image_dwell_ms"]) / 1000 for row in rows]
    counts = {column: [int(row[column]) for row in rows] for column in COUNT_COLUMNS}
    return {
        "n_reads": len(rows),
        "median_dwell_s": statistics.median(dwell),
        "median_images_viewed": statistics.median(int(row["images_viewed"]) for row in rows),
        **{column: {"median": statistics.median(values), "mean": statistics.fmean(values)}
           for column, values in counts.items()},
    }
