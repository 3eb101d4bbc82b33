"""The end-to-end check of a running local stack, through nginx with TLS verified against the stack's CA.

A coordinator logs in for an API token, creates a study and uploads its cases' DICOM (synthetic
radiographs, :func:`mrmc.dicom.synth.make_case`); a Celery worker ingests them de-identified into
Orthanc; while the study is a draft, the shipped demo detector is registered with its card and run
over every case by the workers of the ``precompute`` queue; the schedule is generated on a worker;
a reader opens the worklist, retrieves a frame through ``/dicomweb/`` (from Orthanc, under the
platform's authorization) and submits reads; an analysis runs on a worker. Then one worker is
killed (SIGKILL, the whole worker) while an analysis runs on it: the job must finish on the other
worker, or be failed and succeed when started again, with nothing duplicated. ``/healthz``,
``/metrics`` and the audit trail are checked too.

Each step prints one line; the last line is the summary. Only an endpoint that does not exist yet
is skipped (with its reason); any other problem fails its step, and the steps after it are not run.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import requests

from .processes import service_processes
from .stack import WORKERS, Stack

SMOKE_CASES = 6  # half of them diseased; three readers x two arms read each once
SMOKE_READERS = 3
# Ratings of the cases S01..S06 (healthy, diseased, alternately), before a small reader and order
# term: the classes overlap, so the areas are neither 0.5 nor 1 and the OR analysis is defined.
CASE_RATINGS = (30.0, 50.0, 55.0, 80.0, 20.0, 45.0)
IMAGE_SHAPE = (256, 256)
UNCOMPRESSED = (("application/octet-stream", "1.2.840.10008.1.2.1"),)
LOST_REASON = "the worker running this job was lost"  # studies.services.jobs.LOST_REASON
# An analysis long enough to be caught running: bootstrap covariance with the most resamples allowed.
LONG_ANALYSIS = {"cov": "bootstrap", "n_bootstrap": 30_000, "seed": 7}
# The lost-job sweep runs every 10 s in the stack: a lost worker's job is failed, or its parts queued again,
# well within this (and the rest of the run computed).
LOSS_HANDLED_WITHIN_S = 120
SINGLE_PROCESS_AFTER_S = 1.0  # a job its own worker holds this long is running, not fanning out
ACCOUNTS = """
import json, os
from studies.models import User
for username, role, password in json.loads(os.environ["SMOKE_ACCOUNTS"]):
    user = User.objects.filter(username=username).first() or User(username=username)
    user.role, user.is_staff = role, role != "reader"
    user.set_password(password)
    user.save()
