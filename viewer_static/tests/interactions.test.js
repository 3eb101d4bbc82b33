// The interaction record sent with a read: dwell per image in the viewport the reader is at,
// while the page is visible; the reader's view changes and AI toggles; bounded in size.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { InteractionRecorder, MAX_EVENTS, MAX_IMAGES, viewChanges } from '../src/interactions.js';

test('nothing is recorded before the first image', () => {
  const recorder = new InteractionRecorder();
  recorder.show(0, 0, 0, 10);
  recorder.change('wl', 20);
  assert.equal(recorder.record(30), null);
});

test('dwell: the image in the viewport the reader is at, while the page is visible', () => {
  const recorder = new InteractionRecorder();
  recorder.start(1000);
  recorder.show(0, 0, 0, 1000); // a 2x1 layout: each viewport shows its first image
  recorder.show(1, 1, 0, 1000);
  recorder.show(0, 0, 1, 3000); // scrolled in viewport 0 after 2 s
  recorder.focus(1, 4000); // 1 s on image 1, then the reader moves to viewport 1
  recorder.visibility(false, 6500); // 2.5 s there, then the tab is hidden for 10 s
  recorder.visibility(true, 16500);
  recorder.show(1, 1, 0, 17000); // the same image again: no change
  const record = recorder.record(17500);
  assert.deepEqual(record.images, [[0, 0, 2000], [0, 1, 1000], [1, 0, 3500]]);
  assert.equal(record.v, 1);
  assert.equal(record.truncated, false);
});

test('view changes and AI toggles are counted and listed in tenths of a second since the first image', () => {
  const recorder = new InteractionRecorder();
  recorder.start(500);
  recorder.change('wl', 1740);
  recorder.change('zoom', 2000);
  recorder.change('pan', 2100);
  recorder.change('invert', 2200);
  recorder.change('rotate', 2300); // not a kind the record knows: ignored
  recorder.aiToggle(false, 3000);
  recorder.aiToggle(true, 3550);
  const record = recorder.record(4000);
  assert.deepEqual(
    { wl: record.wl, zoom: record.zoom, pan: record.pan, invert: record.invert, ai: record.ai_toggles },
    { wl: 1, zoom: 1, pan: 1, invert: 1, ai: 2 },
  );
  assert.deepEqual(record.events, [[12, 'wl'], [15, 'zoom'], [16, 'pan'], [17, 'invert'], [25, 'ai_off'], [31, 'ai_on']]);
});

test('the record is bounded: events and images past their limits are counted but not listed', () => {
  const recorder = new InteractionRecorder();
  recorder.start(0);
  for (let i = 0; i < MAX_EVENTS + 5; i++) recorder.change('wl', i);
  for (let i = 0; i <= MAX_IMAGES + 1; i++) recorder.show(0, 0, i, 10 + i);
  const record = recorder.record(10 + MAX_IMAGES + 3);
  assert.equal(record.wl, MAX_EVENTS + 5);
  assert.equal(record.events.length, MAX_EVENTS);
  assert.equal(record.images.length, MAX_IMAGES);
  assert.equal(record.truncated, true);
  assert.ok(JSON.stringify(record).length < 64 * 1024);
});

test('a new case starts a new record', () => {
  const recorder = new InteractionRecorder();
  recorder.start(0);
  recorder.show(0, 0, 0, 0);
  recorder.change('zoom', 5);
  recorder.start(100);
  recorder.show(0, 0, 0, 100);
  const record = recorder.record(300);
  assert.deepEqual(record.images, [[0, 0, 200]]);
  assert.equal(record.zoom, 0);
});

const VIEW = { voi: { lower: 0, upper: 4000 }, invert: false, scale: 512, focal: [10, 20, 0] };

test('view changes: window/level, a zoom (whether or not the centre moves), else a pan, and inversion', () => {
  assert.deepEqual(viewChanges(VIEW, { ...VIEW }), []);
  assert.deepEqual(viewChanges(VIEW, { ...VIEW, voi: { lower: 100, upper: 3900 } }), ['wl']);
  assert.deepEqual(viewChanges(VIEW, { ...VIEW, scale: 256, focal: [30, 20, 0] }), ['zoom']);
  assert.deepEqual(viewChanges(VIEW, { ...VIEW, focal: [30, 20, 0] }), ['pan']);
  assert.deepEqual(viewChanges(VIEW, { ...VIEW, invert: true }), ['invert']);
  assert.deepEqual(viewChanges(VIEW, { ...VIEW, voi: { lower: 0, upper: 2000 }, scale: 600 }), ['wl', 'zoom']);
  assert.deepEqual(viewChanges(null, VIEW), []);
});
