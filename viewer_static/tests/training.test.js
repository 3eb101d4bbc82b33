// Training mode without a DOM: the order the training items are read in, the score's body and its
// outbox key, the feedback and the qualification in words, and the training payloads' fields.
// Run: node --test viewer_static/tests
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { TrainingStore, caseKey } from '../src/training_store.js';
import { trainingReadBody } from '../src/score_state.js';
import { describeFeedback, describeQualification, figure } from '../src/feedback.js';
import { readTraining, readTrainingCase } from '../src/payloads.js';
import { compare, fieldsRead } from './payload_fields.js';

const DECLARED = JSON.parse(readFileSync(new URL('../src/training_fields.json', import.meta.url), 'utf8'));
const UNAIDED = { name: 'unaided', label: 'Without AI', shows_ai: false };
const AIDED = { name: 'aided', label: 'With AI', shows_ai: true };

/** Cases 11 and 12, each in the unaided arm then the aided one; ``read``: which of the four are read. */
function storeWith(read = [false, false, false, false]) {
  const store = new TrainingStore(3);
  store.setTraining({
    items: [[11, UNAIDED], [11, AIDED], [12, UNAIDED], [12, AIDED]].map(([c, arm], i) => ({ case: c, order: i + 1, arm, read: read[i], read_first_in: null })),
  });
  return store;
}

const NONE = new Set();

test('the next item is the first neither read nor waiting in the outbox: an arm after the one before it', () => {
  const store = storeWith();
  assert.deepEqual([store.next(NONE).case, store.next(NONE).arm.name], [11, 'unaided']);
  store.markRead(store.items[0]);
  assert.deepEqual([store.next(NONE).case, store.next(NONE).arm.name], [11, 'aided']);
  const fresh = storeWith([false, false, false, false]);
  const queued = new Set([fresh.keyOf(fresh.items[0])]);
  assert.equal(fresh.next(queued).arm.name, 'aided', 'a score waiting in the outbox counts as read');
  assert.equal(storeWith([true, true, true, true]).next(NONE), undefined);
});

test('progress and the score kept from before a reload', () => {
  const store = storeWith([true, false, false, false]);
  const queued = new Set([store.keyOf(store.items[1])]);
  assert.deepEqual(store.progress(queued), { done: 2, total: 4 });
  assert.equal(store.waiting(queued), store.items[1]);
  assert.equal(store.waiting(NONE), undefined);
  assert.equal(store.position(store.items[2]), 3);
});

test('a new overview keeps the reads this page has seen stored', () => {
  const store = storeWith();
  store.markRead(store.items[0]);
  store.setTraining({ items: storeWith().items.map((item) => ({ ...item })) }); // fetched before that read
  assert.deepEqual(store.items.map((item) => item.read), [true, false, false, false]);
});

test('a training score: the study for its URL, case and arm, no first-image time, its record', () => {
  const interactions = { v: 1, images: [[0, 0, 900]], wl: 0, zoom: 1, pan: 0, invert: 0, ai_toggles: 0, events: [[2, 'zoom']], truncated: false };
  const body = trainingReadBody({
    studyId: 3, caseId: 11, arm: 'aided', idempotencyKey: 'k',
    values: { rating: 70, decision: null, marks: [], comment: '' },
    openedAt: new Date('2026-12-04T10:00:00Z'), submittedAt: new Date('2026-12-04T10:00:30Z'), interactions,
  });
  assert.deepEqual(body, {
    study: 3, case: 11, arm: 'aided', idempotency_key: 'k', rating: 70, comment: '',
    opened_at: '2026-12-04T10:00:00.000Z', submitted_at: '2026-12-04T10:00:30.000Z', interactions,
  });
  assert.equal(caseKey(body), '3:11:aided');
  assert.equal(caseKey(body), storeWith().keyOf(storeWith().items[1]), 'the outbox and the store name a score alike');
});

const READ = { id: 9, rating: 30, decision: null, marks: [], comment: '' };

test('feedback in words: a diseased case called negative, with its lesion', () => {
  const shown = describeFeedback({ truth: 1, lesions: [{ x: 1, y: 2, radius: 5 }], call: false, correct: false, ai: null }, READ);
  assert.equal(shown.truth, 'Diseased · 1 lesion, drawn on the image as a truth mark');
  assert.equal(shown.score, 'Your score: rating 30');
  assert.equal(shown.call, 'Your call: negative — incorrect');
  assert.equal(shown.correct, false);
  assert.equal(shown.ai, null, 'no AI where the arm does not show it');
});

test("feedback in an AI arm: the AI's call against truth, from its score and operating point", () => {
  const ai = [{ model_name: 'm', model_version: '1', score: 0.1, operating_point: 0.5, findings: [] }];
  const shown = describeFeedback({ truth: 0, lesions: [], call: false, correct: true, ai }, { ...READ, rating: 10 });
  assert.equal(shown.truth, 'Not diseased');
  assert.equal(shown.call, 'Your call: negative — correct');
  assert.deepEqual(shown.ai, ['AI call: negative — correct (score 0.10 below its operating point 0.50)']);
  const found = describeFeedback({ truth: 1, lesions: [], call: true, correct: true, ai: [{ ...ai[0], score: 0.9, findings: [{}, {}] }] }, READ);
  assert.deepEqual(found.ai, ['AI call: positive — correct (score 0.90 at or above its operating point 0.50) · 2 AI findings on the image']);
  const missed = describeFeedback({ truth: 1, lesions: [], call: true, correct: true, ai: [{ ...ai[0], score: 0.5 - 1e-9 }] }, READ);
  assert.match(missed.ai[0], /^AI call: negative — incorrect/);
  const uncalled = describeFeedback({ truth: 0, lesions: [], call: true, correct: false, ai: [{ ...ai[0], operating_point: null }] }, READ);
  assert.deepEqual(uncalled.ai, ['The AI makes no call (no operating point)']);
  assert.deepEqual(describeFeedback({ truth: 1, lesions: [], call: null, correct: null, ai: [] }, READ).ai, ['The AI has no output for this case']);
  assert.match(describeFeedback({ truth: 1, lesions: [], call: null, correct: null, ai: null }, READ).call, /no yes\/no call/);
});

