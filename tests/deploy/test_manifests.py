"""deploy/docker-compose.yml and deploy/kubernetes/ describe one topology, valid and complete.

Valid: the compose file against the Compose Specification's JSON schema (and ``docker compose config``
where that client exists), every Kubernetes object against the Kubernetes API's schemas, strictly
(unknown fields refused). Complete: each process of the platform, started with exactly the
environment its file gives it, loads the production settings (which refuse to start without
what production needs); the workers consume every queue the settings publish to; there is one beat;
every reference between objects (selectors, claims, Secrets, autoscaler targets) resolves; a CronJob
backs up nightly with the image's PostgreSQL client, of the server's major version; web and every
worker of the precompute queue share the AI model store. The GPU variants (compose's gpu profile, the
kubernetes-gpu overlay) are checked as they would run: valid, every queue consumed, precompute by the
GPU workers alone.
"""

import copy
import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml
from django.conf import settings

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_GPU = DEPLOY / "kubernetes-gpu"
SECRETS_EXAMPLE = KUBERNETES / "secrets.example.yaml"
# The oldest Kubernetes release the manifests are written for, and the newest whose schemas we have.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
APP_LABEL = {"app.kubernetes.io/name": "mrmc"}  # the platform's own pods (not its data stores)
APP_IMAGE = "mrmc-reader-study"
GPU_IMAGE = "mrmc-reader-study-gpu"
GPU_ONNXRUNTIME = "onnxruntime-gpu[cuda,cudnn]"
# What deploy/README.md ("AI outputs on a GPU") has an operator set for compose's GPU worker.
COMPOSE_GPU_VARIABLES = {"COMPOSE_PROFILES": "gpu", "ANALYSIS_WORKER_QUEUES": "analysis,celery"}
# What an operator puts in deploy/.env (or the shell) for docker compose: every secret.
COMPOSE_SECRETS = {
    "SECRET_KEY": "compose-secret-key-long-and-random-0123456789-abcdefghijklmnop",
    "DEID_KEY": "compose-deid-key",
    "POSTGRES_PASSWORD": "superuser-password",
    "MRMC_OWNER_PASSWORD": "owner-password",
    "MRMC_APP_PASSWORD": "app-password",
}


# ------------------------------------------------------------------------------------ compose

@functools.cache
def compose() -> dict:
    """The compose file, parsed once (tests that change it change a copy)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())  # merge keys (<<) resolved as docker compose does


def interpolate(value: str, variables: dict[str, str]) -> str:
    """docker compose's interpolation: ${NAME}, ${NAME:-default}, ${NAME:?error} (a missing NAME
    is an error), $$ for a literal $."""
    def substitute(match):
        name, kind, argument = match.group("name", "kind", "argument")
        if name is None:
            return "$"
        if variables.get(name):
            return variables[name]
        if kind == ":?":
            raise KeyError(f"{name}: {argument}")
        return argument or ""
    return re.sub(r"\$\$|\$\{(?P<name>\w+)(?:(?P<kind>:[-?])(?P<argument>[^}]*))?\}", substitute, value)


def env_file_values(path: Path) -> dict[str, str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def compose_environment(service: dict, variables: dict[str, str]) -> dict[str, str]:
    """A service's environment: its env_file (deploy/production.env, as the committed example has it),
    overridden by its environment entries after interpolation."""
    env = {}
    env_files = service.get("env_file", [])
    for name in [env_files] if isinstance(env_files, str) else env_files:
        env.update(env_file_values(DEPLOY / f"{name}.example"))
    env.update({key: interpolate(str(value), variables) for key, value in service.get("environment", {}).items()})
    return env


def command_of(service: dict, variables: dict[str, str] | None = None) -> list[str]:
    """The command as docker compose runs it: interpolated (defaults where ``variables`` lack a name)."""
    command = service.get("command", [])
    parts = shlex.split(command) if isinstance(command, str) else [str(part) for part in command]
    return [interpolate(part, variables or {}) for part in parts]


def compose_started(service: dict, variables: dict[str, str]) -> bool:
    """Whether ``docker compose up`` starts it: no profile, or one COMPOSE_PROFILES names."""
    return not service.get("profiles") or bool(set(service["profiles"]) & set(variables.get("COMPOSE_PROFILES",
                                                                                            "").split(",")))


def compose_mounts(service: dict) -> dict[str, tuple[str, bool]]:
    """Mount path -> (volume, writable) of a service's short-syntax volumes."""
    mounts = {}
    for entry in service.get("volumes", []):
        source, target, *mode = entry.split(":")
        mounts[target] = (source, "ro" not in mode)
    return mounts


def runs_beat(command: list[str]) -> bool:
    return "celery" in command and "beat" in command


def runs_worker(command: list[str]) -> bool:
    return "celery" in command and "worker" in command


def app_services() -> dict[str, dict]:
    """The services that run the platform's image: web, workers, beat, migrate."""
    return {name: service for name, service in compose()["services"].items() if "build" in service}


# --------------------------------------------------------------------------------- kubernetes

