// The scoring state: ratings kept on the study's scale, the decision and the reason for a change
// required where they apply, the marks limit, and a read body whose timestamps go in order.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ScoreState, readBody } from '../src/score_state.js';

const CONTINUOUS = { type: 'continuous', min: 0, max: 100, labels: null, binary_decision: false, marks_enabled: true, max_marks: 2 };
const ORDINAL = { type: 'ordinal', min: 1, max: 5, labels: ['normal', '', '', '', 'malignant'], binary_decision: true, marks_enabled: false, max_marks: 0 };

test('a continuous rating is kept inside the scale, in tenths', () => {
  const score = new ScoreState(CONTINUOUS);
  assert.equal(score.rating, null);
  score.setRating(42.345);
  assert.equal(score.rating, 42.3);
  score.setRating(140);
  assert.equal(score.rating, 100);
  score.setRating(-3);
  assert.equal(score.rating, 0);
  assert.equal(score.setRating('not a number'), false);
  assert.equal(score.rating, 0);
});

test('an ordinal rating is a whole grade of the scale', () => {
  const score = new ScoreState(ORDINAL);
  score.setRating(3.6);
  assert.equal(score.rating, 4);
  score.setRating(9);
  assert.equal(score.rating, 5);
  score.setRating(0);
  assert.equal(score.rating, 1);
});

test('digit keys: the grade on an ordinal scale, tenths of the range on a continuous one', () => {
  const ordinal = new ScoreState(ORDINAL);
  ordinal.setRatingFromDigit(3);
  assert.equal(ordinal.rating, 3);
  const continuous = new ScoreState({ ...CONTINUOUS, min: 20, max: 70 });
  continuous.setRatingFromDigit(4);
  assert.equal(continuous.rating, 40);
  continuous.setRatingFromDigit(0);
  assert.equal(continuous.rating, 20);
});

test('the first nudge from unset lands on the lowest grade or the middle; later ones step and stop at the ends', () => {
  const ordinal = new ScoreState(ORDINAL);
  ordinal.nudgeRating(1);
  assert.equal(ordinal.rating, 1);
  ordinal.nudgeRating(10);
  assert.equal(ordinal.rating, 5);
  const continuous = new ScoreState(CONTINUOUS);
  continuous.nudgeRating(-10);
  assert.equal(continuous.rating, 50);
  continuous.nudgeRating(-10);
  assert.equal(continuous.rating, 40);
});

test('a read is complete with a rating, plus a decision where the study asks for one', () => {
  const score = new ScoreState(ORDINAL);
  assert.deepEqual(score.missing(), ['a rating', 'a decision']);
  score.setRating(2);
  assert.equal(score.complete, false);
  score.setDecision(false);
  assert.deepEqual(score.missing(), []);
  assert.equal(score.complete, true);
  const noDecision = new ScoreState(CONTINUOUS);
  assert.equal(noDecision.setDecision(true), false);
  noDecision.setRating(10);
  assert.equal(noDecision.complete, true);
  assert.equal(noDecision.values().decision, null);
});

test('a change to a submitted read starts from its values and needs a reason', () => {
  const score = new ScoreState(ORDINAL);
  const marks = [{ x: 1, y: 2, confidence: 4, instance_uid: '1.2', frame: 1 }];
  score.startRevision({ id: 9, rating: 4, decision: true, marks, comment: null });
  assert.equal(score.rating, 4);
  assert.equal(score.comment, '');
  assert.deepEqual(score.missing(), ['the reason for the change']);
  score.revision.reason = '   ';
  assert.equal(score.complete, false);
  score.revision.reason = 'misread the laterality';
  assert.equal(score.complete, true);
  score.marks[0].x = 50;
  assert.equal(marks[0].x, 1, 'the submitted read is not changed in place');
});

test('marks: only where the study collects them, at most max_marks, each confidence unset until given', () => {
  const off = new ScoreState(ORDINAL);
  assert.equal(off.addMark({ x: 1, y: 1 }), 'off');
  const score = new ScoreState(CONTINUOUS);
  score.setRating(35);
  assert.equal(score.addMark({ x: 10.04, y: 20.06, instance_uid: '1.2.3', frame: 1 }), 'added');
  assert.deepEqual(score.marks[0], { x: 10, y: 20.1, instance_uid: '1.2.3', frame: 1, confidence: null });
  assert.deepEqual(score.missing(), ['a confidence for mark 1 (0–100)']);
  assert.equal(score.addMark({ x: 5, y: 5, instance_uid: '1.2.3', frame: 2 }), 'added');
  assert.equal(score.addMark({ x: 6, y: 6 }), 'limit');
  assert.equal(score.marks.length, 2);
  assert.equal(score.selectedMark, 1);
  score.setMarkConfidence(1, '70');
  assert.deepEqual(score.missing(), ['a confidence for mark 1 (0–100)']);
  score.setMarkConfidence(0, '20');
  assert.equal(score.complete, true);
});

test('removing a mark takes the selected one, else the last', () => {
  const score = new ScoreState({ ...CONTINUOUS, max_marks: 3 });
  for (const x of [1, 2, 3]) score.addMark({ x, y: 0 });
  score.selectedMark = 0;
  score.removeMark();
  assert.deepEqual(score.marks.map((m) => m.x), [2, 3]);
  score.selectedMark = -1;
  score.removeMark();
  assert.deepEqual(score.marks.map((m) => m.x), [2]);
  assert.equal(score.removeMark(5), false);
});

