"""deploy/local-stack up | down | status | smoke  [--dir STATE_FOLDER]"""

import argparse
import os
import sys
from pathlib import Path

from .stack import DEFAULT_DIR, Stack, StackError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deploy/local-stack",
        description="The production topology as plain processes on loopback (deploy/README.md, "
                    "\"Local production stack\").")
    parser.add_argument("command", choices=("up", "down", "status", "smoke"),
                        help="up: start and wait until healthy; down: stop everything it started; "
                             "status: what runs and answers; smoke: the end-to-end check through nginx")
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("LOCAL_STACK_DIR") or DEFAULT_DIR),
                        help=f"state folder (default: $LOCAL_STACK_DIR or {DEFAULT_DIR})")
    args = parser.parse_args(argv)
    stack = Stack(args.dir)
    try:
        if args.command == "up":
            stack.up()
            return 0
        if args.command == "down":
            return 0 if stack.down() else 1
        if args.command == "status":
            return 0 if stack.status() else 1
        from .smoke import run_smoke

        return 0 if run_smoke(stack) else 1
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if args.command == "up":
            print(f"what did start is still running: deploy/local-stack down --dir {args.dir}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
