"""Checks shared by the services that validate a study's rules given as plain data (protocol sections, API
bodies): the keys allowed, and what counts as a number."""

import math

from studies.errors import InvalidInput


def check_keys(mapping: dict, allowed: set[str], where: str) -> None:
    """Refuse a key of ``mapping`` outside ``allowed``, naming it under ``where``."""
    for key in mapping:
        if key not in allowed:
            raise InvalidInput(f"unknown field (allowed: {', '.join(sorted(allowed))})", field=f"{where}.{key}")


def is_number(value) -> bool:
    """A finite int or float; not a bool (JSON's true is no number here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
