// The keyboard shortcuts the help dialog lists (ui.js SHORTCUTS) map to the actions controls.js runs,
// wherever the focus is, except for the keys a text field or the rating slider keeps.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fieldKind, shortcutOf } from '../src/keyboard.js';

const press = (key, { code = '', shiftKey = false, ctrlKey = false, field = null } = {}) =>
  shortcutOf({ key, code, shiftKey, ctrlKey }, field);

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
  assert.deepEqual(press('u'), ['undo']);
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

test('other keys, and keys with Ctrl, are left to the browser', () => {
  for (const key of ['Shift', 'Tab', 'x', 'constructor', 'F5', ' ']) assert.equal(press(key), null, key);
  assert.equal(press('c', { ctrlKey: true }), null);
  assert.equal(press('r', { ctrlKey: true }), null);
});

test('after a click on the rating slider every shortcut works but the keys that move the slider', () => {
  const field = 'range';
  assert.deepEqual(press('y', { field }), ['decision', true]);
  assert.deepEqual(press('8', { code: 'Digit8', field }), ['rating', 8]);
  assert.deepEqual(press('Enter', { field }), ['submit']);
  for (const key of ['ArrowLeft', 'ArrowUp', 'PageDown', 'Home', 'End']) assert.equal(press(key, { field }), null, key);
});

test('a text field keeps what is typed; Enter submits from it and Shift+Enter is a new line', () => {
  const field = 'text';
  for (const key of ['y', 'n', 'c', 'Delete', 'Backspace', 'ArrowLeft', '1']) {
    assert.equal(press(key, { code: key === '1' ? 'Digit1' : '', field }), null, key);
  }
  assert.deepEqual(press('Enter', { field }), ['submit']);
  assert.deepEqual(press('Enter', { field, ctrlKey: true }), ['submit']);
  assert.equal(press('Enter', { field, shiftKey: true }), null);
  assert.deepEqual(press('Escape', { field }), ['escape']);
});

test('which elements keep keys: text fields and selects all, sliders some, buttons none', () => {
  assert.equal(fieldKind({ tagName: 'TEXTAREA' }), 'text');
  assert.equal(fieldKind({ tagName: 'INPUT', type: 'number' }), 'text');
  assert.equal(fieldKind({ tagName: 'SELECT' }), 'text');
  assert.equal(fieldKind({ tagName: 'INPUT', type: 'range' }), 'range');
  assert.equal(fieldKind({ tagName: 'INPUT', type: 'checkbox' }), null);
  assert.equal(fieldKind({ tagName: 'BUTTON' }), null);
  assert.equal(fieldKind({ tagName: 'DIV', isContentEditable: true }), 'text');
  assert.equal(fieldKind(null), null);
});