def kubernetes_files() -> list[Path]:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    return [KUBERNETES / name for name in kustomization["resources"]]


def objects_of(paths) -> list[dict]:
    return [document for path in paths for document in yaml.safe_load_all(path.read_text()) if document]


@functools.cache
def kubernetes_objects() -> list[dict]:
    """Everything kustomization.yaml applies, and the example Secrets it expects to exist; parsed once
    (tests that change an object change a copy)."""
    return objects_of([*kubernetes_files(), SECRETS_EXAMPLE])


def named(kind: str) -> dict[str, dict]:
    return {item["metadata"]["name"]: item for item in kubernetes_objects() if item["kind"] == kind}


def pod_template(workload: dict) -> dict | None:
    """The pod template of a Deployment, StatefulSet, Job or CronJob; None for any other object."""
    if workload["kind"] == "CronJob":
        return workload["spec"]["jobTemplate"]["spec"]["template"]
    return workload["spec"]["template"] if workload["kind"] in ("Deployment", "StatefulSet", "Job") else None


def pod_templates() -> dict[str, dict]:
    """Every workload's pod template, by workload name."""
    return {item["metadata"]["name"]: template for item in kubernetes_objects()
            if (template := pod_template(item)) is not None}


def app_pod_templates() -> dict[str, dict]:
    return {name: template for name, template in pod_templates().items()
            if APP_LABEL.items() <= template["metadata"]["labels"].items()}


def all_containers(template: dict) -> list[dict]:
    return [*template["spec"].get("initContainers", []), *template["spec"]["containers"]]


def container_environment(container: dict) -> dict[str, str]:
    """A container's environment as the kubelet builds it: envFrom in order (the last source wins),
    then env; Secret values from secrets.example.yaml."""
    config_maps = {name: item["data"] for name, item in named("ConfigMap").items()}
    secrets = {name: item["stringData"] for name, item in named("Secret").items()}
    env = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]])
        else:
            env.update(secrets[source["secretRef"]["name"]])
    for variable in container.get("env", []):
        reference = variable.get("valueFrom", {})
        if "secretKeyRef" in reference:
            env[variable["name"]] = secrets[reference["secretKeyRef"]["name"]][reference["secretKeyRef"]["key"]]
        elif "configMapKeyRef" in reference:
            env[variable["name"]] = config_maps[reference["configMapKeyRef"]["name"]][reference["configMapKeyRef"]["key"]]
        else:
            env[variable["name"]] = variable["value"]
    return env


def main_container(template: dict) -> dict:
    (container,) = template["spec"]["containers"]
    return container


def main_command(template: dict) -> list[str]:
    return main_container(template).get("command", [])


def kubernetes_mounts(template: dict) -> dict[str, tuple[str, bool]]:
    """Mount path -> (claim, or the volume's name where it is no claim; writable) of the main container."""
    claims = {volume["name"]: volume["persistentVolumeClaim"]["claimName"] for volume in template["spec"]["volumes"]
              if "persistentVolumeClaim" in volume}
    return {mount["mountPath"]: (claims.get(mount["name"], mount["name"]), not mount.get("readOnly", False))
            for mount in main_container(template)["volumeMounts"]}


def volume_holding(path: str, mounts: dict[str, tuple[str, bool]]) -> tuple[str, bool] | None:
    """(volume, writable) of the deepest mount ``path`` lies on; None where it is on the image's own files."""
    above = [mount for mount in mounts if path == mount or path.startswith(mount.rstrip("/") + "/")]
    return mounts[max(above, key=len)] if above else None


def gpu_limit(template: dict) -> str | None:
    return main_container(template)["resources"]["limits"].get("nvidia.com/gpu")


def apply_json_patch(document: dict, operations: list[dict]) -> None:
    """RFC 6902 add, replace and test, as kustomize applies a patch of them; any other operation fails."""
    for operation in operations:
        *parents, last = [part.replace("~1", "/").replace("~0", "~") for part in operation["path"].split("/")[1:]]
        node = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key = int(last) if isinstance(node, list) else last
        if operation["op"] == "test":
            assert node[key] == operation["value"], f"patch test failed: {operation}"
        elif operation["op"] == "add" and isinstance(node, list):
            node.insert(key, operation["value"])
        else:
            assert operation["op"] in ("add", "replace"), f"an operation this check does not know: {operation}"
            exists = key < len(node) if isinstance(node, list) else key in node
            assert exists or operation["op"] == "add", f"nothing to replace at {operation['path']}"
            node[key] = operation["value"]


@functools.cache
def gpu_overlay() -> dict:
    return yaml.safe_load((KUBERNETES_GPU / "kustomization.yaml").read_text())


