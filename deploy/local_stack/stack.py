"""The production topology as plain processes on loopback, everything kept in one state folder.

PostgreSQL (a cluster of its own; the application connects as ``mrmc_app``, migrations run as
``mrmc_owner``, as in deploy/docker-compose.yml), Redis (the Celery broker and result store),
Orthanc with DICOMweb (the platform's image archive, ``IMAGE_MODE=archive``), two Celery workers
that each consume every work queue (either takes over when the other is lost), Celery beat,
gunicorn serving ``config.wsgi`` with deploy/gunicorn.conf.py, and nginx with TLS in front,
configured from deploy/nginx.conf. The application runs with ``DJANGO_DEBUG=0`` and every
production variable set.

State folder layout::

    state.json        ports and secrets, chosen at the first ``up`` and kept (0600)
    app.env           the application's environment (``set -a; . app.env`` to run manage.py against it)
    pids/NAME.pid     PID and kernel start time of each service
    logs/NAME.log     each service's output
    postgres/ redis/ orthanc/ data/ beat/ nginx/ tls/
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import pwd
import secrets
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import nginx, tls
from .orthanc import missing_orthanc, orthanc_command
from .processes import (
    POSTGRES_OS_USER,
    ROOT,
    PostgresCluster,
    ServiceProcess,
    answers_ok,
    free_port,
    gunicorn_command,
    listening_ports,
    memory_bytes,
    missing_postgres,
    postgres_bin,
    redis_answers,
    redis_command,
    service_processes,
    wait_until,
)

DEFAULT_DIR = Path("/tmp/mrmc-local-stack")
DATABASE = "mrmc"
OWNER_ROLE, APP_ROLE = "mrmc_owner", "mrmc_app"  # deploy/postgres-init/10-mrmc-roles.sh
ADMIN_USERNAME = "admin"
WORKERS = ("worker1", "worker2")
WEB_WORKERS = 2
WORKER_CONCURRENCY = 2  # prefork children per Celery worker, as in deploy/docker-compose.yml
PORTS = ("postgres", "redis", "orthanc", "web", "https", "http")
SECRETS = ("SECRET_KEY", "DEID_KEY", "owner_password", "app_password", "admin_password", "METRICS_TOKEN")
# Kept beside a backup (its data needs them): the de-identification key of its images, and the first
# admin's password, whose account is in the database. The others are the stack's own.
BACKED_UP_SECRETS = ("DEID_KEY", "admin_password")
STACK_SECRETS = "stack-secrets.json"
# Stopped stage after stage, each stage's services at once: nothing new comes in, then nothing new
# is queued or run, then the stores go.
STORES = ("postgres", "redis", "orthanc")
APPLICATION = ("nginx", "gunicorn", "beat", *WORKERS)  # what writes to the stores
STOP_STAGES = (APPLICATION[:1], APPLICATION[1:], STORES)
# Kept from the caller's environment; everything else the application reads is set here, so a
# DATABASE_URL or broker of the shell that runs the stack never leaks into it.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ")


class StackError(Exception):
    """The stack cannot be started (or stopped) as asked; the message says why."""


def missing_programs() -> list[str]:
    """What this machine lacks to run the stack, one reason each."""
    problems = [missing_postgres(), missing_orthanc(), nginx.missing_nginx()]
    problems += [f"{program} is not installed" for program in ("redis-server", "openssl", "psql")
                 if shutil.which(program) is None]
    return [problem for problem in problems if problem]


@dataclass
class Service:
    name: str
    process: ServiceProcess
    ready: Callable[[], bool]
    ports: tuple[int, ...]
    address: str
    already_running: bool = False


class Stack:
    def __init__(self, folder: Path):
        self.folder = folder.resolve()
        self.state_file = self.folder / "state.json"
        self.pids = self.folder / "pids"
        self.logs = self.folder / "logs"
        self.data = self.folder / "data"
        self.tls = self.folder / "tls"
        self.hostname = socket.gethostname()
        self._state: dict | None = None
        self._celery = None

    # ------------------------------------------------------------ state: ports and secrets

    @property
    def exists(self) -> bool:
        return self.state_file.exists()

    @property
    def state(self) -> dict:
        if self._state is None:
            self._state = json.loads(self.state_file.read_text()) if self.exists else {}
            ports, kept = self._state.setdefault("ports", {}), self._state.setdefault("secrets", {})
            for name in PORTS:
                ports.setdefault(name, free_port())
            for name in SECRETS:  # a secret added since the stack was made is made now; none is ever replaced
                kept.setdefault(name, secrets.token_urlsafe(40))
        return self._state

    def _save_state(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # Others may pass through (PostgreSQL runs as its own user) but not list it; the secrets,
        # the CA's key and the environment file are readable by their owner only.
        self.folder.chmod(0o711)
        self.state_file.write_text(json.dumps(self.state, indent=2))
        self.state_file.chmod(0o600)

    @property
    def worker_concurrency(self) -> int:
        """Prefork children per Celery worker; a stack made with another number (benchmarks) keeps it."""
        return self.state.setdefault("worker_concurrency", WORKER_CONCURRENCY)

    def port(self, name: str) -> int:
        return self.state["ports"][name]

    def secret(self, name: str) -> str:
        return self.state["secrets"][name]

    @property
    def url(self) -> str:
        """The site, through nginx with TLS."""
        return f"https://localhost:{self.port('https')}"

    @property
    def ca_file(self) -> Path:
        return self.tls / "ca.pem"

    @property
    def archive_url(self) -> str:
        return f"http://127.0.0.1:{self.port('orthanc')}/dicom-web"

    @property
    def broker_url(self) -> str:
        return f"redis://127.0.0.1:{self.port('redis')}/0"

    def database_url(self, role: str = APP_ROLE) -> str:
        password = self.secret("owner_password" if role == OWNER_ROLE else "app_password")
        return f"postgres://{role}:{password}@127.0.0.1:{self.port('postgres')}/{DATABASE}"

    def app_env(self) -> dict[str, str]:
        """The application's environment: production (DJANGO_DEBUG=0) with every required variable."""
        https = self.port("https")
        return {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_DEBUG": "0",
            "SECRET_KEY": self.secret("SECRET_KEY"),
            "DEID_KEY": self.secret("DEID_KEY"),
            "ALLOWED_HOSTS": "localhost,127.0.0.1",
            "CSRF_TRUSTED_ORIGINS": f"https://localhost:{https},https://127.0.0.1:{https}",
            "DATABASE_URL": self.database_url(),
            "CELERY_BROKER_URL": self.broker_url,
            "IMAGE_MODE": "archive",  # ingest de-identifies, then stores in Orthanc by STOW-RS
            "DICOMWEB_ARCHIVE_URL": self.archive_url,
            "MRMC_DATA_DIR": str(self.data),
            # A folder of its own, as in deploy/docker-compose.yml: web writes a model there, the workers read it.
            "AI_MODEL_STORAGE": str(self.data / "models"),
            "AUDIT_ANCHOR_FILE": str(self.data / "audit" / "anchors.jsonl"),
            "BEHIND_PROXY": "1",
            # Every client of this stack is on loopback, which production lets read /metrics: here only
            # the token opens it, so the smoke test sees the restriction at work.
            "METRICS_TOKEN": self.secret("METRICS_TOKEN"),
            "METRICS_ALLOWED_NETWORKS": "",
            "JOB_SWEEP_EVERY_S": "10",  # a lost job is failed within seconds (production default: 60)
            # Jobs beat every 10 s; a fanned-out job whose lost worker held parts it had not started (so no
            # running part names it) is found stalled after this long (production default: 120).
            "JOB_LOST_AFTER_S": "30",
            "LOG_LEVEL": "INFO",
        }

    def process_env(self, **overrides: str) -> dict[str, str]:
        inherited = {name: os.environ[name] for name in INHERITED if name in os.environ}
        return {**inherited, **self.app_env(), "PYTHONPATH": str(ROOT), **overrides}

    def manage(self, *args: str, role: str = APP_ROLE, **env: str) -> str:
        """``manage.py ARGS`` against the stack (as the owner role for migrations); its output."""
        return self._finish(self.manage_in_background(*args, role=role, **env), args[0])

    def manage_in_background(self, *args: str, role: str = APP_ROLE, **env: str) -> subprocess.Popen:
        overrides = {"DATABASE_URL": self.database_url(role), **env}
        return subprocess.Popen([sys.executable, "manage.py", *args], cwd=ROOT, env=self.process_env(**overrides),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    @staticmethod
    def _finish(command: subprocess.Popen, name: str) -> str:
        output, _ = command.communicate()
        if command.returncode != 0:
            raise StackError(f"manage.py {name} failed ({command.returncode}):\n{output[-3000:]}")
        return output

    # ------------------------------------------------------------ services

    def cluster(self) -> PostgresCluster:
        return PostgresCluster(folder=self.folder / "postgres", port=self.port("postgres"),
                               pidfile=self.pids / "postgres.pid", log=self.logs / "postgres.log")

    def services(self) -> list[Service]:
        """Every service, in the order they start (and the reverse of the order they stop)."""
        env = self.process_env()
        cluster = self.cluster()
        redis_port, orthanc_port = self.port("redis"), self.port("orthanc")
        web, https = self.port("web"), self.port("https")

        def service(name, command, ready, ports=(), address="", **options) -> Service:
            process = ServiceProcess(name, command, log=self.logs / f"{name}.log", pidfile=self.pids / f"{name}.pid",
                                     env=options.pop("env", env), **options)
            return Service(name, process, ready, ports, address)

        services = [
            Service("postgres", cluster.process, cluster.is_ready, (self.port("postgres"),),
                    f"postgres://127.0.0.1:{self.port('postgres')}/{DATABASE}"),
            service("redis", redis_command(port=redis_port, folder=self.folder / "redis"),
                    lambda: redis_answers(redis_port), (redis_port,), self.broker_url),
            service("orthanc", orthanc_command(folder=self.folder / "orthanc", port=orthanc_port, name="MRMC-LOCAL"),
                    lambda: answers_ok(f"http://127.0.0.1:{orthanc_port}/system", timeout=2), (orthanc_port,),
                    self.archive_url),
        ]
        for name in WORKERS:
            services.append(service(
                name,
                # No -Q: every queue of settings.CELERY_TASK_QUEUES, so either worker takes any job.
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-n", f"{name}@%h",
                 f"--concurrency={self.worker_concurrency}", "--loglevel=INFO", "--without-gossip",
                 "--without-mingle"],
                lambda name=name: self.celery_answers(name), address=f"{name}@{self.hostname}",
            ))
        services += [
            service("beat", [sys.executable, "-m", "celery", "-A", "config", "beat", "-n", "beat@%h",
                             "--enable-remote-control", "--schedule", str(self.folder / "beat" / "schedule"),
                             "--loglevel=INFO"],
                    lambda: self.celery_answers("beat"), address=f"beat@{self.hostname}"),
            service("gunicorn", gunicorn_command(port=web, workers=WEB_WORKERS),
                    lambda: answers_ok(f"http://127.0.0.1:{web}/healthz", timeout=5), (web,), f"http://127.0.0.1:{web}"),
            service("nginx", nginx.nginx_command(self.folder / "nginx" / "nginx.conf", self.logs),
                    lambda: answers_ok(f"{self.url}/healthz", timeout=5, context=self.tls_context()),
                    (https, self.port("http")), self.url,
                    env={"PATH": os.environ.get("PATH", "")}),
        ]
        return services

    def service(self, name: str) -> Service:
        return next(service for service in self.services() if service.name == name)

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def celery_app(self):
        if self._celery is None:
            from celery import Celery

            self._celery = Celery("local-stack", broker=self.broker_url)
        return self._celery

    def celery_answers(self, name: str) -> bool:
        try:
            return bool(self.celery_app().control.ping(destination=[f"{name}@{self.hostname}"], timeout=1.0))
        except OSError:
            return False

    def worker_queues(self) -> dict[str, list[str]]:
        """The queues each running worker consumes, as the workers themselves answer."""
        answers = self.celery_app().control.inspect(timeout=2.0).active_queues() or {}
        return {node.split("@", 1)[0]: sorted(queue["name"] for queue in queues) for node, queues in answers.items()}

    # ------------------------------------------------------------ up

    def up(self, say=print) -> None:
        """Start what is not running, wait until each answers, print the addresses."""
        started = time.monotonic()
        self._prepare()
        services = {service.name: service for service in self.services()}
        if all(service.process.pid is not None for service in services.values()):
            say("every service is running already")
        else:
            self._start_all(services, say, started)

        queues = self.worker_queues()
        say(f"stack up in {time.monotonic() - started:.1f} s ({self.folder})")
        say(f"  site       {self.url}/   (TLS: verify against {self.ca_file})")
        say(f"  API        {self.url}/api/v1/   docs {self.url}/api/docs/")
        say(f"  health     {self.url}/healthz   metrics {self.url}/metrics")
        say(f"  admin      {self.url}/admin/   user {ADMIN_USERNAME}, password in {self.state_file} "
            "(secrets.admin_password)")
        say(f"  http       http://localhost:{self.port('http')}/ (redirects to https)")
        say(f"  archive    {self.archive_url}   (Orthanc, loopback only)")
        say(f"  database   {services['postgres'].address}   broker {self.broker_url}")
        for name in WORKERS:
            say(f"  {name:<10} consumes {', '.join(queues.get(name, ['?']))}")
        say(f"  environment {self.folder / 'app.env'}")

    def _prepare(self) -> None:
        """The state folder, its environment file and certificates, before anything starts."""
        if problems := missing_programs():
            raise StackError("cannot start the stack here:\n  " + "\n  ".join(problems))
        self._save_state()
        if os.geteuid() == 0 and not reachable_by(self.folder, POSTGRES_OS_USER):
            raise StackError(f"PostgreSQL runs as the {POSTGRES_OS_USER} OS user, which cannot reach {self.folder}: "
                             "choose a state folder whose parents others may traverse (e.g. under /tmp)")
        for folder in (self.pids, self.logs, self.data, self.folder / "redis", self.folder / "beat"):
            folder.mkdir(parents=True, exist_ok=True)
        self._write_env_file()
        tls.make_certificates(self.tls)

    def _start_all(self, services: dict[str, Service], say, started: float) -> None:
        """PostgreSQL, Redis, Orthanc and the static files at once; migrations when the database answers;
        the workers and beat once migrated, gunicorn once the static files are there too; nginx last."""
        static = self.manage_in_background("collectstatic", "--noinput")
        self._start_stores(services, say, started)
        self._migrate(say, started)
        for name in (*WORKERS, "beat"):
            self._start(services[name], say, started, wait=False)
        self._finish(static, "collectstatic")
        say(f"{'static':<10} collected at {time.monotonic() - started:5.1f} s  ({nginx.STATIC_ROOT})")
        self._start(services["gunicorn"], say, started, wait=False)
        for name in (*WORKERS, "beat", "gunicorn"):
            self._wait(services[name], say, started)
        nginx.write_config(folder=self.folder / "nginx", logs=self.logs, https_port=self.port("https"),
                           http_port=self.port("http"), web_port=self.port("web"), tls=self.tls,
                           as_root=os.geteuid() == 0)
        nginx.check_config(self.folder / "nginx" / "nginx.conf", self.logs)
        self._start(services["nginx"], say, started)

    def _start_stores(self, services: dict[str, Service], say, started: float) -> None:
        """PostgreSQL (its database and roles made on the first start), Redis and Orthanc, started at once."""
        cluster = self.cluster()
        cluster.init()
        for name in STORES:
            self._start(services[name], say, started, wait=False)
        for name in STORES:
            self._wait(services[name], say, started)
        if not cluster.has_database(DATABASE):
            self._create_database(cluster)

    def _start(self, service: Service, say, started: float, wait: bool = True) -> None:
        if service.process.pid is not None:
            say(f"{service.name:<10} already running (pid {service.process.pid})")
            service.already_running = True
            return
        if taken := listening_ports(service.ports):
            raise StackError(f"{service.name}: port {', '.join(map(str, taken))} taken by another program")
        service.process.start()
        if wait:
            self._wait(service, say, started)

    def _wait(self, service: Service, say, started: float, timeout: float = 90) -> None:
        if service.already_running:
            return
        try:
            wait_until(service.ready, service.process, timeout)
        except RuntimeError as exc:
            raise StackError(str(exc)) from None
        say(f"{service.name:<10} ready at {time.monotonic() - started:5.1f} s  pid {service.process.pid:<8} "
            f"{service.address}")

    def _create_database(self, cluster: PostgresCluster) -> None:
        """The database and its two roles, exactly as the database container's first start makes them."""
        cluster.create_database(DATABASE)
        script = ROOT / "deploy" / "postgres-init" / "10-mrmc-roles.sh"
        env = {"PATH": os.environ.get("PATH", ""), "PGHOST": "127.0.0.1", "PGPORT": str(self.port("postgres")),
               "POSTGRES_USER": "postgres", "POSTGRES_DB": DATABASE,
               "MRMC_OWNER_PASSWORD": self.secret("owner_password"), "MRMC_APP_PASSWORD": self.secret("app_password")}
        result = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)
        if result.returncode != 0:
            raise StackError(f"{script.name} failed: {result.stderr.strip()}")

    def _migrate(self, say, started: float) -> None:
        """As the migrate service does: migrations and grants as the owner; then a first admin, static files."""
        self.manage("migrate", "--noinput", role=OWNER_ROLE, DATABASE_APP_ROLE=APP_ROLE)
        self.manage("grant_app_role", role=OWNER_ROLE, DATABASE_APP_ROLE=APP_ROLE)
        say(f"{'migrate':<10} done at {time.monotonic() - started:5.1f} s  (as {OWNER_ROLE}; {APP_ROLE} granted)")
        if not self.state.get("admin_created"):
            self.manage("createsuperuser", "--noinput", "--username", ADMIN_USERNAME, "--email", "admin@localhost",
                        DJANGO_SUPERUSER_PASSWORD=self.secret("admin_password"))
            self.state["admin_created"] = True
            self._save_state()
            say(f"{'admin':<10} created: {ADMIN_USERNAME}")

    def _write_env_file(self) -> None:
        env_file = self.folder / "app.env"
        env_file.write_text("".join(f"{key}={value}\n" for key, value in self.app_env().items()))
        env_file.chmod(0o600)

    def start_service(self, name: str, say=print) -> None:
        """Start one stopped service again (e.g. a worker the smoke test killed) and wait until it answers."""
        self._start(self.service(name), say, time.monotonic())

    # ------------------------------------------------------------ backup and restore

    def backup(self, folder: Path, say=print) -> None:
        """The data into ``folder`` as an operator backs up any deployment (``python -m deploy.backup``), and
        beside it the secrets the data needs: DEID_KEY, and the first admin's password (the account is in it)."""
        if stopped := [name for name in ("postgres", "orthanc") if self.service(name).process.pid is None]:
            raise StackError(f"{', '.join(stopped)} not running: deploy/local-stack up --dir {self.folder} first")
        self._backup_tool("backup", folder)
        kept = folder / STACK_SECRETS
        kept.write_text(json.dumps({name: self.secret(name) for name in BACKED_UP_SECRETS}, indent=2))
        kept.chmod(0o600)
        say(f"secrets the data needs ({', '.join(BACKED_UP_SECRETS)}) in {kept}: keep them as safe as the stack's own")

    def restore(self, folder: Path, *, force: bool = False, say=print) -> None:
        """Restore a backup into this stack (a new state folder, or with ``force`` a stack that holds data),
        then start the rest of it; the stack takes the backup's DEID_KEY."""
        started = time.monotonic()
        beside = json.loads((folder / STACK_SECRETS).read_text()) if (folder / STACK_SECRETS).exists() else {}
        kept = {name: value for name, value in beside.items() if name in BACKED_UP_SECRETS}
        self._prepare()
        services = {service.name: service for service in self.services()}
        if running := [name for name in APPLICATION if services[name].process.pid is not None]:
            if not force:
                raise StackError(f"{', '.join(running)} running: restore into a new state folder, or --force")
            for name in running:  # nothing may write while the stores are replaced
                say(f"{name:<10} {self._stop(services[name])}")
        self._start_stores(services, say, started)
        # The backup's keys in the tool's environment only: a refused restore leaves the stack as it was.
        self._backup_tool("restore", folder, *(["--force"] if force else []),
                          **{name: kept[name] for name in ("DEID_KEY",) if name in kept})
        self.state["secrets"].update(kept)
        self.state["admin_created"] = True  # the first admin came with the database
        self._save_state()
        say(f"{'restored':<10} in {time.monotonic() - started:.1f} s; the stack keeps the backup's "
            f"{', '.join(kept) or 'data (no secrets were beside it)'}; starting the rest")
        self.up(say)

    def _backup_tool(self, command: str, folder: Path, *options: str, **env: str) -> None:
        """``python -m deploy.backup`` with the application's environment, the owner's URL and Orthanc's REST API."""
        result = subprocess.run(
            [sys.executable, "-m", "deploy.backup", command, str(folder.resolve()), *options,
             "--owner-url", self.database_url(OWNER_ROLE), "--orthanc-url", f"http://127.0.0.1:{self.port('orthanc')}",
             "--pg-bin", str(postgres_bin())],
            cwd=ROOT, env=self.process_env(**env))
        if result.returncode != 0:
            raise StackError(f"deploy.backup {command} failed ({result.returncode}): see above")

    # ------------------------------------------------------------ down

    def down(self, say=print) -> bool:
        """Stop every service (in reverse order); True when nothing of the stack is left running or listening."""
        if not self.exists:
            say(f"no stack in {self.folder}")
            return True
        started = time.monotonic()
        services = {service.name: service for service in self.services()}
        with concurrent.futures.ThreadPoolExecutor() as pool:
            for stage in STOP_STAGES:
                for name, stopped in zip(stage, pool.map(self._stop, [services[name] for name in stage]), strict=True):
                    say(f"{name:<10} {stopped}")
        ports = [port for service in services.values() for port in service.ports]
        left = sorted(listening_ports(ports))
        alive = [service.name for service in services.values() if service.process.pid is not None]
        if left or alive:
            say(f"still there after stopping: ports {left}, services {alive}")
            return False
        say(f"stack down in {time.monotonic() - started:.1f} s; nothing listening on ports "
            f"{', '.join(map(str, sorted(ports)))}")
        return True

    @staticmethod
    def _stop(service: Service) -> str:
        began, pid = time.monotonic(), service.process.pid
        if service.process.stop(timeout=30):
            return f"stopped (pid {pid}) in {time.monotonic() - began:.1f} s"
        return "was not running"

    # ------------------------------------------------------------ status

    def status(self, say=print) -> bool:
        """Each service: running or not, answering or not, its processes and memory; True when all answer."""
        if not self.exists:
            say(f"no stack in {self.folder}")
            return False
        healthy, total = True, 0
        for service in self.services():
            pid = service.process.pid
            if pid is None:
                say(f"{service.name:<10} stopped")
                healthy = False
                continue
            members = service_processes(pid)
            memory = memory_bytes(members)
            total += memory
            answers = service.ready()
            healthy &= answers
            say(f"{service.name:<10} {'ok' if answers else 'NOT READY':<13} pid {pid:<8} "
                f"{len(members):>2} processes {memory / 2**20:7.1f} MiB  {service.address}")
        say(f"{'total':<10} {total / 2**20:.1f} MiB (proportional set size)")
        return healthy


def reachable_by(folder: Path, user: str) -> bool:
    """Whether ``user`` may traverse every folder down to ``folder`` (the permission bits, not ACLs)."""
    account = pwd.getpwnam(user)
    for path in (folder, *folder.parents):
        mode, owner, group = (info := path.stat()).st_mode, info.st_uid, info.st_gid
        if not (mode & stat.S_IXOTH or (owner == account.pw_uid and mode & stat.S_IXUSR)
                or (group == account.pw_gid and mode & stat.S_IXGRP)):
            return False
    return True