"""


class Skip(Exception):
    """The step cannot run yet (an endpoint that does not exist); the reason is printed."""


class StepFailed(Exception):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise StepFailed(message)


@dataclass
class Outcome:
    name: str
    status: str  # PASS, FAIL, SKIP, "NOT RUN"
    seconds: float
    detail: str


def run_smoke(stack: Stack, say=print) -> bool:
    """Run every step against ``stack``; True when none failed."""
    return Smoke(stack, say).run()


class Smoke:
    def __init__(self, stack: Stack, say: Callable[[str], None]):
        self.stack = stack
        self.say = say
        self.run_id = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self.passwords: dict[str, str] = {}
        self.tokens: dict[str, str] = {}
        self.study: dict = {}
        self.originals: dict[str, object] = {}  # case label -> the dataset uploaded
        self.served_uids: dict[str, str] = {}  # case label -> de-identified StudyInstanceUID

    # ------------------------------------------------------------ running

    def steps(self) -> list[tuple[str, Callable[[], str]]]:
        return [
            ("tls", self.tls), ("healthz", self.healthz), ("metrics", self.metrics),
            ("accounts", self.accounts), ("login", self.login), ("study", self.create_study),
            ("import", self.import_dicom), ("ai-outputs", self.ai_outputs), ("schedule", self.schedule),
            ("worklist", self.worklist),
            ("frame", self.frame), ("read", self.submit_read), ("reads", self.read_everything),
            ("analysis", self.analysis), ("worker-loss", self.worker_loss), ("audit", self.audit),
        ]

    def run(self) -> bool:
        started = time.monotonic()
        if not self.stack.exists:
            self.say(f"no stack in {self.stack.folder}: deploy/local-stack up first")
            return False
        self.say(f"smoke test of {self.stack.url} (CA {self.stack.ca_file}), run {self.run_id}")
        outcomes: list[Outcome] = []
        for name, step in self.steps():
            if any(outcome.status == "FAIL" for outcome in outcomes):
                outcomes.append(Outcome(name, "NOT RUN", 0.0, "an earlier step failed"))
            else:
                outcomes.append(self._run_step(name, step))
            outcome = outcomes[-1]
            self.say(f"{outcome.status:<7} {outcome.name:<12} {outcome.seconds:6.1f} s  {outcome.detail}")
        counts = {status: sum(o.status == status for o in outcomes) for status in ("PASS", "FAIL", "SKIP", "NOT RUN")}
        self.say(f"smoke: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped, "
                 f"{counts['NOT RUN']} not run, of {len(outcomes)} steps in {time.monotonic() - started:.1f} s")
        return counts["FAIL"] == 0 and counts["NOT RUN"] == 0

    def _run_step(self, name: str, step: Callable[[], str]) -> Outcome:
        began = time.monotonic()
        try:
            detail, status = step(), "PASS"
        except Skip as skipped:
            detail, status = f"skipped: {skipped}", "SKIP"
        except Exception as exc:  # every failure is reported as its step's, and the run goes on to the summary
            detail, status = f"{type(exc).__name__}: {exc}"[:2000], "FAIL"
        return Outcome(name, status, time.monotonic() - began, detail)

    # ------------------------------------------------------------ HTTP through nginx

    def session(self, user: str | None = None) -> requests.Session:
        session = requests.Session()
        # The stack's own CA only: REQUESTS_CA_BUNDLE and proxies from the environment would override it.
        session.trust_env = False
        session.verify = str(self.stack.ca_file)
        if user is not None:
            session.headers["Authorization"] = f"Token {self.tokens[user]}"
        return session

    def call(self, user: str | None, method: str, path: str, expected=(200,), **kwargs) -> requests.Response:
        response = self.session(user).request(method, f"{self.stack.url}{path}", timeout=60, **kwargs)
        check(response.status_code in expected,
              f"{method} {path} answered {response.status_code}, not {expected}: {response.text[:300]}")
        return response

    def coordinator(self) -> str:
        return "smoke-coordinator"

    def readers(self) -> list[str]:
        return [f"smoke-reader{number}" for number in range(1, SMOKE_READERS + 1)]

    # ------------------------------------------------------------ steps

    def tls(self) -> str:
        response = self.call(None, "GET", "/healthz", expected=(200, 503))
        check("max-age" in response.headers.get("Strict-Transport-Security", ""), "no HSTS header")
        plain = self.session().get(f"http://localhost:{self.stack.port('http')}/healthz", allow_redirects=False,
                                   timeout=10)
        check(plain.status_code == 301 and plain.headers["Location"] == f"{self.stack.url}/healthz",
              f"http answered {plain.status_code} {plain.headers.get('Location')}, not a redirect to https")
        return f"certificate verified against the stack's CA; HSTS; http:{self.stack.port('http')} redirects to https"

    def healthz(self) -> str:
        response = self.call(None, "GET", "/healthz", expected=(200, 503))
        body = response.json()
        check(response.status_code == 200, f"/healthz answered 503: {body}")
        return "200 " + json.dumps(body, sort_keys=True)[:300]

    def metrics(self) -> str:
        anonymous = self.session().get(f"{self.stack.url}/metrics", timeout=30)
        scraper = self.session()
        scraper.headers["Authorization"] = f"Bearer {self.stack.secret('METRICS_TOKEN')}"
        response = scraper.get(f"{self.stack.url}/metrics", timeout=30)
        if response.status_code == 404 and anonymous.status_code == 404:
            raise Skip("/metrics does not exist yet (404, with the token too)")
        check(anonymous.status_code in (401, 403, 404), f"/metrics answered {anonymous.status_code} without the token")
        check(response.status_code == 200 and "# TYPE" in response.text,
              f"/metrics answered {response.status_code} to the token, without Prometheus text")
        families = sorted({line.split()[2] for line in response.text.splitlines() if line.startswith("# TYPE")})
        return (f"refused without the token ({anonymous.status_code}); {len(families)} metric families with it: "
                f"{', '.join(families[:6])}{' ...' * (len(families) > 6)}")

    def accounts(self) -> str:
        self.passwords = {name: secrets.token_urlsafe(18) for name in (self.coordinator(), *self.readers())}
        roles = [(name, "coordinator" if name == self.coordinator() else "reader", password)
                 for name, password in self.passwords.items()]
        self.stack.manage("shell", "-c", ACCOUNTS, SMOKE_ACCOUNTS=json.dumps(roles))
        return f"{self.coordinator()} and {len(self.readers())} readers (manage.py shell, new passwords)"

    def _token(self, username: str, password: str) -> str:
        response = self.call(None, "POST", "/api/v1/auth/token/", json={"username": username, "password": password})
        return response.json()["token"]

    def login(self) -> str:
        self.call(None, "GET", "/api/v1/studies/", expected=(401,))
        for username in (self.coordinator(), *self.readers()):
            self.tokens[username] = self._token(username, self.passwords[username])
        self.call(self.coordinator(), "GET", "/api/v1/studies/")
        return f"API tokens for {len(self.tokens)} users; anonymous API call refused with 401"

    def create_study(self) -> str:
        staff = self.coordinator()
        self.study = self.call(staff, "POST", "/api/v1/studies/", expected=(201,),
                               json={"title": f"Local stack smoke {self.run_id}", "washout_days": 0}).json()
        study = self.study["id"]
        for name in ("unaided", "aided"):
            self.call(staff, "POST", f"/api/v1/studies/{study}/arms/", expected=(201,),
                      json={"name": name, "label": name.capitalize(), "shows_ai": False})
        for reader in self.readers():
            self.call(staff, "POST", f"/api/v1/studies/{study}/readers/", expected=(201,), json={"username": reader})
        truth = "case,truth\n" + "".join(f"{label},{index % 2}\n" for index, label in enumerate(self._labels()))
        created = self.call(staff, "POST", f"/api/v1/studies/{study}/cases/import/",
                            files={"file": ("truth.csv", truth.encode(), "text/csv")}).json()["created"]
        check(created == SMOKE_CASES, f"{created} cases created, not {SMOKE_CASES}")
        return f"study {study}: 2 arms, {SMOKE_READERS} readers, {SMOKE_CASES} cases"

    def _labels(self) -> list[str]:
        return [f"S{number:02d}" for number in range(1, SMOKE_CASES + 1)]

    def import_dicom(self) -> str:
        from mrmc.dicom.parse import write_instance
        from mrmc.dicom.synth import make_case

        seed = int(time.time() * 1000) % 2**31  # new UIDs every run: a run never meets an earlier run's images
        files, mapping = [], ["case,study_instance_uid"]
        for index, label in enumerate(self._labels()):
            (dataset, *_), truth = make_case(f"SMOKE{index:03d}", index % 2 == 1, seed + index, shape=IMAGE_SHAPE)
            self.originals[label] = dataset
            files.append(("files", (f"{label}.dcm", write_instance(dataset), "application/dicom")))
            mapping.append(f"{label},{truth.study_instance_uid}")
        study = self.study["id"]
        job = self.call(self.coordinator(), "POST", f"/api/v1/studies/{study}/dicom/", expected=(202,),
                        files=[*files, ("mapping", ("mapping.csv", "\n".join(mapping).encode(), "text/csv"))]).json()
        job = self._wait_for_job(job["id"])
        check(job["status"] == "succeeded", f"ingest job {job['id']} {job['status']}: {job['message']}")
        check(job["result"].get("stored") == SMOKE_CASES, f"ingest stored {job['result']}")
        cases = self.call(self.coordinator(), "GET", f"/api/v1/studies/{study}/cases/").json()["results"]
        self.served_uids = {case["label"]: case["study_instance_uid"] for case in cases}
        originals = {label: str(dataset.StudyInstanceUID) for label, dataset in self.originals.items()}
        check(all(self.served_uids[label] and self.served_uids[label] != originals[label] for label in originals),
              "cases are not linked to de-identified StudyInstanceUIDs")
        archived = self._archive_check(originals)
        return (f"{SMOKE_CASES} instances uploaded through nginx, ingested by {self._worker_of(job['id'])} "
                f"(queue ingest), linked to de-identified UIDs; {archived}")

    def _archive_check(self, originals: dict[str, str]) -> str:
        """Orthanc holds every served study, de-identified, and none under its original UID."""
        for label, uid in self.served_uids.items():
            found = self._archive_studies(uid)
            check(len(found) == 1, f"Orthanc does not hold the served study {uid} of case {label}")
            check(found[0].get("00120062", {}).get("Value") == ["YES"],
                  f"the archived study of case {label} does not say Patient Identity Removed: YES")
            name = found[0].get("00100010", {}).get("Value", [{}])[0].get("Alphabetic", "")
            check(name != str(self.originals[label].PatientName), f"the archived case {label} keeps the patient name")
            check(not self._archive_studies(originals[label]), f"Orthanc holds case {label} under its original UID")
        return f"Orthanc holds all {len(self.served_uids)} studies de-identified (Patient Identity Removed YES)"

    def _archive_studies(self, uid: str) -> list[dict]:
        """QIDO-RS on Orthanc itself (loopback): the studies with this StudyInstanceUID."""
        response = self.session().get(f"{self.stack.archive_url}/studies", timeout=30,
                                      params={"StudyInstanceUID": uid, "includefield": ["00100010", "00120062"]})
        check(response.status_code in (200, 204), f"Orthanc's QIDO-RS answered {response.status_code}")
        return response.json() if response.content.strip() else []

    def ai_outputs(self) -> str:
        """The shipped demo detector registered with its card and run on the CPUs of the precompute queue's
        workers over every case, read from Orthanc; before the schedule, since outputs are fixed once the study
        leaves draft."""
        from mrmc.inference.demo_detector import SHIPPED_CARD, SHIPPED_MODEL

        staff, study = self.coordinator(), self.study["id"]
        check(self._study_status() == "draft", f"study {study} is {self._study_status()}, not a draft")
        consumers = sorted(name for name, queues in self.stack.worker_queues().items() if "precompute" in queues)
        check(consumers == sorted(WORKERS), f"the precompute queue is consumed by {consumers or 'no worker'}")
        model_bytes = SHIPPED_MODEL.read_bytes()
        model = self.call(staff, "POST", f"/api/v1/studies/{study}/ai-models/", expected=(201,), files={
            "model": (SHIPPED_MODEL.name, model_bytes, "application/octet-stream"),
            "card": (SHIPPED_CARD.name, SHIPPED_CARD.read_bytes(), "application/yaml")}).json()
        check(model["sha256"] == hashlib.sha256(model_bytes).hexdigest(), f"model registered as {model['sha256']}")
        job = self.call(staff, "POST", f"/api/v1/studies/{study}/ai-models/{model['id']}/precompute/",
                        expected=(202,), json={"device": "cpu"}).json()
        job = self._wait_for_job(job["id"])
        check(job["status"] == "succeeded", f"precompute job {job['id']} {job['status']}: {job['message']}")
        result = job["result"]
        check(result["stored"] == SMOKE_CASES and result["cases_without_output"] == 0 and not result["failed"],
              f"precompute job {job['id']}: {result}")
        sets = self.call(staff, "GET", f"/api/v1/studies/{study}/ai-output-sets/").json()["results"]
        (output_set,) = [output_set for output_set in sets if output_set["model"] == model["id"]]
        check(output_set["n_outputs"] == SMOKE_CASES, f"set {output_set['id']}: {output_set['n_outputs']} outputs")
        digest = output_set["outputs_sha256"]
        check(bool(re.fullmatch(r"[0-9a-f]{64}", digest)) and digest == result.get("outputs_sha256"),
              f"set {output_set['id']} has outputs_sha256 {digest!r}, the job {result.get('outputs_sha256')!r}")
        exported = self.call(staff, "GET", f"/api/v1/studies/{study}/ai-output-sets/{output_set['id']}/outputs.json")
        outputs = {output["case"]: output for output in exported.json()["outputs"]}
        check(sorted(outputs) == self._labels(), f"outputs of cases {sorted(outputs)}")
        check(all(output["inputs"] and output["runtime"].startswith("onnxruntime") for output in outputs.values()),
              "an output without the images it saw or its runtime")
        check(self._study_status() == "draft", f"study {study} left draft while its outputs were computed")
        return (f"{model['name']} {model['version']} (sha256 {model['sha256'][:12]}...) registered through nginx; "
                f"job {job['id']} on the precompute queue ({', '.join(consumers)}): {SMOKE_CASES} of {SMOKE_CASES} "
                f"cases with an output, set {output_set['id']} outputs_sha256 {digest[:12]}...; study still a draft")

    def _study_status(self) -> str:
        return self.call(self.coordinator(), "GET", f"/api/v1/studies/{self.study['id']}/").json()["status"]

    def schedule(self) -> str:
        staff, study = self.coordinator(), self.study["id"]
        self.call(staff, "POST", f"/api/v1/studies/{study}/transition/", json={"status": "enrolling"})
        job = self.call(staff, "POST", f"/api/v1/studies/{study}/schedule/", expected=(202,), json={"seed": 5}).json()
        job = self._wait_for_job(job["id"])
        check(job["status"] == "succeeded", f"schedule job {job['status']}: {job['message']}")
        self.call(staff, "POST", f"/api/v1/studies/{study}/transition/", json={"status": "reading"})
        return f"schedule job {job['id']} run by {self._worker_of(job['id'])}: {job['result']}; study reading"

    def worklist(self) -> str:
        sessions = self.call(self.readers()[0], "GET", "/api/v1/worklist/").json()["sessions"]
        open_sessions = [session for session in sessions if session["is_open"]]
        check(bool(open_sessions), f"{self.readers()[0]} has no open session: {sessions}")
        return f"{self.readers()[0]}: {len(sessions)} sessions, {len(open_sessions)} open"

    def _first_assignment(self, reader: str) -> dict:
        sessions = self.call(reader, "GET", "/api/v1/worklist/").json()["sessions"]
        session = next(session for session in sessions if session["is_open"])
        detail = self.call(reader, "GET", f"/api/v1/sessions/{session['id']}/").json()
        first = min(detail["assignments"], key=lambda assignment: assignment["order"])
        return self.call(reader, "GET", f"/api/v1/assignments/{first['id']}/").json()

    def frame(self) -> str:
        from dicomweb_client.api import DICOMwebClient

        reader = self.readers()[0]
        assignment = self._first_assignment(reader)
        uid = assignment["study_instance_uid"]
        label = next(label for label, served in self.served_uids.items() if served == uid)
        client = DICOMwebClient(f"{self.stack.url}/dicomweb", session=self.session(reader))
        series = client.search_for_series(uid)[0]["0020000E"]["Value"][0]
        instance = client.search_for_instances(uid, series)[0]["00080018"]["Value"][0]
        frames = client.retrieve_instance_frames(uid, series, instance, frame_numbers=[1], media_types=UNCOMPRESSED)
        check(frames[0] == self.originals[label].PixelData, "the frame served differs from the pixels uploaded")
        anonymous = self.session().get(f"{self.stack.url}/dicomweb/studies/{uid}/metadata", timeout=30)
        check(anonymous.status_code == 401, f"anonymous metadata request answered {anonymous.status_code}")
        return (f"{reader}: frame 1 of case {label} ({len(frames[0])} bytes) from Orthanc through /dicomweb equals "
                "the uploaded pixels; anonymous request refused (401)")

    def _read_body(self, assignment_id: int, rating: float) -> dict:
        now = datetime.now(UTC).isoformat()
        return {"assignment": assignment_id, "idempotency_key": str(uuid.uuid4()), "rating": rating,
                "opened_at": now, "first_image_at": now, "submitted_at": now}

    def submit_read(self) -> str:
        reader = self.readers()[0]
        assignment = self._first_assignment(reader)
        body = self._read_body(assignment["id"], 55.0)
        first = self.call(reader, "POST", "/api/v1/reads/", expected=(201,), json=body).json()
        again = self.call(reader, "POST", "/api/v1/reads/", expected=(200,), json=body).json()
        check(again["id"] == first["id"], f"a retry stored read {again['id']} beside {first['id']}")
        return f"{reader}: read {first['id']} stored (201); the retry with the same key answered it again (200)"

    def read_everything(self) -> str:
        """Every reader reads every assignment: diseased cases mostly higher, so the areas are near 0.8."""
        base = dict(zip(self._labels(), CASE_RATINGS, strict=True))
        by_uid = {uid: label for label, uid in self.served_uids.items()}
        submitted = 0
        for number, reader in enumerate(self.readers()):
            while todo := [s for s in self.call(reader, "GET", "/api/v1/worklist/").json()["sessions"]
                           if s["is_open"] and s["read"] < s["assigned"]]:
                detail = self.call(reader, "GET", f"/api/v1/sessions/{todo[0]['id']}/").json()
                for assignment in (a for a in detail["assignments"] if not a["read"]):
                    label = by_uid[assignment["study_instance_uid"]]
                    rating = base[label] + 4.0 * ((number + assignment["order"]) % 3)
                    self.call(reader, "POST", "/api/v1/reads/", expected=(201,),
                              json=self._read_body(assignment["id"], rating))
                    submitted += 1
        expected = SMOKE_READERS * SMOKE_CASES * 2
        stored = self._reads_stored()
        check(stored == expected, f"{stored} reads stored, not {expected}")
        return f"{submitted} more reads; {stored} stored = {SMOKE_READERS} readers x {SMOKE_CASES} cases x 2 arms"

    def _reads_stored(self) -> int:
        return self.call(self.coordinator(), "GET", f"/api/v1/studies/{self.study['id']}/progress/").json()["read"]

    def _start_analysis(self, options: dict) -> dict:
        return self.call(self.coordinator(), "POST", f"/api/v1/studies/{self.study['id']}/analysis-runs/",
                         expected=(202,), json={"options": options}).json()

    def _wait_for_run(self, run_id: int, timeout: float = 300) -> dict:
        deadline = time.monotonic() + timeout
        while (run := self.call(self.coordinator(), "GET", f"/api/v1/analysis-runs/{run_id}/").json())[
                "job_status"] in ("queued", "running"):
            if time.monotonic() > deadline:
                _, fanned_out, pids = self._job_workers(run["job"])
                raise StepFailed(f"analysis run {run_id} still {run['job_status']} after {timeout:.0f} s "
                                 f"({run['progress_message'] or 'no message'}; "
                                 f"{'fanned out, ' if fanned_out else ''}processes running it: {pids or 'none'})")
            time.sleep(0.5)
        return run

    def analysis(self) -> str:
        run = self._wait_for_run(self._start_analysis({})["id"])
        check(run["status"] == "succeeded" and run["results"], f"run {run['id']} {run['status']}: {run['error']}")
        difference = run["results"]["primary"]
        return (f"run {run['id']} succeeded on {self._worker_of(run['job'])} (queue analysis); "
                f"results: {', '.join(sorted(difference)[:6])} ...")

    def worker_loss(self) -> str:
        """Kill (SIGKILL) a worker while it runs an analysis (or a part of one fanned out to the workers):
        the job finishes on the other worker, or fails and succeeds when started again; either way with
        one run per start and the results an uninterrupted run with the same seed gives."""
        started = self._start_analysis(LONG_ANALYSIS)
        pid = self._wait_until_running(started["job"])
        victim = self._worker_name(pid)
        killed_at = time.monotonic()
        self.stack.service(victim).process.kill()
        try:
            outcome = self._after_worker_loss(started, killed_at)
        finally:  # the stack whole again, whatever happened to the job
            self.stack.start_service(victim, say=lambda line: None)
        return f"{victim} (pid {pid}) killed mid-analysis; {outcome}; nothing duplicated; {victim} started again"

    def _after_worker_loss(self, started: dict, killed_at: float) -> str:
        run = self._wait_for_run(started["id"], timeout=LOSS_HANDLED_WITHIN_S)
        after = time.monotonic() - killed_at
        rerun = self._wait_for_run(self._start_analysis(LONG_ANALYSIS)["id"])
        check(rerun["status"] == "succeeded", f"run {rerun['id']} {rerun['status']}: {rerun['error']}")
        if run["job_status"] == "succeeded":
            check(run["status"] == "succeeded", f"run {run['id']} is {run['status']} though its job succeeded")
            check(run["results"]["primary"] == rerun["results"]["primary"],
                  f"run {run['id']} (interrupted) and run {rerun['id']} (same seed) differ")
            outcome = (f"run {run['id']} finished on the other worker {after:.1f} s later with the results of an "
                       f"uninterrupted run of the same seed (run {rerun['id']})")
        else:
            check(LOST_REASON in run["progress_message"], f"run {run['id']} failed: {run['progress_message']}")
            check(run["status"] == "failed" and not run["results"],
                  f"the lost run {run['id']} is {run['status']} (results: {bool(run['results'])}) though its job "
                  f"failed: {run['progress_message']}")
            outcome = (f"run {run['id']} marked failed ({LOST_REASON}) {after:.1f} s later; "
                       f"rerun {rerun['id']} succeeded")
        self._check_nothing_duplicated(expected_runs=3)
        return outcome

    def _check_nothing_duplicated(self, *, expected_runs: int) -> None:
        runs = self.call(self.coordinator(), "GET", f"/api/v1/studies/{self.study['id']}/analysis-runs/").json()
        check(runs["count"] == expected_runs, f"{runs['count']} runs in the study, not {expected_runs}")
        stored = self._reads_stored()
        check(stored == SMOKE_READERS * SMOKE_CASES * 2, f"{stored} reads after the worker was lost")

    def audit(self) -> str:
        output = self.stack.manage("verify_audit").strip().splitlines()
        return output[-1] if output else "verify_audit passed"

    # ------------------------------------------------------------ jobs and workers

    def _wait_for_job(self, job_id: int, timeout: float = 180) -> dict:
        deadline = time.monotonic() + timeout
        while (job := self.call(self.coordinator(), "GET", f"/api/v1/jobs/{job_id}/").json())["status"] in (
                "queued", "running"):
            check(time.monotonic() < deadline, f"job {job_id} still {job['status']} after {timeout:.0f} s")
            time.sleep(0.3)
        return job

    def _database(self):
        import psycopg

        return psycopg.connect(self.stack.database_url(), autocommit=True)

    def _job_workers(self, job_id: int) -> tuple[str, bool, list[int]]:
        """The job's status, whether it is fanned out, and the PIDs of the processes running it: its own
        worker (``host:pid``), or those of its parts running now (studies.services.jobs)."""
        with self._database() as connection:
            status, worker, params, result = connection.execute(
                "SELECT status, worker, params, result FROM studies_job WHERE id = %s", (job_id,)).fetchone()
        fanned_out = "fan_out" in (params or {})
        claims = [worker, *(part["worker"] for part in (result or {}).get("running", {}).values())]
        return status, fanned_out, [int(pid) for claim in claims if (pid := claim.rpartition(":")[2]).isdigit()]

    def _wait_until_running(self, job_id: int, timeout: float = 60) -> int:
        """A process running the job in its long part: one of its parts once it is fanned out, else its own
        worker once that has held it for a while (a job that fans out lets go of it within moments)."""
        deadline, held_since = time.monotonic() + timeout, {}
        while time.monotonic() < deadline:
            status, fanned_out, pids = self._job_workers(job_id)
            check(status in ("queued", "running"), f"job {job_id} {status} before it could be caught running")
            if status == "running" and pids:
                first_seen = held_since.setdefault(pids[0], time.monotonic())
                if fanned_out or time.monotonic() - first_seen > SINGLE_PROCESS_AFTER_S:
                    return pids[0]
            time.sleep(0.02)
        raise StepFailed(f"job {job_id} not caught running after {timeout:.0f} s")

    def _worker_name(self, pid: int) -> str:
        for name in WORKERS:
            leader = self.stack.service(name).process.pid
            if leader is not None and pid in service_processes(leader):
                return name
        raise StepFailed(f"process {pid} that ran the job is no Celery worker of the stack (gunicorn? in-process?)")

    def _worker_of(self, job_id: int) -> str:
        """The worker that ran a job that was not fanned out."""
        _, _, pids = self._job_workers(job_id)
        return f"{self._worker_name(pids[0])} (pid {pids[0]})"