def gpu_overlay_objects() -> list[dict]:
    """What ``kubectl apply -k deploy/kubernetes-gpu`` applies, before kustomize's image names: the base's
    objects with the overlay's patches."""
    overlay = gpu_overlay()
    assert overlay["resources"] == ["../kubernetes"] and set(overlay) == {"apiVersion", "kind", "resources", "patches"}
    objects = copy.deepcopy(objects_of(kubernetes_files()))
    for patch in overlay["patches"]:
        target = patch["target"]
        (item,) = [item for item in objects
                   if (item["kind"], item["metadata"]["name"]) == (target["kind"], target["name"])]
        apply_json_patch(item, yaml.safe_load(patch["patch"]))
    return objects


# ------------------------------------------------------------------------------------ schemas

def compose_schema_problems(document: dict) -> list[str]:
    """Where ``document`` breaks the Compose Specification (the schema check-jsonschema ships, so no
    network is needed)."""
    schema = json.loads(resources.files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json")
                        .read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(document)]


def test_the_compose_file_matches_the_compose_specification():
    assert compose_schema_problems(compose()) == []


def test_the_compose_schema_check_refuses_an_unknown_key():
    """The check above can fail: a misspelt key is refused."""
    broken = copy.deepcopy(compose())
    broken["services"]["web"]["healthchek"] = broken["services"]["web"].pop("healthcheck")
    assert any("healthchek" in problem for problem in compose_schema_problems(broken))


def compose_client() -> list[str] | None:
    """docker compose (v2), else docker-compose (v1, Debian's package, which .ci/system-packages installs)."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_docker_compose_config_accepts_the_file_and_wants_every_secret(tmp_path):
    client = compose_client()
    if client is None:
        pytest.skip("no docker compose client here (the schema test above checks the file)")
    # A copy beside a production.env made from the example: the real one holds an operator's settings.
    copy = tmp_path / "deploy"
    copy.mkdir()
    shutil.copy(COMPOSE_FILE, copy / "docker-compose.yml")
    shutil.copy(DEPLOY / "production.env.example", copy / "production.env")
    inherited = {key: value for key, value in os.environ.items() if key not in COMPOSE_SECRETS}

    def config(secrets):
        return subprocess.run([*client, "-f", copy / "docker-compose.yml", "config", "--quiet"], capture_output=True,
                              text=True, timeout=120, env={**inherited, **secrets})

    accepted = config(COMPOSE_SECRETS)
    assert accepted.returncode == 0, accepted.stderr
    refused = config({key: value for key, value in COMPOSE_SECRETS.items() if key != "SECRET_KEY"})
    assert refused.returncode != 0 and "set SECRET_KEY" in refused.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_kubernetes_object_matches_the_api_schemas(version):
    problems = []
    for item in kubernetes_objects():
        try:
            kubernetes_validate.validate(item, version, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as error:
            problems.append(f"{item['kind']}/{item['metadata']['name']}: {getattr(error, 'message', error)}")
    assert problems == []


def test_the_kubernetes_schema_check_refuses_an_unknown_field():
    """The check above can fail: a misspelt field of a container is refused."""
    web = copy.deepcopy(named("Deployment")["web"])
    main_container(web["spec"]["template"])["readinesProbe"] = {"httpGet": {"path": "/healthz", "port": 8000}}
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(web, KUBERNETES_VERSIONS[0], strict=True)


def test_kustomization_lists_every_manifest_and_renders_them():
    listed = set(kubernetes_files())
    assert listed == set(KUBERNETES.glob("*.yaml")) - {KUBERNETES / "kustomization.yaml", SECRETS_EXAMPLE}
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl here to render the kustomization (its files are checked one by one above)")
    rendered = subprocess.run([kubectl, "kustomize", KUBERNETES], capture_output=True, text=True, timeout=120)
    assert rendered.returncode == 0, rendered.stderr
    objects = list(yaml.safe_load_all(rendered.stdout))
    identities = sorted((item["kind"], item["metadata"]["name"]) for item in objects)
    assert identities == sorted((item["kind"], item["metadata"]["name"]) for item in objects_of(listed))
    assert {item["metadata"].get("namespace") for item in objects if item["kind"] != "Namespace"} == {"mrmc"}
    images = {container["image"] for item in objects if (template := pod_template(item)) is not None
              for container in all_containers(template)}
    assert not images & {APP_IMAGE, GPU_IMAGE}, "kustomize's images: must name the registry images"


# ------------------------------------------------- every process loads the production settings

PROBE = """
import json
from django.conf import settings as s
print(json.dumps({"debug": s.DEBUG, "engine": s.DATABASES["default"]["ENGINE"], "eager": s.CELERY_TASK_ALWAYS_EAGER,
                  "image_mode": s.IMAGE_MODE, "archive": s.DICOMWEB_ARCHIVE_URL, "models": str(s.AI_MODEL_STORAGE),
                  "dicom": str(s.DICOM_STORAGE), "site_url": s.SITE_URL, "allowed_hosts": s.ALLOWED_HOSTS}))
