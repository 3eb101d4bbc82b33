// The viewer reads exactly the payload fields reader_fields.json declares: each sample payload
// below (the server's full output, fields the viewer ignores included) is wrapped in a Proxy that
// records every property read while payloads.js turns it into the viewer's copy.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { ReadingApi } from '../src/api.js';
import { readAssignment, readSession } from '../src/payloads.js';
import { compare, fieldsRead } from './payload_fields.js';

const DECLARED = JSON.parse(readFileSync(new URL('../src/reader_fields.json', import.meta.url), 'utf8'));

const SCALE = { type: 'continuous', min: 0, max: 100, labels: ['benign', 'malignant'], binary_decision: true, marks_enabled: true, max_marks: 3, revisions_allowed: true };

const SESSION = {
  id: 5,
  number: 1,
  study: { id: 2, title: 'Mammography AI', design: 'crossover' },
  is_open: true,
  reason_closed: '',
  scale: SCALE,
  assignments: [
    { id: 12, order: 2, arm: 'aided', read: false, study_instance_uid: '1.2.3.2' },
    { id: 11, order: 1, arm: 'unaided', read: true, study_instance_uid: '1.2.3.1' },
  ],
};

const MARK = { x: 10.5, y: 20, confidence: 70, instance_uid: '1.2.3.1.1', frame: 1 };

const ASSIGNMENT = {
  id: 11,
  session: 5,
  order: 1,
  arm: { name: 'B', label: 'aided', shows_ai: true },
  study_instance_uid: '1.2.3.1',
  is_open: true,
  reason_closed: '',
  scale: SCALE,
  read: {
    id: 40, assignment: 11, rating: 70, decision: true, marks: [MARK], comment: 'spiculated',
    opened_at: '2026-12-04T10:00:00Z', first_image_at: '2026-12-04T10:00:01Z', client_submitted_at: '2026-12-04T10:01:00Z',
    submitted_at: '2026-12-04T10:01:00Z', duration_ms: 60000, revision: 0, idempotency_key: '0f3c3d5e-1111-4222-8333-944445555666',
  },
  final_because: null,
  ai: [
    {
      model_name: 'detector', model_version: '1.0', score: 0.91, operating_point: 0.5,
      findings: [
        { type: 'box', x: 1, y: 2, width: 30, height: 40, score: 0.9, label: 'mass', sop_instance_uid: '1.2.3.1.1', frame: 1 },
        { type: 'contour', points: [[1, 1], [5, 1], [5, 5]], score: 0.4, sop_instance_uid: '1.2.3.1.1', frame: 1 },
      ],
    },
  ],
};

test('the session payload: every field read is declared, every declared field is read', () => {
  assert.deepEqual(compare(fieldsRead(readSession, SESSION), DECLARED.session), { undeclared: [], unread: [] });
});

test('the assignment payload, with and without a read and AI output: every field read is declared and every declared field read', () => {
  const closed = { ...ASSIGNMENT, read: null, ai: null, is_open: false, study_instance_uid: null, reason_closed: 'the session has ended' };
  assert.deepEqual(compare(fieldsRead(readAssignment, ASSIGNMENT, closed), DECLARED.assignment), { undeclared: [], unread: [] });
});

test('nothing is read from the worklist or from a stored read', () => {
  assert.deepEqual(DECLARED.worklist, []);
  assert.deepEqual(DECLARED.read, []);
});

test('the check fails for a field read but not declared, and for one declared but never read', () => {
  const readsTruth = (payload) => ({ ...readSession(payload), truth: payload.study.truth });
  assert.deepEqual(compare(fieldsRead(readsTruth, SESSION), DECLARED.session).undeclared, ['study.truth']);
  assert.deepEqual(compare(fieldsRead(readSession, SESSION), [...DECLARED.session, 'scale.step']).unread, ['scale.step']);
});

test("the viewer's copy carries only the declared fields, assignments in reading order", () => {
  const session = readSession({ ...SESSION, truth: 'malignant', study: { ...SESSION.study, truth: 1 } });
  assert.deepEqual(Object.keys(session).sort(), ['assignments', 'is_open', 'number', 'reason_closed', 'scale', 'study']);
  assert.deepEqual(session.study, { title: 'Mammography AI', design: 'crossover' });
  assert.deepEqual(session.assignments.map((a) => a.id), [11, 12]);
  const assignment = readAssignment(ASSIGNMENT);
  assert.deepEqual(assignment.read, { id: 40, rating: 70, decision: true, marks: [MARK], comment: 'spiculated' });
  assert.deepEqual(assignment.ai[0].findings[0], { type: 'box', x: 1, y: 2, width: 30, height: 40, points: undefined, score: 0.9, sop_instance_uid: '1.2.3.1.1', frame: 1 });
});

/** A fetch that answers every request with ``status`` and ``body`` and records what it was asked. */
function fakeFetch(status, body) {
  const requests = [];
  globalThis.fetch = async (url, init) => {
    requests.push({ url, ...init });
    return { ok: status < 400, status, text: async () => JSON.stringify(body), headers: new Headers() };
  };
  return requests;
}

test('the reading API hands the viewer its copy, never the raw response', async () => {
  globalThis.document = { cookie: 'csrftoken=abc' };
  const api = new ReadingApi('/api/v1/');
  fakeFetch(200, { ...SESSION, truth: 'malignant' });
  const session = await api.session(5);
  assert.equal('truth' in session, false);
  assert.equal('id' in session, false);
  fakeFetch(200, { ...ASSIGNMENT, truth: 'malignant' });
  assert.equal('truth' in (await api.assignment(11)), false);
  const requests = fakeFetch(201, ASSIGNMENT.read);
  assert.deepEqual(await api.submitRead({ assignment: 11 }), { status: 201 });
  assert.equal(requests[0].url, '/api/v1/reads/');
  assert.equal(requests[0].headers['X-CSRFToken'], 'abc');
  const revisions = fakeFetch(200, ASSIGNMENT.read);
  assert.deepEqual(await api.reviseRead(40, { read: 40, assignment: 11, rating: 3 }), { status: 200 });
  assert.equal(revisions[0].url, '/api/v1/reads/40/');
  assert.deepEqual(JSON.parse(revisions[0].body), { rating: 3 }); // the server refuses keys it does not take
});
