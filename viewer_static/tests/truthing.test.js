// Truthing mode without a DOM: marks as the API stores them (shapes.js), the order cases are labelled
// in, what is entered for a case and the body the outbox sends (truthing_store.js), the truthing payloads' fields.
// Run: node --test viewer_static/tests
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { PolygonDraft, boxMark, countMarks, describeMark, expertColour, isSimplePolygon, isValidMark, outline, pointMark, polygonArea } from '../src/shapes.js';
import { TruthingStore, caseKey } from '../src/truthing_store.js';
import { SHORTCUTS, TRUTHING_SHORTCUTS } from '../src/ui.js';
import { readTruthingCase, readTruthingCases, readTruthingDisputes, readTruthingPanels } from '../src/payloads.js';
import { compare, fieldsRead } from './payload_fields.js';

const DECLARED = JSON.parse(readFileSync(new URL('../src/truthing_fields.json', import.meta.url), 'utf8'));

const ON = (x, y, instanceUid = '1.2.3', frame = 1) => ({ x, y, instanceUid, frame });
const NONE = new Set();

test('a box from a drag in any direction is its top-left and bottom-right corners, to a tenth of a pixel', () => {
  assert.deepEqual(boxMark(ON(50.04, 80), ON(10, 20.26)), { type: 'box', sop_instance_uid: '1.2.3', frame: 1, points: [[10, 20.3], [50, 80]] });
  assert.equal(boxMark(ON(10, 10), ON(11, 40)), null, 'a drag under 2 pixels wide is a slip');
  assert.equal(boxMark(ON(10, 10), ON(40, 40, '9.9')), null, 'a drag across two images is no box');
});

test('a point mark keeps its instance and frame', () => {
  assert.deepEqual(pointMark(ON(12.34, 5, '1.2.3', 4)), { type: 'point', sop_instance_uid: '1.2.3', frame: 4, points: [[12.3, 5]] });
});

test('a polygon closes on its first vertex once it has three, stays on one image, stops at 200 vertices', () => {
  const draft = new PolygonDraft(ON(0, 0));
  assert.equal(draft.add(ON(1, 1), 3), 'added', 'near the first vertex with two vertices: a vertex, not a close');
  assert.equal(draft.add(ON(10, 0), 3), 'added');
  assert.equal(draft.add(ON(10, 10, '7.7'), 3), 'other-image');
  assert.equal(draft.add(ON(2, 2), 3), 'closed');
  assert.deepEqual(draft.mark().points, [[0, 0], [1, 1], [10, 0]]);
  assert.equal(new PolygonDraft(ON(0, 0)).mark(), null);
  const long = new PolygonDraft(ON(0, 0));
  for (let i = 1; i < 200; i++) assert.equal(long.add(ON(i * 10, i % 2 ? 50 : 0), 1), 'added');
  assert.equal(long.add(ON(5000, 5000), 1), 'full');
  assert.equal(long.mark().points.length, 200);
});

test('only the kinds the rule allows, with the right number of points, are valid marks', () => {
  const box = boxMark(ON(0, 0), ON(10, 10));
  assert.equal(isValidMark(box, ['box']), true);
  assert.equal(isValidMark(box, ['point', 'polygon']), false);
  assert.equal(isValidMark({ ...box, points: [[0, 0]] }), false);
  assert.equal(isValidMark({ ...box, points: [[0, 0], [1, NaN]] }), false);
  assert.equal(isValidMark({ type: 'polygon', sop_instance_uid: 'x', frame: 1, points: [[0, 0], [1, 1]] }), false);
  assert.equal(isValidMark({ type: 'circle', sop_instance_uid: 'x', frame: 1, points: [[0, 0]] }), false);
});

test('outlines and areas: a 4×3 box is 12 px², a right triangle with legs 4 and 6 is 12 px²', () => {
  const box = boxMark(ON(2, 1), ON(6, 4));
  assert.deepEqual(outline(box), [[2, 1], [6, 1], [6, 4], [2, 4]]);
  assert.equal(polygonArea(outline(box)), 12);
  assert.equal(polygonArea([[0, 0], [0, 6], [4, 0]]), 12);
  assert.deepEqual(outline(pointMark(ON(1, 1))), []);
});