"""


def dockerfile_build_environment() -> dict[str, str]:
    """The variables deploy/Dockerfile sets for collectstatic, which loads the production settings."""
    run = re.search(r"^RUN (DJANGO_DEBUG=.*?)python manage.py collectstatic", dockerfile_text(),
                    re.MULTILINE | re.DOTALL)
    return dict(word.split("=", 1) for word in shlex.split(run.group(1)))


def process_environments() -> dict[str, dict[str, str]]:
    """The environment of every process of the platform, as each file starts it."""
    environments = {f"compose {name}": compose_environment(service, COMPOSE_SECRETS)
                    for name, service in app_services().items()}
    environments.update({f"kubernetes {name}": container_environment(main_container(template))
                         for name, template in app_pod_templates().items()})
    environments["Dockerfile collectstatic"] = dockerfile_build_environment()
    return environments


def loaded_settings(env: dict[str, str], home: Path) -> dict:
    """The settings a fresh Python loads with exactly ``env`` (nothing inherited but PATH)."""
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": str(ROOT),
                                 "DJANGO_SETTINGS_MODULE": "config.settings", **env})
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def settings_by_process(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    environments = process_environments()
    with ThreadPoolExecutor(max_workers=4) as pool:  # a fresh interpreter each: settings load once per process
        loaded = pool.map(lambda env: loaded_settings(env, home), environments.values())
        return dict(zip(environments, loaded, strict=True))


def test_every_process_runs_with_production_settings(settings_by_process):
    """DJANGO_DEBUG=0 refuses to start without SECRET_KEY, ALLOWED_HOSTS, PostgreSQL, the broker and
    DEID_KEY: each process loading them is given all of those."""
    # web, three workers, beat, migrate in each; the backup; the image build
    assert len(settings_by_process) == 2 * 6 + 2
    for process, loaded in settings_by_process.items():
        assert loaded["debug"] is False, process
        assert loaded["engine"] == "django.db.backends.postgresql", process
        assert loaded["eager"] is False, process


def test_reminder_mails_link_to_the_address_readers_open(settings_by_process):
    """SITE_URL, which session reminders link to: https and a host the site answers to, in every process that
    may send them (each worker and beat; web and migrate load the same file); in Kubernetes, the ingress's host."""
    (ingress,) = named("Ingress").values()
    (rule,) = ingress["spec"]["rules"]
    for process, loaded in settings_by_process.items():
        if process == "Dockerfile collectstatic":
            continue
        site = urlsplit(loaded["site_url"])
        assert site.scheme == "https" and site.path in ("", "/"), process
        assert site.hostname in loaded["allowed_hosts"], process
        if process.startswith("kubernetes"):
            assert site.hostname == rule["host"], process


def test_the_platform_serves_images_from_its_own_orthanc(settings_by_process):
    for process, loaded in settings_by_process.items():
        if process != "Dockerfile collectstatic":
            assert (loaded["image_mode"], loaded["archive"]) == ("archive", "http://orthanc:8042/dicom-web"), process


@pytest.mark.parametrize("secret", ["SECRET_KEY", "DEID_KEY"])
def test_compose_refuses_to_start_the_platform_without_each_secret(secret):
    """Secrets come from the environment only: docker compose stops at a missing one (the database
    passwords likewise, each where it is used)."""
    variables = {key: value for key, value in COMPOSE_SECRETS.items() if key != secret}
    for service in app_services().values():
        with pytest.raises(KeyError, match=secret):
            compose_environment(service, variables)


def test_the_database_owner_password_reaches_only_the_database_migrate_and_the_backup():
    """deploy/README.md, "Database roles": web, workers and beat connect as mrmc_app; the backup dumps as the
    owner (BACKUP_DATABASE_URL), its settings' DATABASE_URL still mrmc_app."""
    services = compose()["services"]
    holders = {name for name, service in services.items()
               if "MRMC_OWNER_PASSWORD" in json.dumps(service.get("environment", {}))}
    assert holders == {"db", "migrate"}
    readers = {name for name, template in pod_templates().items()
               if {"mrmc-migrate", "mrmc-postgres"} & set(re.findall(r'"name": "([\w-]+)"', json.dumps(template)))}
    assert readers == {"migrate", "postgres", "backup"}
    for name, env in process_environments().items():
        if "migrate" not in name and "collectstatic" not in name:
            assert env["DATABASE_URL"].startswith("postgres://mrmc_app:"), name


def test_the_init_script_of_the_example_database_is_the_compose_one():
    script = named("ConfigMap")["postgres-init"]["data"]["10-mrmc-roles.sh"]
    assert script == (DEPLOY / "postgres-init" / "10-mrmc-roles.sh").read_text()


# ----------------------------------------------------------------------- workers and beat

def queues_consumed(command: list[str]) -> set[str]:
    """-Q / --queues of a celery worker command; none given: every queue of the settings."""
    for flag, value in zip(command, command[1:], strict=False):
        if flag in ("-Q", "--queues"):
            return set(value.split(","))
    return set(settings.CELERY_WORK_QUEUES)


SETUPS = ("compose", "compose gpu", "kubernetes", "kubernetes gpu")


def compose_has_gpu(service: dict) -> bool:
    devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    return any("gpu" in device.get("capabilities", []) for device in devices)


