"""Orthanc with its DICOMweb plugin: the image archive, as a configuration and a command."""

import json
import shutil
from pathlib import Path

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def missing_orthanc() -> str | None:
    """Why Orthanc cannot run here, or None when it can."""
    if shutil.which("Orthanc") is None or not DICOMWEB_PLUGIN.exists():
        return "Orthanc with its DICOMweb plugin is not installed (Debian: orthanc orthanc-dicomweb)"
    return None


def orthanc_config(*, storage: Path, port: int, name: str) -> dict:
    """Orthanc's HTTP server on ``port``, its database and files in ``storage``, DICOMweb under /dicom-web/.

    Orthanc cannot bind to one address, so it answers 403 to anything but loopback
    (RemoteAccessAllowed false) and callers only talk to it on 127.0.0.1; no DICOM (DIMSE) port.
    """
    return {
        "Name": name, "StorageDirectory": str(storage), "IndexDirectory": str(storage),
        "HttpServerEnabled": True, "HttpPort": port, "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "DicomServerEnabled": False, "HttpCompressionEnabled": False,
        "Plugins": [str(DICOMWEB_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False, "Host": f"127.0.0.1:{port}",
                     "Ssl": False, "StudiesMetadata": "Full", "SeriesMetadata": "Full"},
    }


def orthanc_command(*, folder: Path, port: int, name: str) -> list[str]:
    """Write the configuration into ``folder`` and return the command that starts Orthanc with it."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "orthanc.json"
    config.write_text(json.dumps(orthanc_config(storage=folder / "db", port=port, name=name), indent=2))
    return [shutil.which("Orthanc"), str(config)]
