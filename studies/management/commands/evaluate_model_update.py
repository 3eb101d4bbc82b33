from django.core.management.base import CommandError

from mrmc.inference import DEVICES
from studies.management.base import StudyCommand, read_bytes
from studies.models import ModelUpdateEvaluation
from studies.services import model_updates, precompute
from studies.services.model_updates import evaluation_for


class Command(StudyCommand):
    help = ("Evaluate a model update against a locked evaluation (one look at its test set, counted and kept): its "
            "scores from a CSV file (case,score) with --model-name, --model-version and --operating-point, or "
            "computed here by --model FILE.onnx with --card (its name, version and operating point).")
    needs_study = False

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--evaluation", type=int, required=True, help="the locked evaluation's id")
        parser.add_argument("--scores", help="CSV file: case,score")
        parser.add_argument("--model-name")
        parser.add_argument("--model-version")
        parser.add_argument("--operating-point", type=float)
        parser.add_argument("--model", help="the model file (ONNX), run over the test set's stored images")
        parser.add_argument("--card", help="its model card")
        parser.add_argument("--device", choices=DEVICES, default="auto")

    def run(self, *, actor, evaluation, scores, model, card, device, **options):
        if bool(scores) == bool(model):
            raise CommandError("give either --scores (a CSV file) or --model with --card")
        evaluation = evaluation_for(actor=actor, evaluation_id=evaluation)
        if model:
            if not card:
                raise CommandError("--model needs its --card")
            look = model_updates.evaluate_model_file(actor=actor, evaluation=evaluation, model_data=read_bytes(model),
                                                     card_data=read_bytes(card),
                                                     run=precompute.Settings(device=device))
        else:
            look = model_updates.evaluate_update(
                actor=actor, evaluation=evaluation, model_name=options["model_name"],
                model_version=options["model_version"], operating_point=options["operating_point"],
                scores=model_updates.scores_from_csv(read_bytes(scores)), source=ModelUpdateEvaluation.Source.IMPORTED)
        verdict = "PASS" if look.passed else "FAIL"
        self.stdout.write(f"look {look.look} at {evaluation.name} v{evaluation.version}: {look.model_name} "
                          f"{look.model_version} {verdict}")
        for criterion in look.result["criteria"]:
            self.stdout.write(f"  {'pass' if criterion['passed'] else 'FAIL'} {criterion['name']}: "
                              f"{criterion['reason']}")
