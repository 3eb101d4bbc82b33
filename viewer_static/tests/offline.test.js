// The outbox keeps a read through every failure a retry can cure (network, 429, 5xx, waiting as
// long as Retry-After asks) and gives up only on a refusal (4xx). Run: node --test viewer_static/tests
import assert from 'node:assert/strict';
import { beforeEach, mock, test } from 'node:test';

// The browser globals the outbox uses: window events and localStorage.
globalThis.window = new EventTarget();
const store = new Map();
globalThis.localStorage = {
  getItem: (key) => (store.has(key) ? store.get(key) : null),
  setItem: (key, value) => store.set(key, String(value)),
};

const { HttpError } = await import('../src/api.js');
const { Outbox, isRetryable, retryAfterMs } = await import('../src/offline.js');

const READ = { assignment: 7, idempotency_key: '0f3c3d5e-1111-4222-8333-944445555666', rating: 40 };

/** An outbox whose sends answer with each of ``outcomes`` in turn (an Error is thrown). */
function outboxAnswering(...outcomes) {
  const sent = [];
  const outbox = new Outbox('reader1', async (body) => {
    sent.push(body);
    const outcome = outcomes.shift();
    if (outcome instanceof Error) throw outcome;
    return { status: 201 };
  });
  return { outbox, sent };
}

beforeEach(() => {
  store.clear();
  mock.timers.reset();
  mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.parse('2026-12-04T12:00:00Z') });
});

test('a 503 with Retry-After waits exactly that long, then sends the same read again', async () => {
  const unavailable = new HttpError(503, { detail: 'The database is unavailable' }, '/api/v1/reads/', '7');
  const { outbox, sent } = outboxAnswering(unavailable);
  outbox.enqueue(READ);
  await outbox.flush();
  assert.equal(outbox.status().pending, 1);
  assert.equal(outbox.status().nextRetryAt - Date.now(), 7000);
  mock.timers.tick(6999);
  assert.equal(sent.length, 1);
  mock.timers.tick(1);
  await outbox.sending;
  assert.equal(sent.length, 2);
  assert.equal(sent[1].idempotency_key, READ.idempotency_key);
  assert.equal(outbox.status().pending, 0);
});

for (const [name, failure] of [
  ['a network error', new TypeError('Failed to fetch')],
  ['429', new HttpError(429, { detail: 'slow down' }, '/api/v1/reads/')],
  ['502', new HttpError(502, null, '/api/v1/reads/')],
  ['504', new HttpError(504, null, '/api/v1/reads/')],
]) {
  test(`${name} keeps the read and retries after the back-off`, async () => {
    const { outbox, sent } = outboxAnswering(failure);
    outbox.enqueue(READ);
    await outbox.flush();
    assert.equal(outbox.status().pending, 1);
    assert.equal(outbox.status().nextRetryAt - Date.now(), 1000);
    mock.timers.tick(1000);
    await outbox.sending;
    assert.equal(sent.length, 2);
    assert.equal(outbox.items().length, 0);
  });
}

for (const status of [400, 404, 413, 422]) {
  test(`a ${status} refusal is final: the read is marked rejected and not sent again`, async () => {
    const { outbox, sent } = outboxAnswering(new HttpError(status, { detail: 'rating: outside the scale' }, '/x'));
    outbox.enqueue(READ);
    await outbox.flush();
    assert.equal(outbox.status().pending, 0);
    assert.deepEqual(outbox.status().rejected.map((item) => item.error), ['rating: outside the scale']);
    assert.equal(outbox.status().nextRetryAt, null);
    mock.timers.tick(60_000);
    assert.equal(sent.length, 1);
  });
}

