"""Whether a process of this host still runs: the test behind "its writer / its worker is gone"."""

import os


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
