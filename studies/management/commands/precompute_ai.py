import hashlib
import os
from pathlib import Path

from django.core.management.base import CommandError

from mrmc.inference import DEVICES
from studies.management.base import StudyCommand, read_bytes
from studies.services import precompute

CARD_SUFFIXES = (".card.yaml", ".card.yml", ".card.json")


class Command(StudyCommand):
    help = ("Run a model over the study's images and store its outputs as an AI output set (cases done already "
            "are skipped); --verify computes a finished set again and compares. The model card is read from "
            "--card, or from MODEL.card.yaml/.yml/.json beside the model.")

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--model", required=True, help="the model file (ONNX)")
        parser.add_argument("--card", help="its model card (default: beside the model)")
        parser.add_argument("--device", choices=DEVICES, default="auto")
        parser.add_argument("--batch-size", type=int, help="default: the model's own, else 8")
        parser.add_argument("--verify", action="store_true", help="compute again, store nothing, compare")

    def run(self, *, actor, study, model, card, device, batch_size, verify, **options):
        settings = precompute.Settings(device=device, batch_size=batch_size)
        model_data = read_bytes(model)
        if verify:
            return self._verify(actor, _registered(study, model_data, model), settings)
        registered = precompute.register_model(actor=actor, study=study, model_data=model_data,
                                               card_data=read_bytes(card or _card_beside(model)),
                                               file_name=os.path.basename(model))
        result = precompute.precompute_in_process(
            actor=actor, model=registered, run=settings,
            progress=lambda done, total: self.stderr.write(f"part {done} of {total} done"))
        self.stdout.write(f"{registered} (sha256 {registered.sha256}): {result['stored']} outputs stored, "
                          f"{result['skipped']} cases done already, {len(result['failed'])} failed")
        for failure in result["failed"]:
            self.stdout.write(f"  {failure['case']}: {failure['reason']}")
        if "outputs_sha256" in result:
            self.stdout.write(f"outputs sha256 {result['outputs_sha256']}")
        if result["failed"]:
            raise CommandError(f"{len(result['failed'])} case(s) have no output; see above")

    def _verify(self, actor, registered, settings):
        output_set = registered.output_sets.first()
        if output_set is None:
            raise CommandError(f"{registered} has computed no outputs in this study yet")
        result = precompute.verify_output_set(actor=actor, output_set=output_set, run=settings)
        same = result["recorded_sha256"] == result["recomputed_sha256"] and not result["differ"]
        self.stdout.write(f"{result['cases']} cases computed again with {result['runtime']['runtime']} "
                          f"{result['runtime']['runtime_version']} on {result['runtime']['device']}")
        self.stdout.write(f"recorded   {result['recorded_sha256'] or '(none: the set is incomplete)'}")
        self.stdout.write(f"recomputed {result['recomputed_sha256']}")
        if not same:
            raise CommandError(f"outputs differ for {len(result['differ'])} case(s): "
                               f"{', '.join(result['differ'][:10])}")
        self.stdout.write("identical")


def _registered(study, model_data: bytes, path: str):
    registered = study.ai_models.filter(sha256=hashlib.sha256(model_data).hexdigest()).first()
    if registered is None:
        raise CommandError(f"{path} is not a model registered with study {study.pk}")
    return registered


def _card_beside(model: str) -> str:
    stem = Path(model).with_suffix("")
    for suffix in CARD_SUFFIXES:
        if Path(f"{stem}{suffix}").exists():
            return f"{stem}{suffix}"
    raise CommandError(f"no model card beside {model} ({', '.join(stem.name + s for s in CARD_SUFFIXES)}); "
                       f"pass --card")