test('Retry-After as delay-seconds or an HTTP date, capped at five minutes', () => {
  const now = Date.parse('2026-12-04T12:00:00Z');
  assert.equal(retryAfterMs('5', now), 5000);
  assert.equal(retryAfterMs('Fri, 04 Dec 2026 12:00:30 GMT', now), 30_000);
  assert.equal(retryAfterMs('Fri, 04 Dec 2026 11:00:00 GMT', now), 0);
  assert.equal(retryAfterMs('86400', now), 300_000);
  assert.equal(retryAfterMs(null, now), null);
  assert.equal(retryAfterMs('soon', now), null);
});

test('which failures are retried', () => {
  assert.deepEqual([0, 401, 408, 429, 500, 502, 503, 504].filter((s) => !isRetryable(s)), []);
  assert.deepEqual([400, 403, 404, 409, 413, 415, 422].filter((s) => isRetryable(s)), []);
  assert.equal(isRetryable(403, true), true); // a stale CSRF token: a reload fixes it
});

const CHANGE = { assignment: 7, read: 40, idempotency_key: '1f3c3d5e-1111-4222-8333-944445555666', rating: 45, reason: 'r' };

test('a case already queued keeps its first read and key; changes are each kept', () => {
  const { outbox } = outboxAnswering();
  assert.equal(outbox.enqueue(READ), READ.idempotency_key);
  assert.equal(outbox.enqueue({ ...READ, idempotency_key: 'another', rating: 90 }), READ.idempotency_key);
  outbox.enqueue(CHANGE);
  outbox.enqueue({ ...CHANGE, idempotency_key: 'second change' });
  assert.deepEqual(outbox.items().map((item) => item.body.idempotency_key), [READ.idempotency_key, CHANGE.idempotency_key, 'second change']);
  assert.equal(outbox.items()[0].body.rating, 40);
});

test('pending assignments are first reads waiting to be sent, not changes nor refused reads', async () => {
  const { outbox } = outboxAnswering(new HttpError(400, { detail: 'bad' }, '/x'));
  outbox.enqueue({ ...READ, assignment: 8, idempotency_key: 'refused' });
  await outbox.flush();
  outbox.enqueue(CHANGE);
  outbox.enqueue(READ);
  assert.deepEqual([...outbox.pendingCases()], [7]);
  assert.equal(outbox.status().pending, 2);
});

test('a refused read of a case gives way to a new read of it', async () => {
  const { outbox } = outboxAnswering(new HttpError(422, { detail: 'rating: outside the scale' }, '/x'));
  outbox.enqueue(READ);
  await outbox.flush();
  assert.equal(outbox.status().rejected.length, 1);
  outbox.enqueue({ ...READ, idempotency_key: 'retyped', rating: 50 });
  assert.deepEqual(outbox.items().map((item) => [item.state, item.body.idempotency_key]), [['pending', 'retyped']]);
});

test('a 409 for a first read means the server already holds one (another tab): it leaves the outbox', async () => {
  const { outbox } = outboxAnswering(new HttpError(409, { detail: 'already read', code: 'already_read' }, '/x'));
  outbox.enqueue(READ);
  await outbox.flush();
  assert.deepEqual(outbox.items(), []);
});

test('any other 409 for a first read (an arm to read first) is refused for good, never dropped as saved', async () => {
  const { outbox } = outboxAnswering(new HttpError(409, { detail: 'read this case in Unaided first' }, '/x'));
  outbox.enqueue(READ);
  await outbox.flush();
  assert.deepEqual(outbox.status().rejected.map((item) => item.error), ['read this case in Unaided first']);
});

test('a 409 for a change means the study no longer allows it: refused for good', async () => {
  const { outbox } = outboxAnswering(new HttpError(409, { detail: 'the session has ended' }, '/x'));
  outbox.enqueue(CHANGE);
  await outbox.flush();
  assert.deepEqual(outbox.status().rejected.map((item) => item.error), ['the session has ended']);
  outbox.dismissRejected();
  assert.deepEqual(outbox.items(), []);
});