def running_workers(setup: str) -> dict[str, tuple[set[str], bool]]:
    """The workers a setup runs (compose: those ``up`` starts; Kubernetes: Deployments not at 0 replicas),
    each with the queues it consumes and whether it has a GPU."""
    if setup.startswith("compose"):
        variables = COMPOSE_GPU_VARIABLES if setup.endswith("gpu") else {}
        return {name: (queues_consumed(command_of(service, variables)), compose_has_gpu(service))
                for name, service in compose()["services"].items()
                if runs_worker(command_of(service)) and compose_started(service, variables)}
    objects = gpu_overlay_objects() if setup.endswith("gpu") else objects_of(kubernetes_files())
    return {item["metadata"]["name"]: (queues_consumed(main_command(template)), gpu_limit(template) is not None)
            for item in objects if item["kind"] == "Deployment" and item["spec"].get("replicas", 1) != 0
            and runs_worker(main_command(template := pod_template(item)))}


@pytest.mark.parametrize("setup", SETUPS)
def test_the_workers_consume_every_queue_and_no_other(setup):
    workers = running_workers(setup)
    assert len(workers) >= 2, "ingest and analysis are scaled apart"
    consumed = [queues for queues, _ in workers.values()]
    assert set().union(*consumed) == set(settings.CELERY_WORK_QUEUES)
    assert all(len(queues) < len(settings.CELERY_WORK_QUEUES) for queues in consumed), "each kind specialised"


@pytest.mark.parametrize("setup", SETUPS)
def test_where_gpu_workers_run_they_alone_compute_ai_outputs(setup):
    """A job asked to run on cuda is refused by a worker without a GPU, and a set computed partly on CPUs would
    mix devices: with GPU workers, the precompute queue is theirs alone, and they consume nothing else."""
    workers = running_workers(setup)
    precompute = {name for name, (queues, _) in workers.items() if "precompute" in queues}
    with_gpu = {name for name, (_, gpu) in workers.items() if gpu}
    if setup.endswith("gpu"):
        assert with_gpu and precompute == with_gpu
        assert all(workers[name][0] == {"precompute"} for name in with_gpu)
    else:
        assert precompute and with_gpu == set(), "AI outputs on worker-analysis's CPUs"


def test_the_gpu_workers_run_the_image_with_onnxruntime_gpu():
    (service,) = [service for service in compose()["services"].values() if compose_has_gpu(service)]
    assert interpolate(service["image"], {}) == GPU_IMAGE
    assert service["build"]["args"] == {"ONNXRUNTIME": GPU_ONNXRUNTIME}
    templates = [pod_template(item) for item in gpu_overlay_objects() if item["kind"] == "Deployment"]
    (template,) = [template for template in templates if gpu_limit(template) is not None]
    assert gpu_limit(template) == "1"
    assert {container["image"] for container in all_containers(template)} == {GPU_IMAGE}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in template["spec"]["tolerations"]
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert GPU_IMAGE in {image["name"] for image in kustomization["images"]}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_objects_the_gpu_overlay_changes_match_the_api_schemas(version):
    targets = {(patch["target"]["kind"], patch["target"]["name"]) for patch in gpu_overlay()["patches"]}
    changed = [item for item in gpu_overlay_objects() if (item["kind"], item["metadata"]["name"]) in targets]
    assert len(changed) == len(targets)
    for item in changed:
        kubernetes_validate.validate(item, version, strict=True)


def test_kustomize_renders_the_gpu_overlay_as_its_patches_say():
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("no kubectl here to render the overlay (its patches are applied and checked above)")
    rendered = subprocess.run([kubectl, "kustomize", KUBERNETES_GPU], capture_output=True, text=True, timeout=120)
    assert rendered.returncode == 0, rendered.stderr
    by_identity = {(item["kind"], item["metadata"]["name"]): item for item in yaml.safe_load_all(rendered.stdout)}
    images = {image["name"]: f"{image['newName']}:{image['newTag']}"
              for image in yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())["images"]}
    patched = gpu_overlay_objects()
    assert sorted(by_identity) == sorted((item["kind"], item["metadata"]["name"]) for item in patched)
    for item in patched:
        if (template := pod_template(item)) is not None:
            for container in all_containers(template):
                container["image"] = images.get(container["image"], container["image"])
        assert by_identity[item["kind"], item["metadata"]["name"]].get("spec") == item.get("spec"), item["kind"]


# ------------------------------------------------------------------------------- AI model store