const CRITERIA = [
  { name: 'min_cases', label: 'training cases read in every training arm', value: 1, threshold: 2, passed: false, note: '1 of 2 training cases read' },
  { name: 'min_auc', label: 'AUC of the ratings against truth', value: null, threshold: 0.75, passed: false, note: 'the AUC needs a diseased and a non-diseased training case read' },
  { name: 'calibration.positives_above_negatives', label: 'mean rating of diseased minus non-diseased cases', value: 62.5, threshold: 0, passed: true, note: '' },
];

test('the qualification in words: standing, progress, each criterion with its figure and threshold', () => {
  const training = { required: true, qualified_at: null, qualification: { passed: false, summary: '1 of 2 training cases read', criteria: CRITERIA } };
  const shown = describeQualification(training, { done: 2, total: 4 });
  assert.equal(shown.standing, 'Training required: your reading sessions open once you qualify');
  assert.equal(shown.progress, '2 of 4 training reads');
  assert.equal(shown.summary, 'Still needed: 1 of 2 training cases read');
  assert.deepEqual(shown.criteria.map((c) => [c.text, c.state]), [
    ['Training cases read in every training arm: 1 (needs ≥ 2)', 'not yet'],
    ['AUC of the ratings against truth: – (needs ≥ 0.75)', 'not yet'],
    ['Mean rating of diseased minus non-diseased cases: 62.5 (needs > 0)', 'passed'],
  ]);
});

test('qualified: the date and that the sessions are open; a study without a rule is practice', () => {
  const qualified = describeQualification({ required: true, qualified_at: '2026-12-05T09:30:00Z', qualification: { passed: true, summary: 'every criterion is met', criteria: [] } }, { done: 4, total: 4 });
  assert.equal(qualified.standing, 'Qualified on 2026-12-05 — your reading sessions are open');
  assert.equal(qualified.summary, '');
  assert.equal(describeQualification({ required: false, qualified_at: null, qualification: null }, { done: 0, total: 2 }).standing, 'Practice: this study asks for no qualification');
  assert.deepEqual([figure(0.8333333), figure(2), figure(null), figure(0.5)], ['0.833', '2', '–', '0.5']);
});

const SCALE = { type: 'continuous', min: 0, max: 100, labels: [], binary_decision: false, marks_enabled: true, max_marks: 3, revisions_allowed: false };
const AI = { id: 4, model_name: 'detector', model_version: '1', score: 0.9, operating_point: 0.5, findings: [{ type: 'point', x: 41, y: 59, score: 0.9, sop_instance_uid: '1.2', frame: 1 }] };
const TRAINING = {
  study: { id: 3, title: 'Chest', design: 'fully_crossed' },
  required: true, qualified_at: null, is_open: true, reason_closed: '', scale: SCALE, read: 1,
  items: [
    { case: 11, order: 2, arm: { name: 'aided', label: 'With AI', shows_ai: true }, read: false, read_first_in: null },
    { case: 11, order: 1, arm: { name: 'unaided', label: 'Without AI', shows_ai: false }, read: true, read_first_in: null },
  ],
  next: { case: 11, order: 2, arm: { name: 'aided', label: 'With AI', shows_ai: true }, read: false, read_first_in: null },
  qualification: { passed: false, evaluated_at: '2026-12-05T09:30:00Z', cases_read: 0, cases_available: 1, reads_evaluated: 1, summary: 's', criteria: CRITERIA },
};
const MARK = { x: 1, y: 2, confidence: 40, instance_uid: '1.2', frame: 1 };
const CASE = {
  case: 11, order: 2, arm: { name: 'aided', label: 'With AI', shows_ai: true }, study_instance_uid: '1.2.3', is_open: true, reason_closed: '',
  scale: SCALE,
  read: { id: 9, case: 11, arm: 'aided', rating: 80, decision: null, marks: [MARK], comment: 'c', opened_at: null, submitted_at: '2026-12-05T09:30:00Z', duration_ms: 1, idempotency_key: 'k' },
  final_because: 'training reads are final',
  ai: [AI],
  feedback: { truth: 1, lesions: [{ sop_instance_uid: '1.2', frame: 1, x: 40, y: 60, radius: 12, weight: 1 }], call: true, correct: true, ai: [AI] },
};

test('the training payloads: every field read is declared, every declared field is read', () => {
  assert.deepEqual(compare(fieldsRead(readTraining, TRAINING, { ...TRAINING, qualification: null }), DECLARED.training), { undeclared: [], unread: [] });
  const unread = { ...CASE, read: null, feedback: null, ai: null, is_open: false, study_instance_uid: null };
  assert.deepEqual(compare(fieldsRead(readTrainingCase, CASE, unread), DECLARED.training_case), { undeclared: [], unread: [] });
});

test("the viewer's copies: items in order, the feedback without what the panel does not show", () => {
  const training = readTraining(TRAINING);
  assert.deepEqual(training.items.map((item) => item.arm.name), ['unaided', 'aided']);
  assert.equal('next' in training, false);
  const details = readTrainingCase(CASE);
  assert.deepEqual(details.feedback.lesions, [{ sop_instance_uid: '1.2', frame: 1, x: 40, y: 60, radius: 12 }]);
  assert.deepEqual(details.read, { id: 9, rating: 80, decision: null, marks: [MARK], comment: 'c' });
});
