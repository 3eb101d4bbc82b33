"""Bounds of numeric fields: every value stored fits its column on every database (SQLite checks
none) and means something for a reader study. Model forms, the admin and ModelSerializers apply
them; services call ``clean_fields`` where values arrive another way (protocol files, imports)."""

import math

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator

SMALLINT_MAX = 2**15 - 1
INTEGER_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
RATING_LIMIT = 1e6  # rating scales and thresholds: far beyond any 0-100 or 1-K scale
SCORE_LIMIT = 1e9  # AI scores may be logits or raw model outputs


def finite(value: float) -> None:
    if value is not None and not math.isfinite(value):
        raise ValidationError("must be a finite number", code="not_finite")


def between(low, high) -> list:
    return [MinValueValidator(low), MaxValueValidator(high)]


def finite_between(low: float, high: float) -> list:
    return [finite, *between(low, high)]
