"""Pulling whole studies from a DICOMweb server (WADO-RS) into the ingest, like local files."""

from collections.abc import Iterator

from mrmc.dicom.parse import write_instance
from studies.models import Study, User

from .pipeline import ingest
from .report import IngestReport
from .sources import DicomSource, Rejected, refusal


def pull_from_dicomweb(*, actor: User, study: Study, url: str, study_uids: list[str],
                       deidentify_files: bool = True, session=None) -> IngestReport:
    """Retrieve whole studies (WADO-RS, PS3.18 10.4) from a DICOMweb server and ingest them;
    a study the server does not deliver is reported as rejected, the others go in."""
    import requests  # the DICOMweb client is loaded only when a pull runs
    from dicomweb_client.api import DICOMwebClient

    client = DICOMwebClient(url, session=session)

    def sources() -> Iterator[DicomSource]:
        for uid in study_uids:
            try:
                for index, ds in enumerate(client.iter_study(uid), start=1):
                    yield f"study {uid} #{index}", lambda ds=ds: write_instance(ds)
            except (requests.RequestException, ValueError) as exc:  # the server's answer, not ours
                failure = Rejected("retrieve-failed", f"could not be retrieved ({type(exc).__name__})")
                yield f"study {uid}", refusal(failure)

    return ingest(actor=actor, study=study, sources=sources(), deidentify_files=deidentify_files)
