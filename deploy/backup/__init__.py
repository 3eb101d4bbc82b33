"""Backup and restore of the platform's state, consistent with itself (deploy/README.md, "Backup and restore").

A backup is a folder:

    manifest.json    what restore checks: the SHA-256 of every file, the model files (with the models
                     registered with each), the counts, the audit head, the software, the migrations
                     applied, the DEID_KEY's fingerprint
    anchors.jsonl    the audit anchor file (AUDIT_ANCHOR_FILE), copied first
    database.dump    pg_dump custom format, as the tables' owner, of one snapshot
    models/ab/cd/<sha256>.onnx
                     the file of every registered AI model (AIModel.sha256), exactly those the dump's
                     rows name, copied after the dump from AI_MODEL_STORAGE; listed in the manifest
    images/ab/cd/<sha256>.dcm
                     every stored instance, named by the SHA-256 of its bytes (as the index names it),
                     exported after the dump: from Orthanc's REST API (IMAGE_MODE=archive) or from
                     DICOM_STORAGE (local)

Run it with the application's environment (it reads the same settings) and the owner's database URL:

    python -m deploy.backup backup  DIR --owner-url postgres://mrmc_owner:...@db:5432/mrmc
    python -m deploy.backup restore DIR --owner-url ...   [--force] [--new-deid-key]
    python -m deploy.backup verify  DIR
"""
