"""deploy/local-stack up | down | status | smoke | backup BACKUP | restore BACKUP  [--dir STATE_FOLDER]"""

import argparse
import os
import sys
from pathlib import Path

from .stack import DEFAULT_DIR, Stack, StackError

WITH_BACKUP = ("backup", "restore")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="deploy/local-stack",
        description="The production topology as plain processes on loopback (deploy/README.md, "
                    "\"Local production stack\", \"Backup and restore\").")
    parser.add_argument("command", choices=("up", "down", "status", "smoke", *WITH_BACKUP),
                        help="up: start and wait until healthy; down: stop everything it started; "
                             "status: what runs and answers; smoke: the end-to-end check through nginx; "
                             "backup: the database, audit anchors and images into BACKUP; restore: BACKUP into "
                             "a new stack (or, with --force, this one), then start it")
    parser.add_argument("backup", nargs="?", type=Path, help="the backup folder (backup, restore)")
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("LOCAL_STACK_DIR") or DEFAULT_DIR),
                        help=f"state folder (default: $LOCAL_STACK_DIR or {DEFAULT_DIR})")
    parser.add_argument("--force", action="store_true",
                        help="restore into a stack that holds data or runs (its web, workers and beat are stopped)")
    args = parser.parse_args(argv)
    if (args.backup is None) == (args.command in WITH_BACKUP):
        parser.error("backup and restore take a backup folder; the other commands none")
    # Celery prefers CELERY_BROKER_URL from the environment to the broker an app is given: the caller's
    # broker (a CI's or a developer's) would take the stack's pings and messages.
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        os.environ.pop(name, None)
    stack = Stack(args.dir)
    try:
        if args.command == "up":
            stack.up()
            return 0
        if args.command == "down":
            return 0 if stack.down() else 1
        if args.command == "status":
            return 0 if stack.status() else 1
        if args.command == "backup":
            stack.backup(args.backup)
            return 0
        if args.command == "restore":
            stack.restore(args.backup, force=args.force)
            return 0
        from .smoke import run_smoke

        return 0 if run_smoke(stack) else 1
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if args.command in ("up", "restore"):
            print(f"what did start is still running: deploy/local-stack down --dir {args.dir}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
