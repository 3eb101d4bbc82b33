"""NumPy work spread over the CPUs with threads (NumPy releases the GIL in its loops)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Part = TypeVar("Part")
Result = TypeVar("Result")

# the CPUs this process may run on (a container's share, not the host's count)
THREADS = max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def map_parts(function: Callable[[Part], Result], parts: Sequence[Part]) -> list[Result]:
    """``function`` of each part, the parts run in threads when there are several."""
    if len(parts) <= 1:
        return [function(part) for part in parts]
    with ThreadPoolExecutor(len(parts)) as pool:
        return list(pool.map(function, parts))