test('marks in words, and distinct colours for the other experts', () => {
  assert.equal(describeMark(boxMark(ON(0, 0), ON(40, 30))), 'box 40×30 px');
  assert.equal(describeMark(pointMark(ON(120.4, 87.6))), 'point (120, 88)');
  const two = [boxMark(ON(0, 0), ON(4, 4)), boxMark(ON(0, 0), ON(5, 5)), pointMark(ON(1, 1))];
  assert.equal(countMarks(two), '2 boxes, 1 point');
  assert.equal(countMarks([]), 'no marks');
  assert.notEqual(expertColour(0), expertColour(1));
  assert.equal(new Set([0, 1, 2, 3, 4, 5].map(expertColour)).size, 6);
});

function truther() {
  const store = new TruthingStore(7, 'truther');
  store.setItems([11, 12, 13].map((c, i) => ({ case: c, label: `C${c}`, position: i + 1, round: 2, done: i === 0, study_instance_uid: `2.${c}` })));
  return store;
}

test('the next case is the first neither labelled nor waiting in the outbox; progress counts both', () => {
  const store = truther();
  assert.equal(store.next(NONE).case, 12);
  const queued = new Set([caseKey({ study: 7, case: 12, round: 2 })]);
  assert.equal(store.next(queued).case, 13);
  assert.deepEqual(store.progress(queued), { done: 2, total: 3 });
  store.markDone(store.items[2]);
  assert.equal(store.next(queued), undefined);
  assert.notEqual(caseKey({ study: 7, case: 12, round: 1 }), caseKey({ study: 7, case: 12, round: 2 }), 'one label per round');
});

test('a case needs a label; marks of kinds the rule refuses are not taken; Delete removes the selected else the last', () => {
  const store = truther();
  const opened = new Date('2026-01-02T03:04:05Z');
  store.startCase(store.items[1], {}, { openedAt: opened, allowed: ['box', 'point'] });
  assert.match(store.missing(), /Choose a label/);
  assert.equal(store.setLabel(false), true);
  assert.equal(store.addMark(pointMark(ON(5, 5))), 'added');
  assert.match(store.missing(), /not diseased has no lesion marks/, 'the server refuses marks on a label of 0');
  assert.equal(store.removeMark(), true);
  assert.equal(store.setLabel(true), true);
  assert.equal(store.setLabel(true), false);
  assert.equal(store.missing(), '');
  assert.equal(store.addMark({ type: 'polygon', sop_instance_uid: 'x', frame: 1, points: [[0, 0], [4, 0], [0, 4]] }), 'refused');
  assert.equal(store.addMark(boxMark(ON(0, 0), ON(9, 9))), 'added');
  assert.equal(store.addMark(pointMark(ON(3, 3))), 'added');
  assert.equal(store.addMark(pointMark(ON(4, 4))), 'added');
  store.select(0);
  assert.equal(store.removeMark(), true);
  assert.deepEqual(store.current.marks.map((m) => m.points[0]), [[3, 3], [4, 4]]);
  assert.equal(store.current.selected, -1);
  assert.equal(store.removeMark(), true);
  assert.deepEqual(store.current.marks.map((m) => m.points[0]), [[3, 3]]);
  store.current.comment = 'faint';
  assert.deepEqual(store.body({ idempotencyKey: 'k1' }), {
    study: 7, case: 12, idempotency_key: 'k1', label: 1, round: 2, comment: 'faint',
    lesions: [{ type: 'point', sop_instance_uid: '1.2.3', frame: 1, points: [[3, 3]] }], opened_at: '2026-01-02T03:04:05.000Z',
  });
  store.current.locked = true;
  assert.equal(store.setLabel(false), false, 'a submitted case no longer changes');
  assert.equal(store.addMark(pointMark(ON(1, 1))), 'locked');
});

test('the adjudicator settles the disputes not yet adjudicated, starting from an expert, with a note', () => {
  const store = new TruthingStore(7, 'adjudicator');
  const mark = boxMark(ON(0, 0), ON(8, 8));
  store.setItems([
    { case: 21, label: 'C21', study_instance_uid: '2.21', why: 'label', labels: [], adjudicated: true },
    { case: 22, label: 'C22', study_instance_uid: '2.22', why: 'label', labels: [{ member: 'E1', round: 2, label: 1, lesions: [mark] }], adjudicated: false },
  ]);
  const next = store.next(NONE);
  assert.equal(next.case, 22);
  store.startCase(next, next, { openedAt: new Date(), allowed: ['box'] });
  assert.equal(store.adopt(next.labels[0]), true);
  store.current.marks[0].points[0][0] = 1;
  assert.equal(next.labels[0].lesions[0].points[0][0], 0, "adopting copies the expert's marks, never changes them");
  assert.match(store.missing(), /note/, 'an adjudication says why');
  store.current.comment = 'E1 is right: the mass is visible on the CC view';
  assert.deepEqual(store.body({ idempotencyKey: 'k2' }), {
    study: 7, case: 22, idempotency_key: 'k2', label: 1, note: 'E1 is right: the mass is visible on the CC view',
    lesions: [{ type: 'box', sop_instance_uid: '1.2.3', frame: 1, points: [[1, 0], [8, 8]] }],
  });
  assert.equal(caseKey(store.body({ idempotencyKey: 'k3' })), '7:22:adjudication');
});