@pytest.mark.parametrize("orchestrator", ["compose", "kubernetes"])
def test_web_and_every_worker_of_the_precompute_queue_share_one_model_store(orchestrator, settings_by_process):
    """Web stores a model's file when it is registered; every worker of the precompute queue (the GPU ones too)
    loads it from AI_MODEL_STORAGE. A volume of its own, in every image mode: in archive mode DICOM_STORAGE
    holds only uploads, which those workers need not see."""
    if orchestrator == "compose":
        processes = {name: (command_of(service), compose_mounts(service)) for name, service in app_services().items()}
    else:
        processes = {name: (main_command(template), kubernetes_mounts(template))
                     for name, template in app_pod_templates().items()}
    users = {name: mounts for name, (command, mounts) in processes.items()
             if name == "web" or (runs_worker(command) and "precompute" in queues_consumed(command))}
    assert set(users) == {"web", "worker-analysis", "worker-precompute"}
    stores = {name: volume_holding(settings_by_process[f"{orchestrator} {name}"]["models"], mounts)
              for name, mounts in users.items()}
    assert None not in stores.values(), stores
    (volume,) = {volume for volume, _ in stores.values()}
    assert stores["web"][1], "web writes the files of the models registered"
    assert volume_holding(settings_by_process[f"{orchestrator} web"]["dicom"], users["web"])[0] != volume
    if orchestrator == "kubernetes":
        assert "ReadWriteMany" in named("PersistentVolumeClaim")[volume]["spec"]["accessModes"]


def test_compose_runs_exactly_one_beat():
    services = compose()["services"]
    (beat,) = [service for service in services.values() if runs_beat(command_of(service))]
    assert beat.get("deploy", {}).get("replicas", 1) == 1 and "scale" not in beat


def test_kubernetes_runs_exactly_one_beat_and_never_two_at_once():
    (name,) = [name for name, template in pod_templates().items() if runs_beat(main_command(template))]
    beat = named("Deployment")[name]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"] == {"type": "Recreate"}
    assert name not in {hpa["spec"]["scaleTargetRef"]["name"] for hpa in named("HorizontalPodAutoscaler").values()}


@pytest.mark.parametrize("name", ["web", "worker-ingest", "worker-analysis"])
def test_web_and_each_worker_kind_scale_on_their_own(name):
    (autoscaler,) = [hpa for hpa in named("HorizontalPodAutoscaler").values()
                     if hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}]
    assert 1 <= autoscaler["spec"]["minReplicas"] < autoscaler["spec"]["maxReplicas"]
    assert "replicas" not in named("Deployment")[name]["spec"], "an apply would reset what the autoscaler set"
    assert "replicas" not in compose()["services"][name].get("deploy", {}), "docker compose --scale decides"


# ------------------------------------------------------------------------------------- image

def dockerfile_text() -> str:
    """deploy/Dockerfile with its continued lines joined."""
    return (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")


def test_the_image_gives_every_volume_of_the_platform_a_mount_point_its_user_owns():
    """A named volume starts with its folder's owner: one the image lacks would be root's, unwritable."""
    (made, owned), = re.findall(r"^RUN mkdir -p (.*?)\s+&&\s+chown nobody:nogroup (.*)$", dockerfile_text(),
                                re.MULTILINE)
    targets = {target for service in app_services().values() for target in compose_mounts(service)}
    assert targets <= set(made.split()) and targets <= set(owned.split())


def test_the_image_serves_the_pinned_ohif_viewer(tmp_path):
    """The viewer stage packs the version fetch_ohif.py pins; the final stage installs it where OHIF_DIST says."""
    from deploy import fetch_ohif

    text = dockerfile_text()
    (pack,) = re.findall(r"^RUN (version=.*npm pack .*)$", text, re.MULTILINE)
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "npm").write_text(f'#!/bin/sh\necho "$*" > {tmp_path / "npm.log"}\n')
    (stubs / "npm").chmod(0o755)
    shutil.copy(DEPLOY / "fetch_ohif.py", tmp_path / "fetch_ohif.py")
    script = pack.replace("/build/", f"{tmp_path}/")
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60,
                            env={"PATH": f"{stubs}:{os.environ['PATH']}"})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "npm.log").read_text().split()[:2] == ["pack", f"{fetch_ohif.PACKAGE}@{fetch_ohif.VERSION}"]
    (install,) = re.findall(r"python deploy/fetch_ohif\.py (\S+) --tarball", text)
    (dist,) = re.findall(r"^ENV OHIF_DIST=(\S+)$", text, re.MULTILINE)
    assert dist == f"/app/{install}"


def run_pip_step(tmp_path: Path, onnxruntime: str | None) -> list[str]:
    """The Dockerfile's pip step, run by sh with ``pip`` a stub that logs its arguments; the calls made."""
    text = dockerfile_text()
    (step,) = re.findall(r"^RUN (pip install -r requirements\.txt.*)$", text, re.MULTILINE)
    default = re.search(r"^ARG ONNXRUNTIME=(\S+)$", text, re.MULTILINE).group(1)
    stubs = tmp_path / "bin"
    stubs.mkdir(parents=True)
    (stubs / "pip").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path / "pip.log"}\n')
    (stubs / "pip").chmod(0o755)
    shutil.copy(ROOT / "requirements.txt", tmp_path / "requirements.txt")
    result = subprocess.run(["sh", "-c", step], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={"PATH": f"{stubs}:{os.environ['PATH']}", "ONNXRUNTIME": onnxruntime or default})
    assert result.returncode == 0, result.stderr
    return (tmp_path / "pip.log").read_text().splitlines()


