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
