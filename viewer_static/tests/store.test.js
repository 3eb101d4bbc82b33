// The viewer's state: which case comes next, progress, going back to change a score and
// returning, and details fetched ahead kept only where they cannot reveal AI early.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ViewerStore } from '../src/store.js';

function storeWith(reads, design = 'crossover') {
  const store = new ViewerStore();
  store.setSession({
    study: { title: 'T', design },
    assignments: reads.map((read, i) => ({ id: 100 + i, order: i + 1, arm: 'unaided', read, study_instance_uid: null })),
  });
  return store;
}

const NONE = new Set();

test('the next case is the first unread one after the current, then from the start', () => {
  const store = storeWith([false, true, false, false]);
  assert.equal(store.nextUnread(NONE).id, 100);
  assert.equal(store.nextUnread(NONE, 100).id, 102);
  assert.equal(store.nextUnread(NONE, 103).id, 100);
  assert.equal(store.nextUnread(new Set([102]), 100).id, 103, 'a case waiting in the outbox is not shown again');
});

test('no next case when all are read or waiting to be sent', () => {
  const store = storeWith([true, false]);
  assert.equal(store.nextUnread(new Set([101])), undefined);
  assert.equal(store.nextUnread(NONE, 101), undefined, 'the case just scored is not the next one');
});

test('progress counts cases read and cases waiting in the outbox', () => {
  const store = storeWith([true, false, false]);
  assert.deepEqual(store.progress(new Set([101])), { done: 2, total: 3 });
  store.markRead(102);
  assert.deepEqual(store.progress(NONE), { done: 2, total: 3 });
  assert.equal(store.position(102), 3);
});

test('going back finds the last case before this one whose read the server holds', () => {
  const store = storeWith([true, true, false, false]);
  store.startCase(store.assignments[3], { openedAt: new Date(0) });
  assert.equal(store.previousScored(NONE).id, 101);
  assert.equal(store.previousScored(new Set([101])).id, 100);
  store.startCase(store.assignments[0], { openedAt: new Date(0), revising: 5 });
  assert.equal(store.previousScored(NONE), undefined);
});

test('back from a change, the case left unscored keeps its first opening time and its record; any other starts now', () => {
  const store = storeWith([true, false, false]);
  const firstOpened = new Date('2026-12-04T10:00:00Z');
  const now = new Date('2026-12-04T10:05:00Z');
  const recorder = { name: 'the record of case 2' };
  store.startCase(store.assignments[1], { openedAt: firstOpened, recorder });
  store.leaveForRevision();
  store.startCase(store.assignments[0], { openedAt: now, revising: 9 });
  store.leaveForRevision(); // a change does not replace the case to come back to
  assert.deepEqual(store.takeResume(store.assignments[1], now), { openedAt: firstOpened, recorder });
  assert.deepEqual(store.takeResume(store.assignments[1], now), { openedAt: now, recorder: null }, 'used once');
  store.startCase(store.assignments[1], { openedAt: firstOpened, recorder });
  store.leaveForRevision();
  assert.deepEqual(store.takeResume(store.assignments[2], now), { openedAt: now, recorder: null });
});

test('a case on screen stays current until another starts', () => {
  const store = storeWith([false, false]);
  const first = store.startCase(store.assignments[0], { openedAt: new Date(0) });
  assert.equal(store.isShowing(first), true);
  store.startCase(store.assignments[1], { openedAt: new Date(0) });
  assert.equal(store.isShowing(first), false);
  assert.equal(store.isShowing(null), false);
});

test('details fetched ahead are kept outside the sequential design only, and used once', () => {
  const crossover = storeWith([false, false]);
  crossover.keepPrefetched(101, { id: 101 });
  assert.deepEqual(crossover.takePrefetched(101), { id: 101 });
  assert.equal(crossover.takePrefetched(101), undefined);
  crossover.keepPrefetched(101, { id: 101 });
  assert.equal(crossover.takePrefetched(100), undefined);
  assert.equal(crossover.takePrefetched(101), undefined, 'opening another case drops them');
  const sequential = storeWith([false, false], 'sequential');
  sequential.keepPrefetched(101, { id: 101 });
  assert.equal(sequential.takePrefetched(101), undefined);
});