test('reads go oldest first; the first failure stops the round and keeps the rest for the retry', async () => {
  const { outbox, sent } = outboxAnswering(undefined, new TypeError('Failed to fetch'));
  outbox.enqueue({ ...READ, assignment: 1, idempotency_key: 'a' });
  outbox.enqueue({ ...READ, assignment: 2, idempotency_key: 'b' });
  outbox.enqueue({ ...READ, assignment: 3, idempotency_key: 'c' });
  await outbox.flush();
  assert.deepEqual(sent.map((body) => body.idempotency_key), ['a', 'b']);
  assert.deepEqual(outbox.items().map((item) => item.body.idempotency_key), ['b', 'c']);
  assert.equal(outbox.status().lastError, 'server unreachable');
  mock.timers.tick(1000);
  await outbox.sending;
  assert.deepEqual(sent.map((body) => body.idempotency_key), ['a', 'b', 'b', 'c']);
  assert.equal(outbox.status().lastError, '');
});

test('the back-off grows 1, 2, 4, 8, 15 s and stays at 15 s', async () => {
  const down = () => new TypeError('Failed to fetch');
  const { outbox } = outboxAnswering(...Array.from({ length: 7 }, down));
  outbox.enqueue(READ);
  await outbox.flush();
  const waits = [];
  for (let i = 0; i < 6; i++) {
    const wait = outbox.status().nextRetryAt - Date.now();
    waits.push(wait);
    mock.timers.tick(wait);
    await outbox.sending;
  }
  assert.deepEqual(waits, [1000, 2000, 4000, 8000, 15000, 15000]);
});

test('logged out (401) or a stale CSRF token (403): kept, and the reader is asked to log in again', async () => {
  for (const failure of [new HttpError(401, { detail: 'not authenticated' }, '/x'), new HttpError(403, { detail: 'CSRF Failed: token missing' }, '/x')]) {
    store.clear();
    const { outbox } = outboxAnswering(failure);
    outbox.enqueue(READ);
    await outbox.flush();
    assert.equal(outbox.status().pending, 1);
    assert.equal(outbox.status().lastError, 'log in again to send');
  }
});

test('a 403 that is not about CSRF is a refusal', async () => {
  const { outbox } = outboxAnswering(new HttpError(403, { detail: 'not your assignment' }, '/x'));
  outbox.enqueue(READ);
  await outbox.flush();
  assert.equal(outbox.status().rejected.length, 1);
});

test('whenDone resolves once the read of the case has been confirmed', async () => {
  const { outbox } = outboxAnswering();
  outbox.enqueue(READ);
  let done = false;
  const waiting = outbox.whenDone(7).then(() => (done = true));
  await Promise.resolve();
  assert.equal(done, false);
  await outbox.flush();
  await waiting;
  assert.equal(done, true);
  await outbox.whenDone(99); // nothing queued: resolves at once
});

test("each reader has an outbox of their own, and one that cannot be parsed is empty", () => {
  const first = new Outbox('reader1', async () => ({ status: 201 }));
  const second = new Outbox('reader2', async () => ({ status: 201 }));
  first.enqueue(READ);
  assert.equal(second.items().length, 0);
  store.set('mrmc.outbox.v1.reader2', '{not json');
  assert.deepEqual(second.items(), []);
});

test('settled says whether the server confirmed or refused a read or change, by its key', async () => {
  const refused = new HttpError(400, { detail: 'rating: 140 is outside the scale [0, 100]' }, '/api/v1/reads/');
  const { outbox } = outboxAnswering(undefined, refused);
  const change = { read: 5, assignment: 8, idempotency_key: 'aaaaaaaa-1111-4222-8333-944445555666', rating: 140 };
  outbox.enqueue(READ);
  outbox.enqueue(change);
  const first = outbox.settled(READ.idempotency_key);
  const second = outbox.settled(change.idempotency_key);
  await outbox.flush();
  assert.equal(await first, 'saved');
  assert.equal(await second, 'rejected');
  assert.equal(await outbox.settled('not-in-the-outbox'), 'saved');
});