test("a mark's confidence is what was typed, or unset when that is not a value on the scale", () => {
  const score = new ScoreState(CONTINUOUS);
  score.setRating(50);
  score.addMark({ x: 1, y: 1 });
  assert.equal(score.setMarkConfidence(0, '12.5'), true);
  assert.equal(score.marks[0].confidence, 12.5);
  for (const typed of ['120', '-1', '', '  ', 'abc']) {
    assert.equal(score.setMarkConfidence(0, typed), false, typed);
    assert.equal(score.marks[0].confidence, null, typed);
    assert.equal(score.complete, false, typed);
  }
  assert.equal(score.setMarkConfidence(0, '100'), true);
  const ordinal = new ScoreState({ ...ORDINAL, marks_enabled: true, max_marks: 1 });
  ordinal.addMark({ x: 1, y: 1 });
  assert.equal(ordinal.setMarkConfidence(0, '2.5'), false);
  assert.equal(ordinal.setMarkConfidence(0, '4'), true);
  assert.equal(ordinal.marks[0].confidence, 4);
});

test('nothing changes while the read is being sent', () => {
  const score = new ScoreState({ ...CONTINUOUS, binary_decision: true });
  score.setRating(10);
  score.locked = true;
  assert.equal(score.setRating(90), false);
  assert.equal(score.setDecision(true), false);
  assert.equal(score.addMark({ x: 1, y: 1 }), 'off');
  assert.equal(score.rating, 10);
  assert.equal(score.decision, null);
});

test('values carry only the mark fields the server stores', () => {
  const score = new ScoreState(CONTINUOUS);
  score.setRating(60);
  score.addMark({ x: 3, y: 4, instance_uid: '1.2', frame: 2, extra: 'dropped' });
  score.setMarkConfidence(0, 60);
  score.comment = 'dense tissue';
  assert.deepEqual(score.values(), {
    rating: 60,
    decision: null,
    marks: [{ x: 3, y: 4, confidence: 60, instance_uid: '1.2', frame: 2 }],
    comment: 'dense tissue',
  });
});

const OPENED = new Date('2026-12-04T10:00:00.000Z');
const SUBMITTED = new Date('2026-12-04T10:01:00.000Z');
const VALUES = { rating: 60, decision: null, marks: [], comment: '' };

test('a read body: opened, first image and submitted times in order; no empty marks or unset decision', () => {
  const body = readBody({
    assignmentId: 7,
    idempotencyKey: 'k',
    values: VALUES,
    openedAt: OPENED,
    firstImageAt: new Date('2026-12-04T10:00:01.500Z'),
    submittedAt: SUBMITTED,
  });
  assert.deepEqual(body, {
    assignment: 7,
    idempotency_key: 'k',
    rating: 60,
    comment: '',
    opened_at: '2026-12-04T10:00:00.000Z',
    first_image_at: '2026-12-04T10:00:01.500Z',
    submitted_at: '2026-12-04T10:01:00.000Z',
  });
});

test('a first-image time that drifted outside opened..submitted is pulled back inside', () => {
  const early = readBody({ assignmentId: 7, idempotencyKey: 'k', values: VALUES, openedAt: OPENED, firstImageAt: new Date('2026-12-04T09:59:59.997Z'), submittedAt: SUBMITTED });
  assert.equal(early.first_image_at, '2026-12-04T10:00:00.000Z');
  const late = readBody({ assignmentId: 7, idempotencyKey: 'k', values: VALUES, openedAt: OPENED, firstImageAt: new Date('2026-12-04T10:01:00.004Z'), submittedAt: SUBMITTED });
  assert.equal(late.first_image_at, '2026-12-04T10:01:00.000Z');
  const never = readBody({ assignmentId: 7, idempotencyKey: 'k', values: VALUES, openedAt: OPENED, firstImageAt: null, submittedAt: SUBMITTED });
  assert.equal(never.first_image_at, null);
});

test('a change names the read and carries the trimmed reason; marks and decision go when set', () => {
  const marks = [{ x: 1, y: 2, confidence: 3, instance_uid: '1.2', frame: 1 }];
  const body = readBody({
    assignmentId: 7,
    idempotencyKey: 'k2',
    values: { rating: 3, decision: false, marks, comment: '' },
    openedAt: OPENED,
    firstImageAt: null,
    submittedAt: SUBMITTED,
    revising: 41,
    reason: '  wrong side \n',
  });
  assert.equal(body.read, 41);
  assert.equal(body.reason, 'wrong side');
  assert.equal(body.decision, false);
  assert.deepEqual(body.marks, marks);
});

test('a first read carries its interaction record; a change does not', () => {
  const interactions = { v: 1, images: [[0, 0, 1200]], wl: 1, zoom: 0, pan: 0, invert: 0, ai_toggles: 0, events: [[3, 'wl']], truncated: false };
  const common = { assignmentId: 7, values: VALUES, openedAt: OPENED, firstImageAt: null, submittedAt: SUBMITTED, interactions };
  assert.deepEqual(readBody({ ...common, idempotencyKey: 'k' }).interactions, interactions);
  assert.equal('interactions' in readBody({ ...common, idempotencyKey: 'k2', revising: 41, reason: 'x' }), false);
  assert.equal('interactions' in readBody({ ...common, idempotencyKey: 'k3', interactions: null }), false);
});
