"""One simulated reader: what the reading workstation does, over its own HTTP connections.

It logs in for an API token, opens the worklist, a session and each assignment, scores after a
think time and submits with a fresh idempotency key; an unanswered or refused submission is sent
again with the same key, as the outbox does (viewer_static/src/offline.js), until acknowledged.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime

import httpx

from .recording import SUBMISSION, WORKLIST, Ack, LoadConfig, Recorder, Sample

RETRY_SECONDS = (1, 2, 4, 8, 15)  # the viewer's outbox (offline.js RETRY_MS)
RETRIED_STATUSES = {429, 500, 502, 503, 504}


class GaveUp(Exception):
    """The run's deadline passed while a request was still being retried."""


class Reader:
    """One simulated reader with their own connections, as a browser has."""

    def __init__(self, url: str, username: str, password: str, recorder: Recorder, deadline: float,
                 rng: random.Random, config: LoadConfig):
        # Behind nginx the app sees HTTPS in X-Forwarded-Proto (deploy/nginx.conf). An idle connection
        # is dropped before gunicorn's keep-alive (2 s) would close it under a request being sent.
        self.http = httpx.AsyncClient(base_url=url, timeout=60, headers={"X-Forwarded-Proto": "https"},
                                      limits=httpx.Limits(keepalive_expiry=1.0))
        self.username = username
        self.password = password
        self.deadline = deadline
        self.rng = rng
        self.config = config
        self.token = ""
        self.recorder = recorder

    async def close(self) -> None:
        await self.http.aclose()

    async def log_in(self) -> None:
        response = await self.call("login", "POST", "/api/v1/auth/token/",
                                   body={"username": self.username, "password": self.password}, auth=False)
        self.token = response.json()["token"]

    async def read_all(self) -> None:
        """Read every open session to the end, going back to the worklist between sessions and breaks."""
        while True:
            worklist = (await self.call(WORKLIST, "GET", "/api/v1/worklist/")).json()
            todo = [s for s in worklist["sessions"] if s["is_open"] and s["read"] < s["assigned"]]
            if not todo:
                return
            session = (await self.call("session", "GET", f"/api/v1/sessions/{todo[0]['id']}/")).json()
            unread = [a for a in sorted(session["assignments"], key=lambda a: a["order"])
                      if not a["read"] and a["id"] not in self.recorder.acks]
            if not unread:
                self.recorder.problems.append(
                    f"{self.username}: session {session['id']} lists acknowledged reads as unread")
                return
            for assignment in unread[: self.config.worklist_every]:
                await self.read_case(assignment["id"])

    async def read_case(self, assignment_id: int) -> None:
        opened_at = datetime.now(UTC)
        await self.call("assignment", "GET", f"/api/v1/assignments/{assignment_id}/")
        await asyncio.sleep(self.config.think_seconds * self.rng.uniform(0.5, 1.5))
        submitted_at = datetime.now(UTC)
        body = {
            "assignment": assignment_id,
            "idempotency_key": str(uuid.uuid4()),
            "rating": round(self.rng.uniform(0, 100), 1),
            "opened_at": opened_at.isoformat(),
            "first_image_at": (opened_at + (submitted_at - opened_at) / 10).isoformat(),
            "submitted_at": submitted_at.isoformat(),
        }
        twins = 2 if self.rng.random() < self.config.twin_share else 1
        answers = await asyncio.gather(*(self.submit(SUBMISSION, body, (200, 201)) for _ in range(twins)))
        reads = {(a["id"], a["rating"], a["idempotency_key"]) for a in answers}
        if len(reads) != 1 or answers[0]["rating"] != body["rating"]:
            self.recorder.problems.append(f"assignment {assignment_id}: acknowledged as {sorted(reads)} for a "
                                          f"rating of {body['rating']}")
        ack = Ack(answers[0]["id"], answers[0]["rating"], answers[0]["idempotency_key"])
        self.recorder.acks[assignment_id] = ack
        if self.rng.random() < self.config.resend_share:
            replay = await self.submit("resubmit", body, (200,))
            if replay["id"] != ack.read_id:
                self.recorder.problems.append(f"assignment {assignment_id}: a replay answered read {replay['id']}, "
                                              f"not {ack.read_id}")
        if self.rng.random() < self.config.other_tab_share:
            other = {**body, "idempotency_key": str(uuid.uuid4()), "rating": 100 - body["rating"]}
            await self.submit("other_tab", other, (409,))

    async def submit(self, kind: str, body: dict, expected: tuple[int, ...]) -> dict:
        return (await self.call(kind, "POST", "/api/v1/reads/", body=body, expected=expected)).json()

    async def call(self, kind: str, method: str, path: str, *, body: dict | None = None,
                   expected: tuple[int, ...] = (200,), auth: bool = True) -> httpx.Response:
        """One API call, retried like the outbox: same body, until an expected or refused answer."""
        for attempt in range(1000):
            headers = {"Authorization": f"Token {self.token}"} if auth else {}
            start = self.recorder.now()
            try:
                response = await self.http.request(method, path, json=body, headers=headers)
            except httpx.TransportError as error:
                self.recorder.samples.append(Sample(kind, start, self.recorder.now() - start, None,
                                                    type(error).__name__))
                response = None
            else:
                self.recorder.samples.append(Sample(kind, start, self.recorder.now() - start, response.status_code))
                if response.status_code in expected:
                    return response
                if response.status_code == 401 and auth:
                    await self.log_in()  # an expired token: log in again and resend
                    continue
                if response.status_code not in RETRIED_STATUSES:
                    raise AssertionError(f"{method} {path} answered {response.status_code}: {response.text[:300]}")
            if self.recorder.now() > self.deadline:
                raise GaveUp(f"{method} {path} still failing after {attempt + 1} attempts")
            await asyncio.sleep(_retry_delay(attempt, response))
        raise GaveUp(f"{method} {path}: too many attempts")


def _retry_delay(attempt: int, response: httpx.Response | None) -> float:
    delay = RETRY_SECONDS[min(attempt, len(RETRY_SECONDS) - 1)]
    retry_after = response.headers.get("Retry-After", "") if response is not None else ""
    return max(delay, float(retry_after)) if retry_after.isdigit() else delay
