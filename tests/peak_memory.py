"""Peak memory of a process as its own: VmHWM, the high-water mark of the memory map that exec made.

A child's ``ru_maxrss`` is no use here: Linux carries the high-water mark of the memory the child
had before exec (a copy of the forking test process, hundreds of MiB late in a suite) into it.

Run as ``python -m tests.peak_memory REPORT SCRIPT ARGS...``: runs SCRIPT as ``__main__`` and, however
it exits, writes its VmHWM in bytes to REPORT.
"""

import atexit
import re
import runpy
import sys
from pathlib import Path


def peak_memory(pid: int | str = "self") -> int:
    """VmHWM of a live process in bytes (proc(5))."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M).group(1)) * 1024


def command_reporting_peak(report: Path, script: str, *args: str) -> list[str]:
    """The command line that runs ``script args`` and leaves its peak memory in ``report``."""
    return [sys.executable, "-m", "tests.peak_memory", str(report), script, *args]


if __name__ == "__main__":
    report, *sys.argv = sys.argv[1:]
    atexit.register(lambda: Path(report).write_text(str(peak_memory())))
    runpy.run_path(sys.argv[0], run_name="__main__")
