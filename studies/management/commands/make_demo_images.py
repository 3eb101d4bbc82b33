from django.core.management.base import BaseCommand

from mrmc.dicom.synth import make_demo_set


class Command(BaseCommand):
    help = "Write synthetic DICOM studies with known lesions, truth.csv and ai_outputs.json to OUT_DIR."

    def add_arguments(self, parser):
        parser.add_argument("out_dir")
        parser.add_argument("--cases", type=int, default=24)
        parser.add_argument("--modality", choices=["DX", "MG"], default="DX")
        parser.add_argument("--seed", type=int, default=0)

    def handle(self, *args, out_dir, cases, modality, seed, **options):
        demo = make_demo_set(out_dir, n_cases=cases, seed=seed, modality=modality)
        self.stdout.write(f"{len(demo.image_paths)} images, {demo.truth_csv}, {demo.ai_outputs_json}")