test("truthing mode's key list: no rating, undo or going back; the mark tool and the label keys as truthing uses them", () => {
  const keys = new Map(TRUTHING_SHORTCUTS);
  for (const key of ['1 … 9', '[  ]  /  {  }', 'U', 'B']) assert.equal(keys.has(key), false, key);
  assert.match(keys.get('M'), /drag a box, click a point/);
  assert.equal(keys.get('Y  N'), 'Label: diseased / not diseased');
  assert.equal(keys.get('Enter'), new Map(SHORTCUTS).get('Enter'));
});

test('an outline that crosses itself does not close: the server takes simple polygons only', () => {
  assert.equal(isSimplePolygon([[0, 0], [10, 0], [10, 10], [0, 10]]), true);
  assert.equal(isSimplePolygon([[0, 0], [10, 10], [10, 0], [0, 10]]), false, 'a bow tie');
  assert.equal(isSimplePolygon([[0, 0], [5, 0], [10, 0]]), false, 'no area');
  assert.equal(isSimplePolygon([[0, 0], [10, 0], [10, 10], [5, 0], [0, 10]]), false, 'a vertex on another edge');
  assert.equal(isSimplePolygon([[0, 0], [10, 0], [5, 5], [10, 10], [0, 10]]), true, 'concave but simple');
  const bowTie = new PolygonDraft(ON(0, 0));
  for (const [x, y] of [[10, 10], [10, 0], [0, 10]]) bowTie.add(ON(x, y), 2);
  assert.equal(bowTie.add(ON(0.5, 0.5), 2), 'crossing');
  assert.equal(bowTie.points.length, 4, 'the outline stays as drawn, to be dropped');
});

const BOX = { type: 'box', sop_instance_uid: '1.2', frame: 1, points: [[1, 2], [30, 40]] };
const PAYLOADS = {
  panels: [{ study: 7, title: 'S', code: 'E1', role: 'truther', round: 2, state: 'open', reason_closed: '', cases_total: 3, cases_done: 1, disputes_open: null }],
  cases: [{ case: 11, label: 'C11', position: 1, round: 2, done: true, study_instance_uid: '2.11' }],
  disputes: [{ case: 22, label: 'C22', study_instance_uid: '2.22', why: 'labels differ: E1 1, E2 0', labels: [{ member: 'E1', round: 2, label: 1, lesions: [BOX] }], adjudicated: false }],
  case: {
    case: 11, label: 'C11', study_instance_uid: '2.11', round: 2, is_open: true, reason_closed: '', marks_allowed: ['box'],
    own: { label: 1, lesions: [BOX], comment: 'c' }, others: [{ member: 'E2', round: 1, label: 1, lesions: [BOX] }],
  },
};

test('truthing_fields.json lists exactly the fields truthing mode reads', () => {
  const check = (reader, payloads, declared) => assert.deepEqual(compare(fieldsRead(reader, ...payloads), declared), { undeclared: [], unread: [] });
  check(readTruthingPanels, [PAYLOADS.panels], DECLARED.truthing_panels);
  check(readTruthingCases, [PAYLOADS.cases], DECLARED.truthing_cases);
  check(readTruthingDisputes, [PAYLOADS.disputes], DECLARED.truthing_disputes);
  check(readTruthingCase, [PAYLOADS.case, { ...PAYLOADS.case, own: null, others: [] }], DECLARED.truthing_case);
});

test("the viewer's copies of the truthing payloads: the others' marks as drawn, of one's own label only whether it is", () => {
  const details = readTruthingCase(PAYLOADS.case);
  assert.deepEqual(details.own, { label: 1 });
  assert.deepEqual(details.others, [{ member: 'E2', round: 1, label: 1, lesions: [BOX] }]);
  assert.deepEqual(readTruthingDisputes(PAYLOADS.disputes), [{ case: 22, why: 'labels differ: E1 1, E2 0', adjudicated: false }]);
  assert.equal('cases_done' in readTruthingPanels(PAYLOADS.panels)[0], false);
});