def test_the_image_has_onnxruntime_of_requirements_and_the_gpu_image_onnxruntime_gpu_of_the_same_release(tmp_path):
    (version,) = re.findall(r"^onnxruntime==(\S+)", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert run_pip_step(tmp_path / "cpu", None) == ["install -r requirements.txt"]
    assert run_pip_step(tmp_path / "gpu", GPU_ONNXRUNTIME) == [
        "install -r requirements.txt", "uninstall -y onnxruntime", f"install {GPU_ONNXRUNTIME}=={version}"]


# ------------------------------------------------------------------------------------ backup

def postgres_major(image: str) -> int:
    """15 of postgres:15 or postgres:15.4-bookworm."""
    return int(re.fullmatch(r"postgres:(\d+)(?:[.-].*)?", image).group(1))


def test_the_image_has_pg_dump_of_the_database_servers_major_version_or_newer():
    """python -m deploy.backup runs pg_dump and pg_restore; older than the server, they refuse it."""
    (client,) = re.findall(r"\bpostgresql-client-(\d+)\b", (DEPLOY / "Dockerfile").read_text())
    servers = {compose()["services"]["db"]["image"], main_container(pod_templates()["postgres"])["image"]}
    assert all(int(client) >= postgres_major(image) for image in servers), (client, servers)


def backup_container() -> tuple[dict, dict]:
    """The backup CronJob's pod template and its container."""
    template = pod_template(named("CronJob")["backup"])
    return template, main_container(template)


def test_a_cronjob_backs_up_nightly_one_run_at_a_time_into_a_volume_of_its_own():
    spec = named("CronJob")["backup"]["spec"]
    minute, hour, *every_day = spec["schedule"].split()
    assert minute.isdigit() and hour.isdigit() and every_day == ["*", "*", "*"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 1 <= spec["successfulJobsHistoryLimit"] <= 5 and 1 <= spec["failedJobsHistoryLimit"] <= 5
    template, container = backup_container()
    env = container_environment(container)
    assert container["image"] == APP_IMAGE
    assert re.search(r'(?m)^python -m deploy\.backup backup "\$BACKUPS/', container["command"][-1])
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    claims = {volume["name"]: volume["persistentVolumeClaim"]["claimName"] for volume in template["spec"]["volumes"]
              if "persistentVolumeClaim" in volume}
    assert claims[mounts[env["BACKUPS"]]] == "mrmc-backups"
    others = {name for name, other in pod_templates().items() if name != "backup"
              and "mrmc-backups" in json.dumps(other.get("spec", {}).get("volumes", []))}
    assert others == set()
    # what the backup reads: the anchor file, the model files and (IMAGE_MODE=local) the image store, from the
    # settings' paths
    assert {os.path.dirname(env["AUDIT_ANCHOR_FILE"]), env["AI_MODEL_STORAGE"], env["DICOM_STORAGE"]} <= set(mounts)
    assert env["BACKUP_DATABASE_URL"] == named("Secret")["mrmc-migrate"]["stringData"]["DATABASE_URL"]


def run_backup_script(backups: Path, stubs: Path, *, backup_fails: bool) -> subprocess.CompletedProcess:
    """The CronJob's command with ``python`` a stub of ``python -m deploy.backup backup FOLDER``: a finished
    backup is a folder with its manifest; a failed one exits 1."""
    _, container = backup_container()
    stubs.mkdir(exist_ok=True)
    stub = stubs / "python"
    backup = "exit 1" if backup_fails else 'mkdir "$4" && touch "$4/manifest.json"'
    stub.write_text(f'#!/bin/sh\n[ "$1 $2 $3" = "-m deploy.backup backup" ] || exit 2\n{backup}\n')
    stub.chmod(0o755)
    env = {"PATH": f"{stubs}:{os.environ['PATH']}", "BACKUPS": str(backups),
           "BACKUPS_KEPT": container_environment(container)["BACKUPS_KEPT"]}
    return subprocess.run(container["command"], env=env, capture_output=True, text=True, timeout=60)


def test_the_backup_keeps_the_newest_finished_backups_and_deletes_nothing_when_it_fails(tmp_path):
    _, container = backup_container()
    kept = int(container_environment(container)["BACKUPS_KEPT"])
    backups = tmp_path / "backups"
    finished = [f"mrmc-2020-01-{day:02d}T023000Z" for day in range(1, kept + 1)]
    for name in finished:
        (backups / name).mkdir(parents=True)
        (backups / name / "manifest.json").touch()
    (backups / "mrmc-2020-02-01T023000Z").mkdir()  # did not finish, newer than the others
    (backups / "lost+found").mkdir()  # the file system's own
    before = sorted(path.name for path in backups.iterdir())

    failed = run_backup_script(backups, tmp_path / "bin", backup_fails=True)
    assert failed.returncode != 0 and sorted(path.name for path in backups.iterdir()) == before

    succeeded = run_backup_script(backups, tmp_path / "bin", backup_fails=False)
    assert succeeded.returncode == 0, succeeded.stderr
    (new,) = set(path.name for path in backups.iterdir()) - set(before)
    assert re.fullmatch(r"mrmc-\d{4}-\d\d-\d\dT\d{6}Z", new)
    assert sorted(path.name for path in backups.iterdir()) == sorted(["lost+found", *finished[1:], new])


# ------------------------------------------------------------------------------ health checks

def test_every_long_running_compose_service_has_a_health_check_and_waits_on_health():
    services = compose()["services"]
    one_shot = {"migrate"}
    assert [name for name in services if name not in one_shot and "healthcheck" not in services[name]] == []
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            expected = "service_completed_successfully" if dependency in one_shot else "service_healthy"
            assert condition == {"condition": expected}, f"{name} -> {dependency}"


def test_web_is_alive_on_livez_and_ready_on_healthz_with_a_host_django_accepts():
    web = main_container(named("Deployment")["web"]["spec"]["template"])
    allowed = named("ConfigMap")["mrmc-config"]["data"]["ALLOWED_HOSTS"].split(",")
    paths = {}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        request = web[probe]["httpGet"]
        (host,) = [header["value"] for header in request["httpHeaders"] if header["name"] == "Host"]
        assert host in allowed, probe
        paths[probe] = request["path"]
    assert paths == {"startupProbe": "/livez", "livenessProbe": "/livez", "readinessProbe": "/healthz"}


def test_every_celery_process_is_checked_by_pinging_its_own_node_name():
    """A ping must name the node the command starts (-n NAME@%h), or the check fails for ever."""
    checks = {f"compose {name}": (command_of(service), " ".join(service["healthcheck"]["test"]))
              for name, service in compose()["services"].items() if "celery" in command_of(service)}
    checks.update({f"kubernetes {name}": (main_command(template),
                                          " ".join(main_container(template)["livenessProbe"]["exec"]["command"]))
                   for name, template in pod_templates().items() if "celery" in main_command(template)})
    assert len(checks) == 8
    for name, (command, check) in checks.items():
        node = command[command.index("-n") + 1]
        assert node.endswith("@%h"), name
        assert re.search(rf"inspect ping -d {re.escape(node[:-2])}\$\$?HOSTNAME\b", check), name


# ---------------------------------------------------------------------- kubernetes hygiene

def test_the_platforms_pods_run_unprivileged_on_a_read_only_root():
    templates = app_pod_templates()
    assert set(templates) == {"web", "worker-ingest", "worker-analysis", "worker-precompute", "beat", "migrate",
                              "backup"}
    for name, template in templates.items():
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in all_containers(template):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, f"{name}/{container['name']}"
            assert security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}
            assert "/tmp" in {mount["mountPath"] for mount in container["volumeMounts"]}, "the one writable place"


def test_every_container_has_resource_requests_and_limits():
    for name, template in pod_templates().items():
        for container in all_containers(template):
            resources = container["resources"]
            assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}, name


