from studies.management.base import StudyCommand
from studies.management.commands.import_dicom import write_report
from studies.services.ingest import pull_from_dicomweb


class Command(StudyCommand):
    help = "Pull whole studies from a DICOMweb server (WADO-RS) and ingest them like local files."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--url", required=True, help="DICOMweb root, e.g. http://pacs/dicom-web")
        parser.add_argument("--uid", nargs="+", required=True, dest="uids", help="StudyInstanceUID(s) to pull")

    def run(self, *, actor, study, url, uids, **options):
        write_report(self.stdout, pull_from_dicomweb(actor=actor, study=study, url=url, study_uids=uids))
