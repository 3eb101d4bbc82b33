from studies.management.base import StudyCommand, read_bytes
from studies.services.ingest import ingest_paths, link_cases, parse_link_mapping


class Command(StudyCommand):
    help = ("Ingest DICOM files, folders and zip archives into a study (de-identified), linking them to cases. "
            "Prints a report: stored, already present, conflicts and rejected files with a reason class.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--mapping", help="CSV linking cases: case,study_instance_uid or case,accession_number")
        parser.add_argument("--keep-identity", action="store_true",
                            help="store files as received (only for studies that allow identified data)")

    def run(self, *, actor, study, paths, mapping, keep_identity, **options):
        report = ingest_paths(actor=actor, study=study, paths=paths, deidentify_files=not keep_identity,
                              progress=lambda fraction, message: self.stderr.write(f"\r{message}", ending=""))
        if mapping:
            report.linked |= link_cases(study=study, mapping=parse_link_mapping(read_bytes(mapping)))
        self.stderr.write("")
        write_report(self.stdout, report)


def write_report(out, report) -> None:
    out.write(f"{report.files} files: {report.stored} instances stored, {report.duplicates} already present, "
              f"{len(report.conflicts)} conflicts, {len(report.rejected)} rejected; {len(report.linked)} cases linked")
    for label, problems in (("conflict", report.conflicts), ("rejected", report.rejected)):
        for problem in problems:
            out.write(f"  {label} {problem.file} [{problem.kind}]: {problem.reason}")
    for uid, fixes in report.sanitized.items():
        out.write(f"  repaired {uid}: {'; '.join(fixes)}")
    for uid, regions in report.cleaned.items():
        out.write(f"  burned-in text blacked out in {uid}: regions {regions}")