def test_every_reference_between_kubernetes_objects_resolves():
    templates = pod_templates()
    labels = [template["metadata"]["labels"] for template in templates.values()]
    selectors = [service["spec"]["selector"] for service in named("Service").values()]
    selectors += [budget["spec"]["selector"]["matchLabels"] for budget in named("PodDisruptionBudget").values()]
    for selector in selectors:
        assert any(selector.items() <= pod_labels.items() for pod_labels in labels), selector
    for workload in [*named("Deployment").values(), *named("StatefulSet").values()]:
        assert workload["spec"]["selector"]["matchLabels"].items() <= workload["spec"]["template"]["metadata"]["labels"].items()
    for statefulset in named("StatefulSet").values():
        assert named("Service")[statefulset["spec"]["serviceName"]]["spec"]["clusterIP"] == "None"
    deployments = named("Deployment")
    assert all(hpa["spec"]["scaleTargetRef"]["name"] in deployments for hpa in named("HorizontalPodAutoscaler").values())
    claims = {volume["persistentVolumeClaim"]["claimName"] for template in templates.values()
              for volume in template["spec"].get("volumes", []) if "persistentVolumeClaim" in volume}
    assert claims <= set(named("PersistentVolumeClaim"))
    for template in templates.values():
        for container in all_containers(template):
            container_environment(container)  # every ConfigMap, Secret and key it names exists


def test_the_ingress_terminates_tls_for_its_host_and_reaches_web():
    (ingress,) = named("Ingress").values()
    (rule,) = ingress["spec"]["rules"]
    (tls,) = ingress["spec"]["tls"]
    assert tls["hosts"] == [rule["host"]] and tls["secretName"]
    (path,) = rule["http"]["paths"]
    backend = path["backend"]["service"]
    service = named("Service")[backend["name"]]
    assert backend["port"]["name"] in {port["name"] for port in service["spec"]["ports"]}
    config = named("ConfigMap")["mrmc-config"]["data"]
    assert rule["host"] in config["ALLOWED_HOSTS"].split(",")
    assert f"https://{rule['host']}" in config["CSRF_TRUSTED_ORIGINS"].split(",")
