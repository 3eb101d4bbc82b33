// The keyboard shortcuts the help dialog lists (ui.js SHORTCUTS) map to the actions main.js runs.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { shortcutOf } from '../src/keyboard.js';

const press = (key, { code = '', shiftKey = false } = {}) => shortcutOf({ key, code, shiftKey });

test('digits rate, from the top row or the keypad; with Shift they pick a window preset', () => {
  assert.deepEqual(press('7', { code: 'Digit7' }), ['rating', 7]);
  assert.deepEqual(press('3', { code: 'Numpad3' }), ['rating', 3]);
  assert.deepEqual(press('@', { code: 'Digit2', shiftKey: true }), ['preset', 1]);
});

test('letters work in either case', () => {
  assert.deepEqual(press('w'), ['tool', 'wl']);
  assert.deepEqual(press('W'), ['tool', 'wl']);
  assert.deepEqual(press('Y'), ['decision', true]);
  assert.deepEqual(press('n'), ['decision', false]);
});

test('scrolling, rating steps, submit and going back', () => {
  assert.deepEqual(press('PageDown'), ['scroll', 1]);
  assert.deepEqual(press('ArrowLeft'), ['scroll', -1]);
  assert.deepEqual(press('End'), ['scroll', 1e6]);
  assert.deepEqual(press('{'), ['nudge', -10]);
  assert.deepEqual(press(']'), ['nudge', 1]);
  assert.deepEqual(press('Enter'), ['submit']);
  assert.deepEqual(press('b'), ['previous']);
  assert.deepEqual(press('?'), ['action', 'help']);
});

test('other keys are left to the browser', () => {
  for (const key of ['Shift', 'Tab', 'x', 'constructor', 'F5']) assert.equal(press(key), null, key);
});
