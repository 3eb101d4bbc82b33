"""python -m deploy.backup backup|restore|verify DIR  (deploy/README.md, "Backup and restore")"""

import argparse
import os
import sys
from pathlib import Path

from . import manifest
from .database import DatabaseError
from .images import ImageStoreError
from .models import ModelStoreError
from .steps import RestoreRefused, Target, backup, restore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.backup",
        description="Back up or restore the database, the audit anchors, the AI model files and the images "
                    "together. Run it with the application's environment (the same settings); the database as its "
                    "owner.")
    parser.add_argument("command", choices=("backup", "restore", "verify"),
                        help="backup: into a new folder; restore: into a deployment whose web, workers and beat "
                             "are stopped; verify: check a backup's files against its manifest")
    parser.add_argument("folder", type=Path, help="the backup folder")
    parser.add_argument("--owner-url", default=os.environ.get("BACKUP_DATABASE_URL"),
                        help="the database as the tables' owner (default: $BACKUP_DATABASE_URL, else $DATABASE_URL)")
    parser.add_argument("--orthanc-url", default=os.environ.get("ORTHANC_URL"),
                        help="Orthanc's REST API (default: $ORTHANC_URL, else DICOMWEB_ARCHIVE_URL without /dicom-web)")
    parser.add_argument("--pg-bin", type=Path, help="folder of pg_dump and pg_restore (default: those on PATH)")
    parser.add_argument("--app-role", help="the role the application connects as, granted after a restore "
                                           "(default: DATABASE_APP_ROLE, else the user of DATABASE_URL)")
    parser.add_argument("--force", action="store_true",
                        help="restore into a deployment that holds data: its database and anchors are replaced")
    parser.add_argument("--new-deid-key", action="store_true",
                        help="restore although the target's DEID_KEY is not the backup's")
    args = parser.parse_args(argv)
    try:
        if args.command == "verify":
            saved = manifest.check(args.folder)
            print(f"backup {args.folder} intact: {saved['images']['count']} images, "
                  f"{len(manifest.models_of(saved))} model files, audit head seq {saved['audit_head']['seq']}, "
                  f"made {saved['created_at']} by {saved['software']}")
            return 0
        target = Target.from_settings(owner_url=args.owner_url, orthanc_url=args.orthanc_url, pg_bin=args.pg_bin,
                                      app_role=args.app_role)
        if args.command == "backup":
            backup(target, args.folder)
        else:
            restore(target, args.folder, force=args.force, new_deid_key=args.new_deid_key)
    except (manifest.BackupInvalid, RestoreRefused, DatabaseError, ImageStoreError, ModelStoreError,
            FileExistsError, RuntimeError) as exc:
        print(f"{args.command} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
